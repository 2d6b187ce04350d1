"""Spatial control in the objective (Gatys et al. 2017): per-region style targets from guided
Gram matrices, and the pull towards the photo in its region, as tensors.

Without masks the same structure holds one region without a mask (`masks` and `photo_mask`
None): its target is the blend of the style images' Gram matrices (nst.core.losses.blend_grams)
and its Gram matrix the plain one, which is what a guided Gram with an all-ones mask computes,
without the mask's cost in every step and at any features' size. With masks, they are inputs
of the `tf.function` step, not constants baked into its graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from nst.core.losses import (
    blend_grams,
    gram_matrix,
    guided_gram_matrices,
    guided_style_layer_loss,
    style_layer_loss,
)
from nst.inputs.masks import Guidance, guidance_at, layer_masks, resize_mask


class Regions(NamedTuple):
    """Where each style target applies, at one image size; part of optimize.Targets."""

    masks: tuple | None  # per style layer, (R, h_l, w_l): the regions at its resolution
    weights: tf.Tensor  # (R,) a_r: R times the blend weights (1 each for an equal blend)
    photo_mask: tf.Tensor | None  # (1, height, width, 1): where the result keeps the photo
    photo: tf.Tensor  # (1, height, width, 3): the image that region is pulled towards


def region_masks(
    guidance: Guidance | None, blend: tuple, height: int, width: int, network: str, layers
) -> tuple[list, np.ndarray]:
    """Per style layer an (R, h_l, w_l) stack of masks, and the region weights a_r: one region
    (all ones without guidance) for the blend of the styles, a_r = 1; or one per style image,
    a_r = R · b_r (b the blend weights, summing to 1): each region's E_r, normalised by its
    own mass, weighs as one style on the whole picture whatever its area (the paper's Σ_r)."""
    if guidance is None:
        masks = [np.ones((height, width), np.float32)]
    else:
        masks = list(guidance_at(guidance, height, width).style_masks)
    weights = np.ones(1) if len(masks) == 1 else len(masks) * np.asarray(blend, np.float64)
    per_layer = [layer_masks(m, network, layers) for m in masks]
    stacks = [np.stack([region[k] for region in per_layer]) for k in range(len(layers))]
    return stacks, weights


def make_regions(
    guidance: Guidance | None,
    content: np.ndarray,
    blend: tuple,
    network: str,
    layers: tuple,
) -> Regions:
    """The Regions of a content image of this size (its pixels are the photo to keep)."""
    if guidance is None or not guidance.style_masks:  # the blend everywhere, no photo region
        return Regions(None, tf.ones(1), None, tf.constant(content[None], tf.float32))
    height, width = content.shape[:2]
    masks, weights = region_masks(guidance, blend, height, width, network, layers)
    photo = guidance_at(guidance, height, width).photo_mask
    return Regions(
        masks=tuple(tf.constant(m, tf.float32) for m in masks),
        weights=tf.constant(weights, tf.float32),
        photo_mask=None if photo is None else tf.constant(photo[None, :, :, None], tf.float32),
        photo=tf.constant(content[None], tf.float32),
    )


def content_weight_maps(
    guidance: Guidance | None, height: int, width: int, network: str, layers: tuple
) -> tuple | None:
    """Per content layer, the content term's weight per position, (1, h_l, w_l, 1): the
    guidance's content_weights ([loss] face_content) at this image size, carried down through
    the poolings like the style masks; None where there are none (1 everywhere)."""
    if guidance is None or guidance.content_weights is None:
        return None
    weights = guidance_at(guidance, height, width).content_weights
    return tuple(
        tf.constant(m[None, :, :, None], tf.float32) for m in layer_masks(weights, network, layers)
    )


def painting_grams(
    features: Callable, style_images: tuple, painting: tuple | None, network: str, layers: tuple
) -> list:
    """Per style image, per style layer, (G_s, M_s): G_s = Σ_p s_p F_p F_pᵀ with s the style
    image's own mask carried down to the layer like the content's (`painting`, resized to the
    image; None: all ones, the plain Gram matrix) and M_s = Σ_p s_p, its positions' mass."""
    grams = []
    for k, image in enumerate(style_images):
        styled = features(tf.constant(image[None]))
        if painting is None:
            grams.append(
                [
                    (gram_matrix(styled[n]), float(styled[n].shape[1] * styled[n].shape[2]))
                    for n in layers
                ]
            )
            continue
        mask = resize_mask(painting[k], image.shape[1], image.shape[0])
        per_layer = layer_masks(mask, network, layers)
        grams.append(
            [
                (
                    guided_gram_matrices(styled[n], tf.constant(m[None]))[0],
                    max(float(m.sum()), 1e-6),
                )
                for n, m in zip(layers, per_layer, strict=True)
            ]
        )
    return grams


def region_targets(
    grams: list, blend: tuple, layers: tuple, regions: Regions, generated: dict
) -> tuple:
    """A_l per style layer, (R, N, N): each region's style Gram matrix (`grams`, from
    painting_grams) rescaled from the style image's M_s positions to the region's M_r (Σ of
    its mask; without masks the M of `generated`, any features of the generated image's
    size); one region for several styles (no masks, or one mask): their blend."""
    targets = []
    masks_per_layer = regions.masks or (None,) * len(layers)
    for k, (name, masks) in enumerate(zip(layers, masks_per_layer, strict=True)):
        style_grams = [per_style[k][0] for per_style in grams]
        positions = [per_style[k][1] for per_style in grams]
        if masks is None:
            everywhere = float(generated[name].shape[1] * generated[name].shape[2])
            region_positions = tf.constant([everywhere])
        else:
            region_positions = tf.reduce_sum(masks, axis=(1, 2))
        if region_positions.shape[0] == 1:  # one region: the blend
            mass = region_positions[0]
            targets.append(blend_grams(style_grams, blend, [mass, *positions])[None])
            continue
        region = zip(tf.unstack(region_positions), style_grams, positions, strict=True)
        targets.append(tf.stack([m * g / p for m, g, p in region]))
    return tuple(targets)


def style_at_zero(regions: Regions, targets: tuple, generated: tuple) -> tuple:
    """E_l,r(0, A_l,r) per style layer, (R,): each region's error for all-zero features
    (`generated`: per style layer, features of the generated image's size)."""
    if regions.masks is None:
        return tuple(
            style_layer_loss(tf.zeros_like(f), a[0])[None]
            for f, a in zip(generated, targets, strict=True)
        )
    return tuple(
        guided_style_layer_loss(tf.zeros((1, *m.shape[1:], f.shape[-1])), m, a)
        for m, a, f in zip(regions.masks, targets, generated, strict=True)
    )


def style_layer_errors(features: dict, layers: tuple, targets: tuple, regions: Regions):
    """E_l,r per style layer, (R,): the paper's E_l within each region."""
    if regions.masks is None:
        return [
            style_layer_loss(features[name], a[0])[None]
            for name, a in zip(layers, targets, strict=True)
        ]
    return [
        guided_style_layer_loss(features[name], masks, a)
        for name, masks, a in zip(layers, regions.masks, targets, strict=True)
    ]
