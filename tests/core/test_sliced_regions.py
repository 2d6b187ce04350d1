"""The sliced style loss with masks: each position weighed by its region's mask, against a
NumPy version of the formula; the style's distribution weighed by its painting mask or the
blend; and the regions' pictures at tiny size (the same as the Gram loss's tests ask)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst.core.guided import Regions
from nst.core.losses import guided_sliced_wasserstein, sliced_wasserstein
from nst.core.objective import (
    PROJECTION_SETS,
    SLICED_SCALE,
    SlicedStyle,
    SlicedTargets,
    sliced_inputs,
)


def numpy_guided_sliced(features, mask, target, directions) -> float:
    """Σ_p m_p (sort(Fθ)_p − T(c_p))² / (K Σ m), c_p the mass below p plus half its own."""
    projected = features.reshape(-1, features.shape[-1]) @ directions  # (M, K)
    weights, quantiles = mask.reshape(-1).astype(np.float64), target.shape[1]
    total = 0.0
    for k in range(projected.shape[1]):
        order = np.argsort(projected[:, k])
        x, w = projected[order, k], weights[order]
        c = (np.cumsum(w) - 0.5 * w) / w.sum()
        at = np.minimum((c * quantiles).astype(int), quantiles - 1)
        total += float(np.sum(w * (x - target[k, at]) ** 2))
    return total / (projected.shape[1] * weights.sum())


def case(seed: int, quantiles: int = 9):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(1, 5, 6, 4)).astype(np.float32)
    mask = rng.uniform(0, 1, (5, 6)).astype(np.float32)
    mask[0, :3] = 0  # positions outside the region
    target = np.sort(rng.normal(size=(3, quantiles)), -1).astype(np.float32)
    directions = rng.normal(size=(4, 3)).astype(np.float32)
    return features, mask, target, directions


def guided(features, mask, target, directions) -> tf.Tensor:
    """guided_sliced_wasserstein of one region."""
    one = (tf.constant(features), tf.constant(mask)[None], tf.constant(target)[None])
    return guided_sliced_wasserstein(*one, tf.constant(directions))[0]


@pytest.mark.parametrize(("seed", "quantiles"), [(0, 9), (1, 30), (2, 4)])
def test_guided_sliced_wasserstein_matches_numpy(seed, quantiles):
    features, mask, target, directions = case(seed, quantiles)
    got = guided(features, mask, target, directions)
    assert float(got) == pytest.approx(numpy_guided_sliced(features, mask, target, directions))


def test_each_region_is_matched_against_its_own_style_in_one_call():
    features, mask, target, directions = case(7, 12)
    other_mask, other_target = 1 - mask, target[::-1] + 2.0
    both = guided_sliced_wasserstein(
        tf.constant(features),
        tf.constant(np.stack([mask, other_mask])),
        tf.constant(np.stack([target, other_target])),
        tf.constant(directions),
    )
    expected = [
        numpy_guided_sliced(features, mask, target, directions),
        numpy_guided_sliced(features, other_mask, other_target, directions),
    ]
    np.testing.assert_allclose(both.numpy(), expected, rtol=1e-5)


def test_an_all_ones_mask_is_the_plain_sliced_distance():
    features, mask, target, directions = case(3, 17)
    weighted = guided(features, np.ones_like(mask), target, directions)
    plain = sliced_wasserstein(tf.constant(features), target, directions)
    assert float(weighted) == pytest.approx(float(plain), rel=1e-5)


def test_positions_outside_the_region_feel_no_force_and_the_softened_ones_less():
    features, mask, target, directions = case(4)
    x = tf.Variable(features)
    with tf.GradientTape() as tape:
        loss = guided_sliced_wasserstein(x, mask[None], target[None], directions)[0]
    force = np.abs(tape.gradient(loss, x).numpy()[0]).sum(axis=-1)
    assert np.all(force[mask == 0] == 0)
    assert force[mask > 0].min() > 0
    # moving the masked-out features changes nothing
    moved = features.copy()
    moved[0, 0, :3] += 50.0
    again = guided(moved, mask, target, directions)
    assert float(again) == pytest.approx(float(loss), rel=1e-6)


def styled(*arrays) -> list:
    return [{"l": tf.constant(a[None])} for a in arrays]


def test_the_blend_weighs_each_style_by_its_share_whatever_its_size():
    """A 3:1 blend of a style whose features are all 0 and a larger one all 10: three quarters
    of the target's quantiles at 0, whatever the number of positions of each."""
    zeros, tens = np.zeros((4, 4, 2), np.float32), np.full((10, 10, 2), 10.0, np.float32)
    targets, at_zero, _ = sliced_inputs(styled(zeros, tens), (0.75, 0.25), ("l",), seed=0)
    quantiles = targets[0].numpy()  # (1 region, sets, K, Q)
    projected_zero = np.isclose(quantiles, 0.0, atol=1e-5).mean()
    assert projected_zero == pytest.approx(0.75, abs=0.02)
    assert float(at_zero[0][0]) == pytest.approx(np.mean(quantiles**2), rel=1e-5)


