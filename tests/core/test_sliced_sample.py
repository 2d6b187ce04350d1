"""The sliced loss reads each position's quantile among a sample grid of the picture's
positions (nst.core.losses.on_grid): against a NumPy version of that formula, with and without
masks; the grid's stride and offsets; and how near the sampled loss is to the full one."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst.core.losses import guided_sliced_wasserstein, on_grid, sliced_wasserstein
from nst.core.objective import sample_grid
from nst.core.tilegrid import sample_stride


def numpy_sampled(features, masks, targets, directions, stride, offset) -> np.ndarray:
    """Per region r: Σ_p m_p (Fθ_p − T_r(c_p))² / (K Σ m), c_p = (the sample's mass strictly
    below Fθ_p + ½ m_p) / the sample's mass; the sample: rows oy + i s, columns ox + j s."""
    _, height, width, _ = features.shape
    projected = features[0] @ directions  # (h, w, K)
    masks = np.ones((1, height, width)) if masks is None else masks.astype(np.float64)
    rows = offset[0] + stride * np.arange(height // stride)
    cols = offset[1] + stride * np.arange(width // stride)
    out = []
    for mask, target in zip(masks, targets, strict=True):
        sample = projected[np.ix_(rows, cols)].reshape(-1, projected.shape[-1])
        sample_mass = mask[np.ix_(rows, cols)].reshape(-1)
        total, quantiles = 0.0, target.shape[1]
        for k in range(projected.shape[-1]):
            x = projected[..., k].reshape(-1)
            below = np.array([sample_mass[sample[:, k] < v].sum() for v in x])
            c = (below + 0.5 * mask.reshape(-1)) / sample_mass.sum()
            at = np.minimum((c * quantiles).astype(int), quantiles - 1)
            total += float(np.sum(mask.reshape(-1) * (x - target[k, at]) ** 2))
        out.append(total / (projected.shape[-1] * mask.sum()))
    return np.array(out)


def case(seed: int, height=9, width=11, regions=2, quantiles=13):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(1, height, width, 4)).astype(np.float32)
    masks = rng.uniform(0, 1, (regions, height, width)).astype(np.float32)
    masks[0, :2] = 0  # positions outside the first region
    targets = np.sort(rng.normal(size=(regions, 3, quantiles)), -1).astype(np.float32)
    directions = rng.normal(size=(4, 3)).astype(np.float32)
    return features, masks, targets, directions


@pytest.mark.parametrize(("stride", "offset"), [(1, (0, 0)), (2, (1, 0)), (3, (2, 1))])
def test_the_sampled_loss_matches_numpy(stride, offset):
    features, _, targets, directions = case(stride)
    got = sliced_wasserstein(
        tf.constant(features), tf.constant(targets[0]), tf.constant(directions), stride, offset
    )
    expected = numpy_sampled(features, None, targets[:1], directions, stride, offset)
    assert float(got) == pytest.approx(float(expected[0]), rel=1e-5)


@pytest.mark.parametrize(("stride", "offset"), [(1, (0, 0)), (2, (0, 1)), (4, (3, 2))])
def test_the_sampled_loss_with_masks_matches_numpy(stride, offset):
    features, masks, targets, directions = case(10 + stride, height=13, width=10)
    got = guided_sliced_wasserstein(
        tf.constant(features),
        tf.constant(masks),
        tf.constant(targets),
        tf.constant(directions),
        stride,
        offset,
    )
    expected = numpy_sampled(features, masks, targets, directions, stride, offset)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


def test_the_grid_takes_every_stride_th_position_from_its_offset():
    values = tf.reshape(tf.range(7 * 10, dtype=tf.float32), (1, 7, 10, 1))
    grid = on_grid(values, 7, 10, 3, (2, 1))[0, ..., 0].numpy()
    np.testing.assert_array_equal(grid, np.arange(70).reshape(7, 10)[2::3, 1::3][:2, :3])


def test_the_stride_keeps_the_sample_within_its_bound_and_moves_with_the_draw():
    assert sample_stride(384, 512, 65536) == 2  # 192 x 256 = 49,152 positions
    assert sample_stride(192, 256, 65536) == 1
    assert sample_stride(3072, 4096, 65536) == 14
    for height, width in [(1536, 2048), (77, 69), (3000, 4001)]:
        s = sample_stride(height, width, 1000)
        assert (height // s) * (width // s) <= 1000 < (height // (s - 1)) * (width // (s - 1))
    offsets = set()
    for draw in range(9):
        stride, (y, x) = sample_grid(96, 96, tf.constant(draw, tf.int64))
        offsets.add((int(y), int(x)))
    assert stride == 1 and offsets == {(0, 0)}
    assert sample_grid(384, 512, tf.constant(3, tf.int64))[0] == 1  # 512 px: every position
    stride, _ = sample_grid(768, 1024, tf.constant(0, tf.int64))
    seen = {
        tuple(int(v) for v in sample_grid(768, 1024, tf.constant(d, tf.int64))[1]) for d in range(4)
    }
    assert stride == 2 and seen == {(0, 0), (0, 1), (1, 0), (1, 1)}  # each position in turn


def test_a_sample_of_a_quarter_of_the_positions_gives_nearly_the_full_loss():
    """At stride 2 the quantiles are read among a quarter of the positions: on 96 x 96
    positions the loss is within 1 % of the one ranked among all of them."""
    rng = np.random.default_rng(3)
    features = tf.constant(rng.gamma(2.0, size=(1, 96, 96, 8)).astype(np.float32))
    target = tf.constant(np.sort(rng.gamma(3.0, size=(6, 512)), -1).astype(np.float32))
    directions = tf.constant(rng.normal(size=(8, 6)).astype(np.float32))
    full = float(sliced_wasserstein(features, target, directions))
    for offset in [(0, 0), (1, 1)]:
        sampled = float(sliced_wasserstein(features, target, directions, 2, offset))
        assert sampled == pytest.approx(full, rel=0.01)
