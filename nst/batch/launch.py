"""Runs a batch planned by nst.batch.plan (or a sweep, nst.batch.sweep): the checks, the shard's
unfinished items on the [batch] engine (nst.batch.local or nst.batch.ray), then the index
CSV and the contact sheets (nst.batch.sheet)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from nst.batch.plan import (
    DONE,
    Batch,
    Item,
    check_items,
    error_state,
    in_shard,
    made,
    parse_shard,
    plan_batch,
    read_state,
    summary,
    write_csv,
    write_state,
)
from nst.batch.sheet import write_sheets
from nst.settings import BatchSettings, load_settings


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
    batch.csv and the contact sheets; the exit status (see nst.batch.plan.summary). `stop` (a
    nst.run.process.StopRequest) and `make_watcher(item)` (a nst.run.watchers.Watcher per item)
    are for
    callers other than the command line, which gets signals and a progress bar;
    `on_worker(item, pid)` is told which Ray worker process runs an item."""
    shard = parse_shard(shard_text)
    batch = plan_batch(config, overrides, sweeps, name)
    engine = load_settings(config, overrides).batch
    return execute(batch, engine, shard, stop, make_watcher, on_worker)


def execute(batch, engine: BatchSettings, shard, stop=None, make_watcher=None, on_worker=None):
    """Check, make the folder, run, draw; nothing is made before the engine answers and (on
    this machine) the items' inputs pass the checks a run makes, or (a sweep) before all do."""
    todo = to_run(batch, shard)
    ray = None
    if todo and engine.engine == "ray":
        from nst.batch.ray import connect

        ray = connect(engine)  # an address nobody answers at leaves no folder behind
    try:  # the workers check their own items: they have the memory and weights there
        refused = check_items(batch, todo) if ray is None else {}
        batch = made(batch)
        say_start(batch, todo, shard, engine)
        for item, error in refused.items():
            write_state(batch, item, **error_state(error, 0.0))
            print(f"nst: batch item {item.number} failed: {read_state(batch, item)['message']}")
        todo = [item for item in todo if item not in refused]
        write_csv(batch)
        try:
            if todo:
                run_items(batch, todo, engine, ray, stop, make_watcher, on_worker)
        finally:  # after an interruption too: the sheets of the items done
            write_sheets(batch)
    finally:
        if ray is not None:
            ray.shutdown()
    return summary(batch, shard)


def say_start(batch: Batch, todo: list[Item], shard, engine: BatchSettings) -> None:
    if batch.kind == "sweep":
        print(f"nst: sweep of {len(batch.items)} runs into {batch.folder}")
        return
    part = f" (shard {shard[0]}/{shard[1]})" if shard != (1, 1) else ""
    print(
        f"nst: batch of {len(batch.items)} items in {batch.folder}{part}: "
        f"{len(todo)} to run on the {engine.engine} engine"
    )


def run_items(batch, todo, engine, ray, stop, make_watcher, on_worker) -> None:
    if ray is not None:
        from nst.batch.ray import run_on_ray
        from nst.run.process import StopOnSignal

        with StopOnSignal() if stop is None else contextlib.nullcontext(stop) as stop:
            run_on_ray(ray, batch, todo, engine, stop, on_worker)
    else:
        from nst.batch.local import run_local

        run_local(batch, todo, stop, make_watcher)
