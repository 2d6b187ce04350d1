"""[loss] style_loss = mixed: Gram matrices on the first two blocks' style layers, the sliced
loss on the rest, each layer keeping its share of the style weight."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst.core.features import build_feature_extractor
from nst.core.objective import (
    GramStyle,
    SlicedStyle,
    build_terms,
    make_objective,
    signature,
    tensors,
    with_reference,
)
from nst.settings import load_settings
from nst.settings.networks import PAPER_STYLE_LAYERS, style_loss_layers

LAYERS = PAPER_STYLE_LAYERS


def _settings(*overrides: str):
    base = ("model.network=vgg16", "model.weights=random", "model.precision=float32")
    quiet = ("loss.auto_regions=off", "loss.content_weight=0", "loss.tv_weight=0")
    return load_settings(None, (*base, *quiet, *overrides))


def test_mixed_takes_gram_before_block_3_and_sliced_from_it():
    assert style_loss_layers("gram", LAYERS) == (LAYERS, ())
    assert style_loss_layers("sliced", LAYERS) == ((), LAYERS)
    assert style_loss_layers("mixed", LAYERS) == (LAYERS[:2], LAYERS[2:])
    custom = ("block2_conv2", "block3_conv3", "block1_conv2")
    assert style_loss_layers("mixed", custom) == (("block2_conv2", "block1_conv2"), custom[1:2])
    assert load_settings(None, ("loss.style_loss=mixed",)).loss.style_loss == "mixed"


def _total(settings, images, draw: int) -> float:
    extractor = build_feature_extractor(settings.model)
    content, style, image = images
    terms = build_terms(extractor, content, (style,), settings.model, settings.loss, seed=3)
    objective = make_objective(extractor, signature(terms))
    draw = tf.constant(draw, tf.int64)
    return float(objective(tf.constant(image[None]), tensors(terms), draw).total), terms


@pytest.mark.parametrize("draw", [0, 5])
def test_mixed_is_the_gram_part_plus_the_sliced_part_at_their_layer_weights(draw):
    """β Σ_l w_l (Gram E_l/E_l(0) for l in blocks 1-2, c SW_l/SW_l(0) from block 3), the w_l
    the five layers' (here 1,2,3,4,5 over 15): each part built alone on its layers with their
    weights renormalised, then weighed back by the parts' shares 3/15 and 12/15."""
    rng = np.random.default_rng(0)
    images = [rng.uniform(0, 255, (56, 64, 3)).astype(np.float32) for _ in "csi"]
    weights = "model.style_layer_weights=1,2,3,4,5"
    five = "model.style_layers=" + ",".join(LAYERS)  # the paper's five, block5_conv1 too
    mixed, terms = _total(_settings("loss.style_loss=mixed", five, weights), images, draw)
    assert [type(t.kind) for t in terms if t.name == "style"] == [GramStyle, SlicedStyle]
    gram_part = _settings(
        "loss.style_loss=gram", "model.style_layers=block1_conv1,block2_conv1",
        "model.style_layer_weights=1,2",
    )  # fmt: skip
    sliced_part = _settings(
        "loss.style_loss=sliced", "model.style_layers=block3_conv1,block4_conv1,block5_conv1",
        "model.style_layer_weights=3,4,5",
    )  # fmt: skip
    gram, _ = _total(gram_part, images, draw)
    sliced, _ = _total(sliced_part, images, draw)
    assert gram > 0 and sliced > 0
    assert mixed == pytest.approx(3 / 15 * gram + 12 / 15 * sliced, rel=1e-5)


@pytest.mark.parametrize("mode", ["both", "style"])
def test_a_reference_size_takes_both_style_terms(mode):
    """[image] reference_size with mixed: both style terms move to the reference ("style") or
    keep half their weight at full size beside the reference's two at half ("both")."""
    settings = _settings("loss.style_loss=mixed")
    extractor = build_feature_extractor(settings.model)
    rng = np.random.default_rng(1)
    content, style = (rng.uniform(0, 255, (64, 64, 3)).astype(np.float32) for _ in "cs")
    terms = build_terms(extractor, content, (style,), settings.model, settings.loss)
    reference = build_terms(extractor, content[::2, ::2], (style,), settings.model, settings.loss)
    referenced = with_reference(terms, reference, 32, 32, mode)
    styles = [t for t in referenced if t.name == "style"]
    at_size = [t for t in styles if type(t.kind).__name__ == "AtSize"]
    weight = settings.loss.style_weight
    if mode == "style":
        assert len(styles) == len(at_size) == 2
        assert [float(t.weight) for t in styles] == [weight, weight]
    else:
        assert len(styles) == 4 and len(at_size) == 2
        assert [float(t.weight) for t in styles] == [weight / 2] * 4
    kinds = [type(t.kind.kind) for t in at_size]
    assert kinds == [GramStyle, SlicedStyle]
