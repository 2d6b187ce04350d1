"""A run's folder and what goes in it: settings, iterates, final image, loss log, plots.

Every file is written to a temporary name beside it and renamed into place, so a crash
never leaves a half-written PNG or CSV.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import time
from pathlib import Path

import numpy as np
from PIL import Image

from nst.images import to_uint8
from nst.optimize import LOSS_NAMES, Progress
from nst.runfolder import ITERATES, LOSSES_CSV, iterate_path, write_bytes_atomic

CSV_COLUMNS = ("iteration", *LOSS_NAMES, "elapsed_s", "scale")
PLOTS = "plots"


def create_run_dir(results_dir: Path, content_image: Path, style_image) -> Path:
    """A new, empty folder results_dir/<YYYYmmdd-HHMMSS>-<content>-<style>[-N]; never reused.

    With several style images (a tuple of paths), <style> is the first one's name and +K for
    the K others, e.g. `starry+2`.
    """
    styles = (style_image,) if isinstance(style_image, str | Path) else tuple(style_image)
    style = _slug(Path(styles[0]).stem) + (f"+{len(styles) - 1}" if len(styles) > 1 else "")
    run_dir = make_unique_dir(results_dir, f"{_slug(Path(content_image).stem)}-{style}")
    (run_dir / ITERATES).mkdir()
    (run_dir / PLOTS).mkdir()
    return run_dir


def make_unique_dir(parent: Path, name: str) -> Path:
    """A new, empty folder parent/<YYYYmmdd-HHMMSS>-<name>[-N]; never reused."""
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
    Path(parent).mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        folder = Path(parent) / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            folder.mkdir()  # fails if it exists: two runs in one second get -2, -3, ...
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"too many folders named {name} in {parent}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:40] or "image"


def write_png(path: Path, image: np.ndarray) -> None:
    """Float pixels 0..255 (height, width, 3) -> PNG at `path`, clipped to valid pixels."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())


def losses_csv(records: list[Progress]) -> str:
    """The loss log: header `iteration,content,style,tv,total,elapsed_s,scale`, a row per record."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        losses = (f"{getattr(r, n):.9g}" for n in CSV_COLUMNS[1:-1])
        writer.writerow([r.iteration, *losses, r.scale])
    return buffer.getvalue()


class RunWriter:
    """Receives the optimisation's records and keeps the run folder up to date."""

    def __init__(self, run_dir: Path, scales: int = 1):
        self.run_dir = Path(run_dir)
        self.scales = scales  # coarse-to-fine: iterates below the full size are named by scale
        self.records: list[Progress] = []  # without images: they are on disk
        self.last_image: np.ndarray | None = None

    def add(self, record: Progress) -> None:
        self.records.append(dataclasses.replace(record, image=None))
        if record.image is not None:
            path = iterate_path(self.run_dir, record.iteration, record.scale, self.scales)
            write_png(path, record.image)
            self.last_image = record.image
            # The log, up to this iterate, is rewritten with each one: an abrupt end loses little.
            self.write_log()

    def write_log(self) -> None:
        write_bytes_atomic(self.run_dir / LOSSES_CSV, losses_csv(self.records).encode())

    def finish(self) -> None:
        """final.png (the last image), the complete loss log and the plots."""
        if self.last_image is not None:
            write_png(self.run_dir / "final.png", self.last_image)
        self.write_log()
        if self.records:
            from nst.plots import plot_losses  # matplotlib is slow to import: only when needed

            plot_losses(self.records, self.run_dir / PLOTS)
