"""Every write nst makes, failing as a disk that fills up (space or inodes) would, ends as
the README's table says: status 4 and the files already written complete, or, for the
animation, a note and the run's own status; a run folder that cannot be started is not left
behind empty. A diverging run with a tiny Adam epsilon is told to raise epsilon."""

from __future__ import annotations

import errno
import pathlib
from pathlib import Path

import pytest

import main as cli
from nst.core.records import Record
from nst.output import runfolder
from nst.run.still import diverged_message
from nst.settings import load_settings
from tests.helpers import tiny_overrides
from tests.helpers.broken import good_pair

SHALLOW = {"model.content_layers": "block1_conv2", "model.style_layers": "block1_conv1"}


def run_cli(capsys, tmp_path: Path, **settings: str) -> tuple[int, str, Path]:
    results = tmp_path / "results"
    args = tiny_overrides(*good_pair(tmp_path), results, **{**SHALLOW, **settings})
    status = cli.main(args)
    out, err = capsys.readouterr()
    return status, out + err, results  # (nst's lines on stdout never start "nst: error:")


def runs_in(results: Path) -> list[Path]:
    return [p for p in results.iterdir() if p.is_dir()] if results.is_dir() else []


def one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("nst: error:")]
    assert len(lines) == 1, err
    return lines[0]


def fail_renames(monkeypatch, matches, times: int = 1):
    """The `times`-th rename into place of a file for which `matches(path)` holds fails as a
    full disk would (its temporary copy is then removed by write_bytes_atomic)."""
    real = runfolder.os.replace
    seen: list[str] = []

    def replace(source, target):
        if matches(Path(target)):
            seen.append(str(target))
            if len(seen) == times:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(source, target)

    monkeypatch.setattr(runfolder.os, "replace", replace)


def test_no_inodes_for_the_run_folder_is_4_and_leaves_no_folder(tmp_path, capsys, monkeypatch):
    real = pathlib.Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self.name == runfolder.ITERATES:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    status, err, results = run_cli(capsys, tmp_path)
    assert status == 4
    assert "No space left on device" in one_error_line(err)
    assert runs_in(results) == []


def test_config_ini_that_cannot_be_written_is_4_and_leaves_no_folder(tmp_path, capsys, monkeypatch):
    fail_renames(monkeypatch, lambda path: path.name == runfolder.CONFIG)
    status, err, results = run_cli(capsys, tmp_path)
    assert status == 4 and "config.ini" in one_error_line(err)
    assert runs_in(results) == []


@pytest.mark.parametrize(
    "what, matches, times",
    [
        ("losses.csv", lambda p: p.name == runfolder.LOSSES_CSV, 2),
        ("a plot", lambda p: p.parent.name == runfolder.PLOTS, 1),
        ("final.png", lambda p: p.name == runfolder.FINAL, 1),
    ],
)
def test_a_run_file_that_cannot_be_written_is_4_and_the_rest_complete(
    tmp_path, capsys, monkeypatch, what, matches, times
):
    fail_renames(monkeypatch, matches, times)
    status, err, results = run_cli(capsys, tmp_path)
    assert status == 4, err
    line = one_error_line(err)
    assert "No space left on device" in line and "complete" in line
    (run_dir,) = runs_in(results)
    assert (run_dir / runfolder.CONFIG).is_file()
    assert not list(run_dir.rglob("*.tmp"))


def test_animation_that_cannot_be_written_is_a_note_and_the_run_still_0(
    tmp_path, capsys, monkeypatch
):
    fail_renames(monkeypatch, lambda path: path.name == runfolder.ANIMATION)
    status, err, results = run_cli(capsys, tmp_path, **{"output.animation": "true"})
    assert status == 0, err
    (run_dir,) = runs_in(results)
    assert (run_dir / runfolder.FINAL).is_file() and not (run_dir / runfolder.ANIMATION).exists()
    assert "evolution.gif not written" in err


def test_results_path_that_is_a_file_is_2(tmp_path, capsys):
    (tmp_path / "results").write_text("a file")
    status, err, _ = run_cli(capsys, tmp_path)
    assert status == 2 and "is a file, not a folder" in one_error_line(err)


def test_leftovers_of_killed_runs_are_removed_by_the_next_run(tmp_path, capsys):
    results = tmp_path / "results"
    old_run = results / "20260101-000000-content-style"
    (old_run / runfolder.ITERATES).mkdir(parents=True)
    leftover = old_run / runfolder.ITERATES / ".iter_000010.png.999999999.tmp"
    leftover.write_bytes(b"half a png")
    status, err, _ = run_cli(capsys, tmp_path)
    assert status == 0, err
    assert not leftover.exists()


@pytest.mark.parametrize(
    "epsilon, advice",
    [
        ("1e-45", "raise [optimizer] epsilon (now 1e-45, try 1e-12"),
        ("1e-08", "lower [optimizer] learning_rate (now 5, try 0.5)"),
    ],
)
def test_divergence_advice_names_the_setting_that_helps(epsilon, advice):
    record = Record(3, float("nan"), 1.0, 0.0, float("nan"), 0.1)
    optimizer = load_settings(None, (f"optimizer.epsilon={epsilon}",)).optimizer
    text = diverged_message(record, optimizer, Path("run"))
    assert advice in text
    lbfgs = load_settings(None, (f"optimizer.epsilon={epsilon}", "optimizer.name=lbfgs"))
    assert "learning_rate" in diverged_message(record, lbfgs.optimizer, Path("run"))
