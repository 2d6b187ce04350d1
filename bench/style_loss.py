"""What each [loss] style_loss costs a step, with and without a mask: our Adam step (pixels,
the default settings otherwise) on Tübingen x Starry Night (generated pictures where
../shared is absent), all variants in one process, interleaved, as CPU seconds per step (user
+ system of all threads, steadier than wall time on a shared machine) and the ratio to `gram`.

python -m bench.style_loss --weights ../shared/weights/vgg16_imagenet_notop.weights.h5 \
    [--precision float32] [--size 512] [--rounds 3] [--steps 4]

`+mask` adds a soft oval in the middle where the style counts a quarter (what [loss]
auto_regions = faces makes of a face at the default face_style): guided Gram matrices, and
the sliced distance with each position weighed by the mask.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.padding import cpu_seconds_per_step

VARIANTS = ("gram", "sliced", "gram+mask", "sliced+mask")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="random", help="a VGG16 weights file, or random")
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--size", type=int, default=512, help="the picture's longer side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4)
    return parser.parse_args(argv)


def face_like_mask(height: int, width: int) -> np.ndarray:
    """1 − 0.75 · a soft oval a third of the picture tall, in its middle."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    distance = ((y - height / 2) / (height / 6)) ** 2 + ((x - width / 2) / (height / 8)) ** 2
    face = np.clip(1.5 - distance, 0.0, 1.0)
    return (1.0 - 0.75 * face).astype(np.float32)


def step_for(variant: str, args, images):
    """A traced Adam step of the whole objective for one variant, traced outside the timing."""
    import keras
    import tensorflow as tf

    from nst.core.features import build_feature_extractor
    from nst.core.objective import build_terms, make_objective, signature, tensors
    from nst.core.optimize import make_step
    from nst.inputs.masks import Guidance
    from nst.settings import load_settings

    loss, masked = variant.split("+")[0], variant.endswith("+mask")
    overrides = (f"model.weights={args.weights}", f"model.precision={args.precision}")
    settings = load_settings(None, (*overrides, "model.network=vgg16", f"loss.style_loss={loss}"))
    extractor = build_feature_extractor(settings.model)
    content, style = images
    guidance = Guidance((face_like_mask(*content.shape[:2]),), None) if masked else None
    terms = build_terms(extractor, content, (style,), settings.model, settings.loss, guidance)
    objective, inputs = make_objective(extractor, signature(terms)), tensors(terms)
    image = tf.Variable(content[None])
    adam = keras.optimizers.Adam(settings.optimizer.learning_rate)
    adam.build([image])
    step = make_step(objective, adam)
    averaged = tf.Variable(tf.zeros_like(image))
    average, rate = tf.constant(0.0), tf.constant(1.0)

    def one_step():
        return step((image,), averaged, inputs, average, rate)[0].total

    one_step()  # traced outside the timing
    return one_step


def main(argv=None) -> None:
    from bench.__main__ import images_dir
    from bench.steps import test_images

    args = parse_args(argv)
    images = test_images(args.size, images_dir())
    started = time.perf_counter()
    steps = {variant: step_for(variant, args, images) for variant in VARIANTS}
    seconds = {variant: [] for variant in VARIANTS}
    for _ in range(args.rounds):  # interleaved, so that a busy spell hits every variant
        for variant, step in steps.items():
            seconds[variant].append(cpu_seconds_per_step(step, args.steps))
    median = {variant: float(np.median(values)) for variant, values in seconds.items()}
    height, width = images[0].shape[:2]
    print(
        f"{args.precision}, {width}x{height}, CPU seconds per step (median of {args.rounds} "
        f"rounds of {args.steps}; {time.perf_counter() - started:.0f} s in all)"
    )
    for variant in VARIANTS:
        print(f"{variant:>12}  {median[variant]:.3f} s  {median[variant] / median['gram']:.2f}x")


if __name__ == "__main__":
    main()
