"""Each loss against a NumPy transcription of the paper's formula, on small random tensors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst.core import losses


def np_features(rng, height=5, width=7, channels=4):
    return rng.normal(size=(1, height, width, channels)).astype(np.float32)


def np_F(features):
    """The paper's F: N (channels) rows, M (positions) columns."""
    return features[0].reshape(-1, features.shape[-1]).T.astype(np.float64)


def test_gram_matrix_is_F_F_transposed():
    rng = np.random.default_rng(0)
    x = np_features(rng)
    F = np_F(x)
    np.testing.assert_allclose(losses.gram_matrix(tf.constant(x)).numpy(), F @ F.T, rtol=1e-5)


def test_content_loss_is_half_sum_of_squares():
    rng = np.random.default_rng(1)
    F, P = np_features(rng), np_features(rng)
    expected = 0.5 * np.sum((F.astype(np.float64) - P) ** 2)
    assert losses.content_loss(tf.constant(F), tf.constant(P)).numpy() == pytest.approx(
        expected, rel=1e-5
    )


def test_content_norm_is_the_content_loss_of_zero_features():
    """Half the sum of squares, and exactly what content_loss gives all-zero features (the
    content term's scale, computed without the zeros' copy)."""
    P = np_features(np.random.default_rng(3), 9, 11, 8) * 100
    norm = losses.content_norm(tf.constant(P)).numpy()
    assert norm == pytest.approx(0.5 * np.sum(P.astype(np.float64) ** 2), rel=1e-5)
    assert norm == losses.content_loss(tf.zeros_like(P), tf.constant(P)).numpy()


@pytest.mark.parametrize("shape", [(5, 7, 4), (3, 3, 16), (8, 2, 1)])
def test_style_layer_loss_matches_paper(shape):
    rng = np.random.default_rng(2)
    x, s = np_features(rng, *shape), np_features(rng, *shape)
    F, S = np_F(x), np_F(s)
    N, M = F.shape
    G, A = F @ F.T, S @ S.T
    expected = np.sum((G - A) ** 2) / (4 * N**2 * M**2)
    got = losses.style_layer_loss(tf.constant(x), tf.constant(A, tf.float32)).numpy()
    assert got == pytest.approx(expected, rel=1e-4)


def test_style_loss_is_weighted_sum_over_layers():
    rng = np.random.default_rng(3)
    shapes = [(6, 6, 3), (3, 3, 8)]
    xs = [np_features(rng, *s) for s in shapes]
    targets = [np_features(rng, *s) for s in shapes]
    weights = np.array([0.25, 0.75], np.float32)
    expected = 0.0
    for w, x, t in zip(weights, xs, targets, strict=True):
        F, S = np_F(x), np_F(t)
        N, M = F.shape
        expected += w * np.sum((F @ F.T - S @ S.T) ** 2) / (4 * N**2 * M**2)
    got = losses.style_loss(
        [tf.constant(x) for x in xs],
        [losses.gram_matrix(tf.constant(t)) for t in targets],
        tf.constant(weights),
    ).numpy()
    assert got == pytest.approx(expected, rel=1e-4)


def test_tv_loss_is_mean_squared_neighbour_difference_in_unit_pixels():
    rng = np.random.default_rng(4)
    image = rng.uniform(0, 255, size=(1, 6, 9, 3)).astype(np.float32)
    p = image.astype(np.float64) / 255
    expected = (np.sum(np.diff(p, axis=2) ** 2) + np.sum(np.diff(p, axis=1) ** 2)) / p.size
    assert losses.tv_loss(tf.constant(image)).numpy() == pytest.approx(expected, rel=1e-5)


def test_tv_loss_of_flat_image_is_zero():
    assert losses.tv_loss(tf.fill((1, 4, 4, 3), 100.0)).numpy() == 0.0


def test_relative_error_divides_by_loss_at_zero():
    rng = np.random.default_rng(5)
    F, P = np_features(rng), np_features(rng)
    loss = losses.content_loss(tf.constant(F), tf.constant(P))
    at_zero = losses.content_loss(tf.zeros_like(P), tf.constant(P))
    expected = np.sum((F.astype(np.float64) - P) ** 2) / np.sum(P.astype(np.float64) ** 2)
    assert losses.relative(loss, at_zero).numpy() == pytest.approx(expected, rel=1e-5)


def test_losses_are_zero_at_the_target():
    rng = np.random.default_rng(6)
    x = tf.constant(np_features(rng))
    assert losses.content_loss(x, x).numpy() == 0.0
    assert losses.style_layer_loss(x, losses.gram_matrix(x)).numpy() == pytest.approx(0.0, abs=1e-9)
