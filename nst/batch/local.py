"""The local batch engine: items one after another in this process, each an ordinary run
(nst.run.pipeline.run, or nst.run.pipeline.resume for an item interrupted earlier). The network is
built once per nst.run.process.network_key and reused by every item that shares it."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from nst.batch.plan import (
    FAILED,
    RUNNING,
    Batch,
    Item,
    error_state,
    outcome_state,
    unfinished_run,
    write_state,
)
from nst.output.runfolder import is_clip_run
from nst.run.pipeline import resume, run
from nst.run.process import StopOnSignal, StopRequest, build_extractor, network_key
from nst.run.watchers import Watcher, Watchers


class MarkRunning(Watcher):
    """Marks the item running in its batch as soon as its run folder exists (a still picture
    or a clip alike)."""

    def __init__(self, batch: Batch, item: Item):
        self.batch, self.item = batch, item

    def started(self, run_dir: Path, plan) -> None:
        write_state(self.batch, self.item, status=RUNNING, run=run_dir.name)


def progress_bar(item: Item) -> Watcher:
    from nst.cli.progress import ProgressBar

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
                watcher = Watchers(MarkRunning(batch, item), make_watcher(item))
                previous = unfinished_run(batch, item)
                if previous is not None:
                    where = "first missing frame" if is_clip_run(previous) else "checkpoint"
                    print(f"nst: resuming {previous.name} from its {where}")
                    outcome = resume(previous, extractor=networks[key], stop=stop, watcher=watcher)
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
