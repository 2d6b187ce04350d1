"""The full-size phase of a default run, replayed from one start under several settings.

python -m bench.full_scale CONTENT STYLE [--steps 120] [--size 512]
    [--variants "lr 5=optimizer.learning_rate=5;L-BFGS=optimizer.name=lbfgs"]

A default run at 512 px spends most of its time at the full size, after the coarse scale.
This runs the default plan's coarse scale once, keeps the full size's start (the coarse
result enlarged), and from that same start runs each variant (settings as --set strings,
`+` between several) for --steps iterations with the stopping rule off. It prints, per
variant and checkpoint, the objective, style and content losses and the mean absolute pixel
difference from the first variant's last image: which setting gets a picture sooner.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VGG16 = ROOT.parent / "shared" / "weights" / "vgg16_imagenet_notop.weights.h5"
DEFAULT_VARIANTS = "Adam lr 5=optimizer.learning_rate=5;Adam lr 15=optimizer.learning_rate=15"


def settings_for(content: str, style: str, weights: str, more: tuple = ()):
    from nst.settings import load_settings

    # float32 for every variant, so that Adam and L-BFGS compare the same arithmetic
    network = ("model.network=vgg16", f"model.weights={weights}", "model.precision=float32")
    paths = (f"paths.content_image={content}", f"paths.style_image={style}")
    return load_settings(None, (*paths, *network, *more))


def full_size_start(settings, extractor) -> tuple[np.ndarray, float, int]:
    """(the full size's start image, seconds and steps the coarse scales took)."""
    from nst.core.optimize import stylize
    from nst.core.recipe import Recipe
    from nst.core.scales import run_plan
    from nst.inputs.styles import load_inputs

    inputs = load_inputs(settings.paths, settings.image)
    scales = len(run_plan(*inputs.content.shape[:2], settings.image, settings.optimizer))
    if scales == 1:
        raise ValueError("the default plan has a single scale at this size: nothing to replay")
    started, steps = time.perf_counter(), 0
    for record in stylize(extractor, inputs, Recipe.of(settings)):
        if record.scale == scales:  # its first record has the start image
            return record.image, time.perf_counter() - started, steps
        steps += 1
    raise AssertionError("stylize ended before the full size")


def replay(settings, extractor, start: np.ndarray, checks: set) -> tuple[list, dict]:
    """Records' (iteration, total, style, content, seconds) and the images at `checks`."""
    from nst.core.optimize import stylize
    from nst.core.recipe import Recipe
    from nst.inputs.styles import load_inputs

    inputs = load_inputs(settings.paths, settings.image)
    rows, images, started = [], {}, time.perf_counter()
    for record in stylize(extractor, inputs, Recipe.of(settings), start=start):
        losses, seconds = record.losses, time.perf_counter() - started
        rows.append((record.iteration, losses.total, losses.style, losses.content, seconds))
        if record.image is not None and (record.iteration in checks or record.stopped):
            images[record.iteration] = record.image
    return rows, images


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content")
    parser.add_argument("style")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--checks", default="20,40,60,80,100,120")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help="name=set+set;...")
    parser.add_argument("--weights", default=str(VGG16), help="a weights file, or random")
    parser.add_argument("--size", type=int, default=512, help="[image] max_size")
    parser.add_argument("--scales", default="auto", help="[image] scales of the first run")
    parser.add_argument("--set", action="append", default=[], help="for every run, as main.py's")
    args = parser.parse_args(argv)
    size = (f"image.max_size={args.size}", *args.set)
    from nst.core.features import build_feature_extractor

    base = settings_for(
        args.content, args.style, args.weights, (*size, f"image.scales={args.scales}")
    )
    extractor = build_feature_extractor(base.model)
    start, seconds, steps = full_size_start(base, extractor)
    print(
        f"coarse scales: {steps} steps, {seconds:.0f} s; full size {start.shape[1]}x"
        f"{start.shape[0]}, {args.steps} steps per variant, stopping rule off\n"
    )
    print("| variant | step | objective | style | content | s | pixel diff from first |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    checks = {int(c) for c in args.checks.split(",")}
    reference = None
    fixed = ("image.scales=1", "optimizer.tolerance=0", f"optimizer.iterations={args.steps}")
    fixed += ("output.save_every=1",)  # an image at every step: the checks pick theirs
    for variant in args.variants.split(";"):
        name, sets = variant.split("=", 1)
        settings = settings_for(
            args.content, args.style, args.weights, (*size, *fixed, *sets.split("+"))
        )
        rows, images = replay(settings, extractor, start, checks | {args.steps})
        reference = images[args.steps] if reference is None else reference
        for step in sorted(images):
            _, total, style, content, at = [r for r in rows if r[0] <= step][-1]
            diff = np.abs(images[step] - reference).mean()
            print(
                f"| {name} | {step} | {total:.4f} | {style:.3g} | {content:.4g} | {at:.0f} | "
                f"{diff:.1f}/255 |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
