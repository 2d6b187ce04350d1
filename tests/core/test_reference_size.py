"""[image] reference_size: the content (and style) matched on the picture resized to a fixed
size, so that one setting means the same picture at every output size."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst.core.features import build_feature_extractor
from nst.core.objective import (
    build_terms,
    make_objective,
    reference_picture,
    signature,
    tensors,
    with_reference,
)
from nst.core.optimize import stylize
from nst.core.scales import reference_shape
from nst.settings import load_settings
from tests.helpers import loop_inputs, loop_recipe

ZERO = tf.constant(0, tf.int64)


def _settings(*overrides: str):
    # the Gram loss: the formula below is its (the sliced part has its own tests)
    base = ("model.weights=random", "loss.auto_regions=off", "loss.style_loss=gram")
    return load_settings(None, (*base, *overrides))


def _pictures(rng, shape=(48, 64, 3)):
    return (rng.uniform(0, 255, shape).astype(np.float32) for _ in "csi")


def _numpy_gram_error(f: np.ndarray, target: np.ndarray) -> float:
    """E = Σ (F Fᵀ − A)² / (4 N² M²) of (1, h, w, N) features, in float64."""
    rows = f.reshape(-1, f.shape[-1]).astype(np.float64)
    n, m = rows.shape[1], rows.shape[0]
    return float(np.sum((rows.T @ rows - target) ** 2) / (4.0 * n**2 * m**2))


@pytest.mark.parametrize("mode", ["content", "both", "style"])
def test_reference_objective_is_the_formula_on_the_resized_picture(mode):
    """total = α Σ_c L_c(x↓)/L_c(0) + β (full share) Σ_l w_l E_l(x)/E_l(0) [+ β/2 Σ_l w_l
    E_l(x↓)/E_l(0) with both], x↓ the picture resized to the reference; with style the content
    at full size and all of β on x↓. Recomputed here in NumPy from the network's features."""
    settings = _settings("loss.tv_weight=0")  # tv is the same either way, and would dominate
    model, loss = settings.model, settings.loss
    extractor = build_feature_extractor(model)
    content, style, image = _pictures(np.random.default_rng(1))
    height, width = reference_shape(48, 64, 40)
    terms = build_terms(extractor, content, (style,), model, loss)
    small = reference_picture(tf.constant(content[None]), height, width)[0].numpy()
    small_style = reference_picture(tf.constant(style[None]), height, width)[0].numpy()
    reference = build_terms(extractor, small, (small_style,), model, loss)
    referenced = with_reference(terms, reference, height, width, mode)
    got = make_objective(extractor, signature(referenced))(
        tf.constant(image[None]), tensors(referenced), ZERO
    )

    x = tf.constant(image[None])
    x_small = tf.image.resize(x, (height, width), antialias=True)
    full = {k: v.numpy() for k, v in extractor(x).items()}
    down = {k: v.numpy() for k, v in extractor(x_small).items()}
    at_ref = {k: v.numpy() for k, v in extractor(tf.constant(small[None])).items()}
    style_full = {k: v.numpy() for k, v in extractor(tf.constant(style[None])).items()}
    style_ref = {k: v.numpy() for k, v in extractor(tf.constant(small_style[None])).items()}

    def style_value(features, targets):
        total = 0.0
        for name, w in zip(model.style_layers, model.style_layer_weights, strict=True):
            s = targets[name].reshape(-1, targets[name].shape[-1]).astype(np.float64)
            m = features[name].shape[1] * features[name].shape[2]
            a = s.T @ s * m / s.shape[0]  # the style's Gram matrix rescaled to M positions
            total += (
                w
                * _numpy_gram_error(features[name], a)
                / _numpy_gram_error(np.zeros_like(features[name]), a)
            )
        return total

    content_full = {k: v.numpy() for k, v in extractor(tf.constant(content[None])).items()}
    seen, target = (full, content_full) if mode == "style" else (down, at_ref)
    content_value = np.mean(
        [
            np.sum((seen[c] - target[c]) ** 2.0) / np.sum(target[c] ** 2.0)
            for c in model.content_layers
        ]
    )
    share = {"content": 1.0, "both": 0.5, "style": 0.0}[mode]
    expected = loss.content_weight * content_value
    expected += share * loss.style_weight * style_value(full, style_full)
    expected += (1.0 - share) * loss.style_weight * style_value(down, style_ref)
    assert float(got.total) == pytest.approx(expected, rel=1e-3)


def _run(content, style, *overrides: str) -> list:
    settings = _settings("optimizer.iterations=4", "optimizer.coarse_iterations=3", *overrides)
    extractor = build_feature_extractor(settings.model)
    records = list(stylize(extractor, loop_inputs(content, style), loop_recipe(settings)))
    return records


def test_the_reference_changes_only_the_full_size_scale_and_runs_multiscale():
    """A two-scale run with a reference finishes, with both scales; its coarse scale is the
    default's exactly, its result is not (the content is matched at 32 px instead)."""
    rng = np.random.default_rng(2)
    content, style, _ = _pictures(rng, (64, 96, 3))
    default = _run(content, style, "image.scales=2")
    referenced = _run(content, style, "image.scales=2", "image.reference_size=48")
    for records in (default, referenced):
        assert [r.scale for r in records if r.stopped] == [1, 2]
        assert np.isfinite(records[-1].image).all() and records[-1].image.shape == (64, 96, 3)
    coarse = next(r for r in default if r.stopped).image
    assert np.array_equal(next(r for r in referenced if r.stopped).image, coarse)
    assert not np.allclose(referenced[-1].image, default[-1].image)


def test_a_reference_the_size_of_the_picture_changes_nothing():
    """reference_size = the picture's longest side: the same image as off, bit for bit."""
    content, style, _ = _pictures(np.random.default_rng(3))
    off = _run(content, style, "image.scales=1")[-1].image
    same = _run(content, style, "image.scales=1", "image.reference_size=64")[-1].image
    assert np.array_equal(off, same)
