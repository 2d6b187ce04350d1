"""Batches and sweeps: one ordinary run per item of a grid (nst.batch.grid), in one folder
with an index CSV and contact sheets (nst.batch.sheet). A sweep is a batch with one content
and one style.

A batch (`--batch`) is content images × style images × sweep values. `[paths] content_image`
may be a folder or a glob (one item per image); so may `style_image` when it is ONE entry
(each style separately). A comma-separated style list stays one blend, as in a single run;
`--sweep "paths.style_image=a.jpg;b.jpg,c.jpg"` gives a, then the blend of b and c (a swept
content or style replaces the batch's own). The batch folder is named after the batch's
settings (or `--batch NAME`), so the same command finds it again: items done are skipped,
failed or unfinished ones run again (an unfinished one resumes from its checkpoint), new
images in a folder add items. Every item's state is its own file in `.items/` (shards on a
shared disk never write the same file); batch.csv is rebuilt from them.

A sweep (`--sweep` alone) gets a new dated folder each time, `sweep.csv`, one sheet, and
stops at its first failed run. No TensorFlow here: the engines load it.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import glob
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from nst.batch.grid import (
    Axis,
    Item,
    SheetPlan,
    batch_sheet_plan,
    make_items,
    parse_grid,
    placements,
    sweep_sheet_plan,
)
from nst.core.records import LOSS_NAMES
from nst.output.runfolder import (
    CHECKPOINT,
    LOSSES_CSV,
    is_clip_run,
    make_unique_dir,
    write_bytes_atomic,
)
from nst.run.exits import EXIT_OK, describe, say
from nst.settings import BatchSettings, Settings, SettingsError, load_settings, render

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
BATCH_CSV = "batch.csv"
SWEEP_CSV = "sweep.csv"
ITEMS = ".items"  # one JSON file per item: its latest state
SHEET = "contact_sheet"  # contact_sheet.png, or contact_sheet_01.png ... when paged
DONE, FAILED, RUNNING, INTERRUPTED, PENDING = "done", "failed", "running", "interrupted", ""
RERUN = "rerun the same command to continue (items cut short resume from their last save)"


@dataclass(frozen=True)
class Batch:
    folder: Path
    axes: tuple[Axis, ...]
    items: tuple[Item, ...]
    config: Path | None
    overrides: tuple[str, ...]  # the command line's --set, for every item
    sheet: SheetPlan
    kind: str = "batch"  # or 'sweep': a new dated folder, sweep.csv, stops at a failure
    stop_at_failure: bool = False  # the first failed item ends the batch (a sweep's way)

    def settings_of(self, item: Item, inside: bool = True) -> Settings:
        """The item's settings: an ordinary run inside the batch folder, no viewer (with
        `inside` False: in [paths] results_dir, as the checks before the folder see it)."""
        own = (f"paths.results_dir={self.folder}", "output.show_viewer=false") if inside else ()
        return load_settings(self.config, (*self.overrides, *item.overrides, *own))

    @property
    def index(self) -> Path:
        return self.folder / (SWEEP_CSV if self.kind == "sweep" else BATCH_CSV)

    @property
    def title(self) -> str:
        return "sweep" if self.kind == "sweep" else f"batch {self.folder.name}"

    @functools.cached_property
    def placed(self) -> dict:
        """Each item's value indices -> (sheet file, row, column) where it is drawn."""
        return placements(self.axes, self.sheet)

    def input_of(self, item: Item, key: str) -> str:
        """The item's content ('paths.content_image') or style ('paths.style_image') text."""
        return next(v for a, v in zip(self.axes, item.values, strict=True) if a.key == key)

    def item_line(self, item: Item, count: int, total: int) -> str:
        """The line said as an item starts."""
        if self.kind == "sweep":
            swept = (o for a, o in zip(self.axes, item.overrides, strict=True) if a.swept)
            return f"nst: sweep run {count}/{total}: {' '.join(swept)}"
        return f"nst: batch item {item.number} ({count} of {total}): {' '.join(item.values)}"


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


def base_settings(config: Path | None, overrides: tuple[str, ...], swept: tuple[Axis, ...]):
    """The settings every item shares, read with each swept key at its first value (the
    settings without them may not hold together, e.g. blend weights for a swept style)."""
    return load_settings(config, (*overrides, *(f"{a.key}={a.values[0]}" for a in swept)))


def grid_axes(base: Settings, swept: tuple[Axis, ...], expand: bool) -> tuple[Axis, ...]:
    """content × style × each swept key (in the order given); a swept content or style
    replaces the settings' own. `expand`: folders and globs give one value per image (a
    batch); else the content and the style list are one value each (a sweep)."""
    keys = {axis.key for axis in swept}
    contents = expand_images(base.paths.content_image, "content_image") if expand else None
    styles = base.paths.style_image
    inputs = (
        Axis("paths.content_image", tuple(map(str, contents or [base.paths.content_image])), False),
        Axis(
            "paths.style_image",
            style_values(styles) if expand else (",".join(map(str, styles)),),
            False,
        ),
    )
    return (*(axis for axis in inputs if axis.key not in keys), *swept)


