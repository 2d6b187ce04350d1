"""Faults during a run: signals, a diverging loss, a full disk, a bug. Each ends with one line,
its exit status, no traceback, and a run folder that holds everything written so far."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import main as cli
from nst.core.optimize import stylize
from nst.core.records import Diverged
from nst.output import outputs, runfolder
from nst.run import exits
from tests.helpers import (
    LOOP_LAYERS,
    assert_complete,
    logged_iterations,
    loop_inputs,
    loop_recipe,
    only_run_dir,
    pixels,
    pooled_extractor,
    shallow_settings,
    tiny_overrides,
)
from tests.helpers.broken import good_pair


def error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("nst: error:")]
    assert len(lines) == 1, err
    return lines[0]


# --- signals: main.py as a separate process, stopped mid-run ----------------------------


# --- the loop itself: a stop request, a non-finite step -----------------------------------


def run_loop(extractor, settings, save_every: int, **kwargs) -> list:
    recipe = loop_recipe(settings, save_every)
    return list(stylize(extractor, loop_inputs(pixels(1), pixels(2)), recipe, **kwargs))


def test_stop_request_ends_with_the_current_image_and_its_losses():
    # Without averaging the image of record i is the iterate whose losses it carries.
    settings = shallow_settings(
        "optimizer.iterations=10", "image.init=noise", "optimizer.average=0"
    )
    clean = run_loop(pooled_extractor(), settings, save_every=1)
    records: list = []
    loop = stylize(
        pooled_extractor(), loop_inputs(pixels(1), pixels(2)), loop_recipe(settings, 5),
        stop_requested=lambda: len(records) == 3,
    )  # fmt: skip
    records.extend(loop)
    assert [r.iteration for r in records] == [0, 1, 2, 3]
    np.testing.assert_array_equal(records[-1].image, clean[3].image)  # no extra update
    assert records[-1].total == pytest.approx(clean[3].total)


def test_non_finite_step_keeps_the_last_finite_image_and_raises():
    settings = shallow_settings("optimizer.iterations=10", "image.init=noise")
    clean = run_loop(pooled_extractor(), settings, save_every=1)
    records: list = []
    # 2 calls compute the targets; steps 0..3 are fine, step 4 turns NaN
    loop = stylize(
        pooled_extractor(poison_after_calls=6), loop_inputs(pixels(1), pixels(2)),
        loop_recipe(settings, 3),
    )  # fmt: skip
    with pytest.raises(Diverged) as diverged:
        for record in loop:
            records.append(record)
    assert [r.iteration for r in records] == [0, 1, 2, 3, 4]
    assert diverged.value.record is records[-1]
    assert not np.isfinite(records[-1].total)
    np.testing.assert_array_equal(records[-1].image, clean[4].image)  # the bad update undone


# --- through main, in-process: a diverging run, a full disk, a bug -----------------------


def run_cli(capsys, tmp_path: Path, *extra: str, **settings: str) -> tuple[int, str, Path]:
    results = tmp_path / "results"
    args = tiny_overrides(*good_pair(tmp_path), results, **{**LOOP_LAYERS, **settings})
    status = cli.main([*extra, *args])
    _, err = capsys.readouterr()
    return status, err, results


def test_diverging_run_stops_and_keeps_its_work(tmp_path, capsys):
    # beta at the top of float32: the gradient overflows in the first step
    status, err, results = run_cli(capsys, tmp_path, **{"loss.style_weight": "3e38"})
    assert status == exits.EXIT_DIVERGED == 3
    line = error_line(err)
    bad = int(re.search(r"diverged at iteration (\d+)", line)[1])
    assert "lower [optimizer] learning_rate" in line or "lower [loss]" in line
    run_dir = only_run_dir(results)
    assert assert_complete(run_dir) == bad  # final.png: the image the failed step started from
    assert f"final.png is the last finite image (iteration {bad})" in line
    assert str(run_dir) in line


def test_full_disk_mid_run_keeps_the_complete_files(tmp_path, capsys, monkeypatch):
    real_fsync = runfolder.os.fsync
    written: list[int] = []

    def fsync_until_full(fd):
        written.append(fd)
        # the pre-flight probe, config.ini, iter_000000.png, losses.csv, checkpoint.npz; then
        # the disk is full
        if len(written) > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(runfolder.os, "fsync", fsync_until_full)
    status, err, results = run_cli(capsys, tmp_path)
    monkeypatch.undo()
    assert status == exits.EXIT_FAULT == 4
    line = error_line(err)
    assert "iter_000002.png: No space left on device" in line
    run_dir = only_run_dir(results)
    assert logged_iterations(run_dir) == [0]  # the last log written completely
    assert Image.open(run_dir / "iterates" / "iter_000000.png").size == (48, 36)
    assert not list(run_dir.rglob(".*.tmp"))  # no half-written file left behind


def failing_add(fail_at: int):
    real_add = outputs.RunWriter.add

    def add(self, record):
        if record.iteration == fail_at:
            raise RuntimeError("simulated bug")
        real_add(self, record)

    return add


def test_unexpected_error_mid_run_is_one_line_and_the_folder_is_finished(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(outputs.RunWriter, "add", failing_add(3))
    status, err, results = run_cli(capsys, tmp_path)
    assert status == exits.EXIT_UNEXPECTED == 1
    line = error_line(err)
    assert "unexpected RuntimeError" in line and "simulated bug" in line
    assert "rerun with --debug" in line
    assert assert_complete(only_run_dir(results)) == 2  # the last saved iterate is final.png


def test_unexpected_error_with_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(outputs.RunWriter, "add", failing_add(1))
    status, err, _ = run_cli(capsys, tmp_path, "--debug")
    assert status == 1
    assert "Traceback" in err and "simulated bug" in err
