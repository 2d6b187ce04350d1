"""Runs a batch planned by nst.batch: the shard's unfinished items on the [batch] engine
(nst.batch_local or nst.batch_ray), then batch.csv and the contact sheets (nst.batch_sheet)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from nst.batch import (
    DONE,
    Batch,
    Item,
    in_shard,
    parse_shard,
    plan_batch,
    read_state,
    summary,
    write_csv,
)
from nst.batch_sheet import write_sheets
from nst.settings import load_settings


def to_run(batch: Batch, shard: tuple[int, int]) -> list[Item]:
    """The shard's items not done yet: failed, interrupted, unfinished or new."""
    return [
        item
        for item in batch.items
        if in_shard(item, shard) and read_state(batch, item).get("status") != DONE
    ]


def run_batch(
    config: Path | None,
    overrides: tuple[str, ...],
    sweeps: list[str],
    name: str | None = None,
    shard_text: str | None = None,
    *,
    stop=None,
    make_watcher=None,
    on_worker=None,
) -> int:
    """Plan the batch, run the shard's unfinished items on the [batch] engine, then write
    batch.csv and the contact sheets; the exit status (see `summary`). `stop` (a
    nst.process.StopRequest) and `make_watcher(item)` (a nst.app.Watcher per item) are for
    callers other than the command line, which gets signals and a progress bar;
    `on_worker(item, pid)` is told which Ray worker process runs an item."""
    shard = parse_shard(shard_text)
    batch = plan_batch(config, overrides, sweeps, name)
    engine = load_settings(config, overrides).batch
    batch.folder.mkdir(parents=True, exist_ok=True)
    todo = to_run(batch, shard)
    part = f" (shard {shard[0]}/{shard[1]})" if shard != (1, 1) else ""
    print(
        f"nst: batch of {len(batch.items)} items in {batch.folder}{part}: "
        f"{len(todo)} to run on the {engine.engine} engine"
    )
    write_csv(batch)
    try:
        if todo and engine.engine == "ray":
            from nst.batch_ray import run_on_ray
            from nst.process import StopOnSignal

            with StopOnSignal() if stop is None else contextlib.nullcontext(stop) as stop:
                run_on_ray(batch, todo, engine, stop, on_worker)
        elif todo:
            from nst.batch_local import run_local

            run_local(batch, todo, stop, make_watcher)
    finally:  # after an interruption too: the sheets of the items done
        write_sheets(batch, engine)
    return summary(batch, shard)
