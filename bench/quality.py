"""Time to quality: the reference run (tutorial optimiser on our objective) and the bar it sets.

A run's record is a list of (elapsed_s, scale, content, style) rows; only full-size rows count.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from bench.tutorial import make_reference_step
from nst.optimize import compute_targets, make_objective

ROW = ("step", "elapsed_s", "content", "style", "total")


def reference_run(extractor, content, style, model, loss, steps: int, out_dir: Path) -> dict:
    """The tutorial's Adam on our objective for `steps` steps; writes rows and the image."""
    start = time.perf_counter()
    targets = compute_targets(extractor, content, style, model, loss)
    objective = make_objective(extractor, model.content_layers, model.style_layers)
    step, image = make_reference_step(objective, targets)(content)
    evaluate = tf.function(objective)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    with open(out_dir / "reference.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(ROW)
        for i in range(steps + 1):
            losses = (step(image) if i < steps else evaluate(image * 255.0, targets)).numpy()
            row = (i, time.perf_counter() - start, *map(float, losses[[0, 1, 3]]))
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


def time_to_bar(rows, bar: dict, content_slack: float = 1.1):
    """First (elapsed_s, index) at which style <= bar and content <= slack × bar; None if never."""
    for index, (elapsed, final_scale, content, style) in enumerate(rows):
        if final_scale and style <= bar["style"] and content <= content_slack * bar["content"]:
            return elapsed, index
    return None


def strategies(coarse: int) -> dict[str, tuple[str, ...]]:
    """The strategies timed against the bar: --set overrides on our defaults."""
    scales = ("image.scales=2", f"optimizer.coarse_iterations={coarse}")
    return {
        "our defaults (Adam)": (),
        "Adam + 2 scales": scales,
        "L-BFGS": ("optimizer.name=lbfgs",),
        "L-BFGS + 2 scales": ("optimizer.name=lbfgs", *scales),
    }


def quality(args, weights: Path | None, images_dir: Path | None) -> list[tuple]:
    """Wall time of each strategy to reach the reference's style loss (content within 10 %)."""
    import os

    from bench.steps import test_images
    from nst.features import build_feature_extractor
    from nst.optimize import stylize
    from nst.settings import load_settings

    network = ("model.network=vgg16", f"model.weights={weights or 'random'}")
    settings = load_settings(None, network)
    extractor = build_feature_extractor(settings.model)
    content, style = test_images(args.size, images_dir)
    out = Path(args.out) / f"quality_{args.size}"
    if args.reference_csv:
        reference = read_reference(args.reference_csv)
    else:
        reference = reference_run(
            extractor, content, style, settings.model, settings.loss, args.reference_steps, out
        )
    where = "real VGG16" if weights else "random VGG16 (no meaning)"
    rows = [
        (
            "quality",
            f"reference: tutorial Adam on our objective, {reference['steps']} steps, "
            f"{args.size} px, {where}",
            f"{reference['wall_s']:.0f} s",
            f"bar: style {reference['style']:.3g}, content {reference['content']:.4g} (+10 %)",
        ),
    ]
    for name, overrides in strategies(max(1, args.budget // 4)).items():
        run = load_settings(None, (*network, f"optimizer.iterations={args.budget}", *overrides))
        records = stylize(
            extractor,
            content,
            style,
            run.model,
            run.loss,
            run.optimizer,
            run.image,
            save_every=args.budget,
        )
        reached, last, steps = None, None, 0
        for record in records:
            last = record
            full = record.scale == run.image.scales
            steps += 1 if record.iteration else 0
            if time_to_bar([(record.elapsed_s, full, record.content, record.style)], reference):
                reached = record
                records.close()
                break
        if reached:
            note = f"{steps} steps in all, {reached.iteration} at full size"
            value = f"{reached.elapsed_s:.0f} s = {reached.elapsed_s / reference['wall_s']:.2f}×"
        else:
            note = f"not in {args.budget} steps: style {last.style:.3g}, content {last.content:.4g}"
            value = "—"
        rows.append(
            ("quality", f"time to the bar: {name}", value, f"{note}; load {os.getloadavg()[0]:.1f}")
        )
    return rows
