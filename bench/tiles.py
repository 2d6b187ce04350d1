"""One Adam step over tiles against one on the whole picture: seconds and peak RSS, each in its
own process (the memory high-water mark belongs to it alone), the targets (content features,
style Gram matrices) computed as a run computes them: over the same tiles when tiled.

    python -m bench.tiles [--size 1024] [--tile 256 | --memory-limit 8] [--steps 4]
        [--weights PATH] [--images DIR] [--set model.precision=float32 ...]

Without --tile or --memory-limit it runs the whole-picture step and the tiled one at 256 px
cores, and prints one JSON line each: size, tile, seconds to compute the targets, seconds per
step (median of the steps after the first, which traces), peak RSS. --memory-limit GB tiles
as a run with [image] memory_limit = GB does (nst.run.preflight.step_budget).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.steps import test_images


def one_step(size, tile, weights, images, overrides, steps=4, memory_limit=None) -> dict:
    """Time Adam steps at `size` px, over tiles of `tile` px cores (0: the whole picture;
    None: as [image] memory_limit = `memory_limit` GB decides)."""
    import tensorflow as tf

    from nst.core.features import build_feature_extractor
    from nst.core.objective import build_terms, tensors
    from nst.core.optimize import Session
    from nst.core.tilegrid import tile_side
    from nst.run.preflight import memory_needed, step_budget, tiled_memory_needed
    from nst.settings import load_settings

    limit = () if memory_limit is None else (f"image.memory_limit={memory_limit}",)
    base = (f"model.weights={weights}", "model.network=vgg16", f"image.max_size={size}")
    settings = load_settings(None, (*base, *limit, *overrides))
    content, style = test_images(size, images)
    height, width = content.shape[:2]
    if tile is None:
        budget = step_budget(
            settings.model, settings.image, "adam", None, width, height, settings.loss.style_loss
        )
        tile = tile_side(settings.model, height, width, budget) or 0
    extractor = build_feature_extractor(settings.model)
    session = Session(extractor)
    began = time.perf_counter()
    terms = build_terms(
        extractor, content, (style,), settings.model, settings.loss, None, None, session,
        side=tile or None,
    )  # fmt: skip
    targets_s = time.perf_counter() - began
    tiled = session.tiled(terms, content.shape, settings.model, tile) if tile else None
    state, step = session.adam(terms, content, 5, settings.optimizer, None, tiled)
    inputs, average = tensors(terms), tf.constant(0.0)
    seconds = []
    for _ in range(steps):
        began = time.perf_counter()
        losses, _ = step(state.pyramid, state.averaged, inputs, average, tf.constant(1.0))
        float(losses.total)
        seconds.append(time.perf_counter() - began)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    loss = settings.loss.style_loss
    estimate = (
        tiled_memory_needed(settings.model, width, height, "adam", 0, tile, loss)
        if tile
        else memory_needed(settings.model, width, height, "adam")
    )
    return {
        "size": [width, height],
        "style": list(style.shape[1::-1]),
        "tile": tile,
        "windows": len(tiled.windows) if tiled else 1,
        "targets_s": round(targets_s, 1),
        "seconds_per_step": float(np.median(seconds[1:])) if steps > 1 else None,
        "first_step_s": seconds[0],
        "peak_rss_mb": round(rss / 2**20),
        "estimate_mb": round(estimate / 2**20),  # what the run's preflight counts
        "total": float(losses.total),
        "overrides": list(overrides),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--tile", type=int, default=None)
    parser.add_argument("--memory-limit", type=float, default=None)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--weights", default="random")
    parser.add_argument("--images", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args(argv)
    if args.tile is not None or args.memory_limit is not None:
        result = one_step(
            args.size, args.tile, args.weights, args.images, tuple(args.overrides), args.steps,
            args.memory_limit,
        )  # fmt: skip
        print(json.dumps(result), flush=True)
        return
    for tile in (0, 256):
        command = [sys.executable, "-m", "bench.tiles", "--size", str(args.size)]
        command += ["--tile", str(tile), "--weights", args.weights, "--steps", str(args.steps)]
        command += ["--images", str(args.images)] if args.images else []
        command += [f"--set={o}" for o in args.overrides]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        print(out.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
