"""Batches: the cross product of content images × style images × sweep values, one ordinary
run per item (nst.app.run), in one batch folder with batch.csv and contact sheets.

`[paths] content_image` may be a folder or a glob (one item per image); so may
`style_image` when it is ONE entry (each style separately). A comma-separated style list stays
one blend, as in a single run; `--sweep "paths.style_image=a.jpg;b.jpg,c.jpg"` gives a, then
the blend of b and c. The batch folder is named after the batch's settings (or `--batch
NAME`), so the same command finds it again: items done are skipped, failed or unfinished ones
run again (an unfinished one resumes from its checkpoint), new images in a folder add items.
Every item's state is its own file in `.items/` (shards on a shared disk never write the same
file); batch.csv is rebuilt from them. `engine = ray` runs the same items as Ray tasks
(nst.batch_ray). No TensorFlow here: the engines load it.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import hashlib
import io
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from nst.exits import EXIT_OK, describe, say
from nst.records import LOSS_NAMES
from nst.runfolder import CHECKPOINT, LOSSES_CSV, write_bytes_atomic
from nst.settings import BatchSettings, Settings, SettingsError, load_settings, render
from nst.sweep import parse_grid

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
BATCH_CSV = "batch.csv"
ITEMS = ".items"  # one JSON file per item: its latest state
SHEET = "contact_sheet"  # contact_sheet.png, or contact_sheet_01.png ... when paged
DONE, FAILED, RUNNING, INTERRUPTED, PENDING = "done", "failed", "running", "interrupted", ""
COLUMNS = (
    "item",
    "key",
    "content",
    "style",
    "overrides",
    "status",
    *(f"{name}_loss" for name in LOSS_NAMES),
    "seconds",
    "run",
    "message",
)


@dataclass(frozen=True)
class Axis:
    name: str  # 'content', 'style' or a swept 'section.key'
    values: tuple[str, ...]  # override texts: a path, a comma-joined blend, a setting's text

    def label(self, value: str) -> str:
        if self.name in ("content", "style"):
            return ", ".join(Path(part).name for part in value.split(","))
        return f"{self.name.partition('.')[2]}={value}"


@dataclass(frozen=True)
class Item:
    number: int  # 1-based, in the batch's order
    values: tuple[str, ...]  # one per axis
    overrides: tuple[str, ...]  # 'section.key=value' that make this item's settings

    @property
    def key(self) -> str:
        """A stable name for the item: the same inputs and overrides, the same key."""
        return hashlib.sha1("\n".join(self.overrides).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Batch:
    folder: Path
    axes: tuple[Axis, ...]
    items: tuple[Item, ...]
    config: Path | None
    overrides: tuple[str, ...]  # the command line's --set, for every item

    def settings_of(self, item: Item) -> Settings:
        """The item's settings: an ordinary run inside the batch folder, no viewer."""
        inside = (f"paths.results_dir={self.folder}", "output.show_viewer=false")
        return load_settings(self.config, (*self.overrides, *item.overrides, *inside))


