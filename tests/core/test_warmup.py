"""Adam's step size over a scale: [optimizer] warmup_steps ramps it up at the scales that start
from a smaller scale's picture, so the first update does not move every pixel by the full
learning rate; [optimizer] anneal_to lets it fall to a fraction by the scale's last update."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from nst.core.optimize import step_size, stylize
from nst.inputs.images import load_pair
from nst.run.process import build_extractor
from nst.settings import OptimizerSettings
from tests.helpers import loop_inputs, loop_recipe, tiny_settings


def test_the_step_size_ramps_linearly_at_the_larger_scales_only():
    adam = dataclasses.replace(OptimizerSettings(), learning_rate=4.0, warmup_steps=4)
    assert [step_size(adam, 2, i, 100) for i in range(6)] == [1.0, 2.0, 3.0, 4.0, 4.0, 4.0]
    assert [step_size(adam, 1, i, 100) for i in range(3)] == [4.0, 4.0, 4.0]  # from noise: full
    off = dataclasses.replace(adam, warmup_steps=0)
    assert [step_size(off, 3, i, 100) for i in range(3)] == [4.0, 4.0, 4.0]


def test_the_step_size_falls_along_a_half_cosine_to_anneal_to_at_the_last_update():
    adam = dataclasses.replace(OptimizerSettings(), learning_rate=4.0, warmup_steps=0)
    anneal = dataclasses.replace(adam, anneal_to=0.1)
    sizes = [step_size(anneal, 1, i, 5) for i in range(5)]
    cosine = [4.0 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * i / 4))) for i in range(5)]
    np.testing.assert_allclose(sizes, cosine)
    assert sizes[0] == 4.0 and sizes[2] == pytest.approx(2.2) and sizes[-1] == pytest.approx(0.4)
    assert step_size(anneal, 1, 9, 5) == pytest.approx(0.4)  # a resumed run past a smaller budget
    # after a warm-up: up to learning_rate, then down over the rest of the budget
    both = dataclasses.replace(anneal, warmup_steps=2)
    sizes = [step_size(both, 2, i, 7) for i in range(7)]
    assert sizes[:3] == [2.0, 4.0, 4.0] and sizes[-1] == pytest.approx(0.4)
    assert all(a > b for a, b in itertools.pairwise(sizes[2:]))
    assert [step_size(adam, 1, i, 5) for i in range(5)] == [4.0] * 5  # anneal_to = 1: constant


def scale_moves(tmp_path, *overrides: str) -> dict[int, list[float]]:
    """The largest pixel change of each update, by scale, over a 2-scale run of 3 + 3 steps (no
    averaging, so the records show the iterates; pixels, so a step moves a pixel by the step
    size)."""
    settings = tiny_settings(
        tmp_path,
        "image.scales=2",
        "optimizer.coarse_iterations=3",
        "optimizer.iterations=3",
        "optimizer.average=0",
        "image.parameterization=pixels",
        *overrides,
    )
    content, style = load_pair(settings.paths.content_image, settings.paths.style_image[0], 40)
    records = stylize(build_extractor(settings), loop_inputs(content, style), loop_recipe(settings))
    images = {}
    for record in records:  # record i: the iterate after i updates
        images.setdefault(record.scale, []).append(record.image.astype(np.float64))
    return {
        scale: [float(np.abs(b - a).max()) for a, b in itertools.pairwise(seen)]
        for scale, seen in images.items()
    }


def test_annealing_shrinks_the_last_update_of_a_scale(tmp_path):
    (tmp_path / "constant").mkdir()
    (tmp_path / "annealed").mkdir()
    constant = scale_moves(tmp_path / "constant", "optimizer.warmup_steps=0")
    annealed = scale_moves(
        tmp_path / "annealed", "optimizer.warmup_steps=0", "optimizer.anneal_to=0.1"
    )
    for scale in (1, 2):
        assert annealed[scale][0] == pytest.approx(constant[scale][0], rel=0.05)  # the same start
        assert annealed[scale][-1] < 0.3 * constant[scale][-1]  # a tenth of the step size, at last


def largest_first_moves(tmp_path, warmup: int) -> tuple[float, float]:
    """The largest pixel change of the first update at scale 1 and at scale 2."""
    moves = scale_moves(tmp_path, f"optimizer.warmup_steps={warmup}")
    return moves[1][0], moves[2][0]


@pytest.mark.parametrize("warmup", [4, 10])
def test_the_first_update_at_a_larger_scale_moves_a_fraction_of_the_learning_rate(tmp_path, warmup):
    rate = OptimizerSettings().learning_rate
    coarse, fine = largest_first_moves(tmp_path, warmup)
    assert coarse > 0.5 * rate  # the smallest scale: full steps, as without the warm-up
    assert 0.5 * rate / warmup < fine <= 1.01 * rate / warmup
    (tmp_path / "off").mkdir()
    _, full = largest_first_moves(tmp_path / "off", 0)
    assert full > 0.5 * rate
