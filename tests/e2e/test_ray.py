"""python main.py --batch --engine ray as a user runs it: an unreachable address, and a cluster
started with `ray start` (with and without its token), each one line and an exit status within
seconds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nst.output.runfolder import FINAL
from tests.helpers import make_image, run_main
from tests.helpers.batch import TINY, rows, two_by_two

pytest.importorskip("ray")


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


@pytest.mark.slow
def test_a_cluster_started_with_ray_start_takes_a_batch_with_its_token(tmp_path, ray_head):
    port, token = ray_head
    done = cluster_batch(tmp_path, port, token)
    assert done.returncode == 0, done.stderr[-2000:]
    batch = tmp_path / "results" / "batch-cluster"
    (row,) = rows(batch)
    assert row["status"] == "done" and (batch / row["run"] / FINAL).is_file()


@pytest.mark.slow
def test_a_cluster_that_wants_a_token_we_lack_is_one_line_within_seconds(tmp_path, ray_head):
    started = time.monotonic()
    refused = cluster_batch(tmp_path, ray_head[0], None)
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "the cluster asks for a token" in line and "RAY_AUTH_TOKEN" in line
    assert time.monotonic() - started < 20 and not (tmp_path / "results").exists()
