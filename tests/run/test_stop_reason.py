"""Why a run stopped, said where the user looks: the plots' titles (budget, interrupted,
converged, diverged), and a second Ctrl-C that names the run folder whose files are complete."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import tensorflow as tf

from nst.core.records import Record
from nst.output.runfolder import CONFIG
from nst.run import exits, pipeline, still, watchers
from nst.run.process import StopRequest
from nst.settings import load_settings
from tests.helpers.broken import good_pair


def blur_extractor(image):
    """A stand-in network for the two shallow layers below, at their size (block1 keeps the
    image's): a 3x3 average, no weights to load."""
    features = tf.nn.avg_pool2d(image, 3, 1, "SAME")
    return {"block1_conv1": features, "block1_conv2": features}


def run_settings(tmp_path: Path, iterations: int = 6):
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
    outcome = pipeline.run(run_settings(tmp_path), extractor=blur_extractor, stop=StopRequest())
    assert outcome.status == 0 and set(seen) == {"budget"}
    assert "style_weight" not in outcome.run_dir.name  # only what differs is named
    assert "weights=random" in outcome.run_dir.name
    assert "/../" not in (outcome.run_dir / CONFIG).read_text()


def test_an_interrupted_run_plots_interrupted(tmp_path, monkeypatch):
    seen = reasons_plotted(monkeypatch)
    stop = StopRequest()
    watcher = AtIteration(2, lambda: stop.ask(signal.SIGINT))
    outcome = pipeline.run(
        run_settings(tmp_path), extractor=blur_extractor, stop=stop, watcher=watcher
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

    settings = run_settings(tmp_path, iterations=50)
    status = exits.guarded(
        lambda: (
            pipeline.run(
                settings,
                extractor=blur_extractor,
                stop=StopRequest(),
                watcher=AtIteration(3, second_ctrl_c),
            ).status
        )
    )
    (run_dir,) = (tmp_path / "results").iterdir()
    err = capsys.readouterr().err
    assert status == 130
    assert f"the files already in {run_dir} are complete" in err, err
