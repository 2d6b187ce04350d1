"""The small things a new user trips over: normalised paths in the saved config.ini, a second
Ctrl-C that names the run folder, run folder names that say what differs from the defaults,
the stop reason reaching the plots, and a short, small evolution.gif."""

from __future__ import annotations

import dataclasses
import re
import signal
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from nst.core.records import Record
from nst.output import evolution
from nst.output.runfolder import CONFIG, create_run_dir
from nst.run import exits, pipeline, still, watchers
from nst.run.process import StopRequest
from nst.settings import TAG_LENGTH, load_settings, render, run_tag
from tests.helpers.broken import good_pair


def test_saved_paths_are_normalised(tmp_path):
    (tmp_path / "main").mkdir()
    content, style = good_pair(tmp_path / "shared")
    roundabout = tmp_path / "main" / ".." / "shared"
    settings = load_settings(
        None,
        (
            f"paths.content_image={roundabout / content.name}",
            f"paths.style_image={roundabout / style.name}, ./{style}",
            f"paths.results_dir={tmp_path}/main/./results/",
            f"model.weights={roundabout}/w.h5",
        ),
    )
    text = render(settings)
    assert "/../" not in text and "/./" not in text, text
    assert settings.paths.content_image == content
    assert settings.model.weights == str(tmp_path / "shared" / "w.h5")


def test_config_paths_relative_to_the_file_are_normalised(tmp_path):
    (tmp_path / "main").mkdir()
    config = tmp_path / "main" / "my.ini"
    config.write_text("[paths]\ncontent_image = ../shared/content.png\n")
    settings = load_settings(config)
    assert settings.paths.content_image == tmp_path / "shared" / "content.png"


# --- run folder names --------------------------------------------------------------------


def test_the_defaults_give_no_tag():
    assert run_tag(load_settings(None)) == ""


def test_the_tag_names_what_differs_and_changes_the_picture():
    settings = load_settings(
        None, ("loss.style_weight=30", "image.max_size=256", "output.save_every=3")
    )
    assert run_tag(settings) == "style_weight=30_max_size=256"  # save_every: same picture


def test_the_tag_is_short_and_safe_in_a_file_name():
    settings = load_settings(
        None,
        (
            "model.weights=/some where/my weights.h5",
            "optimizer.name=lbfgs",
            "model.style_layers=block1_conv1, block2_conv1",
            "image.preserve_colors=luminance",
            "loss.tv_weight=0.001",
            "image.init=style",
        ),
    )
    tag = run_tag(settings)
    assert len(tag) <= TAG_LENGTH
    # safe in file names and URLs, and no comma: a path in it stays usable in a path list
    assert re.fullmatch(r"[A-Za-z0-9_.=+-]+", tag), tag
    assert tag.startswith("tv_weight=0.001_init=style_")  # [loss] first, then [image] ...
    assert "/" not in tag and "my" not in tag  # a weights path is not spelled out
    shown, rest = re.fullmatch(r"(.*)\+(\d+)", tag).groups()  # the rest counted, not dropped
    assert shown.count("=") + int(rest) == 6  # layer weights follow the layers: not named


def test_the_run_folder_carries_the_tag(tmp_path):
    run = create_run_dir(tmp_path, Path("photo.jpg"), (Path("starry.jpg"),), "style_weight=30")
    assert re.fullmatch(r"\d{8}-\d{6}-style_weight=30-photo-starry", run.name), run.name
    bare = create_run_dir(tmp_path, Path("photo.jpg"), (Path("starry.jpg"),))
    assert re.fullmatch(r"\d{8}-\d{6}-photo-starry", bare.name), bare.name


# --- a run in-process: the stop reason, a second Ctrl-C ----------------------------------


def pooled_extractor(image):
    """A stand-in network for the two shallow layers below, at their size (block1 keeps the
    image's): a 3x3 average, no weights to load."""
    features = tf.nn.avg_pool2d(image, 3, 1, "SAME")
    return {"block1_conv1": features, "block1_conv2": features}


def tiny_settings(tmp_path: Path, iterations: int = 6):
    content, style = good_pair(tmp_path / "in")
    return load_settings(
        None,
        (
            f"paths.content_image={content}",
            f"paths.style_image={style}",
            f"paths.results_dir={tmp_path / 'results'}",
            "model.weights=random",
            "model.content_layers=block1_conv2",
            "model.style_layers=block1_conv1",
            "image.max_size=32",
            f"optimizer.iterations={iterations}",
            "output.save_every=2",
            "output.show_viewer=false",
            "output.animation=false",
        ),
    )


class AtIteration(watchers.Watcher):
    def __init__(self, iteration: int, action):
        self.iteration, self.action = iteration, action

    def recorded(self, record) -> None:
        if record.iteration == self.iteration:
            self.action()


