"""A run folder: the name of every file in it, its creation, and atomic writes.

Light to import (no TensorFlow): the writers (nst.outputs, the sweep, the animation) and the
readers (the viewer, the web studio) spell every file name through this module.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

CONFIG = "config.ini"  # the resolved settings: `python main.py --config` runs it again
FINAL = "final.png"
LOSSES_CSV = "losses.csv"
ITERATES = "iterates"
PLOTS = "plots"
ANIMATION = "evolution.gif"
STATUS = "status.txt"  # how the run ended: its exit status, then the run's last line
# A video run (nst.video) writes these instead of iterates/, final.png and the animation.
FRAMES = "frames"
FRAMES_CSV = "frames.csv"  # one row per finished frame
VIDEO = "video.mp4"
COMPARE = "compare.mp4"  # source | result
_ITERATE_NAME = re.compile(r"iter_(\d+)\.png")


def iterate_path(run_dir: Path, iteration: int, scale: int = 1, scales: int = 1) -> Path:
    """iterates/iter_NNNNNN.png at the full size; scale<k>_iter_NNNNNN.png at coarse-to-fine's
    smaller scales (k = 1 the smallest), which the viewer leaves out."""
    prefix = "" if scale == scales else f"scale{scale}_"
    return Path(run_dir) / ITERATES / f"{prefix}iter_{iteration:06d}.png"


def frame_path(run_dir: Path, frame: int) -> Path:
    """frames/frame_NNNNNN.png of a video run, counted from 1."""
    return Path(run_dir) / FRAMES / f"frame_{frame:06d}.png"


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


def write_status(run_dir: Path, status: int, message: str) -> None:
    """status.txt: the exit status and the last line; where the disk is full, nothing (the run's
    own status is what counts, and the folder is complete without it)."""
    with contextlib.suppress(OSError):
        write_bytes_atomic(Path(run_dir) / STATUS, f"{status}\n{message}\n".encode())


def read_status(run_dir: Path) -> tuple[int, str] | None:
    """(exit status, last line) from status.txt; None where it is missing or unreadable."""
    try:
        status, _, message = (Path(run_dir) / STATUS).read_text(encoding="utf-8").partition("\n")
        return int(status), message.strip()
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def create_run_dir(
    results_dir: Path, content_image: Path, style_images: tuple[Path, ...], tag: str = ""
) -> Path:
    """A new folder results_dir/<YYYYmmdd-HHMMSS>-[<tag>-]<content>-<style>[-N] with its
    iterates/ and plots/; never reused. With several style images <style> is the first one's
    name and +K for the K others, e.g. `starry+2`. `tag` says what differs from the defaults
    (nst.settings.run_tag), e.g. `style_weight=30`."""
    style = _slug(Path(style_images[0]).stem)
    style += f"+{len(style_images) - 1}" if len(style_images) > 1 else ""
    tag = f"{re.sub(r'[^A-Za-z0-9_.=+-]+', '_', tag)[:64]}-" if tag else ""
    run_dir = make_unique_dir(results_dir, f"{tag}{_slug(Path(content_image).stem)}-{style}")
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
