"""Whether a seed repeats a run bit for bit, and what `repeatable_graphs` costs.

    python -m bench.repeatable --weights ../shared/weights/vgg16_imagenet_notop.weights.h5 \
        --pair astronaut.png:shipwreck.jpg --size 256 --set model.precision=float32

Runs the same picture (`bench.pictures`' run at the defaults plus `--set`) `--rounds` times
with Grappler's dependency optimisation off (what nst.core.features.repeatable_graphs sets
for every run) and on (TensorFlow's default), interleaved in one process, and prints per
mode whether every round gave the same picture (the largest pixel difference to the first
round) and the CPU seconds per step, with the ratio off / on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="a VGG16 weights file")
    parser.add_argument("--pair", required=True, help="photo:painting (a photo with a face)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="section.key=value")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    import tensorflow as tf

    from bench.pictures import run_pair

    args = parse_args(argv)
    photo, painting = args.pair.split(":")
    picture_args = SimpleNamespace(weights=args.weights, size=args.size, keep_steps="")
    runs = {"off (nst)": [], "on (TensorFlow's default)": []}
    for _ in range(args.rounds):
        for mode, done in runs.items():
            on = mode.startswith("on")
            extractors = {}  # a fresh network and trace each run, as a new process has
            # after build_feature_extractor's repeatable_graphs, which sets it off
            run_with = _with_option(tf, on, run_pair)
            image, facts, _ = run_with(photo, painting, tuple(args.set), picture_args, extractors)
            done.append((image, facts["cpu_s"] / max(1, sum(facts["steps"]))))
    per_step = {}
    for mode, done in runs.items():
        first = done[0][0]
        largest = max(float(np.abs(image - first).max()) for image, _ in done)
        per_step[mode] = float(np.median([seconds for _, seconds in done]))
        facts = {"mode": mode, "largest_difference": largest, "cpu_s_per_step": per_step[mode]}
        print(json.dumps(facts), flush=True)
    off, on = per_step.values()
    print(f"CPU per step, off / on: {off / on:.3f} ({Path(photo).name}, {args.size} px)")


def _with_option(tf, dependency_optimization: bool, run_pair):
    """run_pair with Grappler's dependency optimisation set after the network is built (the
    option is read when a step is first traced)."""
    from nst.core import features

    def run(*run_args):
        build = features.build_feature_extractor

        def build_then_set(*a, **k):
            extractor = build(*a, **k)
            options = {"dependency_optimization": dependency_optimization}
            tf.config.optimizer.set_experimental_options(options)
            return extractor

        features.build_feature_extractor = build_then_set
        try:
            return run_pair(*run_args)
        finally:
            features.build_feature_extractor = build
            features.repeatable_graphs()  # what the rest of the process expects

    return run


if __name__ == "__main__":
    main()