def reasons_plotted(monkeypatch) -> list:
    seen: list = []
    monkeypatch.setattr(
        "nst.output.plots.title_of", lambda label, reason: seen.append(reason) or label
    )
    return seen


def test_a_finished_run_plots_budget(tmp_path, monkeypatch):
    seen = reasons_plotted(monkeypatch)
    outcome = pipeline.run(tiny_settings(tmp_path), extractor=pooled_extractor, stop=StopRequest())
    assert outcome.status == 0 and set(seen) == {"budget"}
    assert "style_weight" not in outcome.run_dir.name  # only what differs is named
    assert "weights=random" in outcome.run_dir.name
    assert "/../" not in (outcome.run_dir / CONFIG).read_text()


def test_an_interrupted_run_plots_interrupted(tmp_path, monkeypatch):
    seen = reasons_plotted(monkeypatch)
    stop = StopRequest()
    watcher = AtIteration(2, lambda: stop.ask(signal.SIGINT))
    outcome = pipeline.run(
        tiny_settings(tmp_path), extractor=pooled_extractor, stop=stop, watcher=watcher
    )
    assert outcome.status == 130 and set(seen) == {"interrupted"}


def test_stop_reason_words():
    stop = StopRequest()
    assert still.stop_reason(False, stop) == "budget"
    assert still.stop_reason(True, stop) == "diverged"
    converged = Record(40, 1.0, 1.0, 0.0, 2.0, 0.0, stopped="converged")
    assert still.stop_reason(False, stop, converged) == "converged"  # the loop's stopping rule
    assert still.stop_reason(False, stop, dataclasses.replace(converged, stopped="")) == "budget"
    stop.ask()
    assert still.stop_reason(False, stop, converged) == "interrupted"


def test_a_second_ctrl_c_names_the_run_folder(tmp_path, capsys):
    def second_ctrl_c():
        raise KeyboardInterrupt  # what StopOnSignal raises on the second SIGINT

    settings = tiny_settings(tmp_path, iterations=50)
    status = exits.guarded(
        lambda: (
            pipeline.run(
                settings,
                extractor=pooled_extractor,
                stop=StopRequest(),
                watcher=AtIteration(3, second_ctrl_c),
            ).status
        )
    )
    (run_dir,) = (tmp_path / "results").iterdir()
    err = capsys.readouterr().err
    assert status == 130
    assert f"the files already in {run_dir} are complete" in err, err


# --- evolution.gif ------------------------------------------------------------------------


@pytest.mark.parametrize("count", [20, 31, 50])  # (fewer: each frame at most 250 ms)
def test_the_animation_loops_in_about_four_seconds(count):
    loop_ms = (count - 1) * evolution.frame_duration_ms(count) + evolution.ANIMATION_HOLD_LAST_MS
    assert abs(loop_ms - 1000 * evolution.ANIMATION_SECONDS) <= 300, loop_ms
    assert evolution.frame_duration_ms(count) % 10 == 0  # GIF keeps hundredths of a second


def test_the_animation_of_a_512_px_run_is_small(tmp_path):
    """31 noisy 512 px iterates (the default run's): frames at most ANIMATION_BOX, the loop
    about 4 s; measured 2.3 MB here for such noise, real runs compress better."""
    from PIL import Image, ImageSequence

    from nst.core.records import Record
    from nst.output.outputs import RunWriter

    run = create_run_dir(tmp_path, Path("c.png"), (Path("s.png"),))
    writer = RunWriter(run)
    rng = np.random.default_rng(0)
    for i in range(0, 301, 10):
        image = rng.uniform(0, 255, (8, 8, 3)).repeat(64, 0).repeat(64, 1)[:341]  # 512 x 341
        writer.add(Record(i, 1.0, 1.0, 0.0, 2.0, 0.0, image.astype(np.float32)))
    with Image.open(evolution.export_animation(run)) as gif:
        durations = [frame.info["duration"] for frame in ImageSequence.Iterator(gif)]
        assert max(gif.size) <= max(evolution.ANIMATION_BOX)
    assert len(durations) == 31 and 3500 <= sum(durations) <= 4500, sum(durations)


def test_an_unfinished_run_says_why_no_viewer_opened(tmp_path, capsys, monkeypatch):
    """Interrupted with the viewer on: not 'show_viewer = false or --no-viewer', which the user
    never gave; and no window is tried."""
    from nst.cli import viewer
    from tests.helpers.fake_run import make_fake_run

    monkeypatch.setattr(viewer, "open_viewer", lambda run_dir: pytest.fail("window tried"))
    viewer.after_run(make_fake_run(tmp_path), show_viewer=True, finished=False)
    out = capsys.readouterr().out
    assert "the run did not finish" in out and "--no-viewer" not in out
