"""Time to quality: the reference run (tutorial optimiser on our objective) and the bar it sets.

The reference computes in float32, as the tutorial does. Each strategy runs as `main.py` would
run it (its own precision), and is judged by float32 losses of its iterates, so that
bfloat16's rounding can neither help nor hurt it; the time spent judging is not counted.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from bench.tutorial import make_reference_step
from nst.core.objective import build_terms, make_objective, signature, tensors
from nst.settings.networks import PAPER_STYLE_LAYERS

DRAW = tf.constant(0, tf.int64)

# The bar is read in the paper's losses: content from conv4_2 alone, style from Gram matrices
# alone. With the default's second content layer (block3_conv3) the raw content sum is mostly
# that layer's, which the objective, averaging relative errors, weighs far less; with the
# default mixed style loss the raw style adds sliced distances to Gram errors. The reference
# and the strategies run the paper's objective so that the bar and the descent agree.
PAPER_OBJECTIVE = (
    "model.content_layers=block4_conv2",
    f"model.style_layers={','.join(PAPER_STYLE_LAYERS)}",
    "loss.style_loss=gram",
)

ROW = ("step", "elapsed_s", "content", "style", "total")


def reference_run(extractor, content, style, model, loss, steps: int, out_dir: Path) -> dict:
    """The tutorial's Adam on our objective for `steps` steps; writes rows and the image."""
    start = time.perf_counter()
    terms = build_terms(extractor, content, (style,), model, loss)
    objective = make_objective(extractor, signature(terms))
    targets = tensors(terms)
    step, image = make_reference_step(lambda x, t: objective(x, t, DRAW), targets)(content)
    evaluate = tf.function(objective)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    with open(out_dir / "reference.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(ROW)
        for i in range(steps + 1):
            losses = step(image) if i < steps else evaluate(image * 255.0, targets, DRAW)
            chosen = (losses.content, losses.style, losses.total)
            row = (i, time.perf_counter() - start, *map(float, chosen))
            rows.append(row)
            writer.writerow([f"{v:.9g}" for v in row])
            file.flush()
    final = np.clip(image[0].numpy() * 255.0, 0, 255).astype(np.uint8)
    from PIL import Image

    Image.fromarray(final).save(out_dir / "reference.png")
    return {"content": rows[-1][2], "style": rows[-1][3], "wall_s": rows[-1][1], "steps": steps}


def read_reference(path: Path) -> dict:
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    last = rows[-1]
    return {
        "content": float(last["content"]),
        "style": float(last["style"]),
        "wall_s": float(last["elapsed_s"]),
        "steps": int(last["step"]),
    }


def meets(bar: dict, content: float, style: float, content_slack: float = 1.1) -> bool:
    """Style at or below the bar's, content at most `content_slack` × the bar's."""
    return style <= bar["style"] and content <= content_slack * bar["content"]


def strategies(coarse: int) -> dict[str, tuple[str, ...]]:
    """The strategies timed against the bar: --set overrides on our defaults."""
    scales = ("image.scales=2", f"optimizer.coarse_iterations={coarse}")
    return {
        "our defaults (Adam)": (),
        "Adam in float32": ("model.precision=float32",),
        "Adam + 2 scales": scales,
        "L-BFGS": ("optimizer.name=lbfgs",),
        "L-BFGS + 2 scales": ("optimizer.name=lbfgs", *scales),
    }


def make_judge(extractor, content, style, model, loss):
    """A function image -> (content, style): the paper's losses of `extractor`, against the
    targets of `content` and `style`."""
    terms = build_terms(extractor, content, (style,), model, loss)
    evaluate = tf.function(make_objective(extractor, signature(terms)))
    targets = tensors(terms)

    def judge(image: np.ndarray) -> tuple[float, float]:
        losses = evaluate(tf.constant(image[None]), targets, DRAW)
        return float(losses.content), float(losses.style)

    return judge


def time_to_bar(records, judge, bar: dict, full_scale: int):
    """(seconds, record, steps) of the first full-size iterate meeting the bar by `judge`'s
    losses, or (None, last record, steps); `judge`'s own time is taken off the clock."""
    judging, steps, last = 0.0, 0, None
    for record in records:
        last = record
        steps += 1 if record.iteration else 0
        if record.image is None or record.scale != full_scale:
            continue
        started = time.perf_counter()
        content, style = judge(record.image)
        elapsed = record.elapsed_s - judging  # its clock ran on while earlier images were judged
        judging += time.perf_counter() - started
        if meets(bar, content, style):
            records.close()
            return elapsed, record, steps
    return None, last, steps


def quality(args, weights: Path | None, images_dir: Path | None) -> list[tuple]:
    """Wall time of each strategy to reach the reference's style loss (content within 10 %)."""
    from bench.steps import test_images
    from nst.core.features import build_feature_extractor, compute_dtype
    from nst.core.optimize import stylize
    from nst.core.recipe import Recipe
    from nst.inputs.styles import Inputs
    from nst.run.process import build_extractor
    from nst.settings import load_settings

    network = ("model.network=vgg16", f"model.weights={weights or 'random'}", *PAPER_OBJECTIVE)
    float32 = load_settings(None, (*network, "model.precision=float32"))
    reference_extractor = build_feature_extractor(float32.model)
    extractors = {"float32": reference_extractor}  # by arithmetic: one network for each
    content, style = test_images(args.size, images_dir)
    out = Path(args.out) / f"quality_{args.size}"
    if args.reference_csv:
        reference = read_reference(args.reference_csv)
    else:
        reference = reference_run(
            reference_extractor,
            content,
            style,
            float32.model,
            float32.loss,
            args.reference_steps,
            out,
        )
    judge = make_judge(reference_extractor, content, style, float32.model, float32.loss)

    where = "real VGG16" if weights else "random VGG16 (no meaning)"
    rows = [
        (
            "quality",
            f"reference: tutorial Adam on our objective, {reference['steps']} steps, "
            f"{args.size} px, float32, {where}",
            f"{reference['wall_s']:.0f} s",
            f"bar: style {reference['style']:.3g}, content {reference['content']:.4g} (+10 %)",
        ),
    ]
    for name, overrides in strategies(max(1, args.budget // 4)).items():
        run = load_settings(None, (*network, f"optimizer.iterations={args.budget}", *overrides))
        dtype = compute_dtype(run.model.precision, run.optimizer.name)
        if dtype not in extractors:
            extractors[dtype] = build_extractor(run)
        recipe = dataclasses.replace(Recipe.of(run), save_every=args.check_every)
        records = stylize(extractors[dtype], Inputs(content, (style,), content), recipe)
        seconds, record, steps = time_to_bar(records, judge, reference, run.image.scales)
        if seconds is not None:
            note = f"{steps} steps in all, {record.iteration} at full size"
            value = f"{seconds:.0f} s = {seconds / reference['wall_s']:.2f}×"
        else:
            final = judge(record.image) if record.image is not None else (np.nan, np.nan)
            note = f"not in {args.budget} steps: style {final[1]:.3g}, content {final[0]:.4g}"
            value = "—"
        rows.append(
            ("quality", f"time to the bar: {name}", value, f"{note}; load {os.getloadavg()[0]:.1f}")
        )
    return rows
