"""The step over tiles (nst.core.tiles) equals the step on the whole picture: the same losses and
the same gradient to float rounding, at the tiles' borders too, and a whole tiled Adam scale
gives the same images."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from nst.core.features import build_feature_extractor
from nst.core.objective import Temporal, build_terms, make_objective, signature, tensors
from nst.core.optimize import make_value_and_gradient, stylize
from nst.core.tilegrid import cores, reach, step_bytes, tile_side, window
from nst.core.tiles import TiledObjective
from nst.settings import SettingsError, load_settings
from tests.helpers import loop_inputs, loop_recipe

SHALLOW = ("model.content_layers=block3_conv1", "model.style_layers=block1_conv1,block2_conv1")
DRAW = tf.constant(0, tf.int64)


def settings_of(*overrides: str):
    base = ("model.network=vgg16", "model.weights=random", "model.precision=float32")
    return load_settings(None, (*base, *overrides))


def both(settings, height: int, width: int, side: int, temporal: bool = False, guidance=None):
    """(untiled Losses and gradient, tiled Losses and gradient, the TiledObjective, the point:
    image, term tensors and draw) at a random picture of height x width, cores `side` px."""
    extractor = build_feature_extractor(settings.model)
    rng = np.random.default_rng(height * width)
    content = rng.uniform(0, 255, (height, width, 3)).astype(np.float32)
    style = rng.uniform(0, 255, (40, 52, 3)).astype(np.float32)
    image = tf.constant(rng.uniform(0, 255, (1, height, width, 3)).astype(np.float32))
    carried = Temporal(content[::-1].copy(), np.ones((height, width), np.float32), 2.0)
    terms = build_terms(
        extractor, content, (style,), settings.model, settings.loss, guidance,
        carried if temporal else None,
    )  # fmt: skip
    whole = make_value_and_gradient(make_objective(extractor, signature(terms)))
    tiled = TiledObjective(extractor, signature(terms), settings.model, height, width, side)
    point = image, tensors(terms), DRAW
    return whole(image, tensors(terms)), tiled.value_and_gradient(*point), tiled, point


def assert_same(expected, got) -> None:
    (losses, gradient), (tiled_losses, tiled_gradient) = expected, got
    np.testing.assert_allclose(np.array(tiled_losses), np.array(losses), rtol=2e-5)
    scale = float(tf.reduce_max(tf.abs(gradient)))
    assert scale > 0
    difference = float(tf.reduce_max(tf.abs(tiled_gradient - gradient)))
    assert difference <= 2e-5 * scale, (difference, scale)


@pytest.mark.parametrize(
    ("overrides", "height", "width", "side"),
    [
        (("model.padding=reflect", *SHALLOW), 64, 96, 32),
        (("model.padding=reflect", *SHALLOW), 71, 83, 24),
        (("model.padding=zeros", *SHALLOW), 65, 97, 48),
        (("model.padding=zeros", "model.pooling=max", *SHALLOW), 77, 69, 32),
        (("model.padding=reflect", "model.pooling=max"), 96, 81, 32),  # the default layers
    ],
)
def test_tiled_step_equals_the_whole_pictures(overrides, height, width, side):
    settings = settings_of(*overrides, "loss.tv_weight=5")
    expected, got, tiled, _ = both(settings, height, width, side)
    assert len(tiled.windows) >= 4  # several tiles, some of them ragged
    assert_same(expected, got)


def test_content_weights_raised_in_a_face_are_tiled_as_on_the_whole_picture():
    """[loss] face_content: the content term weighs each position; a tile weighs its own."""
    from nst.inputs.masks import Guidance

    height, width = 72, 90
    y, x = np.mgrid[0:height, 0:width]
    face = np.exp(-(((y - 30) / 12.0) ** 2 + ((x - 50) / 10.0) ** 2)).astype(np.float32)
    everywhere = np.ones((height, width), np.float32)
    guidance = Guidance((everywhere,), None, content_weights=1 + 3 * face)
    settings = settings_of("model.padding=reflect", *SHALLOW)
    expected, got, tiled, _ = both(settings, height, width, 32, guidance=guidance)
    assert len(tiled.windows) >= 4
    assert_same(expected, got)
    unweighted, _, _, _ = both(settings, height, width, 32)
    assert float(expected[0].content) > float(unweighted[0].content)  # the weights count


def test_the_pixel_terms_and_the_losses_alone():
    """A video frame's pull and tv are on the whole picture; `losses` equals the objective's."""
    settings = settings_of(*SHALLOW, "loss.tv_weight=3")
    expected, got, tiled, point = both(settings, 70, 66, 32, temporal=True)
    assert_same(expected, got)
    np.testing.assert_allclose(np.array(tiled.losses(*point)), np.array(expected[0]), rtol=2e-5)


def test_seams_the_gradient_at_the_tiles_borders_matches():
    """Around every border between two cores the gradient is the whole picture's; with a halo
    one grid step short of the network's reach it is not (so the halo is what makes it so)."""
    settings = settings_of(*SHALLOW, "model.padding=zeros")
    expected, got, tiled, point = both(settings, 96, 96, 32)
    gradient, tiled_gradient = expected[1].numpy()[0], got[1].numpy()[0]
    scale = np.abs(gradient).max()
    for b in (32, 64):  # the borders between cores, across rows and across columns
        for near in (np.s_[b - 3 : b + 3], np.s_[:, b - 3 : b + 3]):
            assert np.abs(gradient[near]).max() > 0.01 * scale  # the borders carry gradient
            assert np.abs(tiled_gradient[near] - gradient[near]).max() <= 2e-5 * scale, b
    grid, halo = reach(settings.model.network, settings.model.content_layers)
    tiled.windows = [(core, window(core, 96, 96, halo - grid, 0)) for core, _ in tiled.windows]
    _, cut = tiled.value_and_gradient(*point)
    assert np.abs(cut.numpy()[0] - gradient).max() > 1e-3 * scale


