"""What each [model] padding costs a step: the network's forward pass and gradient to the
picture, per padding, in one process, as CPU seconds per step (user + system of all threads,
steadier than wall time on a shared machine) and the ratio to `zeros`.

python -m bench.padding --weights ../shared/weights/vgg16_imagenet_notop.weights.h5 \
    [--precision float32] [--size 512x384] [--rounds 3] [--steps 5]

The loss is a sum of Gram matrices at the default style layers and the content layer: the
step's network work without the rest of the loop, so the ratios are the padding's alone.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

PADDINGS = ("zeros", "reflect", "reflect_first", "reflect_each")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="random", help="a VGG16 weights file, or random")
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--size", default="512x384", help="WIDTHxHEIGHT")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    return parser.parse_args(argv)


def step_for(padding: str, args):
    """A traced step (network forward and gradient) for one padding, and its picture."""
    import tensorflow as tf

    from nst.core.features import build_feature_extractor
    from nst.settings import ModelSettings

    model = ModelSettings(
        network="vgg16", weights=args.weights, precision=args.precision, padding=padding
    )
    extractor = build_feature_extractor(model)
    width, height = (int(v) for v in args.size.split("x"))
    image = tf.Variable(tf.random.stateless_uniform([1, height, width, 3], (0, 0), 0, 255))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = 0.0
            for features in extractor(image).values():
                flat = tf.reshape(features, [-1, features.shape[-1]])
                loss += tf.reduce_mean(tf.matmul(flat, flat, transpose_a=True))
        return tape.gradient(loss, image)

    step()  # traced outside the timing
    return step


def cpu_seconds_per_step(step, steps: int) -> float:
    times = []
    for _ in range(steps):
        start = time.process_time()
        step().numpy()
        times.append(time.process_time() - start)
    return float(np.median(times))


def main(argv=None) -> None:
    args = parse_args(argv)
    steps = {padding: step_for(padding, args) for padding in PADDINGS}
    seconds = {padding: [] for padding in PADDINGS}
    for _ in range(args.rounds):  # interleaved, so that a busy spell hits every padding
        for padding, step in steps.items():
            seconds[padding].append(cpu_seconds_per_step(step, args.steps))
    reference = np.median(seconds["zeros"])
    print(f"{args.precision}, {args.size}, CPU seconds per step (median of {args.rounds} rounds)")
    for padding in PADDINGS:
        median = np.median(seconds[padding])
        print(f"{padding:>14}  {median:.3f} s  {median / reference:.2f}x")


if __name__ == "__main__":
    main()
