"""The losses of Gatys, Ecker & Bethge (CVPR 2016) as pure functions of tensors.

`features` are one image's activations of one layer, shape (1, height, width, channels):
N = channels, M = height * width. The functions return scalar float32 tensors.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from nst.core.fanout import fan_out
from nst.inputs.colors import RGB_TO_YIQ


def _positions_by_channels(features: tf.Tensor) -> tf.Tensor:
    """The paper's F: an (M, N) matrix (transposed, which suits matmul), one image's features."""
    return tf.reshape(features, (-1, tf.shape(features)[-1]))


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """G = F Fᵀ, (N, N), summed over the M positions; not normalised."""
    f = _positions_by_channels(features)
    return tf.matmul(f, f, transpose_a=True)


def content_loss(features: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """L_content = 1/2 Σ (F − P)², unnormalised, as in the paper."""
    return 0.5 * tf.reduce_sum(tf.square(features - target))


def content_norm(target: tf.Tensor) -> tf.Tensor:
    """1/2 Σ P²: content_loss of all-zero features against `target`, without their copies."""
    return 0.5 * tf.reduce_sum(tf.square(target))


def style_layer_loss(features: tf.Tensor, target_gram: tf.Tensor) -> tf.Tensor:
    """E_l = Σ (G − A)² / (4 N² M²), with G the Gram matrix of `features`, as in the paper."""
    shape = tf.shape(features)
    channels = tf.cast(shape[-1], tf.float32)
    positions = tf.cast(shape[1] * shape[2], tf.float32)
    # Dividing before squaring is the same number and keeps float32 far from overflow.
    return tf.reduce_sum(
        tf.square((gram_matrix(features) - target_gram) / (2.0 * channels * positions))
    )


def style_loss(features: list, target_grams: list, layer_weights: tf.Tensor) -> tf.Tensor:
    """L_style = Σ_l w_l E_l over the style layers (lists in the same layer order)."""
    errors = tf.stack([style_layer_loss(f, a) for f, a in zip(features, target_grams, strict=True)])
    return tf.reduce_sum(layer_weights * errors)


def tv_loss(image: tf.Tensor) -> tf.Tensor:
    """Total variation: mean over pixels and channels of (Δx² + Δy²), pixels scaled to 0..1.

    Not in the 2016 paper (Mahendran & Vedaldi's smoothness prior, common in its successors);
    the mean keeps one tv_weight meaningful at every image size.
    """
    right, left, below, above = fan_out(image / 255.0, 4)  # a repeatable gradient sum
    dx = right[:, :, 1:, :] - left[:, :, :-1, :]
    dy = below[:, 1:, :, :] - above[:, :-1, :, :]
    return (tf.reduce_sum(tf.square(dx)) + tf.reduce_sum(tf.square(dy))) / tf.cast(
        tf.size(image), tf.float32
    )


def relative(loss: tf.Tensor, loss_at_zero: tf.Tensor) -> tf.Tensor:
    """A loss divided by its value for all-zero features: a dimensionless relative error.

    Departure from the paper, in the objective only (logged losses stay the paper's): raw
    L_content and E_l scale with the network's activation size (torchvision's VGG16 and
    Caffe's VGG19 differ by orders of magnitude), the image size and the layer, so α/β tuned
    for one setting do not carry over. Relative errors make α/β, and the layer weights,
    mean the same for every network, size and layer.
    """
    return loss / tf.maximum(loss_at_zero, 1e-30)


def blend_grams(grams: list, weights: tuple, positions: list) -> tf.Tensor:
    """A = Σ_s b_s · (M / M_s) · G_s: each style image's Gram matrix rescaled from its M_s
    positions to the generated image's M (a Gram matrix sums over positions), then blended
    with weights b_s summing to 1."""
    target_positions, *style_positions = positions
    return tf.add_n(
        [
            (w * target_positions / m) * g
            for w, g, m in zip(weights, grams, style_positions, strict=True)
        ]
    )


def guided_gram_matrices(features: tf.Tensor, masks: tf.Tensor) -> tf.Tensor:
    """G_r = Σ_p m_r,p F_p F_pᵀ, (R, N, N), one per mask of `masks` (R, height, width) at the
    features' size: Gatys et al. 2017's guided Gram (guidance channel √m), not normalised."""
    f = _positions_by_channels(features)
    weights = tf.reshape(masks, (tf.shape(masks)[0], -1, 1))
    return tf.einsum("rmi,mj->rij", weights * f, f)


def guided_style_layer_loss(
    features: tf.Tensor, masks: tf.Tensor, target_grams: tf.Tensor
) -> tf.Tensor:
    """E_l,r = Σ (G_r − A_r)² / (4 N² M_r²), (R,), with M_r = Σ_p m_r,p the region's positions:
    the paper's E_l within each region (all-ones mask: exactly `style_layer_loss`)."""
    channels = tf.cast(tf.shape(features)[-1], tf.float32)
    positions = tf.maximum(tf.reduce_sum(masks, axis=(1, 2)), 1e-6)[:, None, None]
    scaled = (guided_gram_matrices(features, masks) - target_grams) / (2.0 * channels * positions)
    return tf.reduce_sum(tf.square(scaled), axis=(1, 2))


def photo_loss(image: tf.Tensor, photo: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Σ m ((x − p)/255)² / (3 Σ m): the mean squared pixel difference (0..1 units) to the
    photo inside the soft mask `mask` (1, height, width, 1); 0 where the mask is empty."""
    squared = tf.square((image - photo) / 255.0) * mask
    return tf.reduce_sum(squared) / tf.maximum(3.0 * tf.reduce_sum(mask), 1e-6)


def temporal_loss(image: tf.Tensor, carried: tf.Tensor, consistency: tf.Tensor) -> tf.Tensor:
    """(1/D) Σ c (x − w(x_prev))², pixels scaled to 0..1, D = pixels × channels.

    Ruder, Dosovitskiy & Brox (GCPR 2016): `carried` is the previous stylised frame warped
    along the optical flow to this frame, `consistency` c (batch, height, width, 1) is 1
    where that flow is trusted and 0 at disocclusions and motion boundaries.
    """
    difference = (image - carried) / 255.0
    return tf.reduce_sum(consistency * tf.square(difference)) / tf.cast(tf.size(image), tf.float32)


def on_grid(values: tf.Tensor, height: int, width: int, stride: int, offset) -> tf.Tensor:
    """The positions (oy + i s, ox + j s), i < height // s, j < width // s, of `values`
    (B, height, width, ...), s = `stride`, (oy, ox) = `offset` (each < s): the sample grid."""
    rows, cols = (height // stride - 1) * stride + 1, (width // stride - 1) * stride + 1
    rest = [0] * (len(values.shape) - 3)
    begin = tf.stack([0, offset[0], offset[1], *rest])
    window = tf.slice(values, begin, [-1, rows, cols, *[-1 for _ in rest]])
    return window[:, ::stride, ::stride]


def sample_tables(sample: tf.Tensor, weights: tf.Tensor | None) -> tuple:
    """(the sample's projections sorted, (K, n); per region the mass of the sample below each
    of the n + 1 places in that order, (R, K, n + 1), or None where all weigh the same; the
    order, (K, n)). `sample` (K, n): n positions' projections; `weights` (R, n): their masses
    per region."""
    order = tf.argsort(sample, axis=-1)
    ordered = tf.gather(sample, order, batch_dims=1)
    if weights is None:
        return ordered, None, order
    masses = tf.gather(weights, order, axis=1)  # (R, K, n)
    return ordered, tf.pad(tf.cumsum(masses, axis=-1), [[0, 0], [0, 0], [1, 0]]), order


def ranks(order: tf.Tensor) -> tf.Tensor:
    """(K, n): each position's place in `order` (K, n), the inverse permutations."""
    rows = tf.broadcast_to(tf.range(tf.shape(order)[0])[:, None], tf.shape(order))
    places = tf.broadcast_to(tf.range(tf.shape(order)[1])[None], tf.shape(order))
    return tf.scatter_nd(tf.stack([rows, order], axis=-1), places, tf.shape(order))


def transport_errors(projected, weights, ordered, below, targets, places=None) -> tf.Tensor:
    """Σ_p m_r,p (x_p − T_r(c_r,p))² over the positions given, per region (R,), unnormalised.

    x_p: `projected` (K, m); c_r,p: x_p's quantile in region r's sample, (its mass below x_p
    + ½ m_r,p) / its whole mass (equal weights: (places below + ½) / n); T_r: `targets`
    (R, K, Q), region r's style at Q quantiles; m_r,p: `weights` (R, m) or 1 (None).
    `places` (K, m): the positions' own places in the sample's order, where they are all in
    the sample (stride 1; None: searched)."""
    if places is None:
        places = tf.searchsorted(ordered, projected, side="left")  # (K, m)
    if weights is None:
        quantile = (tf.cast(places, tf.float32)[None] + 0.5) / tf.cast(
            tf.shape(ordered)[1], tf.float32
        )
        masses = tf.ones_like(quantile)
    else:
        spread = tf.broadcast_to(
            places[None], tf.concat([tf.shape(below)[:1], tf.shape(places)], 0)
        )
        masses = tf.broadcast_to(weights[:, None, :], tf.shape(spread))
        whole = tf.maximum(below[:, :, -1:], 1e-6)
        quantile = (tf.gather(below, spread, batch_dims=2) + 0.5 * masses) / whole
    matched = tf.gather(targets, _quantile_index(quantile, targets), batch_dims=2)  # (R, K, m)
    return tf.reduce_sum(masses * tf.square(projected[None] - matched), axis=(1, 2))


def _quantile_index(quantile: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    last = tf.shape(targets)[-1] - 1
    return tf.minimum(tf.cast(quantile * tf.cast(last + 1, tf.float32), tf.int32), last)


def ranked_errors(projected: tf.Tensor, weights, targets: tf.Tensor) -> tf.Tensor:
    """transport_errors where the sample is all the positions (stride 1), summed in sorted
    order: one sort, no search."""
    order = tf.argsort(tf.stop_gradient(projected), axis=-1)
    ranked = tf.gather(projected, order, batch_dims=1)
    count = tf.shape(projected)[1]
    if weights is None:
        quantile = (tf.cast(tf.range(count), tf.float32) + 0.5) / tf.cast(count, tf.float32)
        matched = tf.gather(targets[0], _quantile_index(quantile, targets), axis=1)  # (K, M)
        return tf.reduce_sum(tf.square(ranked - matched))[None]
    masses = tf.gather(weights, order, axis=1)  # (R, K, M): each sorted position's mass
    whole = tf.maximum(tf.reduce_sum(weights, axis=1), 1e-6)[:, None, None]
    quantile = (tf.cumsum(masses, axis=-1) - 0.5 * masses) / whole
    matched = tf.gather(targets, _quantile_index(quantile, targets), batch_dims=2)
    return tf.reduce_sum(masses * tf.square(ranked[None] - matched), axis=(1, 2))


def project(features: tf.Tensor, directions: tf.Tensor) -> tf.Tensor:
    """F θ, (1, h, w, K): each position's features along the K unit directions (N, K)."""
    return tf.einsum("bhwn,nk->bhwk", features, directions)


def by_directions(values: tf.Tensor) -> tf.Tensor:
    """(K, positions) from (1, h, w, K) projections."""
    return tf.transpose(tf.reshape(values, (-1, tf.shape(values)[-1])))


def sliced_wasserstein(
    features: tf.Tensor, target: tf.Tensor, directions: tf.Tensor, stride: int = 1, offset=(0, 0)
) -> tf.Tensor:
    """SW = mean over K directions θ and M positions of (F θ − T_θ(c))², unnormalised.

    Heitz et al. 2021: the distance between the feature distributions along random unit
    directions θ (the columns of `directions`, (N, K)). `target` (K, Q) holds the style's
    sorted projections T_θ at Q quantiles, read at each position's quantile c among the
    positions of a sample grid (on_grid; `stride` 1: all positions, c = (rank + ½)/M).
    """
    return guided_sliced_wasserstein(features, None, target[None], directions, stride, offset)[0]


def guided_sliced_wasserstein(
    features: tf.Tensor, masks, targets: tf.Tensor, directions: tf.Tensor, stride=1, offset=(0, 0)
) -> tf.Tensor:
    """SW_r = Σ_p m_r,p (F θ_p − T_r,θ(c_r,p))² / (K Σ_p m_r,p), (R,): sliced_wasserstein of
    the distribution that weighs each position by region r's mask (`masks` (R, h, w) ≥ 0, None:
    one region of ones) against region r's style (`targets` (R, K, Q)).

    c_r,p is p's quantile among the sample grid's positions, each weighing its mask
    (transport_errors). The sample's projections are sorted once for all regions.
    """
    height, width = features.shape[1], features.shape[2]
    projected = project(features, directions)
    flat = None if masks is None else tf.reshape(masks, (tf.shape(masks)[0], -1))
    if stride == 1:
        errors = ranked_errors(by_directions(projected), flat, targets)
    else:
        sample = on_grid(tf.stop_gradient(projected), height, width, stride, offset)
        masses = None
        if masks is not None:
            grid = on_grid(masks[..., None], height, width, stride, offset)
            masses = tf.reshape(grid, (tf.shape(masks)[0], -1))
        ordered, below, _ = sample_tables(by_directions(sample), masses)
        errors = transport_errors(by_directions(projected), flat, ordered, below, targets)
    if masks is None:
        return errors / tf.cast(tf.size(projected), tf.float32)
    count = tf.cast(tf.shape(directions)[1], tf.float32)
    return errors / (count * tf.maximum(tf.reduce_sum(flat, axis=1), 1e-6))


def gaussian_taps(sigma: float) -> np.ndarray:
    """The 1-D Gaussian of `sigma` px, radius ceil(3 sigma), summing to 1."""
    radius = math.ceil(3 * sigma)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def low_pass(image: tf.Tensor, sigma: float) -> tf.Tensor:
    """A (1, h, w, 3) batch blurred by a separable Gaussian of `sigma` px, the borders
    mirrored (NumPy's pad mode 'reflect'); sides must exceed 3 sigma."""
    taps = gaussian_taps(sigma)
    radius = len(taps) // 2
    padded = tf.pad(image, [[0, 0], [radius, radius], [radius, radius], [0, 0]], "REFLECT")
    rows = tf.constant(np.tile(taps[:, None, None, None], (1, 1, 3, 1)))
    columns = tf.constant(np.tile(taps[None, :, None, None], (1, 1, 3, 1)))
    blurred = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(blurred, columns, [1, 1, 1, 1], "VALID")


def face_tone_loss(
    image: tf.Tensor, photo_blurred: tf.Tensor, mask: tf.Tensor, sigma: float
) -> tf.Tensor:
    """Σ m (Y(low_pass(x) − P)/255)² / Σ m: the blurred picture's mean squared luminance
    difference (0..1 units, Y of YIQ) to the blurred photo P inside the soft mask `mask`
    (1, h, w, 1); 0 where empty. The colours are left free."""
    luma = tf.constant(RGB_TO_YIQ[0], tf.float32)
    difference = tf.reduce_sum((low_pass(image, sigma) - photo_blurred) * luma, -1, keepdims=True)
    squared = tf.square(difference / 255.0) * mask
    return tf.reduce_sum(squared) / tf.maximum(tf.reduce_sum(mask), 1e-6)
