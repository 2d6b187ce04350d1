"""The command line's first and last moments: argparse's errors as one line, Ctrl-C while
the libraries load, an address-space limit (ulimit -v), and output streams whose reader has
gone (`| head -1`, a closed stdout)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time

import pytest

import main as cli
from nst.cli.startup import Forgiving
from nst.run.exits import EXIT_FAULT, describe
from tests.helpers import ROOT, tiny_overrides
from tests.helpers.broken import good_pair

MAIN = [sys.executable, str(ROOT / "main.py")]


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--set"], "argument --set: expected one argument"),
        (["--config"], "argument --config: expected one argument"),
    ],
)
def test_argparse_errors_are_one_nst_line_and_status_2(argv, says, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.parse_args(argv)
    err = capsys.readouterr().err
    assert exit.value.code == 2
    assert err.count("\n") == 1 and err.startswith(f"nst: error: {says}"), err


@pytest.mark.parametrize("delay_s", [1.0, 2.0, 3.5])
def test_ctrl_c_while_loading_is_one_line_and_130(tmp_path, delay_s):
    args = tiny_overrides(*good_pair(tmp_path), tmp_path / "results")
    process = subprocess.Popen(
        [*MAIN, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # After Python's own start (its first ~0.1 s, which no program can guard): imports,
    # checks or TensorFlow's start, seconds in all on a shared machine.
    time.sleep(delay_s)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    if process.returncode == 0:  # the whole tiny run won the race: nothing to check
        return
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("nst:")]
    assert len(lines) == 1 and ("SIGINT" in lines[0] or "interrupted" in lines[0]), err


def _limit_address_space(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


@pytest.mark.parametrize("limit_mb", [300, 1465])
def test_address_space_limit_is_one_line_and_4_at_once(tmp_path, limit_mb):
    args = tiny_overrides(*good_pair(tmp_path), tmp_path / "results")
    started = time.monotonic()
    done = subprocess.run(
        [*MAIN, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,  # it used to spin at 100 % CPU here
        preexec_fn=_limit_address_space(limit_mb * 1024**2),
    )
    assert done.returncode == EXIT_FAULT, done.stderr
    assert done.stderr.count("\n") == 1 and "ulimit -v" in done.stderr, done.stderr
    assert time.monotonic() - started < 30
    assert not (tmp_path / "results").exists()


def test_address_space_too_small_for_the_size_is_refused_with_a_size(tmp_path):
    args = tiny_overrides(*good_pair(tmp_path), tmp_path / "r", **{"image.max_size": "4096"})
    done = subprocess.run(
        [*MAIN, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_address_space(3 * 1024**3),
    )
    assert done.returncode == 2, done.stderr
    assert "address-space limit (ulimit -v)" in done.stderr and "Traceback" not in done.stderr


def test_a_library_that_cannot_be_mapped_is_a_machine_fault():
    error = ImportError("libavcodec.so.62: failed to map segment from shared object")
    status, text = describe(error)
    assert status == EXIT_FAULT and "out of memory while loading a library" in text
    assert describe(ImportError("No module named 'x'"))[0] == 1  # a real bug stays a bug


def _finished_run(tmp_path, **popen) -> tuple[int, str]:
    results = tmp_path / "results"
    args = tiny_overrides(*good_pair(tmp_path), results, **{"output.animation": "true"})
    process = subprocess.Popen([*MAIN, *args], cwd=ROOT, stderr=subprocess.PIPE, **popen)
    if process.stdout is not None:
        process.stdout.close()  # the reader is gone before the first line: every write fails
    _, err = process.communicate(timeout=300)
    gifs = list(results.glob("*/evolution.gif"))
    assert len(gifs) == 1, err
    return process.returncode, err.decode()


@pytest.mark.slow
def test_stdout_pipe_closed_by_its_reader_keeps_status_0_and_the_gif(tmp_path):
    status, err = _finished_run(tmp_path, stdout=subprocess.PIPE)
    assert status == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err, err


@pytest.mark.slow
def test_stdout_closed_from_the_start_keeps_status_0_and_the_gif(tmp_path):
    status, err = _finished_run(tmp_path, stdout=None, preexec_fn=lambda: os.close(1))
    assert status == 0, err
    assert "Traceback" not in err, err


def test_forgiving_stream_goes_quiet_after_a_broken_pipe():
    read, write = os.pipe()
    stream = Forgiving(os.fdopen(write, "w"))
    os.close(read)
    stream.write("x" * 100_000)  # larger than the pipe's buffer: the write itself fails
    stream.flush()
    assert stream.stream is None
    stream.write("more")  # and stays quiet
