"""nst benchmark: step cost against the TensorFlow tutorial, FLOP/s, time to quality, memory.

python -m bench            the full benchmark (tens of minutes to hours on 2 cores)
python -m bench --quick    the same at tiny size, in about a minute (used by the tests)

Prints one table. Step costs and memory are measured in fresh processes, alternating, median
of several; wall times on a shared machine are noisy, so CPU seconds and the load average are
printed beside them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VGG16 = SHARED / "weights" / "vgg16_imagenet_notop.weights.h5"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few steps")
    parser.add_argument("--size", type=int, default=512, help="step cost and quality size")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of step timing")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per process")
    parser.add_argument("--memory-sizes", default="256,512,1024,2048")
    parser.add_argument("--reference-steps", type=int, default=1000)
    parser.add_argument("--reference-csv", type=Path, help="reuse a reference run's rows")
    parser.add_argument("--budget", type=int, default=400, help="max full-size steps a strategy")
    parser.add_argument("--check-every", type=int, default=5, help="steps between quality checks")
    parser.add_argument("--only", default="step,user,flops,memory,quality", help="sections to run")
    parser.add_argument(
        "--user-sizes", default="512,1024", help="sizes of the default main.py runs (user)"
    )
    parser.add_argument(
        "--pairs",
        default="tubingen:starry_night",
        help="content:style pairs (user section): names in ../shared/images or image paths",
    )
    parser.add_argument("--out", type=Path, default=Path("results/bench"), help="reference files")
    parser.add_argument("--worker", choices=("ours", "tutorial"), help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="auto", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def images_dir() -> Path | None:
    return SHARED / "images" if (SHARED / "images").is_dir() else None


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def plain_environment() -> dict[str, str]:
    """This environment without anything main.py adds: no preload, no allocator variables."""
    from nst.cli.allocator import BFC_VARIABLE, MARK, OFF_SWITCH

    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", MARK, BFC_VARIABLE)}
    return {**env, OFF_SWITCH: "1"}


def main_environment() -> dict[str, str]:
    """The environment main.py gives itself: tcmalloc preloaded where installed, TensorFlow's
    pooling allocator (nst.cli.allocator)."""
    from nst.cli.allocator import (
        OFF_SWITCH,
        find_tcmalloc,
        preload_environment,
        tensorflow_environment,
    )

    env = plain_environment()
    env = preload_environment({**env, OFF_SWITCH: ""}, find_tcmalloc()) or env
    return {**env, **tensorflow_environment(env)}


def worker(which: str, size: int, steps: int, as_main: bool, precision: str = "auto") -> dict:
    """One step-cost measurement in a fresh process (see bench.steps); `as_main`: in the
    environment main.py runs in, else plain python."""
    env = main_environment() if as_main else plain_environment()
    args = [sys.executable, "-m", "bench", "--worker", which, "--size", str(size)]
    args += ["--precision", precision]
    done = subprocess.run(
        [*args, "--steps", str(steps)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker {which} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def step_cost(size: int, rounds: int, steps: int, quick: bool = False) -> list[tuple]:
    """Tutorial (plain python), ours plain and as main.py runs it: alternating, median."""
    variants = {"tutorial step (plain python)": ("tutorial", False, "float32")}
    variants["our Adam step (float32, plain python)"] = ("ours", False, "float32")
    variants["our Adam step (float32, as main.py)"] = ("ours", True, "float32")
    variants["our Adam step (default precision, as main.py)"] = ("ours", True, "auto")
    if quick:  # the tutorial and our default are enough to exercise the code
        variants = dict(list(variants.items())[::3])
    runs = {name: [] for name in variants}
    loads = []
    for _ in range(rounds):
        for name, (which, as_main, precision) in variants.items():
            loads.append(load())
            runs[name].append(worker(which, size, steps, as_main, precision))
    rows = []
    median = {n: statistics.median(r["step_s"] for r in runs[n]) for n in runs}
    cpus = {n: statistics.median(r["user_s"] + r["sys_s"] for r in runs[n]) for n in runs}
    for name, results in runs.items():
        cpu = cpus[name]
        system = statistics.median(r["sys_s"] for r in results)
        peak = max(r["peak_rss_mb"] for r in results) / 1024
        rows.append(
            (
                "step cost",
                f"{name}, {size} px",
                f"{median[name]:.3f} s/step",
                f"CPU {cpu:.2f} s/step (system {system:.3f}); peak RSS {peak:.2f} GB",
            )
        )
    tutorial = "tutorial step (plain python)"
    for name in list(runs)[1:]:
        rows.append(
            (
                "step cost",
                f"ratio ({name.split('(')[1][:-1]}) / tutorial, wall",
                f"{median[name] / median[tutorial]:.2f}",
                f"CPU-time ratio {cpus[name] / cpus[tutorial]:.2f}; target <= 0.6",
            )
        )
    rows.append(("step cost", "load average during the runs", " ".join(loads), ""))
    return rows, median[tutorial]


def conv_flops(extractor, height: int, width: int) -> float:
    """Forward FLOPs of the cut network's convolutions (2 per multiply-add)."""
    import keras

    flops = 0.0
    for layer in extractor.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            flops += 2.0 * height * width * kh * kw * cin * cout
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            height, width = height // 2, width // 2
    return flops


