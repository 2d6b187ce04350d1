"""The progress a user sees on a long run: one bar over every scale that ends full when the
stopping rule ends a scale early, an honest time left, the scale it is on, one step numbering
for the bar, the scale lines, losses.csv and the plots, and a resumed run that goes on from
its step."""

from __future__ import annotations

import csv

import pytest

from nst.cli.progress import Progress, ProgressBar, at_most
from nst.core.records import Record, run_steps
from nst.core.scales import Scale
from nst.output.outputs import RunWriter
from nst.output.plots import steps_so_far

# The run the issue saw: 100 steps at the coarse scale, 300 allowed at the full size, where
# the stopping rule ended it at its iteration 128: step 228, not 57 % of 400.
PLAN = [Scale(24, 32, 100), Scale(48, 64, 300)]
SECONDS_PER_STEP = {1: 0.25, 2: 1.0}  # 4x the pixels, 4x the time


def scale_records(scale: int, last: int, stopped: str, start_s: float = 0.0) -> list[Record]:
    """Records 0..last of one scale, 1 s of targets first, then a step each."""
    times = [start_s + 1 + i * SECONDS_PER_STEP[scale] for i in range(last + 1)]
    return [
        Record(i, 1.0, 1.0, 0.0, 2.0, t, scale=scale, stopped=stopped * (i == last))
        for i, t in enumerate(times)
    ]


def issue_run() -> list[Record]:
    coarse = scale_records(1, 100, "budget")
    return coarse + scale_records(2, 128, "converged", coarse[-1].elapsed_s)


def bar_run(records: list[Record], tmp_path, capsys) -> tuple[tuple[int, int], str]:
    """The bar's last (n, total), and everything it wrote (its lines, then the scale lines)."""
    bar = ProgressBar()
    bar.started(tmp_path, PLAN)
    for record in records:
        bar.recorded(record)
    final = (bar.bar.n, bar.bar.total)
    bar.ended()
    shown = capsys.readouterr()
    return final, shown.err.replace("\r", "\n") + "\n" + shown.out


def test_the_bar_ends_full_when_the_stopping_rule_ends_a_scale_early(tmp_path, capsys):
    (n, total), shown = bar_run(issue_run(), tmp_path, capsys)
    assert (n, total) == (228, 228)
    drawn = [line for line in shown.splitlines() if "|" in line]
    assert " 100%|" in drawn[-1] and "at most 0:00 left" in drawn[-1], drawn[-1]


def test_the_time_left_is_an_upper_bound_that_reaches_zero():
    progress = Progress(PLAN)
    records = issue_run()
    for record in records[:51]:  # half the coarse scale
        progress.add(record)
    left = progress.seconds_left()
    # 50 coarse steps at 0.25 s and 300 full-size steps at 1 s (measured per pixel): 312.5 s
    assert left == pytest.approx(50 * 0.25 + 300 * 1.0)
    for record in records[51:]:
        progress.add(record)
    assert progress.seconds_left() == 0
    assert at_most(progress.seconds_left()) == "at most 0:00 left"
    assert at_most(3725) == "at most 1:02:05 left"
    assert at_most(None) == "time left unknown"


def test_the_bar_says_the_scale_it_is_on(tmp_path, capsys):
    progress = Progress(PLAN)
    progress.add(scale_records(2, 3, "")[0])
    assert progress.where() == "scale 2/2 64x48"
    _, shown = bar_run(scale_records(1, 5, ""), tmp_path, capsys)
    assert "scale 1/2 32x24" in shown


def test_bar_log_csv_and_plot_number_the_same_step_the_same_way(tmp_path, capsys):
    records = issue_run()
    (n, _), shown = bar_run(records, tmp_path, capsys)
    lines = [line for line in shown.splitlines() if line.startswith("nst: scale")]
    assert lines[-1].startswith("nst: scale 2/2 (64x48): converged at step 228")
    assert "its iteration 128 of 300" in lines[-1]
    writer = RunWriter(tmp_path)
    writer.records = records
    writer.write_log()
    with open(tmp_path / "losses.csv", newline="") as file:
        last_row = list(csv.DictReader(file))[-1]
    assert (int(last_row["step"]), int(last_row["iteration"]), last_row["scale"]) == (228, 128, "2")
    assert steps_so_far(records)[-1] == n == run_steps(records)[-1] == 228


def test_a_resumed_run_goes_on_from_its_step(tmp_path, capsys):
    records = issue_run()
    resume_at = 100 + 1 + 40  # the coarse scale, then the full size's record 40
    writer = RunWriter(tmp_path)
    writer.records = records  # the log as the interrupted run left it (rows after 40 too)
    writer.write_log()
    (n, total), shown = bar_run(records[resume_at:], tmp_path, capsys)
    assert (n, total) == (228, 228)
    first = next(line for line in shown.splitlines() if "|" in line)
    assert "step 140/" in first, first  # where it stopped, not 0


def test_a_stop_asked_leaves_the_bar_where_it_stopped(tmp_path, capsys):
    records = scale_records(1, 100, "budget") + scale_records(2, 10, "asked", 26.0)
    (n, total), shown = bar_run(records, tmp_path, capsys)
    assert (n, total) == (110, 400)
    assert "stop asked at step 110" in shown


def test_the_bar_is_ascii_but_for_tqdm_s_own_blocks(tmp_path, capsys):
    _, shown = bar_run(issue_run(), tmp_path, capsys)
    words = "".join(c for c in shown if c not in " ▏▎▍▌▋▊▉█")
    words.encode("ascii")  # raises on anything else: no mojibake on an ASCII terminal
