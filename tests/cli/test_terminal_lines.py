"""The command line's last lines: one line each whatever the folder's name and the terminal's
encoding, how to go on after an interruption, a resumed run's bar from its step, and no
TensorFlow retracing warnings."""

from __future__ import annotations

import io
import logging
import re
import shlex
import signal
import subprocess
import sys

import pytest

from nst.cli.progress import ProgressBar
from nst.output.runfolder import CHECKPOINT, FRAMES
from nst.run.exits import (
    drop_retracing_warnings,
    go_on_hint,
    guarded,
    one_line,
    say,
    write_line,
)
from nst.run.pipeline import resume, run
from nst.run.process import StopRequest
from nst.run.watchers import Watcher
from nst.settings import load_settings
from tests.helpers import ROOT, make_image, tiny_overrides


def ascii_stream() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="ascii", write_through=True)


def test_a_line_the_terminal_cannot_encode_is_escaped_not_an_error(monkeypatch):
    out = ascii_stream()
    monkeypatch.setattr(sys, "stdout", out)

    def finished_run() -> int:
        print("nst: result in /tmp/résultats/run (budget, 3 s)")  # a plain print, as app did
        return 0

    assert guarded(finished_run) == 0
    assert out.buffer.getvalue() == b"nst: result in /tmp/r\\xe9sultats/run (budget, 3 s)\n"
    stream = ascii_stream()
    write_line(stream, "nst: ré")
    assert stream.buffer.getvalue() == b"nst: r\\xe9\n"


def test_control_characters_in_a_line_are_escaped(capsys):
    assert one_line("results/a\nb\tc") == "results/a\\nb\\tc"
    assert one_line("résultats ok") == "résultats ok"  # printable: as it is
    say("result in /tmp/a\nb")
    assert capsys.readouterr().err == "nst: result in /tmp/a\\nb\n"


def tiny_settings(tmp_path, *extra: str):
    content = make_image(tmp_path / "content.png", seed=1)
    style = make_image(tmp_path / "style.png", seed=2)
    overrides = tiny_overrides(content, style, tmp_path / "results it's", **dict(extra))
    pairs = [overrides[i + 1] for i in range(0, len(overrides), 2)]
    return load_settings(None, (*pairs, "output.animation=false"))


class StopAt(Watcher):
    def __init__(self, stop: StopRequest, k: int):
        self.stop, self.k = stop, k

    def recorded(self, record) -> None:
        if record.iteration == self.k:
            self.stop.ask(signal.SIGINT)


@pytest.mark.slow
def test_the_interrupted_line_says_how_to_go_on_and_the_resumed_bar_goes_on(tmp_path, capsys):
    settings = tiny_settings(tmp_path, ("optimizer.iterations", "12"))
    stop = StopRequest()
    outcome = run(settings, stop=stop, watcher=StopAt(stop, 5))
    assert outcome.status == 130 and (outcome.run_dir / CHECKPOINT).is_file()
    hint = f"to go on: python main.py --resume {shlex.quote(str(outcome.run_dir))}"
    stopped = int(re.search(r"interrupted by SIGINT at step (\d+) of 12", outcome.message)[1])
    assert outcome.message.endswith(hint), outcome.message
    capsys.readouterr()
    assert resume(outcome.run_dir, watcher=ProgressBar(), stop=StopRequest()).status == 0
    shown = capsys.readouterr().err.replace("\r", "\n")
    drawn = [line for line in shown.splitlines() if "| step" in line]
    first = int(re.search(r"step (\d+)/12", drawn[0])[1])
    assert 0 < first <= stopped, drawn  # from its checkpoint, not from 0
    assert "step 12/12" in drawn[-1]


def test_a_folder_without_a_checkpoint_is_not_offered_to_resume(tmp_path):
    assert "nothing to resume" in go_on_hint(tmp_path)
    (tmp_path / CHECKPOINT).write_bytes(b"x")
    assert go_on_hint(tmp_path) == f"to go on: python main.py --resume {tmp_path}"
    clip_run = tmp_path / "clip"
    (clip_run / FRAMES).mkdir(parents=True)  # a clip goes on from its first missing frame
    assert go_on_hint(clip_run) == f"to go on: python main.py --resume {clip_run}"


RETRACING = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import tensorflow as tf
if sys.argv[1] == "filtered":
    from nst.run.exits import drop_retracing_warnings
    drop_retracing_warnings()
double = tf.function(lambda x: x * 2)
for n in range(1, 10):
    double(tf.zeros([n]))
tf.get_logger().warning("another TensorFlow warning")
"""


@pytest.mark.slow
def test_tensorflow_s_retracing_warnings_do_not_reach_the_output():
    def stderr_of(mode: str) -> str:
        command = [sys.executable, "-c", RETRACING, mode]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stderr

    assert "retracing" in stderr_of("plain")  # the warning this is about does fire
    filtered = stderr_of("filtered")
    assert "retracing" not in filtered
    assert "another TensorFlow warning" in filtered  # the others still show


def test_the_retracing_filter_is_installed_once():
    drop_retracing_warnings()
    drop_retracing_warnings()
    assert len(logging.getLogger("tensorflow").filters) == 1


def test_a_ctrl_c_that_keras_wrapped_while_building_is_an_interruption(capsys):
    # Keras's Lambda re-raises whatever its shape inference meets, a Ctrl-C included, as
    # NotImplementedError: a Ctrl-C at that moment of start-up must still read as one.
    import keras

    def interrupted_layer(_):
        raise KeyboardInterrupt

    def build() -> int:
        keras.layers.Lambda(interrupted_layer)(keras.Input((4, 4, 3)))
        return 0

    assert guarded(build) == 128 + signal.SIGINT
    err = capsys.readouterr().err
    assert err.startswith("nst: interrupted: stopped at once") and err.count("\n") == 1, err


def test_an_error_with_no_ctrl_c_behind_it_stays_a_fault(capsys):
    def fails() -> int:
        try:
            raise ValueError("inner")
        except ValueError as inner:
            raise NotImplementedError("outer") from inner

    assert guarded(fails) == 1
    assert "unexpected NotImplementedError" in capsys.readouterr().err
