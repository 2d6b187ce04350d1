"""One Adam step over tiles against one on the whole picture: seconds and peak RSS, each in its
own process (the memory high-water mark belongs to it alone).

    python -m bench.tiles [--size 1024] [--tile 256] [--weights PATH] [--images DIR]
        [--set model.precision=float32 ...]

Without --tile it runs the whole-picture step and the tiled one at 256 px cores, and prints
one JSON line each: size, tile, seconds per step (median of 3 after one to trace), peak RSS.
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


def one_step(size: int, tile: int, weights: str, images: Path | None, overrides: tuple) -> dict:
    """Time Adam steps at `size` px, over tiles of `tile` px cores (0: the whole picture)."""
    import tensorflow as tf

    from nst.core.features import build_feature_extractor
    from nst.core.objective import build_terms, tensors
    from nst.core.optimize import Session
    from nst.settings import load_settings

    settings = load_settings(None, (f"model.weights={weights}", "model.network=vgg16", *overrides))
    content, style = test_images(size, images)
    extractor = build_feature_extractor(settings.model)
    session = Session(extractor)
    terms = build_terms(
        extractor, content, (style,), settings.model, settings.loss, None, None, session
    )
    tiled = session.tiled(terms, content.shape, settings.model, tile) if tile else None
    state, step = session.adam(terms, content, 5, settings.optimizer, None, tiled)
    inputs, average = tensors(terms), tf.constant(0.0)
    seconds = []
    for _ in range(4):
        began = time.perf_counter()
        losses, _ = step(state.pyramid, state.averaged, inputs, average)
        float(losses.total)
        seconds.append(time.perf_counter() - began)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "size": list(content.shape[:2]),
        "tile": tile,
        "windows": len(tiled.windows) if tiled else 1,
        "seconds_per_step": float(np.median(seconds[1:])),
        "first_step_s": seconds[0],
        "peak_rss_mb": round(rss / 2**20),
        "total": float(losses.total),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--tile", type=int, default=None)
    parser.add_argument("--weights", default="random")
    parser.add_argument("--images", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args(argv)
    if args.tile is not None:
        result = one_step(args.size, args.tile, args.weights, args.images, tuple(args.overrides))
        print(json.dumps(result), flush=True)
        return
    for tile in (0, 256):
        command = [sys.executable, "-m", "bench.tiles", "--size", str(args.size)]
        command += ["--tile", str(tile), "--weights", args.weights]
        command += ["--images", str(args.images)] if args.images else []
        command += [f"--set={o}" for o in args.overrides]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        print(out.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
