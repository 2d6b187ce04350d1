"""A whole `python main.py` run's memory over time: when its peak comes (the targets, the first
step over tiles, a checkpoint's write, an iterate's save), not only how high it is.

    python -m bench.memory_run [--every 0.5] -- --no-viewer --set image.memory_limit=3 ...

Runs main.py with the arguments after `--` (tcmalloc preloaded as main.py does) and samples
the process's VmRSS and VmHWM from /proc every `--every` seconds. A line is printed whenever the
resident memory moved by more than 50 MB or a file appeared (or was replaced) in the run's
results folder ([paths] results_dir, `--results`): seconds since the start, VmRSS, VmHWM in MB
(2^20 bytes), the new files. The last line is the peak. Linux only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

MB = 1024**2


def status(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of process `pid` in bytes; None once it has gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    if "VmRSS" not in fields:
        return None  # a zombie: exited, not yet reaped
    return tuple(int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM"))


def files_of(results: Path) -> dict[str, int]:
    """{path under `results`: its modification time} of every file there (none: {})."""
    found = {}
    for path in results.rglob("*"):
        try:
            if path.is_file():  # not the folders, whose times change with every file
                found[str(path.relative_to(results))] = path.stat().st_mtime_ns
        except OSError:
            continue  # a temporary file renamed away between the listing and the stat
    return found


def follow(process: subprocess.Popen, results: Path, every: float) -> int:
    """Print the timeline of `process` (see the module); its peak VmHWM in bytes."""
    began, shown, peak, seen = time.monotonic(), 0, 0, files_of(results)
    while process.poll() is None:
        sample = status(process.pid)
        if sample is not None:
            now = files_of(results)
            new = sorted(name for name, mtime in now.items() if seen.get(name) != mtime)
            seen, peak = now, max(peak, sample[1])
            if abs(sample[0] - shown) > 50 * MB or new:
                elapsed = time.monotonic() - began
                names = " ".join(name.split("/", 1)[-1] for name in new)
                print(
                    f"{elapsed:8.1f} s  rss {sample[0] // MB:6d}  hwm {sample[1] // MB:6d}  {names}"
                )
                shown = sample[0]
        time.sleep(every)
    return peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--results", type=Path, default=Path("results"), help="results_dir")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="main.py's arguments after --")
    options = parser.parse_args(argv)
    args = [a for a in options.args if a != "--"]
    options.results.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "main.py", *args], stdout=subprocess.DEVNULL)
    peak = follow(process, options.results, options.every)
    print(f"exit {process.returncode}, peak VmHWM {peak // MB} MB (sampled)")
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