def expand_images(path: Path, key: str) -> list[Path]:
    """The images a folder or glob names, sorted; a plain path is itself."""
    if path.is_dir():
        found = [p for p in sorted(path.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    elif glob.has_magic(str(path)):
        found = [Path(p) for p in sorted(glob.glob(str(path))) if Path(p).is_file()]
    else:
        return [path]
    if not found:
        raise SettingsError(
            f"[paths] {key} = {str(path)!r}: no images there (expected files ending in "
            f"{', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return found


def style_values(styles: tuple[Path, ...]) -> tuple[str, ...]:
    """One entry that is a folder or glob: each image separately; a list: one blend."""
    if len(styles) == 1:
        return tuple(str(p) for p in expand_images(styles[0], "style_image"))
    for path in styles:
        if path.is_dir() or glob.has_magic(str(path)):
            raise SettingsError(
                f"[paths] style_image: {path} is a folder or glob inside a list of "
                f"{len(styles)}; a list is one blend: name its files, or give the folder alone "
                f"for each style separately"
            )
    return (",".join(str(p) for p in styles),)


def batch_axes(base: Settings, sweeps: list[str]) -> tuple[Axis, ...]:
    """content × style × each swept key (in the order given)."""
    grid = parse_grid(sweeps)
    for axis in grid.axes:
        if axis.key.startswith("batch."):
            raise SettingsError(f"--sweep {axis.key}: [batch] settings cannot be swept")
    contents = tuple(str(p) for p in expand_images(base.paths.content_image, "content_image"))
    return (
        Axis("content", contents),
        Axis("style", style_values(base.paths.style_image)),
        *(Axis(a.key, a.values) for a in grid.axes),
    )


def make_items(axes: tuple[Axis, ...]) -> tuple[Item, ...]:
    keys = ["paths.content_image", "paths.style_image", *(a.name for a in axes[2:])]
    return tuple(
        Item(number, values, tuple(f"{k}={v}" for k, v in zip(keys, values, strict=True)))
        for number, values in enumerate(itertools.product(*(a.values for a in axes)), start=1)
    )


def batch_name(base: Settings, sweeps: list[str]) -> str:
    """The settings' fingerprint ([batch] and results_dir left out: engines share a batch)."""
    paths = dataclasses.replace(base.paths, results_dir=Path("."))
    text = render(dataclasses.replace(base, batch=BatchSettings(), paths=paths))
    return hashlib.sha1("\n".join([text, *sweeps]).encode()).hexdigest()[:10]


def plan_batch(
    config: Path | None, overrides: tuple[str, ...], sweeps: list[str], name: str | None
) -> Batch:
    """Every item of the batch, each item's settings checked before anything runs."""
    base = load_settings(config, overrides)
    axes = batch_axes(base, sweeps)
    if name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise SettingsError(f"--batch {name!r}: a name of letters, digits, '_', '.', '-'")
    folder = base.paths.results_dir / f"batch-{name or batch_name(base, sweeps)}"
    batch = Batch(folder, axes, make_items(axes), config, overrides)
    for item in batch.items:
        batch.settings_of(item)  # a bad swept value is named now, not after hours
    return batch


def parse_shard(text: str | None) -> tuple[int, int]:
    """'i/n' -> (i, n), 1 <= i <= n; None -> (1, 1)."""
    if text is None:
        return 1, 1
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise SettingsError(f"--shard {text!r}: expected i/n with 1 <= i <= n, e.g. --shard 2/4")
    return int(match.group(1)), int(match.group(2))


def in_shard(item: Item, shard: tuple[int, int]) -> bool:
    return (item.number - 1) % shard[1] == shard[0] - 1


# --- item states: .items/<key>.json, and batch.csv rebuilt from them ------------------------


def read_state(batch: Batch, item: Item) -> dict:
    path = batch.folder / ITEMS / f"{item.key}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_state(batch: Batch, item: Item, **state) -> None:
    """Record the item's state (status, run, losses, seconds, message) and rebuild batch.csv."""
    (batch.folder / ITEMS).mkdir(parents=True, exist_ok=True)
    path = batch.folder / ITEMS / f"{item.key}.json"
    write_bytes_atomic(path, json.dumps(state).encode())
    write_csv(batch)


def write_csv(batch: Batch) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for item in batch.items:
        state = read_state(batch, item)
        losses = state.get("losses") or [""] * len(LOSS_NAMES)
        writer.writerow(
            [
                item.number,
                item.key,
                *item.values[:2],
                " ".join(item.overrides[2:]),
                state.get("status", PENDING),
                *losses,
                state.get("seconds", ""),
                state.get("run", ""),
                state.get("message", ""),
            ]
        )
    write_bytes_atomic(batch.folder / BATCH_CSV, buffer.getvalue().encode())


def unfinished_run(batch: Batch, item: Item) -> Path | None:
    """The item's earlier run folder when it was cut short (not failed: a diverged run would
    diverge again) and holds a checkpoint to resume from."""
    state = read_state(batch, item)
    run = state.get("run")
    cut_short = state.get("status") in (RUNNING, INTERRUPTED)
    if run and cut_short and (batch.folder / run / CHECKPOINT).is_file():
        return batch.folder / run
    return None


def final_losses(run_dir: Path) -> list[str]:
    """The last row's losses of the run's losses.csv, as written there."""
    with open(run_dir / LOSSES_CSV, newline="") as file:
        rows = list(csv.DictReader(file))
    return [rows[-1][name] for name in LOSS_NAMES] if rows else []


def outcome_state(outcome, seconds: float) -> dict:
    """An item's state from its run's Outcome (nst.app)."""
    status = DONE if outcome.status == EXIT_OK else FAILED
    if outcome.status > 128:
        status = INTERRUPTED
    return {
        "status": status,
        "exit": outcome.status,
        "run": outcome.run_dir.name,
        "losses": final_losses(outcome.run_dir),
        "seconds": round(seconds, 2),
        "message": "" if status == DONE else outcome.message,
    }


def error_state(error: Exception, seconds: float, run: str = "") -> dict:
    """An item's state when its run raised before its folder existed (nst.exits.describe)."""
    status, line = describe(error)
    return {
        "status": FAILED,
        "exit": status,
        "run": run,
        "seconds": round(seconds, 2),
        "message": line,
    }


def summary(batch: Batch, shard: tuple[int, int]) -> int:
    """One line on how the batch stands; the exit status: 0 when every item of the shard is
    done, else the first failed item's status (or the interruption's)."""
    states = [(item, read_state(batch, item)) for item in batch.items if in_shard(item, shard)]
    failed = [(i, s) for i, s in states if s.get("status") == FAILED]
    unfinished = [(i, s) for i, s in states if s.get("status") != DONE]
    done = len(states) - len(unfinished)
    print(f"nst: batch {batch.folder}: {done} of {len(states)} items done")
    if failed:
        say(f"error: {len(failed)} of {len(states)} items failed; see {batch.folder / BATCH_CSV}")
        return failed[0][1].get("exit", 1)
    if unfinished:
        return next((s["exit"] for _, s in unfinished if s.get("exit", 0) > 128), 130)
    return EXIT_OK
