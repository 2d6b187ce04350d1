"""The run folders in the results folder, as the page lists and shows them (CLI runs too).

Reads only what a run writes (nst.runfolder's names, losses.csv, config.ini); no TensorFlow.
Run ids and file names from URLs are checked here: a run is a folder directly inside the
results folder, a file is inside its run folder, and neither may leave it (no `..`, no
absolute path, no symlink pointing out).
"""

from __future__ import annotations

import csv
import math
import re
import signal
import time
from pathlib import Path

from nst.evolution import RunError, run_frames
from nst.runfolder import ANIMATION, CONFIG, FINAL, ITERATES, LOSSES_CSV, PLOTS, read_status
from nst.scales import scale_budgets
from nst.settings import Settings, SettingsError, load_settings

# The plots nst.plots draws, the one with every loss first.
PLOT_FILES = ("losses.png", "content_loss.png", "style_loss.png", "total_loss.png")
_PART = re.compile(r"[A-Za-z0-9_+=-][A-Za-z0-9_.+=-]*")  # a folder or file name; not . or ..
_STARTED = re.compile(r"(\d{8}-\d{6})-")


def _safe_part(part: str) -> bool:
    return bool(_PART.fullmatch(part)) and ".." not in part


def run_folder(results_dir: Path, run_id: str) -> Path | None:
    """The run folder `run_id` inside `results_dir`; None if it is not one (or points out)."""
    if not _safe_part(run_id):
        return None
    folder = Path(results_dir) / run_id
    if folder.is_symlink() or not folder.is_dir() or not (folder / CONFIG).is_file():
        return None
    return folder


def run_file(run_dir: Path, name: str) -> Path | None:
    """The file `name` (a relative path like iterates/iter_000010.png) inside `run_dir`."""
    parts = name.split("/")
    if not name or not all(_safe_part(part) for part in parts):
        return None
    path = run_dir.joinpath(*parts)
    if not path.is_file() or not path.resolve().is_relative_to(run_dir.resolve()):
        return None
    return path


def read_rows(run_dir: Path) -> list[dict[str, float]]:
    """losses.csv's rows in order (every scale), as numbers; rows cut short are left out."""
    try:
        with open(run_dir / LOSSES_CSV, newline="", encoding="utf-8") as file:
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
    try:
        return load_settings(run_dir / CONFIG)
    except SettingsError:
        return None


def status_word(status: int) -> str:
    """An exit status (nst.exits) as the runs list says it."""
    if status in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        return "stopped"
    return {0: "done", 3: "diverged"}.get(status, "failed")


def status_of(run_dir: Path, settings: Settings | None, rows: list[dict]) -> str:
    """done / stopped / diverged / failed: from status.txt, which every run writes at its end.

    A folder without it (made before it existed, or a run that ended on an unexpected error
    or was killed) is judged by its files: no row or no final.png, failed; a non-finite last
    row, diverged; its whole budget at the full size, done; fewer iterations, stopped.
    """
    ended = read_status(run_dir)
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
    scales = settings.image.scales or 1  # auto: not known without the image
    budget = scale_budgets(settings.optimizer, scales)[-1]
    full_size = last.get("scale", 1) >= scales
    return "done" if full_size and last["iteration"] >= budget else "stopped"


def started_at(run_dir: Path) -> float:
    """When the run started: from its folder's name (YYYYmmdd-HHMMSS), else the folder's time."""
    match = _STARTED.match(run_dir.name)
    if match:
        try:
            return time.mktime(time.strptime(match[1], "%Y%m%d-%H%M%S"))
        except ValueError:
            pass
    return run_dir.stat().st_mtime


def summary(run_dir: Path) -> dict:
    """What the runs list shows of one run."""
    settings = run_settings(run_dir)
    rows = read_rows(run_dir)
    thumbnail = FINAL if (run_dir / FINAL).is_file() else _last_iterate(run_dir)
    paths = settings.paths if settings else None
    return {
        "id": run_dir.name,
        "started": started_at(run_dir),
        "content": paths.content_image.name if paths else "?",
        "styles": [p.name for p in paths.style_image] if paths else [],
        "status": status_of(run_dir, settings, rows),
        "duration_s": rows[-1]["elapsed_s"] if rows else None,
        "iterations": int(rows[-1]["iteration"]) if rows else 0,
        "thumbnail": f"/runs/{run_dir.name}/files/{thumbnail}" if thumbnail else None,
    }


def _last_iterate(run_dir: Path) -> str | None:
    try:
        frames = run_frames(run_dir)
    except RunError:
        return None
    return f"{ITERATES}/{frames[-1].path.name}"


def list_runs(results_dir: Path) -> list[dict]:
    """Every run folder directly in `results_dir` (the page's and the CLI's), newest first."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return []
    found = [run_folder(results_dir, p.name) for p in results_dir.iterdir()]
    runs = [summary(folder) for folder in found if folder is not None]
    return sorted(runs, key=lambda run: (run["started"], run["id"]), reverse=True)


def detail(run_dir: Path) -> dict:
    """One run for the page: its summary, iterates with losses, loss rows, plots, downloads."""
    base = f"/runs/{run_dir.name}/files"
    try:
        frames = run_frames(run_dir)
    except RunError:
        frames = []
    present = [name for name in PLOT_FILES if (run_dir / PLOTS / name).is_file()]
    return {
        **summary(run_dir),
        "frames": [
            {
                "iteration": frame.iteration,
                "url": f"{base}/{ITERATES}/{frame.path.name}",
                "losses": frame.losses,
            }
            for frame in frames
        ],
        "rows": read_rows(run_dir),
        "plots": [f"{base}/{PLOTS}/{name}" for name in present],
        "final": f"{base}/{FINAL}" if (run_dir / FINAL).is_file() else None,
        "animation": f"{base}/{ANIMATION}" if (run_dir / ANIMATION).is_file() else None,
        "zip": f"/runs/{run_dir.name}/zip",
        "config": (run_dir / CONFIG).read_text(encoding="utf-8", errors="replace"),
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