def test_a_painting_mask_keeps_only_its_part_of_the_painting():
    painting = np.zeros((6, 6, 2), np.float32)
    painting[:, 3:] = 5.0
    left = np.zeros((6, 6), np.float32)
    left[:, :3] = 1
    masked, _, _ = sliced_inputs(styled(painting), (1.0,), ("l",), 0, 1, [[left.reshape(-1)]])
    whole, _, _ = sliced_inputs(styled(painting), (1.0,), ("l",), 0, 1)
    np.testing.assert_allclose(masked[0].numpy(), 0.0, atol=1e-6)  # the masked part: zeros
    assert np.abs(whole[0].numpy()).max() > 1.0


def test_equal_weights_give_the_quantiles_of_the_plain_sort():
    rng = np.random.default_rng(5)
    painting = rng.normal(size=(7, 9, 3)).astype(np.float32)
    ones = [[np.ones(63, np.float32)]]
    weighted, _, _ = sliced_inputs(styled(painting), (1.0,), ("l",), 2, 1, ones)
    plain, _, _ = sliced_inputs(styled(painting), (1.0,), ("l",), 2, 1)
    np.testing.assert_allclose(weighted[0].numpy(), plain[0].numpy())


def test_two_regions_each_match_their_own_style_and_weigh_as_the_gram_term_does():
    """value = c Σ_l w_l Σ_r a_r SW_l,r / SW_l,r(0), region r against style r only."""
    rng = np.random.default_rng(6)
    red, blue = (rng.normal(m, 1, (6, 8, 4)).astype(np.float32) for m in (3.0, -3.0))
    targets, at_zero, directions = sliced_inputs(styled(red, blue), (0.5, 0.5), ("l",), 0, 2)
    left = np.zeros((6, 8), np.float32)
    left[:, :4] = 1
    masks = tf.constant(np.stack([left, 1 - left]))
    regions = Regions((masks,), tf.constant([1.0, 1.0]), None, tf.zeros((1, 6, 8, 3)))
    inputs = SlicedTargets(targets, at_zero, directions, tf.constant([1.0]), regions)
    generated = np.concatenate([red[:, :4], blue[:, 4:]], axis=1)  # each half its own style
    swapped = np.concatenate([blue[:, :4], red[:, 4:]], axis=1)
    draw = tf.constant(PROJECTION_SETS + 1, tf.int64)

    def value(picture) -> float:
        return float(SlicedStyle(("l",))(None, {"l": tf.constant(picture[None])}, inputs, draw)[1])

    assert value(generated) < 0.2 * value(swapped)
    per_region = [
        numpy_guided_sliced(generated[None], m, targets[0].numpy()[r, 1], directions[0].numpy()[1])
        / float(at_zero[0][r])
        for r, m in enumerate((left, 1 - left))
    ]
    assert value(generated) == pytest.approx(SLICED_SCALE * sum(per_region), rel=1e-4)
