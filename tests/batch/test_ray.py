"""Batches on Ray: a local Ray cluster (started by the batch, 2 CPUs on CI) runs the same
2 × 2 batch as the local engine, to the same pictures, even when a worker is killed in the
middle of an item; Ctrl-C interrupts only the items that started."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst.batch.launch import run_batch
from nst.batch.plan import ITEMS
from nst.output.runfolder import FINAL, LOSSES_CSV
from nst.run.process import StopRequest
from tests.helpers.batch import rows, run_folders, two_by_two

pytest.importorskip("ray")

LONGER = ("optimizer.iterations=40",)  # long enough to kill a worker in the middle


def finals(batch_dir: Path) -> list[np.ndarray]:
    return [
        np.asarray(Image.open(batch_dir / row["run"] / FINAL)).astype(int)
        for row in rows(batch_dir)
    ]


@pytest.mark.slow
def test_ray_batch_equals_the_local_one_and_survives_a_killed_worker(tmp_path):
    overrides = (*two_by_two(tmp_path), *LONGER)
    assert run_batch(None, overrides, [], "local", stop=StopRequest()) == 0
    local = tmp_path / "results" / "batch-local"

    killed = {}

    def kill_item_2(item, pid):
        if item.number == 2 and not killed:
            killed[item.number] = pid
            os.kill(pid, signal.SIGKILL)

    on_ray = (*overrides, "batch.engine=ray", "batch.num_cpus=1")
    # A run of this test killed earlier on this machine may have left its scratch folders
    # (the batch name is the same every time): start without them.
    shutil.rmtree(Path(tempfile.gettempdir()) / "nst-ray" / "batch-ray", ignore_errors=True)
    status = run_batch(None, on_ray, [], "ray", stop=StopRequest(), on_worker=kill_item_2)
    assert status == 0 and killed
    batch = tmp_path / "results" / "batch-ray"
    table = rows(batch)
    assert [r["status"] for r in table] == ["done"] * 4
    assert sorted(r["run"] for r in table) == [f.name for f in run_folders(batch)]  # each once
    states = [json.loads(p.read_text()) for p in sorted((batch / ITEMS).iterdir())]
    assert sum(s.get("resumed", False) for s in states) == 1  # the killed item, from its checkpoint
    with open(batch / table[1]["run"] / LOSSES_CSV, newline="") as file:
        assert [int(r["iteration"]) for r in csv.DictReader(file)] == list(range(41))
    for on_ray_final, local_final in zip(finals(batch), finals(local), strict=True):
        assert np.abs(on_ray_final - local_final).max() <= 1
    assert not (Path(tempfile.gettempdir()) / "nst-ray" / batch.name).exists() or not list(
        (Path(tempfile.gettempdir()) / "nst-ray" / batch.name).iterdir()
    )  # the workers' scratch folders are gone


class FakeRay:
    """Just enough of Ray for `follow`: no task ever finishes; cancels are counted."""

    class exceptions:  # as Ray names it
        RayError = RuntimeError

    def __init__(self):
        self.cancelled = []

    def wait(self, refs, num_returns, timeout):
        return [], refs

    def cancel(self, ref, force):
        self.cancelled.append(ref)


class FakeQueue:
    def __init__(self, messages):
        self.messages = list(messages)

    def get_nowait(self):
        if not self.messages:
            raise LookupError
        return self.messages.pop(0)


def test_ctrl_c_on_ray_interrupts_only_the_items_that_started_and_says_how_to_go_on(
    tmp_path, capsys
):
    from nst.batch.plan import plan_batch, summary, write_csv
    from nst.batch.ray import follow

    batch = plan_batch(None, two_by_two(tmp_path), [], "stopped")
    batch.folder.mkdir(parents=True)
    write_csv(batch)
    first = batch.items[0]
    pending = {f"ref{item.number}": item for item in batch.items}
    stop = StopRequest()
    stop.ask(signal.SIGINT)
    queue = FakeQueue([(first.key, 4242, 0, 1)])  # item 1's first record; the others queued
    fake = FakeRay()
    follow(fake, batch, pending, queue, LookupError, stop, lambda item, pid: None)
    assert sorted(fake.cancelled) == sorted(pending)
    assert [r["status"] for r in rows(batch.folder)] == ["interrupted", "", "", ""]
    assert summary(batch, (1, 1)) == 130
    err = capsys.readouterr().err
    assert "4 of 4 items not done: rerun the same command to continue" in err
