"""Optical flow, warping, Ruder et al.'s consistency weights and the temporal loss."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst.core.losses import temporal_loss
from nst.inputs.flow import Warp, frame_warp, temporal_error, warp
from tests.helpers.video_clips import texture

SHIFT = 4  # pixels the content moves right between the two frames


@pytest.fixture
def translated() -> tuple[np.ndarray, np.ndarray]:
    """Two 64x64 frames: the second is the first moved SHIFT px right, new content entering
    on the left."""
    scene = texture(64, 64 + 20)
    return scene[:, 10 : 10 + 64].copy(), scene[:, 10 - SHIFT : 10 - SHIFT + 64].copy()


def test_translation_is_found_and_warped_onto_the_next_frame(translated):
    previous, current = translated
    frame = frame_warp(previous, current)
    inside = frame.consistency == 1
    assert np.median(frame.backward[..., 0][inside]) == pytest.approx(-SHIFT, abs=0.1)
    assert np.median(frame.backward[..., 1][inside]) == pytest.approx(0, abs=0.1)
    carried = warp(previous, frame.backward)
    assert np.abs(carried - current)[inside].mean() < 1.0  # levels of 0..255
    assert np.abs(previous - current)[inside].mean() > 10  # what it was before warping


def test_mask_is_zero_on_the_disoccluded_strip_and_one_elsewhere(translated):
    frame = frame_warp(*translated)
    assert frame.consistency[:, :SHIFT].max() == 0  # content that was not in the previous frame
    assert frame.consistency[:, SHIFT + 2 :].mean() > 0.95


def test_mask_is_zero_behind_a_moving_object():
    """A square moving SHIFT px right over a still background uncovers a strip that the
    forward-backward check must refuse (Ruder et al.'s disocclusion)."""
    background = texture(64, 64, seed=1)
    square = texture(20, 20, seed=2)
    previous, current = background.copy(), background.copy()
    previous[20:40, 16:36] = square
    current[20:40, 16 + SHIFT : 36 + SHIFT] = square
    mask = frame_warp(previous, current).consistency
    assert mask[22:38, 16 : 16 + SHIFT].max() == 0
    assert mask[:, 48:].mean() > 0.95  # still background far from it
    assert mask[24:36, 24:34].mean() > 0.95  # inside the square, moved as a whole


def test_temporal_loss_matches_numpy_reference():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (1, 6, 5, 3)).astype(np.float32)
    carried = rng.uniform(0, 255, (1, 6, 5, 3)).astype(np.float32)
    mask = (rng.uniform(size=(1, 6, 5, 1)) > 0.5).astype(np.float32)
    expected = np.sum(mask * ((image.astype(np.float64) - carried) / 255) ** 2) / image.size
    got = temporal_loss(tf.constant(image), tf.constant(carried), tf.constant(mask)).numpy()
    assert got == pytest.approx(expected, rel=1e-5)
    assert got > 0


def test_temporal_error_ignores_untrusted_pixels_and_follows_the_flow():
    rng = np.random.default_rng(1)
    previous = rng.uniform(0, 255, (8, 8, 3)).astype(np.float32)
    flow = np.zeros((8, 8, 2), np.float32)
    flow[..., 0] = -1  # each pixel of frame t comes from one pixel to its left
    current = np.roll(previous, 1, axis=1)
    mask = np.ones((8, 8), np.float32)
    mask[:, 0] = 0  # the wrapped-around column is not from the previous frame
    assert temporal_error(current, previous, Warp(flow, mask)) == pytest.approx(0, abs=1e-9)
    mask[:, 0] = 1
    assert temporal_error(current, previous, Warp(flow, mask)) > 1e-3
