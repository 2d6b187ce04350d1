"""[image] finest_scale = shallow (nst.core.finest): the full-size scale of a coarse-to-fine
run refined by the network cut after block3_conv1, held to its blurred start by a low-pass
anchor; checked against NumPy and on a random VGG16 at tiny sizes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst.core.finest import CUT, anchor_loss, shallow_model
from nst.core.losses import gaussian_taps, low_pass
from nst.core.optimize import Session, stylize
from nst.inputs.images import load_pair
from nst.output.runfolder import FINAL
from nst.run.process import build_extractor
from nst.settings import SettingsError, load_settings
from nst.settings.networks import PAPER_STYLE_LAYERS
from tests.helpers import call_main, loop_inputs, loop_recipe, only_run_dir, tiny_overrides

SHALLOW_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1")


def numpy_low_pass(image: np.ndarray, sigma: float) -> np.ndarray:
    """The reference: each channel mirrored at the borders (np.pad 'reflect'), then the
    Gaussian along rows and along columns, written out as sums."""
    taps = gaussian_taps(sigma).astype(np.float64)
    radius = len(taps) // 2
    padded = np.pad(
        image.astype(np.float64), ((radius, radius), (radius, radius), (0, 0)), "reflect"
    )
    height, width = image.shape[:2]
    rows = sum(taps[k] * padded[k : k + height] for k in range(len(taps)))
    return sum(taps[k] * rows[:, k : k + width] for k in range(len(taps)))


def test_low_pass_is_the_mirrored_separable_gaussian():
    image = np.random.default_rng(0).uniform(0, 255, (23, 31, 3)).astype(np.float32)
    for sigma in (1.0, 2.0):
        got = low_pass(tf.constant(image[None]), sigma)[0].numpy()
        np.testing.assert_allclose(got, numpy_low_pass(image, sigma), atol=1e-3)
    flat = np.full((20, 20, 3), 100.0, np.float32)  # a blur keeps a flat picture
    np.testing.assert_allclose(low_pass(tf.constant(flat[None]), 2.0)[0].numpy(), flat, atol=1e-3)


def test_anchor_is_zero_at_the_anchor_and_the_mean_squared_blurred_difference_elsewhere():
    rng = np.random.default_rng(1)
    anchor = rng.uniform(0, 255, (1, 24, 24, 3)).astype(np.float32)
    blurred = low_pass(tf.constant(anchor), 2.0)
    assert float(anchor_loss(tf.constant(anchor), blurred, 2.0)) == pytest.approx(0, abs=1e-12)
    moved = anchor + rng.uniform(-40, 40, anchor.shape).astype(np.float32)
    expected = np.mean(
        ((numpy_low_pass(moved[0], 2.0) - numpy_low_pass(anchor[0], 2.0)) / 255.0) ** 2
    )
    got = float(anchor_loss(tf.constant(moved), blurred, 2.0))
    assert got == pytest.approx(expected, rel=1e-3) and got > 0
    # fine texture alone (a 2 px checkerboard) hardly moves the blurred picture: it is free
    checker = 30.0 * ((np.indices((24, 24)).sum(axis=0) % 2) * 2 - 1)[None, ..., None]
    free = float(anchor_loss(tf.constant(anchor + checker.astype(np.float32)), blurred, 2.0))
    assert free < 1e-3 * float(np.mean((checker / 255.0) ** 2))


def test_the_shallow_model_keeps_the_style_layers_up_to_the_cut_renormalised():
    five = "model.style_layers=" + ",".join(PAPER_STYLE_LAYERS)
    model = load_settings(None, (five, "model.style_layer_weights=1, 2, 3, 4, 5")).model
    shallow = shallow_model(model)
    assert shallow.style_layers == SHALLOW_LAYERS and shallow.content_layers == ()
    np.testing.assert_allclose(shallow.style_layer_weights, (1 / 6, 2 / 6, 3 / 6))
    equal = shallow_model(load_settings(None, ()).model)
    np.testing.assert_allclose(equal.style_layer_weights, (1 / 3,) * 3)
    deep_only = load_settings(None, ("model.style_layers=block4_conv1, block5_conv1",)).model
    assert shallow_model(deep_only) is None  # then the finest scale runs the whole network


def test_a_bad_finest_scale_names_the_setting_and_the_choices():
    with pytest.raises(SettingsError, match=r"\[image\] finest_scale = 'half'.*full, shallow"):
        load_settings(None, ("image.finest_scale=half",))


def tiny_run(tmp_path, *extra: str):
    """(records, session) of a two-scale run on a random VGG16 at 64 px."""
    from tests.helpers import tiny_settings

    settings = tiny_settings(
        tmp_path, "image.max_size=64", "image.scales=2", "optimizer.coarse_iterations=3",
        "optimizer.iterations=4", "image.parameterization=pyramid", *extra,
    )  # fmt: skip
    content, style = load_pair(settings.paths.content_image, settings.paths.style_image[0], 64)
    session = Session(build_extractor(settings))
    records = list(stylize(session.extractor, loop_inputs(content, style),
                           loop_recipe(settings), session=session))  # fmt: skip
    return records, session


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_the_finest_scale_runs_the_cut_network_from_its_anchor(tmp_path, optimizer):
    records, session = tiny_run(
        tmp_path, "image.finest_scale=shallow", f"optimizer.name={optimizer}",
        "model.style_layers=block1_conv1, block2_conv1, block3_conv1, block4_conv1",
        "model.content_layers=block4_conv2",
    )  # fmt: skip
    cut = session.shallow.extractor
    assert sorted(cut.output) == list(SHALLOW_LAYERS)
    assert not any(layer.name.startswith(("block4", "block5")) for layer in cut.layers)
    assert CUT in {layer.name for layer in cut.layers}
    finest = [r for r in records if r.scale == 2]
    coarse = [r for r in records if r.scale == 1]
    assert coarse[-1].content > 0  # the coarser scale keeps the content term
    assert finest[0].content == pytest.approx(0, abs=1e-8)  # the start is its own anchor
    assert finest[-1].stopped and finest[-1].image.shape == (48, 64, 3)
    assert np.isfinite(finest[-1].total)


def test_full_finest_scale_never_builds_the_cut_network(tmp_path):
    records, session = tiny_run(tmp_path)
    assert session.shallow is None
    assert next(r for r in records if r.scale == 2).content > 0


def test_a_shallow_multi_scale_run_writes_its_final_picture(tmp_path, image_pair, capsys):
    results = tmp_path / "results"
    extra = {
        "image.scales": "2",
        "image.finest_scale": "shallow",
        "optimizer.coarse_iterations": "3",
        "optimizer.iterations": "4",
        "image.max_size": "64",
    }
    status, _, err = call_main(capsys, tiny_overrides(*image_pair, results, **extra))
    assert status == 0, err
    assert (only_run_dir(results) / FINAL).is_file()
