"""Whether a seed repeats a run bit for bit, and what summing the picture's gradient in a fixed
order (nst.core.fanout) costs against autodiff's own AddN.

    python -m bench.repeatable --weights ../shared/weights/vgg16_imagenet_notop.weights.h5 \
        --pair astronaut.png:shipwreck.jpg --size 256 --set model.precision=float32

Runs the same picture (`bench.pictures`' run at the defaults plus `--set`) `--rounds` times
with nst's fixed-order sum (`fanned`) and with the copies' gradients left to autodiff's AddN
(`addn`, what nst did before), interleaved in one process, and prints per mode whether every
round gave the same picture (the largest pixel difference to the first round) and the CPU
seconds per step, with the ratio fanned / addn.
"""

from __future__ import annotations

import argparse
import json
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np

MODES = ("fanned (nst)", "addn (autodiff's sum)")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="a VGG16 weights file")
    parser.add_argument("--pair", required=True, help="photo:painting (a photo with a face)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="section.key=value")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    from bench.pictures import run_pair

    args = parse_args(argv)
    photo, painting = args.pair.split(":")
    picture_args = SimpleNamespace(weights=args.weights, size=args.size, keep_steps="")
    runs = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode, done in runs.items():
            extractors = {}  # a fresh network and trace each run, as a new process has
            with _summed_by(mode):
                run = run_pair(photo, painting, tuple(args.set), picture_args, extractors)
            image, facts, _ = run
            done.append((image, facts["cpu_s"] / max(1, sum(facts["steps"]))))
    per_step = {}
    for mode, done in runs.items():
        first = done[0][0]
        largest = max(float(np.abs(image - first).max()) for image, _ in done)
        per_step[mode] = float(np.median([seconds for _, seconds in done]))
        facts = {"mode": mode, "largest_difference": largest, "cpu_s_per_step": per_step[mode]}
        print(json.dumps(facts), flush=True)
    fanned, addn = per_step.values()
    print(f"CPU per step, fanned / addn: {fanned / addn:.3f} ({Path(photo).name}, {args.size} px)")


@contextmanager
def _summed_by(mode: str):
    """nst as it is (`fanned`), or with fan_out's copies plain identities (`addn`)."""
    import tensorflow as tf

    from nst.core import losses, objective

    if mode == MODES[0]:
        yield
        return
    fanned = objective.fan_out

    def plain(x, count):
        return tuple(tf.identity(x) for _ in range(count))

    objective.fan_out = losses.fan_out = plain
    try:
        yield
    finally:
        objective.fan_out = losses.fan_out = fanned


if __name__ == "__main__":
    main()
