"""Writes a run's records into its folder: iterates, final image, loss log, plots.

Every file is written to a temporary name beside it and renamed into place, so a crash
never leaves a half-written PNG or CSV.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
from pathlib import Path

import numpy as np

from nst.core.records import LOSS_NAMES, Record, run_steps
from nst.inputs.images import (
    embedded_profile,
    png_bytes,
    print_size,
    srgb_profile,
    to_uint8,
    to_uint16,
)
from nst.output import icc
from nst.output.runfolder import (
    FINAL,
    FINAL_TIFF,
    LOSSES_CSV,
    PLOTS,
    iterate_path,
    write_bytes_atomic,
)
from nst.output.tiff import tiff_bytes

# iteration: within its scale (iterates are named by it); step: the run's, counted on across
# scales, as the bar, the log and the plots number it (nst.core.records.StepCount)
CSV_COLUMNS = ("iteration", *LOSS_NAMES, "elapsed_s", "scale", "step")


def write_png(path: Path, image: np.ndarray, bit_depth: int = 8, dpi: float | None = None) -> None:
    """Float pixels 0..255 (height, width, 3) -> PNG at `path`, clipped to valid pixels and
    tagged as sRGB (the space nst.inputs.images converts every input to); 8 or 16 bits per sample,
    `dpi` its print resolution."""
    write_bytes_atomic(path, png_bytes(image, bit_depth, dpi))


@dataclasses.dataclass(frozen=True)
class PrintSpec:
    """How the print file is written ([output]): final.png or final.tiff, bits per sample,
    dpi, and the RGB matrix profile its pixels are converted into (None: sRGB)."""

    file_format: str = "png"
    bit_depth: int = 8
    dpi: float = 300.0
    profile: bytes | None = None

    @property
    def name(self) -> str:
        return FINAL_TIFF if self.file_format == "tiff" else FINAL

    @property
    def profile_name(self) -> str:
        return icc.profile_name(self.profile) if self.profile else "sRGB"


def print_profile(content_path: Path, wanted: str) -> tuple[bytes | None, str | None]:
    """The profile the print file is written in ([output] profile: srgb | content), None for
    sRGB, and a note where the content photo's own cannot be used."""
    if wanted != "content":
        return None, None
    carried = embedded_profile(content_path)
    if carried is None:
        return None, f"{content_path.name} carries no colour profile: the print file is sRGB"
    if icc.matrix_profile(carried) is None:
        return None, (
            f"{content_path.name}'s colour profile ({icc.profile_name(carried)}) is not an RGB "
            f"matrix profile, which nst converts into: the print file is sRGB"
        )
    return carried, None


@functools.cache
def _srgb_matrix() -> icc.MatrixProfile:
    return icc.matrix_profile(srgb_profile().tobytes())


def write_print(run_dir: Path, image: np.ndarray, spec: PrintSpec) -> None:
    """The print file (float sRGB 0..255 in, `spec`'s format, depth, dpi and profile out);
    with a TIFF, final.png too, as 8-bit sRGB: what the viewer, web studio and sheets show."""
    pixels = image
    if spec.profile is not None:
        pixels = icc.convert(image, _srgb_matrix(), icc.matrix_profile(spec.profile))
    if spec.file_format != "tiff":
        write_bytes_atomic(
            run_dir / FINAL, png_bytes(pixels, spec.bit_depth, spec.dpi, spec.profile)
        )
        return
    samples = to_uint16(pixels) if spec.bit_depth == 16 else to_uint8(pixels)
    profile = spec.profile or srgb_profile().tobytes()
    write_bytes_atomic(run_dir / FINAL_TIFF, tiff_bytes(samples, profile, spec.dpi))
    write_png(run_dir / FINAL, image, dpi=spec.dpi)


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

    def __init__(self, run_dir: Path, scales: int = 1, print_spec: PrintSpec | None = None):
        self.run_dir = Path(run_dir)
        self.print_spec = print_spec or PrintSpec()  # final.png / .tiff; iterates are 8-bit sRGB
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
        """The print file (the last image: final.png, or final.tiff and final.png), the
        complete loss log and the plots; `stop_reason` (budget, converged, interrupted,
        diverged) is said in the plots' titles."""
        if self.last_image is not None:
            write_print(self.run_dir, self.last_image, self.print_spec)
        self.write_log()
        if self.records:
            from nst.output.plots import (
                plot_losses,  # matplotlib takes a second to import: when needed
            )

            plot_losses(self.records, self.run_dir / PLOTS, stop_reason, self.sizes)

    @property
    def final_note(self) -> str:
        """The print file's name, depth, profile and size, and what it measures printed at
        its dpi."""
        if self.last_image is None:
            return ""
        height, width = self.last_image.shape[:2]
        spec = self.print_spec
        return (
            f"{spec.name}: {spec.bit_depth}-bit {spec.profile_name}, "
            f"{print_size(width, height, spec.dpi)}"
        )
