"""The evolution viewer's logic, without a display: frames, captions, keys, layout, the
animation, headless detection, and a run that cannot open a window."""

from __future__ import annotations

import itertools
import socket
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from nst.cli import viewer
from nst.cli.viewer import display_problem, image_box, on_key
from nst.core.records import Record
from nst.output import evolution
from nst.output.evolution import (
    MIN_LONG_SIDE,
    RunError,
    animation_positions,
    caption,
    export_animation,
    fit_scale,
    layout,
    load_rgb,
    render_frame,
    run_frames,
)
from nst.output.runfolder import ANIMATION
from nst.run import still
from tests.helpers.fake_run import (
    COLOURS,
    ITERATIONS,
    SIZE,
    losses_at,
    make_fake_run,
    two_colour_image,
)

LEFT_ARROW, RIGHT_ARROW, HOME, END = 0xFF51, 0xFF53, 0xFF50, 0xFF57  # as Qt/GTK report them


@pytest.fixture
def fake_run(tmp_path) -> Path:
    return make_fake_run(tmp_path / "results")


def colour_at(image: np.ndarray, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(v) for v in image[y, x, :3])


# --- frames and captions ----------------------------------------------------------------------


def test_frames_are_the_saved_iterates_in_order_with_their_losses(fake_run):
    (fake_run / "iterates" / "notes.txt").write_text("not an iterate")
    (fake_run / "iterates" / ".iter_000099.png.tmp").write_bytes(b"half-written")
    frames = run_frames(fake_run)
    assert [f.iteration for f in frames] == list(ITERATIONS)
    for frame, (left, right) in zip(frames, COLOURS, strict=True):
        image = load_rgb(frame.path)
        assert colour_at(image, 2, 2) == left and colour_at(image, SIZE[0] - 3, 2) == right
        assert frame.losses == pytest.approx(
            {
                **losses_at(frame.iteration),
                "elapsed_s": 0.1 * frame.iteration,
                "scale": 1,
                "step": frame.iteration,  # one scale: its steps are its iterations
            }
        )


def test_frames_without_a_loss_log_still_show(fake_run):
    (fake_run / "losses.csv").unlink()
    frames = run_frames(fake_run)
    assert [f.iteration for f in frames] == list(ITERATIONS)
    assert all(f.losses == {} for f in frames)
    assert "not in losses.csv" in caption(frames, 0)[1]


def test_a_folder_without_iterates_is_an_error(tmp_path, fake_run):
    with pytest.raises(RunError, match="no iterates/ folder"):
        run_frames(tmp_path)
    for path in (fake_run / "iterates").iterdir():
        path.unlink()
    with pytest.raises(RunError, match="no saved iterates"):
        run_frames(fake_run)


def test_caption_names_the_iteration_its_place_and_its_losses(fake_run):
    frames = run_frames(fake_run)
    where, losses = caption(frames, 1)
    assert where.startswith(f"step {ITERATIONS[1]} / {ITERATIONS[-1]}")  # the run's step
    assert f"picture 1/{len(ITERATIONS) - 1}" in where  # as the trackbar numbers it
    expected = losses_at(ITERATIONS[1])
    for name in ("content", "style", "total"):
        assert f"{name} {expected[name]:.3g}" in losses
    assert "tv" not in losses


# --- keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "position", "expected"),
    [
        (RIGHT_ARROW, 1, ("forward", 2)),
        (RIGHT_ARROW, 4, ("forward", 4)),  # the last stays the last
        (LEFT_ARROW, 1, ("back", 0)),
        (LEFT_ARROW, 0, ("back", 0)),
        (HOME, 3, ("first", 0)),
        (END, 1, ("last", 4)),
        (0x270000, 1, ("forward", 2)),  # → on Windows
        (0xF702, 1, ("back", 0)),  # ← on macOS
        (ord("s"), 2, ("save", 2)),
        (ord("q"), 2, ("quit", 2)),
        (27, 2, ("quit", 2)),  # Esc
        (-1, 2, (None, 2)),  # no key within the wait
        (ord("x"), 2, (None, 2)),
        (0xFF51 & 0xFF, 2, ("quit", 2)),  # 'Q': a ← must never be masked down to it
    ],
)
def test_keys_move_save_and_quit(key, position, expected):
    assert on_key(key, position, 5) == expected


def test_one_frame_has_nowhere_to_go():
    for key in (LEFT_ARROW, RIGHT_ARROW, HOME, END):
        assert on_key(key, 0, 1)[1] == 0


# --- headless detection -----------------------------------------------------------------------


def test_no_display_is_detected_on_linux_only():
    assert "DISPLAY" in display_problem({}, "linux")
    assert "DISPLAY" in display_problem({"DISPLAY": ""}, "freebsd14")
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({}, "win32") is None
    assert display_problem({}, "darwin") is None


# --- layout -------------------------------------------------------------------------------------


