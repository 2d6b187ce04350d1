"""Where a run's files live and how they are written; light to import (no TensorFlow).

`nst.outputs` writes a run with these names; the viewer reads it back with them, and
imports only this module so that its window opens without loading TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

ITERATES = "iterates"
LOSSES_CSV = "losses.csv"
_ITERATE_NAME = re.compile(r"iter_(\d+)\.png")


def iterate_path(run_dir: Path, iteration: int, scale: int = 1, scales: int = 1) -> Path:
    """iterates/iter_NNNNNN.png at the full size; scale<k>_iter_NNNNNN.png at coarse-to-fine's
    smaller scales (k = 1 the smallest), which the viewer leaves out."""
    prefix = "" if scale == scales else f"scale{scale}_"
    return Path(run_dir) / ITERATES / f"{prefix}iter_{iteration:06d}.png"


def iteration_of(path: Path) -> int | None:
    """The iteration of a full-size iterate file named by `iterate_path`; None for any other."""
    match = _ITERATE_NAME.fullmatch(Path(path).name)
    return int(match.group(1)) if match else None


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file and a rename (atomic on one filesystem)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException as error:  # a full disk or a Ctrl-C: no half-written copy stays
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(error, OSError):  # name the file meant (a failed write() names none)
            raise OSError(error.errno, error.strerror or str(error), str(path)) from error
        raise
