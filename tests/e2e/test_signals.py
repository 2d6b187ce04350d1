"""Signals to main.py as a real process. Mid-run (SIGINT, SIGTERM, SIGHUP): the run stops after
the step and keeps every file. In the moments after the loop has ended: the run's last line is
out before the process can die, and a signal that came while the folder was being completed
still stops the process, with main.py's line and 128 + the signal.

main.py runs as a real process; a small launcher holds it at the moment under test (the
extras after the last line, or just before the line) so that the signal lands there every
time, not by luck of timing. stdout goes to a file: block-buffered, as in a pipe or a log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import (
    LOOP_LAYERS,
    ROOT,
    assert_complete,
    only_run_dir,
    tiny_overrides,
)
from tests.helpers.broken import good_pair

# Runs main.py as `python main.py ...` would, with one lifecycle step replaced (see below).
LAUNCHER = """
import os, runpy, signal, sys, time
from pathlib import Path

marker, moment = Path(sys.argv[1]), sys.argv[2]
sys.argv = [sys.argv[3], *sys.argv[4:]]
sys.path.insert(0, str(Path(sys.argv[0]).parent))  # the checkout, as for `python main.py`
import nst.run.pipeline, nst.run.still

if moment == "after":  # the extras after the last line (the animation) take a while
    def after(run_dir, settings):
        marker.write_text("after")
        time.sleep(120)
    nst.run.still.Still.after = staticmethod(after)
else:  # a signal arrives while status.txt is written, before the last line
    written = nst.run.pipeline.write_status
    def write_status(run_dir, status, message):
        written(run_dir, status, message)
        os.kill(os.getpid(), getattr(signal, moment))
    nst.run.pipeline.write_status = write_status
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def launch(tmp_path: Path, moment: str) -> tuple[subprocess.Popen, Path, Path, Path]:
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER)
    marker = tmp_path / "marker"
    args = tiny_overrides(
        *good_pair(tmp_path), tmp_path / "results", **{"output.animation": "true"}
    )
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(launcher), str(marker), moment, str(ROOT / "main.py"), *args],
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "NST_NO_PRELOAD": "1"},  # no re-exec: the launcher stays
        )
    return process, marker, out, err


def run_line(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("nst: result in ")]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_after_the_last_line_does_not_take_the_line_with_it(tmp_path, signum):
    process, marker, out, err = launch(tmp_path, "after")
    try:
        deadline = time.monotonic() + 240  # a guard against a hung test, not a timing check
        while not marker.exists():
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "the run did not finish"
            time.sleep(0.05)
        process.send_signal(signum)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = err.read_text()
    assert process.returncode == 128 + signum, stderr
    assert len(run_line(out.read_text())) == 1, (out.read_text(), stderr)
    assert f"nst: stopped by {signum.name}" in stderr and "Traceback" not in stderr, stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "moment, status, says",
    [
        ("SIGTERM", 143, "nst: stopped by SIGTERM"),
        ("SIGHUP", 129, "nst: stopped by SIGHUP"),
        ("SIGINT", 130, "nst: interrupted: stopped at once"),
    ],
)
def test_a_signal_while_the_folder_is_completed_still_stops_the_process(
    tmp_path, moment, status, says
):
    process, _, out, err = launch(tmp_path, moment)
    try:
        process.wait(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = err.read_text()
    assert process.returncode == status, stderr
    assert len(run_line(out.read_text())) == 1, (out.read_text(), stderr)  # the run's line
    assert says in stderr and "Traceback" not in stderr, stderr
    (run_dir,) = (tmp_path / "results").iterdir()
    assert (run_dir / "status.txt").read_text().startswith("0\n")  # the run itself finished
    assert not (run_dir / "evolution.gif").exists()  # nothing went on as if nobody had asked


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum, status",
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],
)
def test_signal_stops_after_the_step_and_keeps_everything(tmp_path, signum, status):
    results = tmp_path / "results"
    extra = {"optimizer.iterations": "100000", "output.save_every": "5", **LOOP_LAYERS}
    args = tiny_overrides(*good_pair(tmp_path), results, **extra)
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err, open(tmp_path / "stdout.txt", "w") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), *args],
            cwd=ROOT,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 240  # a guard against a hung test, not a timing check
            while not list(results.glob("*/iterates/iter_000005.png")):  # the loop is running
                assert process.poll() is None, err_path.read_text()
                assert time.monotonic() < deadline, "the run did not get going"
                time.sleep(0.1)
            process.send_signal(signum)
            process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    stderr = err_path.read_text()
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr
    run_dir = only_run_dir(results)
    last = assert_complete(run_dir)
    assert 5 <= last < 100000
    name = signal.Signals(signum).name
    assert f"nst: interrupted by {name} at step {last} of 100000" in stderr
    assert str(run_dir) in stderr
    assert f"to go on: python main.py --resume {run_dir}" in stderr
