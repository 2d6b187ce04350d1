"""Writes a run's records into its folder: iterates, final image, loss log, plots.

Every file is written to a temporary name beside it and renamed into place, so a crash
never leaves a half-written PNG or CSV.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np

from nst.core.records import LOSS_NAMES, Record, run_steps
from nst.inputs.images import png_bytes, print_size
from nst.output.runfolder import FINAL, LOSSES_CSV, PLOTS, iterate_path, write_bytes_atomic

# iteration: within its scale (iterates are named by it); step: the run's, counted on across
# scales, as the bar, the log and the plots number it (nst.core.records.StepCount)
CSV_COLUMNS = ("iteration", *LOSS_NAMES, "elapsed_s", "scale", "step")


def write_png(path: Path, image: np.ndarray, bit_depth: int = 8, dpi: float | None = None) -> None:
    """Float pixels 0..255 (height, width, 3) -> PNG at `path`, clipped to valid pixels and
    tagged as sRGB (the space nst.inputs.images converts every input to); 8 or 16 bits per sample,
    `dpi` its print resolution."""
    write_bytes_atomic(path, png_bytes(image, bit_depth, dpi))


def losses_csv(records: list[Record]) -> str:
    """The loss log: header `iteration,content,style,tv,total,elapsed_s,scale,step`, a row per
    record."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r, step in zip(records, run_steps(records), strict=True):
        losses = (f"{getattr(r, n):.9g}" for n in CSV_COLUMNS[1:-2])
        writer.writerow([r.iteration, *losses, r.scale, step])
    return buffer.getvalue()


class RunWriter:
    """Receives the optimisation's records and keeps the run folder up to date."""

    def __init__(self, run_dir: Path, scales: int = 1, bit_depth: int = 8, dpi: float = 300):
        self.run_dir = Path(run_dir)
        self.bit_depth, self.dpi = bit_depth, dpi  # of final.png ([output]); iterates are 8-bit
        self.scales = scales  # coarse-to-fine: iterates below the full size are named by scale
        self.records: list[Record] = []  # without images: they are on disk
        self.last_image: np.ndarray | None = None
        self.sizes: dict[int, tuple[int, int]] = {}  # (height, width) of each scale, for plots

    def add(self, record: Record) -> None:
        self.records.append(dataclasses.replace(record, image=None))
        if record.image is not None:
            self.sizes[record.scale] = record.image.shape[:2]
            path = iterate_path(self.run_dir, record.iteration, record.scale, self.scales)
            write_png(path, record.image)
            self.last_image = record.image
            # The log, up to this iterate, is rewritten with each one: an abrupt end loses little.
            self.write_log()

    def write_log(self) -> None:
        write_bytes_atomic(self.run_dir / LOSSES_CSV, losses_csv(self.records).encode())

    def finish(self, stop_reason: str | None = None) -> None:
        """final.png (the last image), the complete loss log and the plots; `stop_reason`
        (budget, converged, interrupted, diverged) is said in the plots' titles."""
        if self.last_image is not None:
            write_png(self.run_dir / FINAL, self.last_image, self.bit_depth, self.dpi)
        self.write_log()
        if self.records:
            from nst.output.plots import (
                plot_losses,  # matplotlib takes a second to import: when needed
            )

            plot_losses(self.records, self.run_dir / PLOTS, stop_reason, self.sizes)

    @property
    def final_note(self) -> str:
        """final.png's size, depth and profile, and what it measures printed at its dpi."""
        if self.last_image is None:
            return ""
        height, width = self.last_image.shape[:2]
        return f"{FINAL}: {self.bit_depth}-bit sRGB, {print_size(width, height, self.dpi)}"
