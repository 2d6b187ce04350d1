"""Pictures side by side: photo | painting | one result per setting, for judging defaults by eye.

    python -m bench.pictures --weights ../shared/weights/vgg16_imagenet_notop.weights.h5 \
        --pair photo.jpg:painting.jpg --pair ... \
        --variant "before=image.parameterization=pixels;model.padding=zeros" --variant "after=" \
        --size 512 --out /tmp/pictures

Runs every pair under every variant (overrides separated by `;`) in this process with VGG16,
prints one JSON line per run (seconds, steps per scale, the paper's losses) and writes
`<pair>__<variant>.png` and `sheet_<pair>.png`. Seconds on a busy machine are noise: time to
picture is measured by `python -m bench --only user`.

`--keep-steps 40,80` also writes `<pair>__<variant>__step40.png` ...: the full-size scale's
picture (the averaged iterate) after that many of its steps, which is what a run with
`optimizer.iterations` at that number would end with, and prints the CPU seconds the run had
taken by then: one run answers "how many steps at the finest scale does the look need".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="a VGG16 weights file")
    parser.add_argument("--pair", action="append", required=True, help="photo:painting")
    parser.add_argument("--variant", action="append", required=True, help="name=k=v;k=v")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sheet-height", type=int, default=300)
    parser.add_argument(
        "--keep-steps", default="", help="finest-scale steps whose picture to keep: 40,80"
    )
    return parser.parse_args(argv)


def variants(specs: list[str]) -> dict[str, tuple[str, ...]]:
    """{'before': ('image.parameterization=pixels', ...), 'after': ()} from --variant specs."""
    named = {}
    for spec in specs:
        name, _, overrides = spec.partition("=")
        named[name] = tuple(o.strip() for o in overrides.split(";") if o.strip())
    return named


def run_pair(photo: str, painting: str, overrides: tuple, args, extractors: dict):
    """(final image, JSON-able facts) of one run at the defaults plus `overrides`."""
    from nst.core.features import build_feature_extractor
    from nst.core.optimize import stylize
    from nst.core.recipe import Recipe
    from nst.core.scales import run_plan
    from nst.inputs.masks import load_guidance
    from nst.inputs.styles import load_inputs
    from nst.settings import load_settings

    keep = sorted({int(k) for k in args.keep_steps.split(",") if k.strip()})
    every = math.gcd(*keep) if keep else 100000
    base = ("model.network=vgg16", f"model.weights={args.weights}", f"output.save_every={every}")
    settings = load_settings(
        None,
        (*base, f"image.max_size={args.size}", f"paths.content_image={photo}",
         f"paths.style_image={painting}", *overrides),
    )  # fmt: skip
    key = (settings.model, settings.optimizer.name)
    if key not in extractors:
        extractors[key] = build_feature_extractor(settings.model, optimizer=key[1])
    inputs = load_inputs(settings.paths, settings.image)
    height, width = inputs.content.shape[:2]
    styles = tuple((style.shape[1], style.shape[0]) for style in inputs.styles)
    # the regions (found faces, masks) as the still run loads them (nst.run.still)
    guidance = load_guidance(settings.paths, settings.loss, width, height, styles)
    inputs = inputs._replace(guidance=guidance)
    started, cpu_started = time.perf_counter(), time.process_time()
    records, kept, finest = [], {}, len(run_plan(height, width, settings.image, settings.optimizer))
    first_at = None  # the full-size scale's first record: its steps count from there
    for record in stylize(extractors[key], inputs, Recipe.of(settings)):
        if record.scale == finest and first_at is None:
            first_at = record.iteration
        step = record.iteration - first_at if first_at is not None else -1
        if step in keep and record.image is not None:  # CPU seconds so far, and the picture
            kept[step] = (round(time.process_time() - cpu_started, 1), record.image)
        records.append(record if record.stopped else dataclasses.replace(record, image=None))
    seconds = time.perf_counter() - started
    # CPU seconds of this process: on a shared machine less disturbed than wall time
    cpu = time.process_time() - cpu_started
    last = records[-1]
    steps = [r.iteration for r in records if r.stopped]
    facts = {
        "s": round(seconds, 1),
        "cpu_s": round(cpu, 1),
        "steps": steps,
        "content": last.content,
        "style": last.style,
        "kept_cpu_s": {step: at for step, (at, _) in kept.items()},
        # the full size's objective per step: where the stopping rule saw progress end
        "finest_total": [float(f"{r.total:.4g}") for r in records if r.scale == finest],
    }
    return last.image, facts, {step: image for step, (_, image) in kept.items()}


def sheet(images: list[Image.Image], labels: list[str], height: int) -> Image.Image:
    """The images in a row at one height, each with its label above it."""
    scaled = [im.resize((max(1, round(im.width * height / im.height)), height)) for im in images]
    out = Image.new("RGB", (sum(i.width + 4 for i in scaled), height + 18), "white")
    draw, x = ImageDraw.Draw(out), 0
    for image, label in zip(scaled, labels, strict=True):
        out.paste(image, (x, 18))
        draw.text((x + 2, 2), label, fill="black")
        x += image.width + 4
    return out


def main(argv=None) -> None:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    named, extractors = variants(args.variant), {}
    for pair in args.pair:
        photo, painting = pair.split(":")
        tag = f"{Path(photo).stem}_{Path(painting).stem}"
        results = []
        for name, overrides in named.items():
            image, facts, kept = run_pair(photo, painting, overrides, args, extractors)
            result = Image.fromarray(np.clip(image, 0, 255).round().astype(np.uint8))
            result.save(args.out / f"{tag}__{name}.png")
            for step, picture in kept.items():
                saved = Image.fromarray(np.clip(picture, 0, 255).round().astype(np.uint8))
                saved.save(args.out / f"{tag}__{name}__step{step}.png")
            results.append(result)
            print(json.dumps({"pair": tag, "variant": name, **facts}), flush=True)
        inputs = [Image.open(p).convert("RGB") for p in (photo, painting)]
        labels = ["photo", "painting", *named]
        sheet(inputs + results, labels, args.sheet_height).save(args.out / f"sheet_{tag}.png")


if __name__ == "__main__":
    main()