def test_a_tiled_adam_scale_gives_the_untiled_images():
    """Two scales, the finest over tiles (its step does not fit the budget, the coarse one
    does): the records' losses and images are the whole picture's, within float tolerance."""
    settings = settings_of(
        *SHALLOW, "image.scales=2", "optimizer.iterations=6", "optimizer.coarse_iterations=3"
    )
    rng = np.random.default_rng(3)
    content = rng.uniform(0, 255, (72, 88, 3)).astype(np.float32)
    style = rng.uniform(0, 255, (48, 48, 3)).astype(np.float32)
    recipe = loop_recipe(settings, 3)
    budget = step_bytes(settings.model, 60, 60)
    assert tile_side(settings.model, 36, 44, budget) is None  # the coarse scale: whole
    assert tile_side(settings.model, 72, 88, budget) is not None  # the finest: tiled
    runs = []
    for memory in (None, budget):
        extractor = build_feature_extractor(settings.model)
        runs.append(
            list(stylize(extractor, loop_inputs(content, style), recipe, memory_budget=memory))
        )
    whole, tiled = runs
    assert [r.iteration for r in tiled] == [r.iteration for r in whole]
    for a, b in zip(whole, tiled, strict=True):
        assert b.total == pytest.approx(a.total, rel=1e-4)
        if a.image is not None:
            assert np.abs(b.image - a.image).max() < 0.05  # pixels 0..255


def test_lbfgs_over_tiles_evaluates_the_same_points():
    settings = settings_of(*SHALLOW, "optimizer.name=lbfgs", "optimizer.iterations=5")
    settings = dataclasses.replace(settings, image=dataclasses.replace(settings.image, scales=1))
    rng = np.random.default_rng(4)
    content = rng.uniform(0, 255, (64, 72, 3)).astype(np.float32)
    style = rng.uniform(0, 255, (48, 48, 3)).astype(np.float32)
    budget = step_bytes(settings.model, 50, 50)
    assert tile_side(settings.model, 64, 72, budget) is not None
    recipe, runs = loop_recipe(settings), []
    for memory in (None, budget):
        extractor = build_feature_extractor(settings.model)
        runs.append(
            list(stylize(extractor, loop_inputs(content, style), recipe, memory_budget=memory))
        )
    for a, b in zip(*runs, strict=True):
        assert b.total == pytest.approx(a.total, rel=1e-4)


def test_sliced_style_over_tiles_is_refused_naming_both_keys():
    settings = settings_of("loss.style_loss=sliced", *SHALLOW)
    with pytest.raises(SettingsError, match=r"style_loss = sliced.*memory_limit"):
        both(settings, 64, 64, 32)


def test_tile_side_fits_the_budget_and_the_cores_partition_the_picture():
    model = settings_of().model
    assert tile_side(model, 512, 384, step_bytes(model, 384, 512)) is None
    assert tile_side(model, 512, 384, None) is None
    grid, halo = reach(model.network, (*model.content_layers, *model.style_layers))
    budget = step_bytes(model, 256, 256)
    side = tile_side(model, 1000, 700, budget)
    assert side % grid == 0 and side > grid
    assert step_bytes(model, side + 2 * halo, side + 2 * halo) <= budget
    covered = np.zeros((1000, 700), int)
    for top, bottom, left, right in cores(1000, 700, side):
        covered[top:bottom, left:right] += 1
    assert (covered == 1).all()


@pytest.mark.parametrize(("text", "value"), [("auto", None), ("4", 4.0), ("1.5", 1.5)])
def test_memory_limit_setting(text, value):
    assert load_settings(None, (f"image.memory_limit={text}",)).image.memory_limit == value


def test_a_bad_memory_limit_names_the_key():
    with pytest.raises(SettingsError, match="memory_limit"):
        load_settings(None, ("image.memory_limit=0.1",))


def test_the_step_budget_is_the_limit_less_what_every_run_takes():
    from nst.run.preflight import step_budget

    auto = settings_of()
    fixed = 8 * 1024**3 - step_budget(auto.model, auto.image, "adam", 8 * 1024**3)
    assert 0 < fixed < 2 * 1024**3  # the runtime and the weights
    assert step_budget(auto.model, auto.image, "adam", None) is None  # unknown: no limit
    limited = settings_of("image.memory_limit=3")
    assert step_budget(limited.model, limited.image, "adam", 64 * 1024**3) == 3 * 1024**3 - fixed
    assert step_budget(limited.model, limited.image, "lbfgs", None) < 3 * 1024**3 - fixed
