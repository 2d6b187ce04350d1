"""The benchmark (bench/): its quick table, the user's time-to-picture section that runs
main.py, and the CPU flags it reports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.user import cpu_features
from nst.cli.allocator import BFC_VARIABLE
from tests.helpers import ROOT


def test_cpu_features_read_from_linux_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu sse avx2 avx512f amx_tile\nflags : avx2\n")
    assert cpu_features(cpuinfo) == ["avx2", "avx512f"]
    assert cpu_features(tmp_path / "absent") == []


@pytest.mark.slow
def test_bench_user_section_runs_main_and_compares_with_the_tutorial(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "user", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines() if line.startswith("|")]
    user = {cells[1].strip(): cells for cells in rows[2:] if cells[0].strip() == "user"}
    assert "CPU features" in user and f"{BFC_VARIABLE}=true" in user["main.py's allocator"][2]
    [run] = [cells for what, cells in user.items() if what.startswith("python main.py")]
    assert "× the tutorial's 8 steps" in run[2]  # --quick: 8 reference steps
    assert "final content" in run[3] and "style" in run[3]
    assert ("converged at step" in run[3]) or ("budget" in run[3])
    assert list(tmp_path.glob("user_48_*/*/final.png"))  # main.py wrote its picture


@pytest.mark.slow
def test_bench_quick_prints_its_table(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],  # not the checkout
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("|")]
    sections = {line.split("|")[1].strip() for line in table[2:]}
    assert sections == {"machine", "step cost", "user", "FLOPs", "memory", "quality"}
    assert any("ratio" in line for line in table)
