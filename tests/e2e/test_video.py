"""Video runs end to end through main.py: frames, video.mp4 with the source's rate and tone,
logs with a frame column, resuming after SIGTERM, and bad clips in one line."""

from __future__ import annotations

import csv
import re
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from tests.helpers import ROOT, make_image, run_main
from tests.helpers.portrait import moving_face, needs_cascades
from tests.helpers.video_clips import (
    clip_frames,
    frame_pixels,
    only_run,
    read_video,
    video_overrides,
    write_clip,
    write_folder,
)


@pytest.mark.slow
def test_a_clip_gives_frames_video_with_its_rate_and_tone_and_logs(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", clip_frames(4), fps=12, tone_hz=440)
    style = make_image(tmp_path / "style.png", seed=2)
    result = run_main(video_overrides(clip, style, tmp_path / "results"))
    assert result.returncode == 0, result.stderr
    run_dir = only_run(tmp_path / "results")
    names = sorted(p.name for p in (run_dir / "frames").iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(1, 5)]
    assert Image.open(run_dir / "frames" / names[0]).size == (48, 36)
    frames, rate, sound = read_video(run_dir / "video.mp4")
    assert len(frames) == 4 and rate == 12
    assert sound is not None and len(sound) > 0.8 * 44100 * 4 / 12
    spectrum = np.abs(np.fft.rfft(sound[:8192]))
    assert np.argmax(spectrum) * 44100 / 8192 == pytest.approx(440, abs=10)
    compare, _, _ = read_video(run_dir / "compare.mp4")
    assert len(compare) == 4 and compare[0].shape[1] == 2 * 48  # source | result
    with open(run_dir / "losses.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(r["frame"]) for r in rows] == [1] * 4 + [2] * 3 + [3] * 3 + [4] * 3
    with open(run_dir / "frames.csv") as file:
        per_frame = list(csv.DictReader(file))
    assert [int(r["frame"]) for r in per_frame] == [1, 2, 3, 4]
    assert float(per_frame[0]["temporal"]) == 0 and float(per_frame[1]["temporal"]) > 0
    for plot in ("frame_losses.png", "temporal_loss.png"):
        assert (run_dir / "plots" / plot).stat().st_size > 0
    assert not (run_dir / "evolution.gif").exists()


@pytest.mark.slow
def test_a_folder_of_frames_and_a_range_of_them(tmp_path):
    folder = write_folder(tmp_path / "shots", clip_frames(5))
    style = make_image(tmp_path / "style.png", seed=2)
    extra = {"video.frames": "1:4", "video.fps": "8", "video.compare": "false"}
    result = run_main(video_overrides(folder, style, tmp_path / "results", **extra))
    assert result.returncode == 0, result.stderr
    run_dir = only_run(tmp_path / "results")
    frames, rate, sound = read_video(run_dir / "video.mp4")
    assert len(frames) == 3 and rate == 8 and sound is None
    assert len(frame_pixels(run_dir)) == 3 and not (run_dir / "compare.mp4").exists()


@pytest.mark.slow
def test_resume_after_sigterm_gives_the_uninterrupted_frames(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", clip_frames(4), fps=12)
    style = make_image(tmp_path / "style.png", seed=2)
    # Later frames take long enough that SIGTERM, sent once the first frame is on disk,
    # lands inside the second one.
    extra = {"video.first_frame_iterations": "3", "video.frame_iterations": "12"}
    whole = run_main(video_overrides(clip, style, tmp_path / "whole", **extra))
    assert whole.returncode == 0, whole.stderr
    command = [sys.executable, str(ROOT / "main.py")]
    args = video_overrides(clip, style, tmp_path / "cut", **extra)
    process = subprocess.Popen(
        command + args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 240
    while not list(tmp_path.glob("cut/*/frames/frame_000001.png")):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    run_dir = only_run(tmp_path / "cut")
    kept = len(frame_pixels(run_dir))
    hint = f"to go on: python main.py --resume {shlex.quote(str(run_dir))}"
    assert 1 <= kept < 4 and stderr.strip().splitlines()[-1].endswith(hint), stderr
    assert len(read_video(run_dir / "video.mp4")[0]) == kept  # what is done can be watched
    resumed = run_main(["--resume", str(run_dir)])
    assert resumed.returncode == 0, resumed.stderr
    uninterrupted = frame_pixels(only_run(tmp_path / "whole"))
    again = frame_pixels(run_dir)
    assert len(again) == 4
    for a, b in zip(again, uninterrupted, strict=True):
        np.testing.assert_array_equal(a, b)
    with open(run_dir / "frames.csv") as file:
        assert [int(r["frame"]) for r in csv.DictReader(file)] == [1, 2, 3, 4]


def _broken(tmp_path):
    data = write_clip(tmp_path / "good.mp4", clip_frames(3)).read_bytes()
    (tmp_path / "broken.mp4").write_bytes(data[: len(data) // 3])
    return tmp_path / "broken.mp4"


def _no_frames(tmp_path):
    import av

    with av.open(str(tmp_path / "empty.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height = 64, 48
        container.start_encoding()
    return tmp_path / "empty.mp4"


def _unknown_codec(tmp_path):
    data = write_clip(tmp_path / "good.mp4", clip_frames(3)).read_bytes()
    (tmp_path / "odd.mkv").write_bytes(data.replace(b"avc1", b"zzzz"))
    return tmp_path / "odd.mkv"


def _mixed_sizes(tmp_path):
    folder = write_folder(tmp_path / "frames", clip_frames(3))
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(folder / "frame_4.png")
    return folder


@pytest.mark.parametrize("make", [_broken, _no_frames, _unknown_codec, _mixed_sizes])
def test_bad_clips_end_in_one_line_and_status_2(tmp_path, make):
    clip = make(tmp_path)
    style = make_image(tmp_path / "style.png", seed=2)
    result = run_main(video_overrides(clip, style, tmp_path / "results"), timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nst: error:") and str(clip) in lines[0]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_resume_refuses_a_folder_that_is_not_a_run(tmp_path):
    result = run_main(["--resume", str(tmp_path)], timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"nst: error: --resume {tmp_path}: no config.ini in it: give the folder of a run"
    ]


@pytest.mark.parametrize(
    ("override", "words"),
    [("image.scales=2", "[image] scales = 2"), ("optimizer.name=lbfgs", "uses adam")],
)
def test_what_a_video_run_cannot_do_is_refused_before_it_starts(tmp_path, override, words):
    from nst.run.video import prepare_video
    from nst.settings import SettingsError, load_settings

    clip = write_clip(tmp_path / "clip.mp4", clip_frames(2))
    settings = load_settings(None, (f"paths.content_image={clip}", override))
    with pytest.raises(SettingsError, match=re.escape(words)):
        prepare_video(settings)


def test_the_viewer_scrolls_over_a_video_runs_frames(tmp_path):
    from nst.output.evolution import caption, run_frames

    (tmp_path / "frames").mkdir()
    for i in (1, 2, 3):
        Image.fromarray(np.full((8, 8, 3), 50 * i, np.uint8)).save(
            tmp_path / "frames" / f"frame_{i:06d}.png"
        )
    (tmp_path / "frames.csv").write_text(
        "frame,iterations,content,style,tv,total,temporal,seconds\n"
        "1,3,1,2,0,3,0,1\n2,2,4,5,0,6,0.1,1\n3,2,7,8,0,9,0.2,1\n"
    )
    frames = run_frames(tmp_path)
    assert [f.iteration for f in frames] == [1, 2, 3]
    assert caption(frames, 1) == ("frame 2 / 3   (picture 1/2)", "content 4   style 5   total 6")


def test_a_frame_steers_the_loop_only_through_its_recipe():
    from nst.run.video import frame_recipe
    from nst.settings import load_settings

    settings = load_settings(
        None, ("video.first_frame_iterations=30", "video.frame_iterations=7", "image.scales=3")
    )
    first, later = frame_recipe(settings, 0), frame_recipe(settings, 5)
    assert (first.optimizer.iterations, later.optimizer.iterations) == (30, 7)
    assert first.save_every == 30 and later.save_every == 7  # only the frame's result kept
    assert later.image.scales == 1 and settings.image.scales == 3  # the settings are untouched
    assert (later.model, later.loss) == (settings.model, settings.loss)
    assert later.optimizer.learning_rate == settings.optimizer.learning_rate


@pytest.mark.slow
@needs_cascades
def test_a_video_run_with_auto_regions(tmp_path):
    frames = [np.clip(f, 0, 255).astype(np.uint8) for f in moving_face(3)]
    folder = write_folder(tmp_path / "clip", frames)
    style = make_image(tmp_path / "style.png", seed=2)
    extra = {"loss.auto_regions": "true", "image.max_size": "160"}
    result = run_main(video_overrides(folder, style, tmp_path / "results", **extra))
    assert result.returncode == 0, result.stderr
    assert "no person or face found" not in result.stderr
    run_dir = only_run(tmp_path / "results")
    assert len(frame_pixels(run_dir)) == 3
    # the first frame's regions, at the frames' size, as a still's are saved
    saved = {path.name for path in run_dir.glob("region_*.png")}
    assert {"region_background.png", "region_person.png", "region_face.png"} <= saved
    size = Image.open(run_dir / "region_face.png").size
    assert size == Image.open(next(run_dir.glob("frames/frame_*.png"))).size