def flops(size: int, steps: int) -> list[tuple]:
    """Our step's FLOPs and achieved GFLOP/s against measured matmul and conv throughput."""
    import numpy as np
    import tensorflow as tf

    from bench.steps import our_step, test_images

    step, extractor = our_step(size, "vgg19", "random", images_dir(), "auto")
    content, _ = test_images(size, images_dir())
    h, w = content.shape[:2]
    forward = conv_flops(extractor, h, w)
    total = 2 * forward  # forward, and the gradient with respect to each layer's input
    step()
    step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    per_step = statistics.median(times)

    def throughput(op, work: float) -> float:
        op()
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            op().numpy()
            runs.append(time.perf_counter() - start)
        return work / statistics.median(runs) / 1e9

    n = 1024 if size < 256 else 2048
    a = tf.constant(np.random.default_rng(0).standard_normal((n, n)), tf.float32)
    matmul = throughput(lambda: tf.matmul(a, a), 2.0 * n**3)
    x = tf.random.normal((1, 96, 128, 256))
    k = tf.random.normal((3, 3, 256, 256))
    conv = throughput(lambda: tf.nn.conv2d(x, k, 1, "SAME"), 2.0 * 96 * 128 * 9 * 256 * 256)
    xb, kb = tf.cast(x, tf.bfloat16), tf.cast(k, tf.bfloat16)
    conv16 = throughput(lambda: tf.nn.conv2d(xb, kb, 1, "SAME"), 2.0 * 96 * 128 * 9 * 256 * 256)
    achieved = total / per_step / 1e9
    return [
        (
            "FLOPs",
            f"our step at {w}×{h} (VGG19 to block5_conv1)",
            f"{total / 1e9:.1f} GFLOP",
            f"convolutions: forward {forward / 1e9:.1f} + input gradient; Grams not counted",
        ),
        (
            "FLOPs",
            "our step (default precision), achieved",
            f"{achieved:.1f} GFLOP/s",
            f"{per_step:.3f} s/step",
        ),
        (
            "FLOPs",
            f"measured matmul {n}² float32",
            f"{matmul:.1f} GFLOP/s",
            f"ours = {achieved / matmul:.0%} of it",
        ),
        (
            "FLOPs",
            "measured conv 3×3, 256→256, 96×128, float32",
            f"{conv:.1f} GFLOP/s",
            f"ours = {achieved / conv:.0%} of it; load {load()}",
        ),
        (
            "FLOPs",
            "measured conv 3×3, 256→256, 96×128, bfloat16",
            f"{conv16:.1f} GFLOP/s",
            f"ours = {achieved / conv16:.0%} of it",
        ),
    ]


def memory(sizes: list[int]) -> list[tuple]:
    """Peak RSS of one process doing our default Adam step at each size (as main.py runs)."""
    rows = []
    for size in sizes:
        result = worker("ours", size, 1, as_main=True)
        rows.append(
            (
                "memory",
                f"peak RSS, our step at {size} px",
                f"{result['peak_rss_mb'] / 1024:.2f} GB",
                f"{result['step_s']:.1f} s/step, load {load()}",
            )
        )
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # AutoGraph warns each time it meets a second closure of the same code (the objective is
    # built once per network here): noise around the table, not a fault
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if args.worker:
        from bench.steps import run_worker

        run_worker(
            args.worker, args.size, args.steps, "vgg19", "random", images_dir(), args.precision
        )
        return 0
    if args.quick:
        args.size, args.rounds, args.steps = 48, 1, 2
        args.memory_sizes, args.reference_steps, args.budget, args.check_every = "64", 8, 8, 2
        args.user_sizes = "48"
    sections = set(args.only.split(","))
    rows = [("machine", "cores, load average at start", f"{os.cpu_count()}", load())]
    tutorial_s = None
    if "step" in sections:
        step_rows, tutorial_s = step_cost(args.size, args.rounds, args.steps, args.quick)
        rows += step_rows
    if "user" in sections:
        from bench.user import time_to_picture

        rows += time_to_picture(args, tutorial_s, VGG16 if VGG16.is_file() else None)
    if "flops" in sections:
        rows += flops(args.size, args.steps)
    if "memory" in sections:
        rows += memory([int(s) for s in args.memory_sizes.split(",")])
    if "quality" in sections:
        from bench.quality import quality

        rows += quality(args, VGG16 if VGG16.is_file() and not args.quick else None, images_dir())
    print_table(rows)
    return 0


def print_table(rows: list[tuple]) -> None:
    header = ("section", "what", "value", "note")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


if __name__ == "__main__":
    sys.exit(main())
