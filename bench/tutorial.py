"""A faithful re-implementation of the TensorFlow tutorial's style transfer step.

https://www.tensorflow.org/tutorials/generative/style_transfer ("Run gradient descent"): VGG19
(max pooling), content `block5_conv2`, style `block1..5_conv1`, Gram / (H·W), `reduce_mean`
losses, style weight 1e-2, content weight 1e4, total variation weight 30,
`Adam(learning_rate=0.02, beta_1=0.99, epsilon=0.1)`, the image a variable in [0, 1] clipped
after each step. Only the weights are ours to choose (random or a file), so that both sides of
a comparison use the same ones.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

CONTENT_LAYERS = ("block5_conv2",)
STYLE_LAYERS = tuple(f"block{i}_conv1" for i in range(1, 6))
STYLE_WEIGHT = 1e-2
CONTENT_WEIGHT = 1e4
TOTAL_VARIATION_WEIGHT = 30
ADAM = {"learning_rate": 0.02, "beta_1": 0.99, "epsilon": 1e-1}


def tutorial_gram(input_tensor: tf.Tensor) -> tf.Tensor:
    """The tutorial's Gram matrix: einsum over positions, divided by H·W."""
    result = tf.linalg.einsum("bijc,bijd->bcd", input_tensor, input_tensor)
    shape = tf.shape(input_tensor)
    return result / tf.cast(shape[1] * shape[2], tf.float32)


def tutorial_extractor(weights: str | None, seed: int = 0):
    """The tutorial's StyleContentModel as a function: image in [0, 1] -> (style grams, content)."""
    keras.utils.set_random_seed(seed)
    vgg = keras.applications.VGG19(include_top=False, weights=weights)
    vgg.trainable = False
    outputs = [vgg.get_layer(name).output for name in STYLE_LAYERS + CONTENT_LAYERS]
    model = keras.Model(vgg.input, outputs)
    model.trainable = False

    def extract(inputs: tf.Tensor):
        preprocessed = keras.applications.vgg19.preprocess_input(inputs * 255.0)
        outputs = model(preprocessed)
        style = [tutorial_gram(o) for o in outputs[: len(STYLE_LAYERS)]]
        return style, list(outputs[len(STYLE_LAYERS) :])

    return extract


def make_tutorial_step(extract, content_image: np.ndarray, style_image: np.ndarray):
    """(train_step, image variable) exactly as the tutorial builds them; pixels 0..255 in."""
    style_targets, _ = extract(tf.constant(style_image[None] / 255.0, tf.float32))
    _, content_targets = extract(tf.constant(content_image[None] / 255.0, tf.float32))
    image = tf.Variable(content_image[None] / 255.0, dtype=tf.float32)
    opt = keras.optimizers.Adam(**ADAM)

    def style_content_loss(outputs):
        style_outputs, content_outputs = outputs
        style = tf.add_n(
            [
                tf.reduce_mean((s - t) ** 2)
                for s, t in zip(style_outputs, style_targets, strict=True)
            ]
        )
        style *= STYLE_WEIGHT / len(STYLE_LAYERS)
        content = tf.add_n(
            [
                tf.reduce_mean((c - t) ** 2)
                for c, t in zip(content_outputs, content_targets, strict=True)
            ]
        )
        content *= CONTENT_WEIGHT / len(CONTENT_LAYERS)
        return style + content

    @tf.function()
    def train_step(image):
        with tf.GradientTape() as tape:
            outputs = extract(image)
            loss = style_content_loss(outputs)
            loss += TOTAL_VARIATION_WEIGHT * tf.image.total_variation(image)
        grad = tape.gradient(loss, image)
        opt.apply_gradients([(grad, image)])
        image.assign(tf.clip_by_value(image, clip_value_min=0.0, clip_value_max=1.0))

    return train_step, image


def make_reference_step(objective, targets):
    """The tutorial's optimiser (Adam 0.02 / 0.99 / 0.1 on a [0, 1] image, clip) on our objective.

    Returns (step, image variable); step returns our Losses of the image before its update,
    like nst.core.optimize's step.
    """
    opt = keras.optimizers.Adam(**ADAM)

    def build(content_image: np.ndarray):
        image = tf.Variable(content_image[None] / 255.0, dtype=tf.float32)
        opt.build([image])

        @tf.function
        def step(image):
            with tf.GradientTape() as tape:
                losses = objective(image * 255.0, targets)
            grad = tape.gradient(losses.total, image)
            opt.apply_gradients([(grad, image)])
            image.assign(tf.clip_by_value(image, 0.0, 1.0))
            return losses

        return step, image

    return build
