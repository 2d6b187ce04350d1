"""For the batch tests: a 2 x 2 batch of generated pictures at a tiny size, and what it wrote."""

from __future__ import annotations

import csv
from pathlib import Path

from nst.batch.plan import BATCH_CSV
from nst.batch.sweep import INDEX
from tests.helpers import make_image

TINY = (
    "model.weights=random",
    "image.max_size=40",
    "optimizer.iterations=3",
    "output.save_every=1",
    "output.animation=false",
    "model.content_layers=block2_conv1",
    "model.style_layers=block1_conv1, block2_conv1",
)


def two_by_two(tmp_path: Path) -> tuple[str, ...]:
    for folder, seeds in (("contents", (1, 3)), ("styles", (2, 4))):
        (tmp_path / folder).mkdir()
        for name, seed in zip("ab", seeds, strict=True):
            make_image(tmp_path / folder / f"{folder[0]}{name}.png", seed=seed)
    return (
        f"paths.content_image={tmp_path / 'contents'}",
        f"paths.style_image={tmp_path / 'styles' / '*.png'}",  # a glob: each style separately
        f"paths.results_dir={tmp_path / 'results'}",
        *TINY,
    )


def rows(batch_dir: Path) -> list[dict]:
    with open(batch_dir / BATCH_CSV, newline="") as file:
        return list(csv.DictReader(file))


def run_folders(batch_dir: Path) -> list[Path]:
    return sorted(p for p in batch_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_index(sweep_dir: Path) -> list[dict]:
    with open(sweep_dir / INDEX, newline="") as file:
        return list(csv.DictReader(file))
