"""Time to a finished picture as a user sees it: `python main.py` at its defaults, in a
subprocess (TensorFlow's start, the network build, every scale and the files included),
against the tutorial's algorithm run for 1000 steps (its step timed in the same invocation).
"""

from __future__ import annotations

import csv
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """Which of AVX2, AVX-512, AVX512-BF16 and AMX-BF16 this CPU has (Linux flags)."""
    try:
        words = set(cpuinfo.read_text(errors="replace").split())
    except OSError:
        return []
    return [flag for flag in CPU_FLAGS if flag in words]


def allocator_note() -> str:
    """What main.py's process gets: tcmalloc preloaded or not, BFC allocator, glibc tunables."""
    from bench.__main__ import main_environment
    from nst.cli.allocator import BFC_VARIABLE

    env = main_environment()
    tcmalloc = "tcmalloc preloaded" if "tcmalloc" in env.get("LD_PRELOAD", "") else "no tcmalloc"
    bfc = f"{BFC_VARIABLE}={env.get(BFC_VARIABLE, 'unset')}"
    tunables = f"GLIBC_TUNABLES={env.get('GLIBC_TUNABLES', 'unset')}"
    return f"{tcmalloc}, {bfc}, {tunables}"


def pair_paths(pair: str, size: int, out: Path, quick: bool) -> tuple[Path, Path]:
    """The content and style files of 'content:style': two image paths, or names in
    ../shared/images; when those are absent or in --quick mode, two generated images
    written to `out`."""
    from bench.__main__ import images_dir

    images = images_dir()
    content, style = pair.split(":")
    given = Path(content), Path(style)
    if not quick and all(path.suffix and path.is_file() for path in given):
        return given  # image files named by path: the user's own pairs
    if images and not quick and (images / f"{content}.jpg").is_file():
        return images / f"{content}.jpg", images / f"{style}.jpg"
    from PIL import Image

    from bench.steps import test_images
    from nst.inputs.images import to_uint8

    out.mkdir(parents=True, exist_ok=True)
    paths = (out / "content.png", out / "style.png")
    for path, image in zip(paths, test_images(size, None), strict=True):
        Image.fromarray(to_uint8(image)).save(path)
    return paths


def run_main(content: Path, style: Path, size: int, weights: str, out: Path, quick: bool):
    """(wall s, CPU s, run folder, why it ended) of `python main.py` at the defaults."""
    overrides = {
        "paths.content_image": content,
        "paths.style_image": style,
        "paths.results_dir": out,
        "image.max_size": size,
        "model.network": "vgg16",
        "model.weights": weights,
        **({"optimizer.iterations": 4, "optimizer.coarse_iterations": 2} if quick else {}),
    }
    args = [a for k, v in overrides.items() for a in ("--set", f"{k}={v}")]
    from bench.__main__ import plain_environment

    env = {k: v for k, v in plain_environment().items() if k != "NST_NO_PRELOAD"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "main.py", "--no-viewer", *args],
        cwd=ROOT,
        env=env,  # as a user's shell: main.py sets up its own allocator
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"main.py failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    runs = [p for p in Path(out).iterdir() if (p / "losses.csv").is_file()]
    said = next(line for line in done.stdout.splitlines() if line.startswith("nst: result in"))
    why = said.rsplit("(", 1)[-1].rstrip(")")  # 'converged at step k, 300 s' or 'budget, …'
    return wall, cpu, max(runs, key=lambda p: p.stat().st_mtime), why


def final_losses(run_dir: Path) -> tuple[float, float]:
    """The paper's content and style losses of the result (the last row of losses.csv)."""
    with open(run_dir / "losses.csv", newline="") as file:
        last = list(csv.DictReader(file))[-1]
    return float(last["content"]), float(last["style"])


def time_to_picture(args, tutorial_s: float | None, weights: Path | None) -> list[tuple]:
    """Rows: CPU features, allocator, and per size and pair main.py's wall time as a ratio
    to 1000 tutorial steps (the issue's target: <= 0.08) with the final paper losses."""
    from bench.__main__ import load, worker

    rows = [
        ("user", "CPU features", " ".join(cpu_features()) or "none of " + "/".join(CPU_FLAGS), ""),
        ("user", "main.py's allocator", allocator_note(), ""),
    ]
    network = str(weights) if weights and not args.quick else "random"
    for size in [int(s) for s in args.user_sizes.split(",")]:
        step = tutorial_s if tutorial_s is not None and size == args.size else None
        if step is None:
            step = worker("tutorial", size, args.steps, False, "float32")["step_s"]
        reference = step * args.reference_steps
        for pair in args.pairs.split(","):
            name = "_".join(Path(side).stem for side in pair.split(":"))
            out = Path(args.out) / f"user_{size}_{name}"
            content, style = pair_paths(pair, size, out / "inputs", args.quick)
            at_start = load()
            wall, cpu, run_dir, said = run_main(content, style, size, network, out, args.quick)
            content_loss, style_loss = final_losses(run_dir)
            rows.append(
                (
                    "user",
                    f"python main.py at the defaults, {size} px, {pair}, VGG16 {network}",
                    f"{wall:.0f} s = {wall / reference:.3f}× the tutorial's "
                    f"{args.reference_steps} steps",
                    f"CPU {cpu:.0f} s; tutorial step {step:.2f} s; final content "
                    f"{content_loss:.4g}, style {style_loss:.3g}; {said}; "
                    f"load {at_start}→{load()}; target <= 0.08",
                )
            )
    return rows
