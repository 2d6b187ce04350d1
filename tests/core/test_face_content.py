"""Portrait mode's raised content weight inside the faces ([loss] face_content): the weights
found from the regions, the weighted content term against NumPy, and its effect on a tiny
optimisation (random network)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst.core.features import build_feature_extractor
from nst.core.losses import face_tone_loss
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


# [loss] face_photo: the face's blurred picture held to the blurred photo


def test_the_face_tone_loss_matches_numpy():
    """Σ m Y(blur(x) − blur(p))² / (Σ m · 255²), Y the luminance, the blur the mirrored
    Gaussian of sigma; the colours are free (a change of hue at the same luminance costs 0)."""
    from tests.core.test_finest import numpy_low_pass

    rng = np.random.default_rng(5)
    image = rng.uniform(0, 255, (23, 31, 3)).astype(np.float32)
    photo_ = rng.uniform(0, 255, (23, 31, 3)).astype(np.float32)
    mask = rng.uniform(0, 1, (23, 31)).astype(np.float32)
    for sigma in (0.5, 1.5):
        blurred = numpy_low_pass(photo_, sigma)
        got = face_tone_loss(
            tf.constant(image[None]),
            tf.constant(blurred[None], tf.float32),
            tf.constant(mask[None, ..., None]),
            sigma,
        )
        luma = (numpy_low_pass(image, sigma) - blurred) @ np.array([0.299, 0.587, 0.114])
        expected = np.sum(mask * (luma / 255.0) ** 2) / np.sum(mask)
        assert float(got) == pytest.approx(expected, rel=1e-4)
    # the photo itself costs nothing, and an empty mask leaves no term (0, not NaN)
    same = tf.constant(photo_[None])
    blurred = tf.constant(numpy_low_pass(photo_, 1.5)[None], tf.float32)
    assert float(face_tone_loss(same, blurred, tf.constant(mask[None, ..., None]), 1.5)) < 1e-9
    hue = np.array([0.587, -0.299, 0.0], np.float32) * 40  # a colour change of luminance 0
    recoloured = tf.constant((photo_ + hue)[None])
    assert (
        float(face_tone_loss(recoloured, blurred, tf.constant(mask[None, ..., None]), 1.5)) < 1e-9
    )
    empty = tf.zeros((1, 23, 31, 1))
    assert float(face_tone_loss(tf.constant(image[None]), blurred, empty, 1.5)) == 0.0


@needs_cascades
def test_face_photo_holds_the_found_face_and_is_off_at_0_or_for_a_face_of_its_own(tmp_path):
    picture = picture_with_face(50, 30)
    on = settings_for(tmp_path, picture)  # the default: 30
    assert on.loss.face_photo > 0
    guidance = load_guidance(on.paths, on.loss, 160, 120, on_note=lambda _: None)
    np.testing.assert_allclose(guidance.face_tone, guidance.found.face**2, atol=1e-6)
    assert guidance_at(guidance, 60, 80).face_tone.shape == (60, 80)  # a coarser scale
    for overrides in (
        ("loss.face_photo=0",),
        (
            "loss.face_photo=100",
            "loss.auto_region_styles=background: a.png, person: a.png, face: photo",
        ),
    ):
        off = settings_for(tmp_path, picture, *overrides)
        guidance = load_guidance(off.paths, off.loss, 160, 120, on_note=lambda _: None)
        assert guidance.found is not None and guidance.face_tone is None


def test_face_photo_keeps_the_faces_broad_forms_and_leaves_the_rest():
    """A tiny run (random network) with a 'face' on the left half: its blurred luminance ends
    nearer the blurred photo's with the term than without; the right half is as before."""
    from nst.core.losses import low_pass

    left = np.zeros((HEIGHT, WIDTH), np.float32)
    left[:, : WIDTH // 2] = 1
    everywhere = (np.ones((HEIGHT, WIDTH), np.float32),)

    def drift(weight: float) -> np.ndarray:
        guidance = Guidance(everywhere, None, face_tone=left if weight else None)
        image = result(guidance, (flat(RED),), "adam", f"loss.face_photo={weight}")
        blur = lambda x: low_pass(tf.constant(x[None], tf.float32), 1.0)[0].numpy()  # noqa: E731
        return np.abs((blur(image) - blur(photo())) @ np.array([0.299, 0.587, 0.114]))

    plain, held = drift(0.0), drift(300.0)
    half = WIDTH // 2
    assert held[:, : half - 4].mean() < 0.5 * plain[:, : half - 4].mean()
    assert held[:, half + 4 :].mean() > 0.8 * plain[:, half + 4 :].mean()