def batch_name(base: Settings, sweeps: list[str]) -> str:
    """The settings' fingerprint ([batch] and results_dir left out: engines share a batch)."""
    paths = dataclasses.replace(base.paths, results_dir=Path("."))
    text = render(dataclasses.replace(base, batch=BatchSettings(), paths=paths))
    return hashlib.sha1("\n".join([text, *sweeps]).encode()).hexdigest()[:10]


def plan_batch(
    config: Path | None, overrides: tuple[str, ...], sweeps: list[str], name: str | None
) -> Batch:
    """Every item of the batch, each item's settings checked before anything runs."""
    if name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise SettingsError(f"--batch {name!r}: a name of letters, digits, '_', '.', '-'")
    swept = parse_grid(sweeps)
    base = base_settings(config, overrides, swept)
    axes = grid_axes(base, swept, expand=True)
    folder = base.paths.results_dir / f"batch-{name or batch_name(base, sweeps)}"
    sheet = batch_sheet_plan(axes, base.batch)
    batch = Batch(folder, axes, make_items(axes), config, overrides, sheet)
    for item in batch.items:
        batch.settings_of(item)  # a bad swept value is named now, not after hours
    return batch


def plan_sweep(config: Path | None, overrides: tuple[str, ...], sweeps: list[str]) -> Batch:
    """A sweep: a batch of one content and one style that stops at its first failed run,
    in results_dir/<date>-<time>-sweep-<keys> (the folder is made by `made`)."""
    swept = parse_grid(sweeps)
    base = base_settings(config, overrides, swept)
    axes = grid_axes(base, swept, expand=False)
    folder = base.paths.results_dir / ("sweep-" + "-".join(a.short for a in swept))
    batch = Batch(
        folder, axes, make_items(axes), config, overrides, sweep_sheet_plan(axes), "sweep", True
    )
    for item in batch.items:
        batch.settings_of(item)
    return batch


def made(batch: Batch) -> Batch:
    """The batch with its folder made: a batch's own, found again by a rerun; a sweep's new,
    with the date and time in front."""
    if batch.kind == "sweep":
        folder = make_unique_dir(batch.folder.parent, batch.folder.name)
        return dataclasses.replace(batch, folder=folder)
    batch.folder.mkdir(parents=True, exist_ok=True)
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


def check_items(batch: Batch, todo: list[Item]) -> dict[Item, Exception]:
    """Every check a run makes before TensorFlow loads (images, network depth, weights file,
    memory, the results folder), for every item, before the first run spends its minutes;
    items that differ only in what those checks do not read are checked once. The items
    that fail, with why; a batch that stops at a failure (a sweep) raises the first."""
    from nst.run.pipeline import check

    seen: dict[tuple, Exception | None] = {}
    failed = {}
    for item in todo:
        settings = batch.settings_of(item, inside=False)
        paths, model, image, optimizer, output = (
            settings.paths,
            settings.model,
            settings.image,
            settings.optimizer,
            settings.output,
        )
        key = (paths, model, image, optimizer.name, output)
        if paths.content_image.suffix.lower() not in IMAGE_SUFFIXES:
            continue  # a video: its run checks it (nst.run.video)
        if key not in seen:
            try:
                check(settings)
                seen[key] = None
            except Exception as error:  # named per item, or raised by a sweep
                if batch.stop_at_failure:
                    raise
                seen[key] = error
        if seen[key] is not None:
            failed[item] = seen[key]
    return failed


# --- item states: .items/<key>.json, and the index CSV rebuilt from them --------------------


def read_state(batch: Batch, item: Item) -> dict:
    path = batch.folder / ITEMS / f"{item.key}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_state(batch: Batch, item: Item, **state) -> None:
    """Record the item's state (status, run, losses, seconds, message) and rebuild the index."""
    (batch.folder / ITEMS).mkdir(parents=True, exist_ok=True)
    path = batch.folder / ITEMS / f"{item.key}.json"
    write_bytes_atomic(path, json.dumps(state).encode())
    write_csv(batch)


def forget_state(batch: Batch, item: Item) -> None:
    """The item back to not run yet (a task that never started)."""
    (batch.folder / ITEMS / f"{item.key}.json").unlink(missing_ok=True)
    write_csv(batch)


