"""Tests leave nothing in the checkout: conftest's autouse guard fails any test that writes
into the checkout's results/ (the default results_dir). Here: that the guard can see it."""

from __future__ import annotations

import os

from .conftest import CHECKOUT_RESULTS, ROOT, tree_state, written_since


def test_the_guard_watches_the_default_results_folder():
    assert CHECKOUT_RESULTS == ROOT / "results"


def test_a_new_folder_or_file_is_seen(tmp_path):
    before = tree_state(tmp_path)
    (tmp_path / "bench" / "quality_48").mkdir(parents=True)
    (tmp_path / "bench" / "quality_48" / "reference.csv").write_text("step\n")
    written = written_since(before, tree_state(tmp_path))
    assert "bench" in written and os.path.join("bench", "quality_48", "reference.csv") in written


def test_a_rewritten_file_is_seen(tmp_path):
    (tmp_path / "run").mkdir()
    old = tmp_path / "run" / "losses.csv"
    old.write_text("a\n")
    os.utime(old, ns=(0, 0))
    before = tree_state(tmp_path)
    old.write_text("b\n")  # rewritten in place: the folder's own time does not change
    assert written_since(before, tree_state(tmp_path)) == [os.path.join("run", "losses.csv")]


def test_nothing_written_nothing_seen(tmp_path):
    (tmp_path / "a").mkdir()
    assert written_since(tree_state(tmp_path), tree_state(tmp_path)) == []
    assert tree_state(tmp_path / "absent") == {}
