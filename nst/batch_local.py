"""The local batch engine: items one after another in this process, each an ordinary run
(nst.app.run, or nst.resume.resume_run for an item interrupted earlier). The network is
built once per [model], seed and optimiser and reused by every item that shares them."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from nst.app import Watcher, build_extractor, run
from nst.batch import (
    FAILED,
    RUNNING,
    Batch,
    Item,
    error_state,
    outcome_state,
    unfinished_run,
    write_state,
)
from nst.process import StopOnSignal, StopRequest
from nst.resume import resume_run


class ItemWatcher(Watcher):
    """Marks the item running in its run folder as soon as the folder exists, then passes
    everything on to the item's own watcher (the progress bar)."""

    def __init__(self, batch: Batch, item: Item, inner: Watcher):
        self.batch, self.item, self.inner = batch, item, inner

    def started(self, run_dir: Path, plan) -> None:
        write_state(self.batch, self.item, status=RUNNING, run=run_dir.name)
        self.inner.started(run_dir, plan)

    def recorded(self, record) -> None:
        self.inner.recorded(record)

    def ended(self) -> None:
        self.inner.ended()


def network_key(settings) -> tuple:
    """What the feature network depends on (nst.features.build_feature_extractor)."""
    return settings.model, settings.image.seed, settings.optimizer.name


def progress_bar(item: Item) -> Watcher:
    from nst.progress import ProgressBar

    return ProgressBar()


def run_local(batch: Batch, todo: list[Item], stop: StopRequest | None, make_watcher=None) -> None:
    """Run `todo` in order, recording each item's state; a stop (Ctrl-C, SIGTERM) ends the
    current item with its checkpoint and the batch after it."""
    make_watcher = make_watcher or progress_bar
    networks: dict[tuple, object] = {}
    with StopOnSignal() if stop is None else contextlib.nullcontext(stop) as stop:
        for count, item in enumerate(todo, start=1):
            if stop.requested():
                break
            print(batch.item_line(item, count, len(todo)))
            started = time.perf_counter()
            try:
                settings = batch.settings_of(item)
                key = network_key(settings)
                if key not in networks:
                    networks[key] = build_extractor(settings)
                watcher = ItemWatcher(batch, item, make_watcher(item))
                previous = unfinished_run(batch, item)
                if previous is not None:
                    print(f"nst: resuming {previous.name} from its checkpoint")
                    outcome = resume_run(
                        previous, extractor=networks[key], stop=stop, watcher=watcher
                    )
                else:
                    outcome = run(settings, extractor=networks[key], stop=stop, watcher=watcher)
            except Exception as error:  # this item failed before its loop: the others go on
                state = error_state(error, time.perf_counter() - started)
                write_state(batch, item, **state)
                print(f"nst: {batch.kind} item {item.number} failed: {state['message']}")
                if batch.stop_at_failure:  # a sweep
                    break
                continue
            state = outcome_state(outcome, time.perf_counter() - started)
            write_state(batch, item, **state)
            if batch.stop_at_failure and state["status"] == FAILED:
                break
