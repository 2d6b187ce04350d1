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
