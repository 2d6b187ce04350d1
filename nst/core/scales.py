"""Coarse-to-fine: the run plan, the size and iteration budget of each scale (no TensorFlow,
so that the checks before a run can count what every scale needs)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nst.inputs.images import resize
from nst.settings import ImageSettings, OptimizerSettings
from nst.settings.networks import MIN_SIDE

# [image] scales = auto: the smallest scale's short side is the first at or below this many
# pixels when the sides are divided by scale_factor (so 128-256 px with the factor 2).
COARSEST_SIDE = 256


class Scale(NamedTuple):
    height: int
    width: int
    budget: int  # iterations (Adam steps, or L-BFGS evaluations) at this size


def run_plan(height: int, width: int, image: ImageSettings, optimizer: OptimizerSettings):
    """The scales of a run on a height x width content image, smallest first, the last one
    the full size: what the optimisation does, the pre-flight checks count and the bar shows."""
    scales = image.scales or automatic_scales(height, width, image.scale_factor)
    sizes = scale_sizes(height, width, scales, image.scale_factor)
    budgets = scale_budgets(optimizer, len(sizes))
    return [Scale(h, w, budget) for (h, w), budget in zip(sizes, budgets, strict=True)]


def automatic_scales(height: int, width: int, factor: float, coarsest: int = COARSEST_SIDE):
    """[image] scales = auto: 1 + how many times the short side is divided by `factor` to
    come down to `coarsest` px or below (1: the image is that small already)."""
    side, scales = min(height, width), 1
    while side > coarsest and side / factor >= MIN_SIDE:
        side, scales = side / factor, scales + 1
    return scales


def scale_sizes(
    height: int, width: int, scales: int, factor: float, min_side: int = MIN_SIDE
) -> list[tuple[int, int]]:
    """(height, width) per scale, smallest first, the last the full size; sides ≥ min_side."""
    most = max(1.0, min(height, width) / min_side)  # never below min_side, never enlarged
    sizes = []
    for k in reversed(range(scales)):
        shrink = min(factor**k, most)
        sizes.append((max(1, round(height / shrink)), max(1, round(width / shrink))))
    return sizes


def scale_budgets(optimizer: OptimizerSettings, scales: int) -> list[int]:
    """Iterations per scale, smallest first: coarse_iterations at the smaller scales (its last
    value repeated where scales = auto asks for more), iterations at the full size; the k-th
    scale from k = 3 on takes that times iterations_decay ** (k - 2), as the scales before it
    leave it less to do."""
    coarse = optimizer.coarse_iterations
    coarse = coarse + coarse[-1:] * (scales - 1 - len(coarse))  # the last value repeated
    bases = [*coarse[: scales - 1], optimizer.iterations]
    decay = optimizer.iterations_decay
    return [max(1, round(base * decay ** max(0, k - 1))) for k, base in enumerate(bases)]


def scaled_styles(
    style_images: tuple, shrink: float, min_side: int = MIN_SIDE, resizer=resize
) -> tuple:
    """The style images made `shrink` times smaller, for a smaller scale; sides ≥ min_side.
    `resizer(image, width, height)`: how (Lanczos by default)."""
    scaled: list[np.ndarray] = []
    for style in style_images:
        height, width = style.shape[:2]
        s = min(shrink, max(1.0, min(height, width) / min_side))
        scaled.append(resizer(style, max(1, round(width / s)), max(1, round(height / s))))
    return tuple(scaled)


def reference_shape(height: int, width: int, size: int, min_side: int = MIN_SIDE):
    """[image] reference_size: (height, width) of the picture with its longer side `size`,
    the aspect kept, the shorter side ≥ min_side."""
    shrink = min(max(height, width) / size, min(height, width) / min_side)
    return max(1, round(height / shrink)), max(1, round(width / shrink))
