"""The web studio as a process (python -m nst.web, python main.py --web): stop signals and
its lines, a port in use, a results folder that is a file, the Host check on every loopback
bind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.helpers.web import tiny


def studio_command(tmp_path: Path, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "nst.web", *extra]
    for override in tiny(tmp_path):
        command += ["--set", override]
    return command


def start_studio(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        studio_command(tmp_path, "--port", "0", *extra),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    line = server.stdout.readline()
    assert line.startswith("nst: web studio at http://"), (line, server.stderr.read())
    return server, line.split(" at ")[1].split()[0]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_stops_the_studio_with_its_line(tmp_path, signum):
    server, _ = start_studio(tmp_path)
    try:
        server.send_signal(signum)
        assert server.wait(timeout=60) == 128 + signum  # as a CLI run stopped by it
        stderr = server.stderr.read()
        assert f"nst: stopping ({signum.name})" in stderr and "Traceback" not in stderr
    finally:
        server.kill()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_main_py_web_exits_as_a_cli_run_after_a_signal(tmp_path, signum):
    """`python main.py --web` is the same studio: 128 + the signal, as a CLI run stopped by it
    (it used to exit 0, which scripts read as "nothing went wrong")."""
    command = [sys.executable, "main.py", "--web", "--port", "0"]
    for override in tiny(tmp_path):
        command += ["--set", override]
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = server.stdout.readline()
        assert line.startswith("nst: web studio at http://"), (line, server.stderr.read())
        server.send_signal(signum)
        assert server.wait(timeout=60) == 128 + signum
        stderr = server.stderr.read()
        assert f"nst: stopping ({signum.name})" in stderr and "Traceback" not in stderr, stderr
    finally:
        server.kill()


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as answer:
        return json.loads(answer.read())


@pytest.mark.slow
def test_a_second_signal_while_the_run_completes_its_folder_only_says_so(tmp_path):
    server, address = start_studio(tmp_path)
    try:
        form = get(address + "api/form")
        body = {"content": form["content"][0], "styles": form["styles"]}
        job = post(address + "api/jobs", {"values": {"optimizer.iterations": "5000"}, **body})
        deadline = time.monotonic() + 240
        while True:
            jobs = {j["id"]: j for j in get(address + "api/jobs")["jobs"]}
            if jobs[job["id"]]["steps_done"] >= 2:
                break
            assert time.monotonic() < deadline, jobs
            time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        server.send_signal(signal.SIGINT)
        server.send_signal(signal.SIGHUP)
        assert server.wait(timeout=120) == 128 + signal.SIGTERM  # the first signal counts
        stderr = server.stderr.read()
        assert "Traceback" not in stderr and "already stopping" in stderr, stderr
    finally:
        server.kill()
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if not p.name.startswith(".")]
    for name in ("status.txt", "final.png", "plots/losses.png"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "status.txt").read_text().startswith("143\n")


def one_line_and_status_2(command: list[str]) -> str:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nst: error: "), done.stderr
    return lines[0]


def test_a_port_in_use_is_one_line_and_status_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_and_status_2(studio_command(tmp_path, "--port", str(port)))
    assert f"cannot listen on 127.0.0.1:{port}" in line


def test_a_results_folder_that_is_a_file_is_one_line_and_status_2(tmp_path):
    (tmp_path / "results").write_text("not a folder")
    line = one_line_and_status_2(studio_command(tmp_path, "--port", "0"))
    assert "results_dir" in line and "is a file" in line


def test_every_loopback_bind_keeps_the_host_check(tmp_path):
    from nst.web.__main__ import loopback

    assert all(loopback(h) for h in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"))
    assert not any(loopback(h) for h in ("0.0.0.0", "192.168.1.2", "evil.example", "::"))
    server, address = start_studio(tmp_path, "--host", "127.0.0.2")
    try:
        port = address.rsplit(":", 1)[1].strip("/")
        own = urllib.request.Request(address + "api/form", headers={"Host": f"127.0.0.2:{port}"})
        with urllib.request.urlopen(own, timeout=30) as answer:
            assert answer.status == 200
        foreign = urllib.request.Request(address + "api/form", headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(foreign, timeout=30)
        assert refused.value.code == 403
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        assert "anyone who can reach" not in server.stderr.read()
    finally:
        server.kill()


def test_command_line_warns_off_localhost_and_sigterm_ends_it(tmp_path):
    command = [sys.executable, "-m", "nst.web", "--host", "0.0.0.0", "--port", "0"]
    for override in tiny(tmp_path):
        command += ["--set", override]
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = server.stdout.readline()
        assert line.startswith("nst: web studio at http://0.0.0.0:"), line
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 128 + signal.SIGTERM  # as a CLI run stopped by it
        assert "anyone who can reach port" in server.stderr.read()
    finally:
        server.kill()
    bad = subprocess.run(  # main.py --web is the same command
        [sys.executable, "main.py", "--web", "--set", "loss.style_weight=-1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "nst: error:" in bad.stderr and "style_weight" in bad.stderr
