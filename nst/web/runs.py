"""The run folders in the results folder, as the page lists and shows them (CLI runs too).

Reads only what a run writes (nst.output.runfolder's names, losses.csv, config.ini); no TensorFlow.
Run ids and file names from URLs are checked here: a run is a folder directly inside the
results folder, or directly inside a batch's or sweep's folder there (its id is then
`<batch folder>~<run folder>`: `~` is in no folder name nst makes); a file is inside its run
folder, and none may leave it (no `..`, no absolute path, no symlink pointing out).
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import signal
import time
from pathlib import Path

from PIL import Image

from nst.core.scales import automatic_scales, scale_budgets
from nst.output.evolution import RunError, run_frames
from nst.output.runfolder import (
    ANIMATION,
    CHECKPOINT,
    COMPARE,
    CONFIG,
    FINAL,
    FINAL_TIFF,
    FRAMES_CSV,
    LOSSES_CSV,
    PLOTS,
    STATUS,
    VIDEO,
    is_clip_run,
    read_status,
)
from nst.settings import ImageSettings, Settings, SettingsError, load_run_settings

# The plots nst.output.plots draws, the one with every loss first.
PLOT_FILES = ("losses.png", "content_loss.png", "style_loss.png", "total_loss.png")
_PART = re.compile(r"[A-Za-z0-9_+=-][A-Za-z0-9_.+=-]*")  # a folder or file name; not . or ..
_STARTED = re.compile(r"(\d{8}-\d{6})-")
NESTED = "~"  # between a batch folder's name and its run's, in a run id


def _safe_part(part: str) -> bool:
    return bool(_PART.fullmatch(part)) and ".." not in part


def plain(run_dir: Path, name: str) -> Path | None:
    """`run_dir/name` where it is a regular file of the run itself: not a symlink, nor under
    a symlinked folder (a config.ini linked to /etc/... is not the run's)."""
    path = Path(run_dir) / name
    if path.is_symlink() or not path.is_file():
        return None
    if not path.resolve().is_relative_to(Path(run_dir).resolve()):
        return None
    return path


def run_folder(results_dir: Path, run_id: str) -> Path | None:
    """The run folder `run_id` inside `results_dir` (`batch~run`: inside a batch folder
    there); None if it is not one (or points out)."""
    parts = run_id.split(NESTED) if isinstance(run_id, str) else []
    if not 1 <= len(parts) <= 2 or not all(_safe_part(part) for part in parts):
        return None
    folder = Path(results_dir)
    for part in parts:
        folder = folder / part
        if folder.is_symlink() or not folder.is_dir():
            return None
    return folder if plain(folder, CONFIG) is not None else None


def run_id_of(results_dir: Path, run_dir: Path) -> str:
    """The id of a run folder found by run_folder (its name, or `batch~name`)."""
    return NESTED.join(Path(run_dir).relative_to(results_dir).parts)


def resumable(run_dir: Path, status: str) -> bool:
    """A stopped (or failed) run that can go on: a still with its checkpoint, or a clip."""
    if status not in ("stopped", "failed"):
        return False
    return is_clip_run(run_dir) or plain(run_dir, CHECKPOINT) is not None


def delete_run(results_dir: Path, run_id: str) -> bool:
    """Remove the run folder `run_id` (checked by run_folder: never anything outside the
    results folder; symlinks inside are removed, not followed); False if it is not a run."""
    folder = run_folder(results_dir, run_id)
    if folder is None:
        return False
    shutil.rmtree(folder)
    return True


def run_file(run_dir: Path, name: str) -> Path | None:
    """The file `name` (a relative path like iterates/iter_000010.png) inside `run_dir`."""
    parts = name.split("/")
    if not name or not all(_safe_part(part) for part in parts):
        return None
    path = run_dir.joinpath(*parts)
    if not path.is_file() or not path.resolve().is_relative_to(run_dir.resolve()):
        return None
    return path


def read_rows(run_dir: Path, name: str = LOSSES_CSV) -> list[dict[str, float]]:
    """losses.csv's rows in order (every scale), as numbers; rows cut short are left out."""
    path = plain(run_dir, name)
    if path is None:
        return []
    try:
        with open(path, newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    numbers = []
    for row in rows:
        try:
            numbers.append({key: float(value) for key, value in row.items()})
        except (TypeError, ValueError):
            continue
    return numbers


def run_settings(run_dir: Path) -> Settings | None:
    config = plain(run_dir, CONFIG)
    if config is None:
        return None
    try:
        return load_run_settings(config)
    except SettingsError:
        return None


def video_rows(run_dir: Path) -> list[dict[str, float]]:
    """A video run's frames.csv as the page plots it: one row per frame, x = the frame."""
    rows, elapsed = [], 0.0
    for row in read_rows(run_dir, FRAMES_CSV):
        elapsed += row.get("seconds", 0.0)
        losses = {key: row.get(key, math.nan) for key in ("content", "style", "tv", "total")}
        rows.append({"iteration": row["frame"], "scale": 1, **losses, "elapsed_s": elapsed})
    return rows


def status_word(status: int) -> str:
    """An exit status (nst.run.exits) as the runs list says it."""
    if status in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        return "stopped"
    return {0: "done", 3: "diverged"}.get(status, "failed")


def status_of(run_dir: Path, settings: Settings | None, rows: list[dict]) -> str:
    """done / stopped / diverged / failed: from status.txt, which every run writes at its end.

    A folder without it (made before it existed, or a run that ended on an unexpected error
    or was killed) is judged by its files: no row or no final.png (a clip has none), failed;
    a non-finite last row, diverged; its whole budget at the full size, done; fewer
    iterations, stopped.
    """
    ended = read_status(run_dir) if plain(run_dir, STATUS) else None
    if ended is not None:
        return status_word(ended[0])
    if not rows:
        return "failed"
    last = rows[-1]
    if not all(math.isfinite(last.get(name, 0.0)) for name in ("content", "style", "total")):
        return "diverged"
    if not (run_dir / FINAL).is_file():
        return "failed"
    if settings is None:
        return "done"
    scales = settings.image.scales or scales_of_result(run_dir / FINAL, settings.image)
    budget = scale_budgets(settings.optimizer, scales)[-1]
    full_size = last.get("scale", 1) >= scales
    return "done" if full_size and last["iteration"] >= budget else "stopped"


def scales_of_result(final: Path, image: ImageSettings) -> int:
    """How many scales [image] scales = auto gave the run whose result is `final`: counted from
    the result's size, which is the full size (1 where it cannot be read)."""
    try:
        with Image.open(final) as result:
            width, height = result.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return 1
    return automatic_scales(height, width, image.scale_factor)


def started_at(run_dir: Path) -> float:
    """When the run started: from its folder's name (YYYYmmdd-HHMMSS), else the folder's time."""
    match = _STARTED.match(run_dir.name)
    if match:
        try:
            return time.mktime(time.strptime(match[1], "%Y%m%d-%H%M%S"))
        except ValueError:
            pass
    return run_dir.stat().st_mtime


def summary(run_dir: Path, run_id: str | None = None) -> dict:
    """What the runs list shows of one run (`run_id`: its id where it is not its name)."""
    run_id = run_id or run_dir.name
    settings = run_settings(run_dir)
    video = is_clip_run(run_dir)
    rows = video_rows(run_dir) if video else read_rows(run_dir)
    thumbnail = FINAL if plain(run_dir, FINAL) else _last_iterate(run_dir)
    paths = settings.paths if settings else None
    status = status_of(run_dir, settings, rows)
    return {
        "id": run_id,
        "name": run_dir.name,
        "kind": "video" if video else "still",
        "started": started_at(run_dir),
        "content": paths.content_image.name if paths else "?",
        "styles": [p.name for p in paths.style_image] if paths else [],
        "status": status,
        "resumable": resumable(run_dir, status),
        "duration_s": rows[-1]["elapsed_s"] if rows else None,
        "iterations": int(rows[-1]["iteration"]) if rows else 0,
        "thumbnail": f"/runs/{run_id}/view/{thumbnail}" if thumbnail else None,
    }


def _last_iterate(run_dir: Path) -> str | None:
    """The last saved iterate (a video run: its last finished frame), relative to the run."""
    frames = _frames(run_dir)
    return _relative(run_dir, frames[-1].path) if frames else None


def _frames(run_dir: Path) -> list:
    try:
        return run_frames(run_dir)
    except (RunError, OSError):
        return []


def _relative(run_dir: Path, path: Path) -> str:
    return Path(path).relative_to(run_dir).as_posix()


def list_runs(results_dir: Path) -> list[dict]:
    """Every run folder directly in `results_dir` (the page's and the CLI's), newest first."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return []
    found = [run_folder(results_dir, p.name) for p in results_dir.iterdir()]
    runs = [summary(folder) for folder in found if folder is not None]
    return sorted(runs, key=lambda run: (run["started"], run["id"]), reverse=True)


def list_batches(results_dir: Path) -> list[dict]:
    """The batch and sweep folders in `results_dir` (folders of run folders, made by
    --batch and --sweep), newest first, each with its runs as list_runs gives them."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return []
    batches = []
    for folder in results_dir.iterdir():
        if not _safe_part(folder.name) or folder.is_symlink() or not folder.is_dir():
            continue
        if plain(folder, CONFIG) is not None:
            continue  # a run itself
        found = [run_folder(results_dir, f"{folder.name}{NESTED}{p.name}") for p in _dirs(folder)]
        runs = [summary(run, run_id_of(results_dir, run)) for run in found if run is not None]
        if runs:
            runs.sort(key=lambda run: (run["started"], run["id"]), reverse=True)
            batches.append({"id": folder.name, "started": started_at(folder), "runs": runs})
    return sorted(batches, key=lambda batch: (batch["started"], batch["id"]), reverse=True)


def _dirs(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if _safe_part(p.name)]
    except OSError:
        return []


def detail(run_dir: Path, run_id: str | None = None) -> dict:
    """One run for the page: its summary, iterates with losses, loss rows, plots, downloads."""
    run_id = run_id or run_dir.name
    base = f"/runs/{run_id}/files"
    frames = _frames(run_dir)
    video = is_clip_run(run_dir)
    plots = sorted(p.name for p in (run_dir / PLOTS).glob("*.png") if plain(p.parent, p.name))
    plots = [name for name in PLOT_FILES if name in plots] or plots  # a video run's own plots

    def url(name: str) -> str | None:
        return f"{base}/{name}" if plain(run_dir, name) else None

    last = _last_iterate(run_dir)
    config = plain(run_dir, CONFIG)
    final = url(FINAL) or (f"{base}/{last}" if video and last else None)
    view = f"/runs/{run_id}/view/{FINAL if url(FINAL) else last}" if final else None
    return {
        **summary(run_dir, run_id),
        "frames": [
            {
                "iteration": frame.iteration,
                # the page shows a print-sized iterate downscaled (nst.web.previews)
                "url": f"/runs/{run_id}/view/{_relative(run_dir, frame.path)}",
                "losses": frame.losses,
            }
            for frame in frames
        ],
        "rows": video_rows(run_dir) if video else read_rows(run_dir),
        "plots": [f"{base}/{PLOTS}/{name}" for name in plots],
        "final": final,  # the file itself: downloads
        "view": view,  # what the page shows of it
        "print": url(FINAL_TIFF),  # [output] format = tiff
        "animation": url(ANIMATION),
        "video": url(VIDEO),
        "compare": url(COMPARE),
        "zip": f"/runs/{run_id}/zip",
        "config": config.read_text(encoding="utf-8", errors="replace") if config else "",
    }


def run_files(run_dir: Path) -> list[Path]:
    """Every regular file of the run folder (for its zip); symlinks and temporary files left out."""
    root = run_dir.resolve()
    return sorted(
        path
        for path in run_dir.rglob("*")
        if path.is_file()
        and not path.is_symlink()
        and not path.name.startswith(".")
        and path.resolve().is_relative_to(root)
    )
