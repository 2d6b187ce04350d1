"""Damaged iterates and leftovers of killed runs: the viewer and the animation skip a damaged
frame with a note; temporary files whose writer is gone are removed, and never read."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst.cli import viewer
from nst.output.evolution import RunError, animation_gif, export_animation, run_frames
from nst.output.runfolder import (
    ITERATES,
    LOSSES_CSV,
    is_temporary,
    iterate_path,
    remove_leftovers,
    temporary_name,
    write_bytes_atomic,
)


def make_run(folder: Path, iterations=(0, 2, 4, 6)) -> Path:
    """A run folder as nst writes it: iterates of distinct greys and their losses."""
    run_dir = folder / "run"
    (run_dir / ITERATES).mkdir(parents=True)
    rows = ["iteration,content,style,tv,total"]
    for k, iteration in enumerate(iterations):
        grey = np.full((24, 32, 3), 40 * k + 20, np.uint8)
        Image.fromarray(grey).save(iterate_path(run_dir, iteration))
        rows.append(f"{iteration},{k},{k},0,{2 * k}")
    (run_dir / LOSSES_CSV).write_text("\n".join(rows) + "\n")
    return run_dir


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def dead_pid() -> int:
    """The id of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_damaged_iterate_is_skipped_with_a_note(tmp_path):
    run_dir = make_run(tmp_path)
    truncate(iterate_path(run_dir, 2))
    iterate_path(run_dir, 4).write_bytes(b"not a png at all")
    notes: list[str] = []
    frames = run_frames(run_dir, notes.append)
    assert [frame.iteration for frame in frames] == [0, 6]
    assert len(notes) == 2 and all("skipping" in note for note in notes)
    assert "iter_000002.png" in notes[0] and "iter_000004.png" in notes[1]


def test_every_iterate_damaged_is_a_run_error(tmp_path):
    run_dir = make_run(tmp_path, iterations=(0,))
    truncate(iterate_path(run_dir, 0))
    with pytest.raises(RunError, match="every saved iterate is damaged"):
        run_frames(run_dir)


def test_the_animation_leaves_a_damaged_frame_out(tmp_path):
    run_dir = make_run(tmp_path)
    truncate(iterate_path(run_dir, 4))
    notes: list[str] = []
    path = export_animation(run_dir, notes.append)
    with Image.open(path) as gif:
        assert gif.n_frames == 3
    assert "iter_000004.png" in notes[0]
    assert animation_gif(run_frames(run_dir, lambda _: None))  # the same frames, no error


def test_viewer_command_notes_the_damaged_frame_and_goes_on(tmp_path, monkeypatch, capsys):
    run_dir = make_run(tmp_path)
    truncate(iterate_path(run_dir, 2))
    shown: list = []
    monkeypatch.setattr(viewer, "display_problem", lambda environ, platform: None)
    monkeypatch.setattr(viewer, "show_window", lambda run, frames, ready: shown.extend(frames))
    assert viewer.main([str(run_dir)]) == 0
    assert [frame.iteration for frame in shown] == [0, 4, 6]
    assert "note: skipping" in capsys.readouterr().err


def test_a_frame_that_fails_to_decode_after_all_shows_grey_with_a_note(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"junk")
    picture = viewer._picture(bad, (8, 6))
    assert picture.shape == (6, 8, 3) and "cannot show" in capsys.readouterr().err


def test_temporary_names_carry_the_writers_process_id(tmp_path):
    name = temporary_name(tmp_path / "final.png")
    assert name.name == f".final.png.{os.getpid()}.tmp" and is_temporary(name)
    write_bytes_atomic(tmp_path / "final.png", b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["final.png"]
    assert not is_temporary(Path("final.png")) and not is_temporary(Path(".hidden.png"))


def test_leftovers_of_a_killed_writer_are_removed_and_live_ones_kept(tmp_path):
    run_dir = make_run(tmp_path)
    dead = dead_pid()
    killed = [
        run_dir / f".final.png.{dead}.tmp",
        run_dir / ITERATES / f".iter_000008.png.{dead}.tmp",
        tmp_path / f".nst-write-test-{dead}",
    ]
    live = [run_dir / f".losses.csv.{os.getpid()}.tmp", run_dir / ".config.ini.tmp"]
    for path in killed + live:
        path.write_bytes(b"half")
    old = run_dir / ITERATES / ".iter_000010.png.tmp"  # an older nst: no id, hours old
    old.write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    removed = remove_leftovers(tmp_path, depth=3)
    assert sorted(removed) == sorted([*killed, old])
    assert all(path.exists() for path in live)


def test_the_viewer_removes_leftovers_and_never_shows_them(tmp_path, monkeypatch):
    run_dir = make_run(tmp_path)
    leftover = run_dir / ITERATES / f".iter_000008.png.{dead_pid()}.tmp"
    Image.new("RGB", (32, 24)).save(leftover, format="PNG")
    shown: list = []
    monkeypatch.setattr(viewer, "display_problem", lambda environ, platform: None)
    monkeypatch.setattr(viewer, "show_window", lambda run, frames, ready: shown.extend(frames))
    assert viewer.main([str(run_dir)]) == 0
    assert [frame.iteration for frame in shown] == [0, 2, 4, 6]
    assert not leftover.exists()
