"""Peak memory of real runs against nst's estimate (bench/results/memory.md).

python -m bench.memory [--sizes 256 512 1024] [--iterations 5] [--quick]

Each case is `python main.py` in a fresh process (the real VGG16 ImageNet file, Tübingen in
Starry Night's style from ../shared), its peak RSS (VmHWM) and peak address space (VmPeak)
read from /proc at exit, printed as a Markdown table beside `nst.run.preflight`'s estimate.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VGG16 = SHARED / "weights" / "vgg16_imagenet_notop.weights.h5"
MB = 1024**2

# Runs main.py in this process and prints VmHWM / VmPeak (kB) as JSON when it exits.
_PROBE = """
import atexit, json, runpy, sys
def _report():
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    peak = {k: int(status[k].split()[0]) for k in ("VmHWM", "VmPeak")}
    sys.__stderr__.write("NST_MEMORY " + json.dumps(peak) + "\\n")
atexit.register(_report)
sys.argv = ["main.py", *sys.argv[1:]]
runpy.run_path("main.py", run_name="__main__")
"""

CASES = {  # name -> extra settings
    "adam": (),
    "lbfgs": ("optimizer.name=lbfgs",),
    "adam, style_scale 2": ("image.style_scale=2",),
    "adam, style_scale 4": ("image.style_scale=4",),
    "adam, 2 scales": ("image.scales=2", "optimizer.coarse_iterations=3"),
    "adam, bfloat16": ("model.precision=bfloat16",),
}


def measure(
    size: int, iterations: int, extra: tuple[str, ...], results: Path, preload: str = ""
) -> dict:
    """Peak RSS and address space (bytes) of one run, and the exit status."""
    settings = (
        "model.network=vgg16",
        f"model.weights={VGG16}",
        f"paths.content_image={SHARED / 'images' / 'tubingen.jpg'}",
        f"paths.style_image={SHARED / 'images' / 'starry_night.jpg'}",
        f"paths.results_dir={results}",
        f"image.max_size={size}",
        f"optimizer.iterations={iterations}",
        "output.show_viewer=false",
        "output.animation=false",
        "output.save_every=1000",
        *extra,
    )
    args = [arg for pair in settings for arg in ("--set", pair)]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NST_NO_PRELOAD": "1", "PATH": "/usr/bin:/bin", "LD_PRELOAD": preload},
    )
    if done.returncode != 0:
        print(f"<!-- status {done.returncode}: {done.stderr.strip()[-300:]} -->", flush=True)
    line = next(x for x in done.stderr.splitlines() if x.startswith("NST_MEMORY "))
    peak = json.loads(line.split(" ", 1)[1])
    return {
        "rss": peak["VmHWM"] * 1024,
        "virtual": peak["VmPeak"] * 1024,
        "status": done.returncode,
    }


def estimate(size: int, extra: tuple[str, ...]) -> int:
    """nst's estimate for the same run, from the settings as main.py reads them."""
    from nst.inputs.styles import load_inputs
    from nst.run.preflight import run_memory_needed
    from nst.settings import load_settings

    settings = load_settings(
        None,
        (
            "model.network=vgg16",
            f"paths.content_image={SHARED / 'images' / 'tubingen.jpg'}",
            f"paths.style_image={SHARED / 'images' / 'starry_night.jpg'}",
            f"image.max_size={size}",
            *extra,
        ),
    )
    inputs = load_inputs(settings.paths, settings.image)
    return run_memory_needed(settings, inputs)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--cases", nargs="+", default=list(CASES))
    parser.add_argument("--preload", default="", help="a malloc library to LD_PRELOAD")
    args = parser.parse_args(argv)
    print("| case | size | measured peak RSS | estimate | error | peak address space |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            for case in args.cases:
                got = measure(size, args.iterations, CASES[case], Path(folder), args.preload)
                guess = estimate(size, CASES[case])
                print(
                    f"| {case} | {size} | {got['rss'] / MB:,.0f} MB | {guess / MB:,.0f} MB | "
                    f"{100 * (guess / got['rss'] - 1):+.0f} % | {got['virtual'] / MB:,.0f} MB "
                    f"(status {got['status']}) |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
