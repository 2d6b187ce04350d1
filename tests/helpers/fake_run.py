"""A run folder written by the real RunWriter, with tiny two-colour iterates that are easy to
recognise on screen: each iterate's left half is one colour and its right half another."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nst.core.records import Record
from nst.output.outputs import RunWriter
from nst.output.runfolder import create_run_dir

SIZE = (64, 48)  # width, height of the fake iterates
# (left, right) RGB per saved iterate; red/blue first, so a swapped channel order shows.
COLOURS = (
    ((230, 30, 30), (30, 30, 230)),
    ((30, 200, 60), (240, 220, 40)),
    ((200, 40, 220), (40, 210, 220)),
    ((250, 140, 20), (110, 60, 20)),
)
ITERATIONS = (0, 3, 6, 7)  # every 3rd iteration and the last, as save_every = 3 would give


def two_colour_image(left, right, size=SIZE) -> np.ndarray:
    width, height = size
    image = np.empty((height, width, 3), np.float32)
    image[:, : width // 2] = left
    image[:, width // 2 :] = right
    return image


def losses_at(iteration: int) -> dict[str, float]:
    """Distinct made-up losses, so a test can tell which row went with which iterate."""
    content, style, tv = 1.5 * iteration, 1000.0 / (iteration + 1), 0.25
    return {"content": content, "style": style, "tv": tv, "total": content + 100 * style}


def make_fake_run(results: Path, iterations=ITERATIONS, colours=COLOURS) -> Path:
    """A run folder with iterates at `iterations` (colours[i] at the i-th) and its losses.csv."""
    run_dir = create_run_dir(results, Path("content.png"), (Path("style.png"),))
    writer = RunWriter(run_dir)
    saved = dict(zip(iterations, colours, strict=True))
    for iteration in range(iterations[-1] + 1):
        image = two_colour_image(*saved[iteration]) if iteration in saved else None
        writer.add(
            Record(iteration, **losses_at(iteration), elapsed_s=0.1 * iteration, image=image)
        )
    writer.write_log()
    return run_dir