def columns(batch: Batch) -> list[str]:
    """The index's columns: the item, its inputs and overrides, one column per swept key,
    where its picture is on the sheets, then how its run went."""
    swept = [axis.key for axis in batch.axes if axis.swept]
    losses = [f"{name}_loss" for name in LOSS_NAMES]
    head = ["item", "key", "content", "style", "overrides", *swept, "sheet", "row", "column"]
    return [*head, "status", *losses, "seconds", "run", "message"]


def write_csv(batch: Batch) -> None:
    """batch.csv (sweep.csv for a sweep): one row per item, rebuilt from the item states."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns(batch))
    for item in batch.items:
        state = read_state(batch, item)
        swept = [(a, v) for a, v in zip(batch.axes, item.values, strict=True) if a.swept]
        overrides = [o for a, o in zip(batch.axes, item.overrides, strict=True) if a.swept]
        writer.writerow(
            [
                item.number,
                item.key,
                batch.input_of(item, "paths.content_image"),
                batch.input_of(item, "paths.style_image"),
                " ".join(overrides),
                *(value for _, value in swept),
                *batch.placed[item.indices],
                state.get("status", PENDING),
                *(state.get("losses") or [""] * len(LOSS_NAMES)),
                state.get("seconds", ""),
                state.get("run", ""),
                state.get("message", ""),
            ]
        )
    write_bytes_atomic(batch.index, buffer.getvalue().encode())


def unfinished_run(batch: Batch, item: Item) -> Path | None:
    """The item's earlier run folder when it was cut short (not failed: a diverged run would
    diverge again) and can go on (`resumable`)."""
    state = read_state(batch, item)
    run = state.get("run")
    cut_short = state.get("status") in (RUNNING, INTERRUPTED)
    if run and cut_short and resumable(batch.folder / run):
        return batch.folder / run
    return None


def resumable(run_dir: Path) -> bool:
    """nst.run.pipeline.resume can go on in `run_dir`: a still picture's with its checkpoint, any
    clip's (from its first missing frame: none finished, the first)."""
    return (run_dir / CHECKPOINT).is_file() or is_clip_run(run_dir)


def final_losses(run_dir: Path) -> list[str]:
    """The last row's losses of the run's losses.csv, as written there (none: [])."""
    try:
        with open(run_dir / LOSSES_CSV, newline="") as file:
            rows = list(csv.DictReader(file))
    except OSError:  # a run that stopped before its first record
        return []
    return [rows[-1][name] for name in LOSS_NAMES] if rows else []


def outcome_state(outcome, seconds: float) -> dict:
    """An item's state from its run's Outcome (nst.run.pipeline)."""
    status = DONE if outcome.status == EXIT_OK else FAILED
    if outcome.status > 128:
        status = INTERRUPTED
    run = outcome.run_dir
    return {
        "status": status,
        "exit": outcome.status,
        "run": run.name if run else "",
        "losses": final_losses(run) if run else [],
        "seconds": round(seconds, 2),
        "message": "" if status == DONE else outcome.message,
    }


def error_state(error: Exception, seconds: float, run: str = "") -> dict:
    """An item's state when its run raised before its folder existed (nst.run.exits.describe)."""
    status, line = describe(error)
    return {
        "status": FAILED,
        "exit": status,
        "run": run,
        "seconds": round(seconds, 2),
        "message": line,
    }


def summary(batch: Batch, shard: tuple[int, int]) -> int:
    """One line on how the batch stands (and how to go on); the exit status: 0 when every
    item of the shard is done, else the first failed item's status (or the interruption's)."""
    states = [(item, read_state(batch, item)) for item in batch.items if in_shard(item, shard)]
    failed = [(i, s) for i, s in states if s.get("status") == FAILED]
    unfinished = [(i, s) for i, s in states if s.get("status") != DONE]
    done = len(states) - len(unfinished)
    if batch.kind == "sweep":
        return sweep_summary(states, failed, unfinished)
    print(f"nst: batch {batch.folder}: {done} of {len(states)} items done")
    if failed:
        say(f"error: {len(failed)} of {len(states)} items failed; see {batch.index}")
        return failed[0][1].get("exit", 1)
    if unfinished:
        say(f"{len(unfinished)} of {len(states)} items not done: {RERUN}")
        return next((s["exit"] for _, s in unfinished if s.get("exit", 0) > 128), 130)
    return EXIT_OK


def sweep_summary(states, failed, unfinished) -> int:
    """A sweep's status: its failed or interrupted run's (it stopped there), else 0."""
    if failed:
        item, state = failed[0]
        why = f": {state['message']}" if state.get("message") else " (see above)"
        say(f"sweep stopped at run {item.number} of {len(states)}{why}")
        return state.get("exit", 1)
    stopped = [(i, s) for i, s in unfinished if s.get("exit", 0) > 128]
    if stopped:
        say(f"sweep stopped: run {stopped[0][0].number} of {len(states)} was interrupted")
        return stopped[0][1]["exit"]
    return 130 if unfinished else EXIT_OK
