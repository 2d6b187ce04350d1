"""Portrait mode's raised content weight inside the faces ([loss] face_content): the weights
found from the regions, the weighted content term against NumPy, and its effect on a tiny
optimisation (random network)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst.core.features import build_feature_extractor
from nst.core.objective import build_terms, named
from nst.inputs.masks import Guidance, guidance_at, load_guidance, pool_mask
from nst.settings import load_settings
from tests.helpers.portrait import needs_cascades, picture_with_face, settings_for
from tests.helpers.regions import FAST, HEIGHT, RED, WIDTH, flat, photo, result


@needs_cascades
def test_the_content_weight_is_raised_inside_the_face_with_a_soft_edge(tmp_path):
    settings = settings_for(tmp_path, picture_with_face(50, 30), "loss.face_content=5")
    guidance = load_guidance(settings.paths, settings.loss, 160, 120, on_note=lambda _: None)
    weights, face = guidance.content_weights, guidance.found.face
    np.testing.assert_allclose(weights, 1 + 4 * face, atol=1e-5)
    assert weights[30 + 26, 50 + 28] == pytest.approx(5.0, abs=0.3)  # the face's middle
    assert weights[2, 2] == pytest.approx(1.0, abs=1e-4)  # the background: as before
    row = weights[30 + 26]
    assert ((row > 1.2) & (row < 4.8)).sum() >= 6  # a ramp, not a step: no seam
    smaller = guidance_at(guidance, 60, 80).content_weights  # coarse-to-fine's smaller size
    assert smaller.shape == (60, 80) and smaller.max() == pytest.approx(weights.max(), abs=0.3)
    assert smaller.min() >= 1.0 - 1e-6


@needs_cascades
@pytest.mark.parametrize(
    "overrides",
    [
        ("loss.face_content=1",),
        ("loss.auto_region_styles=background: a.png, person: a.png, face: photo",),
    ],
)
def test_no_content_weights_at_1_or_where_the_face_has_its_own_style(tmp_path, overrides):
    settings = settings_for(tmp_path, picture_with_face(50, 30), *overrides)
    guidance = load_guidance(settings.paths, settings.loss, 160, 120, on_note=lambda _: None)
    assert guidance.found is not None and guidance.content_weights is None


def content_value(weights: np.ndarray | None, image: np.ndarray) -> tuple:
    """(raw, relative) of the content term for `image`, with these content weights, and the
    features it compares (generated, photo) at block2_conv1."""
    settings = load_settings(None, (*FAST, "paths.style_image=s.png"))
    extractor = build_feature_extractor(settings.model)
    masks = (np.ones((HEIGHT, WIDTH), np.float32),)
    guidance = Guidance(masks, None, content_weights=weights)
    terms = build_terms(extractor, photo(), (flat(RED),), settings.model, settings.loss, guidance)
    content = named(terms, "content")
    tensor = tf.constant(image[None])
    raw, value = content.kind(tensor, extractor(tensor), content.inputs, tf.constant(0, tf.int64))
    generated = extractor(tensor)["block2_conv1"].numpy()[0]
    target = extractor(tf.constant(photo()[None]))["block2_conv1"].numpy()[0]
    return float(raw), float(value), generated, target


def test_the_weighted_content_term_matches_numpy():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (HEIGHT, WIDTH, 3)).astype(np.float32)
    weights = (1 + 3 * rng.uniform(0, 1, (HEIGHT, WIDTH))).astype(np.float32)
    raw, value, generated, target = content_value(weights, image)
    carried = pool_mask(weights)  # block2_conv1 lies after one 2x2 pooling
    assert carried.shape == generated.shape[:2]
    squared = np.square(generated.astype(np.float64) - target)
    expected = 0.5 * np.sum(carried[..., None] * squared)
    assert raw == pytest.approx(expected, rel=1e-4)
    # relative to the unweighted L(0): outside the raised part the force is as before
    assert value == pytest.approx(expected / (0.5 * np.sum(np.square(target))), rel=1e-4)
    plain_raw, plain_value, *_ = content_value(None, image)
    assert plain_raw == pytest.approx(0.5 * np.sum(squared), rel=1e-4)
    assert value > plain_value  # weights >= 1: never less


def test_a_raised_content_weight_keeps_its_part_closer_to_the_photo():
    left = np.zeros((HEIGHT, WIDTH), np.float32)
    left[:, : WIDTH // 2] = 1
    everywhere = (np.ones((HEIGHT, WIDTH), np.float32),)

    def moved(weights) -> np.ndarray:
        guidance = Guidance(everywhere, None, content_weights=weights)
        image = result(guidance, (flat(RED),), "adam", "loss.content_weight=20")
        return np.abs(image - photo()).mean(axis=2)

    plain, raised = moved(None), moved(1 + 9 * left)
    half = WIDTH // 2
    # the raised half moves clearly less than without weights; the other half about as much
    assert raised[:, : half - 4].mean() < 0.8 * plain[:, : half - 4].mean()
    assert raised[:, half + 4 :].mean() > 0.8 * plain[:, half + 4 :].mean()
