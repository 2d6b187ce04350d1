"""Sweeps: `--sweep section.key=v1,v2,...` (repeatable) alone runs once per point of the grid
of all keys and draws one contact sheet. A sweep is a batch with one content and one style
(nst.batch.plan): the same grid, checks, index and sheet drawing; it gets a new dated folder each
time, writes `sweep.csv`, runs on this machine and stops at its first failed run.

With one key the sheet is one row; with two, the first gives the rows and the second the
columns; with more, the first gives the rows and the others together the columns (one column
per combination). Values are separated by commas, or by semicolons when the text has any
(nst.batch.grid)."""

from __future__ import annotations

from pathlib import Path

from nst.batch.launch import execute
from nst.batch.plan import SWEEP_CSV, plan_sweep
from nst.settings import BatchSettings

INDEX = SWEEP_CSV
SHEET = "contact_sheet.png"


def run_sweep(
    config: Path | None, overrides: tuple[str, ...], texts: list[str], *, stop=None
) -> int:
    """Check every point, run them one by one (the network built once), then write
    sweep.csv and the sheet; the first run that does not succeed ends the sweep, and its
    status is the sweep's. `stop` (a nst.run.process.StopRequest): for callers other than the
    command line, which stops on signals."""
    return execute(plan_sweep(config, overrides, texts), BatchSettings(), (1, 1), stop)
