"""[optimizer] warmup_steps: Adam's step size ramps up at the scales that start from a smaller
scale's picture, so the first update does not move every pixel by the full learning rate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nst.core.optimize import step_size, stylize
from nst.inputs.images import load_pair
from nst.run.process import build_extractor
from nst.settings import OptimizerSettings
from tests.helpers import loop_inputs, loop_recipe, tiny_settings


def test_the_step_size_ramps_linearly_at_the_larger_scales_only():
    adam = dataclasses.replace(OptimizerSettings(), learning_rate=4.0, warmup_steps=4)
    assert [step_size(adam, 2, i) for i in range(6)] == [1.0, 2.0, 3.0, 4.0, 4.0, 4.0]
    assert [step_size(adam, 1, i) for i in range(3)] == [4.0, 4.0, 4.0]  # from noise: full
    off = dataclasses.replace(adam, warmup_steps=0)
    assert [step_size(off, 3, i) for i in range(3)] == [4.0, 4.0, 4.0]


def largest_first_moves(tmp_path, warmup: int) -> tuple[float, float]:
    """The largest pixel change of the first update at scale 1 and at scale 2 (no averaging,
    so the records show the iterates; pixels, so a step moves a pixel by the step size)."""
    settings = tiny_settings(
        tmp_path,
        "image.scales=2",
        "optimizer.coarse_iterations=3",
        "optimizer.iterations=3",
        "optimizer.average=0",
        "image.parameterization=pixels",
        f"optimizer.warmup_steps={warmup}",
    )
    content, style = load_pair(settings.paths.content_image, settings.paths.style_image[0], 40)
    records = stylize(build_extractor(settings), loop_inputs(content, style), loop_recipe(settings))
    first = {}
    for record in records:
        if record.iteration <= 1:
            first.setdefault(record.scale, []).append(record.image.astype(np.float64))
    return tuple(float(np.abs(b - a).max()) for a, b in (first[1], first[2]))


@pytest.mark.parametrize("warmup", [4, 10])
def test_the_first_update_at_a_larger_scale_moves_a_fraction_of_the_learning_rate(tmp_path, warmup):
    rate = OptimizerSettings().learning_rate
    coarse, fine = largest_first_moves(tmp_path, warmup)
    assert coarse > 0.5 * rate  # the smallest scale: full steps, as without the warm-up
    assert 0.5 * rate / warmup < fine <= 1.01 * rate / warmup
    (tmp_path / "off").mkdir()
    _, full = largest_first_moves(tmp_path / "off", 0)
    assert full > 0.5 * rate
