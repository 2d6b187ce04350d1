"""One numbering in the viewer: the run's step (as the bar, losses.csv and the plots number
it) is the primary label, and the caption counts the saved iterates as the trackbar shows
its value (Qt: `value/maximum`, from 0)."""

from __future__ import annotations

import re

from nst.cli import viewer
from nst.output.evolution import caption, run_frames
from tests.helpers.fake_run import ITERATIONS, make_fake_run


def test_caption_leads_with_the_step_and_counts_as_the_trackbar(tmp_path):
    frames = run_frames(make_fake_run(tmp_path / "results"))
    last = len(frames) - 1  # the trackbar's maximum (viewer.show_window: createTrackbar)
    for position, iteration in enumerate(ITERATIONS):
        where = caption(frames, position)[0]
        assert where.startswith(f"step {iteration} / {ITERATIONS[-1]}")  # one scale: equal
        # the trackbar is named as the caption names the place, and has the same two numbers
        counts = re.findall(rf"{viewer.TRACKBAR} (\d+)/(\d+)", where)
        assert counts == [(str(position), str(last))], where
        assert "[" not in where  # no second, 1-based count beside it


def test_the_first_and_last_frames_read_as_the_trackbar_ends(tmp_path):
    frames = run_frames(make_fake_run(tmp_path / "results"))
    assert caption(frames, 0)[0].endswith(f"({viewer.TRACKBAR} 0/{len(frames) - 1})")
    assert caption(frames, len(frames) - 1)[0].endswith(
        f"({viewer.TRACKBAR} {len(frames) - 1}/{len(frames) - 1})"
    )
