"""Seconds per tiled Adam step in one process against the same step with its tiles on Ray
workers (nst.batch.raytiles), in one invocation, and the bytes the distributed step moves.

    python -m bench.raytiles [--size 768] [--tile 256] [--workers 2] [--steps 4]
        [--weights random|PATH] [--images DIR] [--set model.precision=float32 ...]

The single-process step runs first (TensorFlow's threads: all cores), then a local Ray with
`--workers` CPUs starts and `--workers` actors of one CPU each (TensorFlow: one thread each)
run the same steps. Seconds per step: the median of the steps after the first (which traces).
Prints one JSON line per engine and one with the ratio.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.steps import test_images


def scale(size, weights, images, overrides):
    """(settings, extractor, terms, content) of one scale as a run builds them, tiled."""
    from nst.core.features import build_feature_extractor
    from nst.core.objective import build_terms
    from nst.settings import load_settings

    base = (f"model.weights={weights}", "model.network=vgg16", f"image.max_size={size}")
    settings = load_settings(None, (*base, *overrides))
    content, style = test_images(size, images)
    extractor = build_feature_extractor(settings.model)
    terms = build_terms(extractor, content, (style,), settings.model, settings.loss)
    return settings, extractor, terms, content


def seconds_per_step(session, terms, content, settings, tiled, steps) -> tuple:
    """(median seconds of the steps after the first, the first step's, the last loss)."""
    import tensorflow as tf

    from nst.core.objective import tensors

    state, step = session.adam(terms, content, 5, settings.optimizer, None, tiled)
    inputs, average, seconds = tensors(terms), tf.constant(0.0), []
    for _ in range(steps):
        began = time.perf_counter()
        losses, _ = step(state.pyramid, state.averaged, inputs, average, tf.constant(1.0))
        float(losses.total)
        seconds.append(time.perf_counter() - began)
    return float(np.median(seconds[1:])), seconds[0], float(losses.total)


def on_ray(args, settings, extractor, terms, content, session) -> dict:
    """Seconds per step with the tiles on `args.workers` local Ray actors."""
    import ray

    from nst.batch.raytiles import RayTiles
    from nst.core.objective import signature, tensors

    root = str(Path(__file__).resolve().parents[1])
    ray.init(
        address="local", num_cpus=args.workers, include_dashboard=False, log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": root}},
    )  # fmt: skip
    key = (settings.model, settings.image.seed, settings.optimizer.name)
    began = time.perf_counter()
    spread = RayTiles(
        ray, extractor, key, signature(terms), content.shape[:2], args.tile, tensors(terms),
        args.workers,
    )  # fmt: skip
    per_step, first, total = seconds_per_step(session, terms, content, settings, spread, args.steps)
    row = {"engine": f"ray, {args.workers} workers", "s_per_step": per_step, "first_s": first}
    row |= {"actors_and_first_s": time.perf_counter() - began - per_step * (args.steps - 1)}
    row |= {"total": total, "runs": spread.runs, "bytes_moved": spread.moved}
    row |= {"worker_s_last_step": spread.worker_seconds}
    spread.close()
    ray.shutdown()
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=768)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--weights", default="random")
    parser.add_argument("--images", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args(argv)
    from nst.core.optimize import Session

    settings, extractor, terms, content = scale(
        args.size, args.weights, args.images, args.overrides
    )
    session = Session(extractor)
    single = session.tiled(terms, content.shape, settings.model, args.tile)
    common = {"size": [content.shape[1], content.shape[0]], "tile": args.tile}
    common |= {"tiles": len(single.windows), "precision": settings.model.precision}
    common |= {"weights": args.weights, "overrides": args.overrides}
    per_step, first, total = seconds_per_step(session, terms, content, settings, single, args.steps)
    row = {"engine": "one process", "s_per_step": per_step, "first_s": first, "total": total}
    print(json.dumps(common | row), flush=True)
    spread = on_ray(args, settings, extractor, terms, content, session)
    print(json.dumps(common | spread), flush=True)
    print(json.dumps({"ray_over_one_process": spread["s_per_step"] / per_step}), flush=True)


if __name__ == "__main__":
    main()
