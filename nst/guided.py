"""Spatial control in the objective (Gatys et al. 2017): per-region style targets from guided
Gram matrices, and the pull towards the photo in its region, as tensors.

Without masks the same structure holds one region, an all-ones mask, whose target is the
blend of the style images' Gram matrices (nst.losses.blend_grams) and whose guided Gram is the
plain Gram matrix; the photo region is then empty. So every run takes one code path, and the
masks are inputs of the `tf.function` step, not constants baked into its graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from nst.losses import blend_grams, gram_matrix, guided_style_layer_loss
from nst.masks import Guidance, guidance_at, layer_masks


class Regions(NamedTuple):
    """Where each style target applies, at one image size; part of optimize.Targets."""

    masks: tuple  # per style layer, (R, h_l, w_l): the regions at that layer's resolution
    weights: tf.Tensor  # (R,) each region's share of the style term, summing to 1
    photo_mask: tf.Tensor  # (1, height, width, 1): where the result is pulled to the photo
    photo: tf.Tensor  # (1, height, width, 3): the image that region is pulled towards


def region_masks(
    guidance: Guidance | None, blend: tuple, height: int, width: int, network: str, layers
) -> tuple[list, np.ndarray]:
    """Per style layer an (R, h_l, w_l) stack of masks, and the region weights: one region
    (all ones without guidance) for the blend of the styles, or one per style image, weighted
    by its blend weight times its area."""
    if guidance is None:
        masks = [np.ones((height, width), np.float32)]
    else:
        masks = list(guidance_at(guidance, height, width).style_masks)
    weights = np.ones(1)
    if len(masks) > 1:
        weights = np.array(blend) * np.array([m.mean() for m in masks])
    per_layer = [layer_masks(m, network, layers) for m in masks]
    stacks = [np.stack([region[k] for region in per_layer]) for k in range(len(layers))]
    return stacks, weights / weights.sum()


def make_regions(
    guidance: Guidance | None,
    content: np.ndarray,
    blend: tuple,
    network: str,
    layers: tuple,
) -> Regions:
    """The Regions of a content image of this size (its pixels are the photo to keep)."""
    height, width = content.shape[:2]
    masks, weights = region_masks(guidance, blend, height, width, network, layers)
    photo = None if guidance is None else guidance_at(guidance, height, width).photo_mask
    photo = np.zeros((height, width), np.float32) if photo is None else photo
    return Regions(
        masks=tuple(tf.constant(m, tf.float32) for m in masks),
        weights=tf.constant(weights, tf.float32),
        photo_mask=tf.constant(photo[None, :, :, None], tf.float32),
        photo=tf.constant(content[None], tf.float32),
    )


def region_targets(
    features: Callable,
    style_images: tuple,
    blend: tuple,
    layers: tuple,
    regions: Regions,
) -> tuple:
    """A_l per style layer, (R, N, N): each region's style Gram matrix, rescaled from the style
    image's M_s positions to the region's (Σ of its mask); a single region: the blend of all."""
    styles = [features(tf.constant(image[None])) for image in style_images]
    targets = []
    for name, masks in zip(layers, regions.masks, strict=True):
        grams = [gram_matrix(s[name]) for s in styles]
        positions = [float(s[name].shape[1] * s[name].shape[2]) for s in styles]
        region_positions = tf.reduce_sum(masks, axis=(1, 2))
        if masks.shape[0] == 1:  # one region for all: the blend
            targets.append(blend_grams(grams, blend, [region_positions[0], *positions])[None])
            continue
        region = zip(tf.unstack(region_positions), grams, positions, strict=True)
        targets.append(tf.stack([m * g / p for m, g, p in region]))
    return tuple(targets)


def style_at_zero(regions: Regions, targets: tuple, channels: tuple) -> tuple:
    """E_l,r(0, A_l,r) per style layer, (R,): each region's error for all-zero features."""
    return tuple(
        guided_style_layer_loss(tf.zeros((1, *m.shape[1:], n)), m, a)
        for m, a, n in zip(regions.masks, targets, channels, strict=True)
    )