def test_big_images_shrink_to_fit_the_screen_with_their_aspect():
    box = image_box((1920, 1080))
    assert box[0] <= 1920 and box[1] < 1080
    shown = layout((4000, 3000), [("iteration 0 / 10",)], box).image_size
    assert max(shown[0] / box[0], shown[1] / box[1]) == pytest.approx(1, abs=0.01)  # fills it
    assert shown[0] / shown[1] == pytest.approx(4 / 3, abs=0.01)
    tall = layout((500, 3000), [("x",)], box).image_size
    assert tall[1] <= box[1] and tall[0] / tall[1] == pytest.approx(1 / 6, abs=0.01)


def test_small_images_are_enlarged_but_never_beyond_the_screen():
    assert layout(SIZE, [("x",)], image_box(None)).image_size == (
        MIN_LONG_SIDE,
        MIN_LONG_SIDE * 3 // 4,
    )
    assert fit_scale(600, 400, (2000, 2000), MIN_LONG_SIDE) == 1.0  # big enough: as it is
    assert fit_scale(64, 48, (128, 1000), MIN_LONG_SIDE) == 2.0  # the box wins


def test_frame_is_the_scaled_image_above_its_caption():
    image = two_colour_image(*COLOURS[0]).astype(np.uint8)
    lines = ("iteration 3 / 7   [2/4]", "content 4.5   style 250   total 2.5e+04")
    frame_layout = layout(SIZE, [lines], (1000, 1000))
    width, height = frame_layout.image_size
    frame = render_frame(image, lines, frame_layout)
    assert frame.shape[1] == frame_layout.width == width  # the caption fits under the image
    assert frame.shape[0] > height + 20  # room for two lines of text
    left, right = COLOURS[0]
    assert colour_at(frame, 2, 2) == left and colour_at(frame, width - 3, height - 3) == right
    band = frame[height:]
    assert band.max() > 200 and np.median(band) < 60  # light text on a dark band


def test_captions_too_wide_for_a_narrow_image_widen_the_frame():
    lines = ("iteration 1000000 / 1000000   [100/100]",)
    frame_layout = layout((20, 400), [lines], (1000, 400))
    assert frame_layout.width > frame_layout.image_size[0]
    frame = render_frame(np.full((400, 20, 3), 255, np.uint8), lines, frame_layout)
    assert frame.shape[1] == frame_layout.width
    middle = frame_layout.width // 2
    assert colour_at(frame, middle, 10) == (255, 255, 255)  # the image is centred


# --- the animation ----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 5, 60, 61, 99, 1000])
def test_animation_takes_at_most_its_maximum_spread_evenly_with_first_and_last(count):
    positions = animation_positions(count, 60)
    assert len(positions) == min(count, 60)
    assert positions[0] == 0 and positions[-1] == count - 1
    assert positions == sorted(set(positions))
    gaps = np.diff(positions) if count > 1 else np.array([1])
    assert gaps.max() - gaps.min() <= 1  # evenly spread


def test_animation_shows_every_iterate_in_order_with_its_iteration(fake_run):
    path = export_animation(fake_run)
    assert path == fake_run / ANIMATION
    assert not list(fake_run.glob(".*.tmp"))  # written atomically
    with Image.open(path) as gif:
        frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(gif)]
        durations = [frame.info["duration"] for frame in ImageSequence.Iterator(gif)]
    assert len(frames) == len(ITERATIONS)
    for frame, (left, right) in zip(frames, COLOURS, strict=True):
        pixels = np.asarray(frame)
        height = pixels.shape[0]
        assert colour_at(pixels, 3, 3) == left
        assert colour_at(pixels, pixels.shape[1] - 4, 3) == right
        assert pixels[height - 25 :].max() > 200  # the caption's text
    # each frame's caption differs, as its iteration number does
    captions = [np.asarray(frame)[-30:] for frame in frames]
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(captions))
    assert durations[-1] > durations[0]  # the result is held a moment
    assert sum(durations) <= 10_000


def test_long_runs_give_a_short_animation_in_iteration_order(tmp_path):
    count = 75
    # a colour per iterate, far apart (GIF palettes are approximate), its number readable back
    levels = (20, 80, 140, 200, 250)
    colours = [(r, g, b) for r in levels for g in levels for b in (30, 130, 230)]  # 75
    run_dir = make_fake_run(tmp_path, tuple(range(count)), tuple((c, c) for c in colours))
    with Image.open(export_animation(run_dir)) as gif:
        seen = [np.asarray(f.convert("RGB"))[5, 5].astype(int) for f in ImageSequence.Iterator(gif)]
    distances = [np.abs(np.array(colours) - pixel).max(axis=1) for pixel in seen]
    assert all(d.min() <= 12 for d in distances), "a frame matches no iterate"
    order = [int(d.argmin()) for d in distances]
    assert len(order) == evolution.ANIMATION_MAX_FRAMES < count
    assert order[0] == 0 and order[-1] == count - 1
    assert order == sorted(set(order))  # in iteration order, none twice


# --- after a run --------------------------------------------------------------------------------


def test_after_run_without_viewer_or_animation_says_so_in_one_line(fake_run, capsys):
    viewer.after_run(fake_run, show_viewer=False)
    lines = capsys.readouterr().out.splitlines()
    assert not (fake_run / ANIMATION).exists()
    assert len(lines) == 2 and "viewer off" in lines[0]
    assert lines[1].endswith(f"python -m nst.cli.viewer {fake_run}")


