"""What each [model] padding costs a step: the network's forward pass and gradient to the
picture, per padding, in one process, as CPU seconds per step (user + system of all threads,
steadier than wall time on a shared machine) and the ratio to `zeros`.

python -m bench.padding --weights ../shared/weights/vgg16_imagenet_notop.weights.h5 \
    [--precision float32] [--size 512x384] [--rounds 3] [--steps 5] [--diagnose]

The loss is a sum of Gram matrices at the default style layers and the content layer: the
step's network work without the rest of the loop, so the ratios are the padding's alone.
--diagnose adds the forward pass alone per row and two rows that say where reflect's time
goes: `reflect_strided` (its features cropped by Python slicing, as before the crop became a
tf.slice: a strided slice's gradient) and `zeros_larger` (zeros on a picture as large as
reflect's mirrored one: the cost of its pixels alone).
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import numpy as np

PADDINGS = ("zeros", "reflect", "reflect_first", "reflect_each")
DIAGNOSTIC = ("reflect_strided", "zeros_larger")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="random", help="a VGG16 weights file, or random")
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--size", default="512x384", help="WIDTHxHEIGHT")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--diagnose", action="store_true", help="see the module doc")
    return parser.parse_args(argv)


def _strided_crop(x, margin: int, name: str):
    return x[:, margin:-margin, margin:-margin, :]


def extractor_for(row: str, args):
    """The feature extractor a row measures, and the picture's (width, height)."""
    from nst.core import features
    from nst.settings import ModelSettings

    padding = {"reflect_strided": "reflect", "zeros_larger": "zeros"}.get(row, row)
    model = ModelSettings(
        network="vgg16", weights=args.weights, precision=args.precision, padding=padding
    )
    width, height = (int(v) for v in args.size.split("x"))
    if row == "zeros_larger":
        width, height = width + 2 * features.MARGIN, height + 2 * features.MARGIN
    crop = _strided_crop if row == "reflect_strided" else features._cropped
    with mock.patch.object(features, "_cropped", crop):
        return features.build_feature_extractor(model), (width, height)


def step_for(row: str, args, gradient: bool = True):
    """A traced step (network forward and, with `gradient`, its gradient) for one row."""
    import tensorflow as tf

    extractor, (width, height) = extractor_for(row, args)
    image = tf.Variable(tf.random.stateless_uniform([1, height, width, 3], (0, 0), 0, 255))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = 0.0
            for features in extractor(image).values():
                flat = tf.reshape(features, [-1, features.shape[-1]])
                loss += tf.reduce_mean(tf.matmul(flat, flat, transpose_a=True))
        return tape.gradient(loss, image) if gradient else loss

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
    rows = PADDINGS + (DIAGNOSTIC if args.diagnose else ())
    kinds = ("step", "forward") if args.diagnose else ("step",)
    steps = {(row, k): step_for(row, args, k == "step") for row in rows for k in kinds}
    seconds = {key: [] for key in steps}
    for _ in range(args.rounds):  # interleaved, so that a busy spell hits every row
        for key, step in steps.items():
            seconds[key].append(cpu_seconds_per_step(step, args.steps))
    median = {key: float(np.median(values)) for key, values in seconds.items()}
    print(f"{args.precision}, {args.size}, CPU seconds per step (median of {args.rounds} rounds)")
    for row in rows:
        cells = [_cell(median, row, kind) for kind in kinds]
        print(f"{row:>15}  " + "   forward ".join(cells))


def _cell(median: dict, row: str, kind: str) -> str:
    return f"{median[row, kind]:.3f} s  {median[row, kind] / median['zeros', kind]:.2f}x"


if __name__ == "__main__":
    main()
