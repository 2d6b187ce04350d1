"""[image] finest_scale = shallow: the full-size scale of a coarse-to-fine run refined by the
network cut after block3_conv1, with a low-pass anchor in place of the content.

By the finest scale the coarser scales have settled the picture's large structure; what is
left is the finest texture, which the shallow style layers describe. So that scale keeps
only the style layers up to CUT (their weights re-normalised to sum 1 over the kept ones,
in their given proportions) and replaces the content term by `LowPassAnchor`: the picture's
blurred version held to the blurred start of the scale (the coarser result, enlarged). The
deep layers, which at full size cost about two thirds of a step, are never run there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from nst.core.losses import low_pass
from nst.core.objective import Term, named

CUT = "block3_conv1"  # the deepest layer the shallow finest scale runs
# The anchor's Gaussian blur, in px at full size: it holds forms of about 4 sigma (8 px) and
# larger, which the coarser scale (half the size) already resolved, and leaves the finer
# texture to the shallow style layers (block3_conv1 sees about 24 px).
ANCHOR_SIGMA = 2.0
# Its weight against the objective's other terms (relative errors, see objective.py): with
# the 0..1 mean squared difference below, a blurred drift of 5 grey levels RMS costs
# ANCHOR_WEIGHT * 4e-4. At 384 px (Tübingen x Starry Night, VGG16) 300 let the blurred picture
# drift 1.5 grey levels RMS over the scale and 3000 0.7, the same picture by eye
# (bench/results/finest.md); the full network moved it 28.
ANCHOR_WEIGHT = 300.0


def is_shallow(finest_scale: str, number: int, scales: int) -> bool:
    """Whether scale `number` (1: the smallest) of `scales` runs the shallow network."""
    return finest_scale == "shallow" and scales > 1 and number == scales


def _depth(layer: str) -> tuple[int, int]:
    """(block, conv) of a Keras VGG layer name such as block3_conv1."""
    block, conv = layer.split("_")
    return int(block.removeprefix("block")), int(conv.removeprefix("conv"))


def shallow_model(model):
    """[model] with only the style layers up to CUT, their weights re-normalised to sum 1
    (equal where the kept ones' weights are all 0), and no content layer; None where no
    style layer is that shallow (then the scale runs the whole network)."""
    kept = [
        (layer, weight)
        for layer, weight in zip(model.style_layers, model.style_layer_weights, strict=True)
        if _depth(layer) <= _depth(CUT)
    ]
    if not kept:
        return None
    total = sum(weight for _, weight in kept)
    weights = tuple(w / total if total > 0 else 1 / len(kept) for _, w in kept)
    return dataclasses.replace(
        model,
        content_layers=(),
        style_layers=tuple(layer for layer, _ in kept),
        style_layer_weights=weights,
    )


def cut_extractor(extractor: keras.Model, layers: tuple) -> keras.Model:
    """The feature extractor's graph up to `layers` only (same weights, padding, precision)."""
    outputs = {name: extractor.output[name] for name in layers}
    cut = keras.Model(extractor.input, outputs, name=f"{extractor.name}_to_{CUT}")
    cut.trainable = False
    return cut


def anchor_loss(image: tf.Tensor, anchor_blurred: tf.Tensor, sigma: float) -> tf.Tensor:
    """mean over pixels and channels of ((low_pass(image) - anchor_blurred) / 255)², 0..1."""
    return tf.reduce_mean(tf.square((low_pass(image, sigma) - anchor_blurred) / 255.0))


@dataclass(frozen=True)
class LowPassAnchor:
    """ANCHOR_WEIGHT · anchor_loss: the blurred picture held to the blurred start of the
    scale. Logged as the record's content (raw and value the same)."""

    sigma: float = ANCHOR_SIGMA

    def __call__(self, image, features, inputs, draw):
        (anchor_blurred,) = inputs
        loss = anchor_loss(image, anchor_blurred, self.sigma)
        return loss, loss


def anchored(terms: tuple, anchor: np.ndarray) -> tuple:
    """`terms` with the content term replaced by the low-pass anchor to `anchor`
    ((h, w, 3) pixels, the enlarged coarser result)."""
    blurred = low_pass(tf.constant(anchor[None], tf.float32), ANCHOR_SIGMA)
    term = Term("content", LowPassAnchor(), tf.constant(ANCHOR_WEIGHT, tf.float32), (blurred,))
    content = named(terms, "content")
    return tuple(term if t is content else t for t in terms)


def with_anchor(on_state, anchor: np.ndarray):
    """`on_state` told the states with the scale's anchor, so that a resumed run keeps it."""
    if on_state is None:
        return None
    return lambda state: on_state(dataclasses.replace(state, anchor=anchor))
