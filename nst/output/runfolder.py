"""A run folder: the name of every file in it, its creation, and atomic writes.

Light to import (no TensorFlow): the writers (nst.output.outputs, the sweep, the animation) and the
readers (the viewer, the web studio) spell every file name through this module.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

CONFIG = "config.ini"  # the resolved settings: `python main.py --config` runs it again
FINAL = "final.png"  # always there: sRGB, what the viewer, the studio and sheets show
FINAL_TIFF = "final.tiff"  # the print file, with [output] format = tiff
LOSSES_CSV = "losses.csv"
ITERATES = "iterates"
PLOTS = "plots"
ANIMATION = "evolution.gif"
CHECKPOINT = (
    "checkpoint.npz"  # the optimiser's state while a run is unfinished (nst.output.checkpoint)
)
STATUS = "status.txt"  # how the run ended: its exit status, then the run's last line
# A clip's run (nst.run.video) writes these instead of iterates/, final.png and the animation.
FRAMES = "frames"
FRAMES_CSV = "frames.csv"  # one row per finished frame
VIDEO = "video.mp4"
COMPARE = "compare.mp4"  # source | result
_ITERATE_NAME = re.compile(r"iter_(\d+)\.png")
# A file being written: .<name>.<writer's process id>.tmp (see write_bytes_atomic), and the
# results folder's write probe (nst.run.preflight); older versions wrote .<name>.tmp.
_TEMPORARY = re.compile(r"\..+?(?:\.(\d+))?\.tmp|\.nst-write-test-(\d+)")
LEGACY_STALE_S = 3600  # a temporary file without a process id is stale after this long


def iterate_path(run_dir: Path, iteration: int, scale: int = 1, scales: int = 1) -> Path:
    """iterates/iter_NNNNNN.png at the full size; scale<k>_iter_NNNNNN.png at coarse-to-fine's
    smaller scales (k = 1 the smallest), which the viewer leaves out."""
    prefix = "" if scale == scales else f"scale{scale}_"
    return Path(run_dir) / ITERATES / f"{prefix}iter_{iteration:06d}.png"


def frame_path(run_dir: Path, frame: int) -> Path:
    """frames/frame_NNNNNN.png of a video run, counted from 1."""
    return Path(run_dir) / FRAMES / f"frame_{frame:06d}.png"


def is_clip_run(run_dir: Path) -> bool:
    """True for the folder of a clip's run (it has frames/ where a still run has iterates/)."""
    return (Path(run_dir) / FRAMES).is_dir()


def image_path(run_dir: Path, iteration: int, part: int = 1, parts: int = 1) -> Path:
    """Where the image of a record (its iteration, and `Record.scale`: the part of the plan
    it belongs to, of `parts`) is on disk: a clip's frame, a still run's iterate."""
    if is_clip_run(run_dir):
        return frame_path(run_dir, part)
    return iterate_path(run_dir, iteration, part, parts)


def iteration_of(path: Path) -> int | None:
    """The iteration of a full-size iterate file named by `iterate_path`; None for any other."""
    match = _ITERATE_NAME.fullmatch(Path(path).name)
    return int(match.group(1)) if match else None


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file and a rename (atomic on one filesystem)."""
    write_atomic(path, lambda file: file.write(data))


def write_atomic(path: Path, fill) -> None:
    """Write `path` via a temporary file and a rename, `fill(file)` writing its contents into
    the open binary file: a large file (a print's checkpoint) is streamed, never held whole
    in memory."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        with open(tmp, "wb") as file:
            fill(file)
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
    results_dir: Path,
    content_image: Path,
    style_images: tuple[Path, ...],
    tag: str = "",
    folders: tuple[str, ...] = (ITERATES, PLOTS),
) -> Path:
    """A new folder results_dir/<YYYYmmdd-HHMMSS>-[<tag>-]<content>-<style>[-N] with its
    `folders` (a still run's iterates/ and plots/, a clip's frames/ and plots/); never reused.
    With several style images <style> is the first one's name and +K for the K others, e.g.
    `starry+2`. `tag` says what differs from the defaults (nst.settings.run_tag), e.g.
    `style_weight=30`."""
    style = _slug(Path(style_images[0]).stem)
    style += f"+{len(style_images) - 1}" if len(style_images) > 1 else ""
    tag = f"{re.sub(r'[^A-Za-z0-9_.=+-]+', '_', tag)[:64]}-" if tag else ""
    run_dir = make_unique_dir(results_dir, f"{tag}{_slug(Path(content_image).stem)}-{style}")
    try:
        for folder in folders:
            (run_dir / folder).mkdir()
    except OSError:  # e.g. no inodes left: leave no empty run folder behind
        remove_empty_run_dir(run_dir)
        raise
    return run_dir


def remove_empty_run_dir(run_dir: Path) -> None:
    """Delete `run_dir` if it holds nothing but empty subfolders (a start that failed)."""
    with contextlib.suppress(OSError):
        for sub in (ITERATES, FRAMES, PLOTS):
            with contextlib.suppress(FileNotFoundError):
                (Path(run_dir) / sub).rmdir()
        Path(run_dir).rmdir()


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


def temporary_name(path: Path) -> Path:
    """Where `path` is written before its rename: hidden, and named with this process's id,
    so that a later run can tell a file whose writer was killed (SIGKILL) from one in use."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def is_temporary(path: Path) -> bool:
    """True for a file nst writes only for a moment (never a result): a temporary copy or
    the write probe. Readers of run folders skip these."""
    return _TEMPORARY.fullmatch(Path(path).name) is not None


def remove_leftovers(folder: Path, depth: int = 2) -> list[Path]:
    """Delete temporary files that a killed nst left in `folder` and its subfolders down to
    `depth` levels (a run folder: its iterates/ and plots/; a results folder: its runs):
    those whose writer is no longer running, or without a process id, an hour old.
    Returns what was removed; a file that cannot be removed is left (nothing reads it)."""
    removed = []
    for path in _temporaries(Path(folder), depth):
        if _writer_alive(path):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def _temporaries(folder: Path, depth: int) -> list[Path]:
    found = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return found
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) and is_temporary(Path(entry.name)):
                found.append(Path(entry.path))
            elif depth > 0 and entry.is_dir(follow_symlinks=False):
                found += _temporaries(Path(entry.path), depth - 1)
    return found


def _writer_alive(path: Path) -> bool:
    match = _TEMPORARY.fullmatch(path.name)
    pid = match.group(1) or match.group(2)
    if pid is None:  # written by an older nst: stale once it is old
        try:
            return time.time() - path.stat().st_mtime < LEGACY_STALE_S
        except OSError:
            return True
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process: leave its files alone
    return True