def free_display_number() -> int:
    """A display number no X server listens on (no socket for it)."""
    return next(n for n in range(4242, 4342) if not Path(f"/tmp/.X11-unix/X{n}").exists())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="an X display is Linux's")
def test_viewer_that_cannot_reach_its_display_is_a_message_not_a_crash(fake_run, monkeypatch):
    monkeypatch.setenv("DISPLAY", f":{free_display_number()}")  # Qt aborts the child there
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    problem = viewer.open_viewer(fake_run)
    assert problem is not None and problem.startswith("viewer not opened: ")
    assert "display" in problem


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="an X display is Linux's")
def test_after_run_survives_a_viewer_that_aborts(fake_run, monkeypatch, capsys):
    monkeypatch.setenv("DISPLAY", f":{free_display_number()}")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    still.write_animation(fake_run)  # as a run does, before the viewer
    viewer.after_run(fake_run, show_viewer=True)  # returns: we are still here
    lines = capsys.readouterr().out.splitlines()
    assert (fake_run / ANIMATION).is_file()
    assert len(lines) == 2 and lines[0].startswith("nst: viewer not opened: ")
    assert "python -m nst.cli.viewer" in lines[1]


def test_viewer_command_on_a_folder_that_is_no_run(tmp_path, capsys):
    assert viewer.main([str(tmp_path)]) == 2
    assert "no iterates/ folder" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="an X display is Linux's")
def test_a_display_that_never_answers_is_given_up(fake_run, monkeypatch):
    """An X server that accepts the connection and never replies (a dead SSH forwarding, say)
    would hang a window forever: the run gives up on it instead."""
    with socket.socket() as silent:
        for number in range(40, 64):  # X display N listens on TCP port 6000 + N
            try:
                silent.bind(("127.0.0.1", 6000 + number))
                break
            except OSError:
                continue
        else:
            pytest.skip("no free TCP port in 6040..6063 for a silent X server")
        silent.listen()  # connections queue up; none is ever answered
        monkeypatch.setenv("DISPLAY", f"127.0.0.1:{number}")
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        problems = []  # in a thread, so that a regression fails here instead of hanging CI
        waiting = threading.Thread(
            target=lambda: problems.append(viewer.open_viewer(fake_run, startup_timeout_s=3)),
            daemon=True,
        )
        waiting.start()
        waiting.join(timeout=60)
    assert problems == ["viewer not opened: no window after 3 s"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="headless detection is Linux's")
def test_viewer_command_without_a_display_points_to_the_animation(fake_run, monkeypatch, capsys):
    export_animation(fake_run)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert viewer.main([str(fake_run)]) == 2  # and no abort: Qt was never asked for a window
    error = capsys.readouterr().err
    assert "no display" in error and str(fake_run / ANIMATION) in error


def test_a_coarse_to_fine_run_s_pictures_are_numbered_by_the_run_s_step(tmp_path):
    """The caption and the GIF number a picture as the bar, the log and losses.csv do: the
    full size's iteration 4, after 10 coarse steps, is step 14."""
    from nst.output.outputs import RunWriter

    (tmp_path / "iterates").mkdir()
    (tmp_path / "plots").mkdir()
    writer = RunWriter(tmp_path, scales=2)
    picture = np.full((24, 32, 3), 100.0, np.float32)
    for scale, last in ((1, 10), (2, 4)):
        for i in range(last + 1):
            image = picture if i % 2 == 0 else None
            writer.add(Record(i, 1.0, 2.0, 0.0, 3.0, 0.1 * i, image=image, scale=scale))
    frames = run_frames(tmp_path)
    assert [f.iteration for f in frames] == [0, 2, 4]  # the full size's iterates
    assert caption(frames, 2)[0].startswith("step 14 / 14")
    assert caption(frames, 0)[0].startswith("step 10 / 14")  # its start: the coarse result


def test_a_print_sized_iterate_is_reduced_as_it_is_read(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.full((1800, 2400, 3), 77, np.uint8)).save(path)
    shown = load_rgb(path, (600, 450))
    assert shown.shape == (450, 600, 3) and shown[0, 0].tolist() == [77, 77, 77]
    assert load_rgb(path, (700, 500)).shape == (600, 800, 3)  # at least the size asked
    assert load_rgb(path).shape == (1800, 2400, 3)
    assert viewer._picture(path, (600, 450)).shape[:2] == (450, 600)


def test_an_unfinished_run_says_why_no_viewer_opened(tmp_path, capsys, monkeypatch):
    """Interrupted with the viewer on: not 'show_viewer = false or --no-viewer', which the user
    never gave; and no window is tried."""
    from nst.cli import viewer

    monkeypatch.setattr(viewer, "open_viewer", lambda run_dir: pytest.fail("window tried"))
    viewer.after_run(make_fake_run(tmp_path), show_viewer=True, finished=False)
    out = capsys.readouterr().out
    assert "the run did not finish" in out and "--no-viewer" not in out
