"""Batches on Ray: a local Ray cluster (started by the batch, 2 CPUs on CI) runs the same
2 × 2 batch as the local engine, to the same pictures, even when a worker is killed in the
middle of an item; an unreachable address is one line and exit 2 within seconds."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst.batch.launch import run_batch
from nst.batch.plan import ITEMS
from nst.output.runfolder import FINAL, LOSSES_CSV
from nst.run.process import StopRequest
from tests.helpers import make_image, run_main
from tests.helpers.batch import TINY, rows, run_folders, two_by_two

pytest.importorskip("ray")

LONGER = ("optimizer.iterations=40",)  # long enough to kill a worker in the middle


def finals(batch_dir: Path) -> list[np.ndarray]:
    return [
        np.asarray(Image.open(batch_dir / row["run"] / FINAL)).astype(int)
        for row in rows(batch_dir)
    ]


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_ray_address_is_one_line_exit_2_within_seconds(tmp_path):
    overrides = two_by_two(tmp_path)
    started = time.monotonic()
    done = run_main(
        [
            "--batch",
            "--engine",
            "ray",
            "--address",
            f"127.0.0.1:{free_port()}",
            *(arg for text in overrides for arg in ("--set", text)),
        ]
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("nst: error: [batch] address = '127.0.0.1:")
    assert "no Ray cluster answers there" in line
    assert time.monotonic() - started < 20  # Python and the checks start; Ray never waits
    assert not (tmp_path / "results").exists()  # no batch folder, no empty sheet


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


@pytest.fixture(scope="module")
def ray_head():
    """A Ray head as docs/batch.md starts one (`ray start --head --port=PORT`), with token
    authentication on (as `ray start` does once ~/.ray/auth_token exists); its port and token.
    `--block` keeps it in one process group, ended here (not `ray stop`: that would end every
    Ray on the machine)."""
    token = os.urandom(16).hex()
    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    ray_cli = Path(sys.executable).parent / "ray"
    options = ["--include-dashboard=false", "--disable-usage-stats", "--num-cpus=1", "--block"]
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", f"--port={port}", *options],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and head.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"ray start --head did not listen on port {port}")
        yield port, token
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=10)
        except subprocess.TimeoutExpired:  # its processes, all in its group
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(timeout=30)


def cluster_batch(tmp_path: Path, port: int, token: str | None):
    """`main.py --batch --engine ray --address 127.0.0.1:PORT` of one tiny item, with HOME
    where there is no ~/.ray/auth_token: the token only from RAY_AUTH_TOKEN, if given."""
    content = make_image(tmp_path / "content.png", seed=1)
    style = make_image(tmp_path / "style.png", seed=2)
    sets = [
        f"paths.content_image={content}",
        f"paths.style_image={style}",
        f"paths.results_dir={tmp_path / 'results'}",
        *TINY,
    ]
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env |= {"HOME": str(home)} | ({"RAY_AUTH_TOKEN": token} if token else {})
    command = ["--batch", "cluster", "--engine", "ray", "--address", f"127.0.0.1:{port}"]
    return run_main([*command, *(arg for text in sets for arg in ("--set", text))], env=env)


def test_a_cluster_started_with_ray_start_takes_a_batch_with_its_token(tmp_path, ray_head):
    port, token = ray_head
    done = cluster_batch(tmp_path, port, token)
    assert done.returncode == 0, done.stderr[-2000:]
    batch = tmp_path / "results" / "batch-cluster"
    (row,) = rows(batch)
    assert row["status"] == "done" and (batch / row["run"] / FINAL).is_file()


def test_a_cluster_that_wants_a_token_we_lack_is_one_line_within_seconds(tmp_path, ray_head):
    started = time.monotonic()
    refused = cluster_batch(tmp_path, ray_head[0], None)
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "the cluster asks for a token" in line and "RAY_AUTH_TOKEN" in line
    assert time.monotonic() - started < 20 and not (tmp_path / "results").exists()
