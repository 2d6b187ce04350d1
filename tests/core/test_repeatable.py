"""A seed repeats a run bit for bit: the objective's gradient is the same on every call, also
where the picture feeds the network and several pixel terms (nst.core.fanout: without it
Grappler could sum their gradients in the order they arrived, which varied from call to call)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst.core.fanout import fan_out
from nst.core.features import build_feature_extractor
from nst.core.objective import build_terms, make_objective, signature
from nst.inputs.masks import Guidance
from nst.settings import load_settings

HEIGHT, WIDTH = 256, 256  # at 128x128 and 192x256 it repeated even without the fix


@pytest.mark.parametrize("traced", [False, True])  # a step's stacked sum; eager additions
def test_fanned_copies_add_their_gradients(traced):
    x = tf.constant([[1.0, 2.0], [3.0, 4.0]])

    def gradient():
        with tf.GradientTape() as tape:
            tape.watch(x)
            a, b, _unread = fan_out(x, 3)
            value = tf.reduce_sum(a * a) + tf.reduce_sum(3.0 * b)
        return tape.gradient(value, x)

    found = tf.function(gradient)() if traced else gradient()
    np.testing.assert_array_equal(found, 2.0 * x.numpy() + 3.0)
    assert fan_out(x, 1) == (x,)


@pytest.mark.parametrize(
    "content_layers",
    [
        "block4_conv2",  # style, tv and the face's blur beside the network
        "block3_conv3, block4_conv2",  # a second content layer: failed even with Grappler's
        # dependency optimisation off, the earlier cure
    ],
)
def test_the_objectives_gradient_repeats_bit_for_bit(content_layers):
    settings = load_settings(
        None,
        ("model.network=vgg16", "model.weights=random", "model.precision=float32",
         f"model.content_layers={content_layers}"),
    )  # fmt: skip
    extractor = build_feature_extractor(settings.model)
    rng = np.random.default_rng(0)
    content, style = rng.uniform(0, 255, (2, HEIGHT, WIDTH, 3)).astype(np.float32)
    face = np.zeros((HEIGHT, WIDTH), np.float32)
    face[40:140, 90:180] = 1
    everywhere = (np.ones((HEIGHT, WIDTH), np.float32),)
    guidance = Guidance(everywhere, None, face_tone=face)  # style, tv and the face's blur
    terms = build_terms(extractor, content, (style,), settings.model, settings.loss, guidance)
    # the default mixed style loss: a Gram term (blocks 1-2) and a sliced one (from block 3)
    assert [t.name for t in terms] == ["content", "style", "style", "tv", "face"]
    objective = make_objective(extractor, signature(terms))
    inputs = tuple((t.weight, t.inputs) for t in terms)
    image = tf.Variable(rng.uniform(0, 255, (1, HEIGHT, WIDTH, 3)).astype(np.float32))

    @tf.function
    def gradient():
        with tf.GradientTape() as tape:
            total = objective(image, inputs, tf.constant(0, tf.int64)).total
        return tape.gradient(total, image)

    first = gradient().numpy()
    for _ in range(12):
        np.testing.assert_array_equal(gradient().numpy(), first)
