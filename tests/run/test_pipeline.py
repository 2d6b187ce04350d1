"""The one run lifecycle (nst.run.pipeline) for a still picture and a clip alike: the clip reports
through the same Watcher (one part per frame, its image on disk when told), gets status.txt and
the settings tag in its folder name, is resumed by `resume(run_dir)` deciding the kind itself,
and a batch marks a clip item running; the composite Watcher and the shared progress bar."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from nst.core.records import Record
from nst.core.scales import Scale
from nst.output.runfolder import (
    CONFIG,
    FRAMES,
    ITERATES,
    STATUS,
    frame_path,
    image_path,
    read_status,
)
from nst.run.pipeline import resume, run
from nst.run.process import StopRequest, network_key
from nst.run.watchers import Watcher, Watchers, steps_before
from nst.settings import load_settings
from tests.helpers import SHALLOW, make_image, tiny_settings
from tests.helpers.video_clips import clip_frames, write_clip


def clip_settings(tmp_path: Path, frames: int = 3):
    clip = write_clip(tmp_path / "clip.mp4", clip_frames(frames), fps=12)
    style = make_image(tmp_path / "style.png", seed=2)
    return load_settings(
        None,
        (
            f"paths.content_image={clip}",
            f"paths.style_image={style}",
            f"paths.results_dir={tmp_path / 'results'}",
            "model.weights=random",
            "image.max_size=40",
            "video.first_frame_iterations=3",
            "video.frame_iterations=2",
            "video.compare=false",
            "output.show_viewer=false",
            *SHALLOW,
        ),
    )


class Seen(Watcher):
    """What a watcher is told, and whether each record's image was on disk by then; asks
    `stop` (as SIGTERM) at the first record of frame `stop_at`."""

    def __init__(self, stop: StopRequest | None = None, stop_at: int = 0):
        self.calls, self.on_disk, self.stop, self.stop_at = [], [], stop, stop_at

    def started(self, run_dir, plan) -> None:
        self.run_dir, self.plan = run_dir, plan
        self.calls.append(("started", list(plan)))

    def recorded(self, record: Record) -> None:
        self.calls.append(("recorded", record.scale, record.iteration))
        if record.image is not None and record.stopped:
            path = image_path(self.run_dir, record.iteration, record.scale, len(self.plan))
            self.on_disk.append(path == frame_path(self.run_dir, record.scale) and path.is_file())
        if self.stop is not None and record.scale == self.stop_at:
            self.stop.ask(signal.SIGTERM)

    def ended(self) -> None:
        self.calls.append(("ended",))


def test_a_clip_reports_through_the_watcher_and_ends_like_a_still_run(tmp_path):
    settings = clip_settings(tmp_path)
    seen = Seen()
    outcome = run(settings, stop=StopRequest(), watcher=seen)
    assert outcome.status == 0, outcome.message
    run_dir = outcome.run_dir
    assert read_status(run_dir) == (0, outcome.message)  # the web studio shows it as done
    assert outcome.message == f"result in {run_dir}"
    assert run_dir.name.split("-")[2].startswith("max_size=40")  # the settings tag, as stills
    assert (run_dir / FRAMES).is_dir() and not (run_dir / ITERATES).exists()
    assert (run_dir / CONFIG).is_file()
    (kind, plan), *middle, last = seen.calls
    assert kind == "started" and [part.budget for part in plan] == [3, 2, 2]
    assert {(part.height, part.width) for part in plan} == {(30, 40)}
    assert last == ("ended",)
    told = [(scale, iteration) for _, scale, iteration in middle]
    assert told == [(1, i) for i in range(4)] + [(f, i) for f in (2, 3) for i in range(3)]
    assert seen.on_disk == [True, True, True]  # each frame's result written before it is told


def test_resume_decides_a_clip_itself_and_finishes_it(tmp_path):
    settings = clip_settings(tmp_path)
    stop = StopRequest()
    outcome = run(settings, stop=stop, watcher=Seen(stop, stop_at=2))
    assert outcome.status == 128 + signal.SIGTERM
    assert read_status(outcome.run_dir) == (outcome.status, outcome.message)
    assert "--resume" in outcome.message
    assert [frame_path(outcome.run_dir, f).is_file() for f in (1, 2, 3)] == [True, False, False]

    seen = Seen()
    again = resume(outcome.run_dir, stop=StopRequest(), watcher=seen)
    assert again.status == 0 and again.run_dir == outcome.run_dir
    assert read_status(outcome.run_dir) == (0, again.message)
    assert [frame_path(outcome.run_dir, f).is_file() for f in (1, 2, 3)] == [True, True, True]
    assert {call[1] for call in seen.calls if call[0] == "recorded"} == {2, 3}  # the rest only


@pytest.mark.slow
def test_a_still_run_and_its_resume_write_status(tmp_path):
    settings = tiny_settings(tmp_path, "optimizer.iterations=4")
    stop = StopRequest()

    class StopAtTwo(Watcher):
        def recorded(self, record) -> None:
            if record.iteration == 2:
                stop.ask(signal.SIGTERM)

    outcome = run(settings, stop=stop, watcher=StopAtTwo())
    assert read_status(outcome.run_dir) == (128 + signal.SIGTERM, outcome.message)
    again = resume(outcome.run_dir, stop=StopRequest())
    assert again.status == 0 and read_status(outcome.run_dir) == (0, again.message)
    assert (outcome.run_dir / STATUS).read_text().startswith("0\n")
    assert image_path(outcome.run_dir, 4).parent.name == ITERATES  # a still's iterate
    assert image_path(outcome.run_dir, 4).is_file()


def test_a_batch_marks_a_clip_item_running_once_its_folder_exists(tmp_path):
    from nst.batch.local import run_local
    from nst.batch.plan import RUNNING, plan_batch, read_state

    settings = clip_settings(tmp_path, frames=2)
    overrides = (
        f"paths.content_image={settings.paths.content_image}",
        f"paths.style_image={settings.paths.style_image[0]}",
        f"paths.results_dir={tmp_path / 'results'}",
        "model.weights=random",
        "image.max_size=40",
        "video.first_frame_iterations=2",
        "video.frame_iterations=1",
        *SHALLOW,
    )
    batch = plan_batch(None, overrides, [], "clips")
    states = []

    class Look(Watcher):
        def started(self, run_dir, plan) -> None:
            states.append((read_state(batch, batch.items[0]), run_dir.name))

    run_local(batch, list(batch.items), StopRequest(), lambda item: Look())
    ((state, name),) = states
    assert state["status"] == RUNNING and state["run"] == name
    assert read_state(batch, batch.items[0])["status"] == "done"


def test_watchers_tell_each_in_order():
    told = []

    class One(Watcher):
        def __init__(self, name):
            self.name = name

        def started(self, run_dir, plan):
            told.append((self.name, "started"))

        def recorded(self, record):
            told.append((self.name, record.iteration))

        def ended(self):
            told.append((self.name, "ended"))

    both = Watchers(One("a"), One("b"))
    both.started(Path("run"), [])
    both.recorded(Record.of(7, (1, 2, 3, 6), 0.5))
    both.ended()
    assert told == [
        ("a", "started"),
        ("b", "started"),
        ("a", 7),
        ("b", 7),
        ("a", "ended"),
        ("b", "ended"),
    ]


def test_the_bar_goes_on_from_where_a_resumed_run_is(tmp_path):
    from nst.cli.progress import ProgressBar

    plan = [Scale(10, 10, 5), Scale(20, 20, 8)]
    record = Record.of(3, (1, 2, 3, 6), 0.5, scale=2)
    assert steps_before(plan, record) == 5 + 3
    (tmp_path / FRAMES).mkdir()  # a clip's folder: the bar names the frame
    bar = ProgressBar()
    bar.started(tmp_path, plan)
    bar.recorded(record)
    bar.recorded(Record.of(4, (1, 2, 3, 6), 0.6, scale=2))
    assert bar.bar.n == 9 and bar.bar.total == 13
    assert "frame 2/2 20x20" in str(bar.bar)  # its log not there: earlier frames at budget
    bar.ended()


@pytest.mark.parametrize("change", ["model.precision=bfloat16", "image.seed=3"])
def test_the_network_key_changes_with_what_the_network_depends_on(change):
    assert network_key(load_settings(None, (change,))) != network_key(load_settings(None, ()))
    assert network_key(load_settings(None, ("image.max_size=64",))) == network_key(
        load_settings(None, ())
    )
