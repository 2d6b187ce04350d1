"""The optimisation: targets computed once, a small `tf.function` step, a loop that yields.

The loop does no IO: it yields a `Progress` record per iteration and the caller writes
files, bars and plots. Record i describes the image after i updates; record 0 is the start.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from nst.images import resize
from nst.losses import (
    blend_grams,
    content_loss,
    gram_matrix,
    relative,
    style_layer_loss,
    tv_loss,
)
from nst.settings import ImageSettings, LossSettings, ModelSettings, OptimizerSettings

LOSS_NAMES = ("content", "style", "tv", "total")


@dataclass(frozen=True)
class Progress:
    iteration: int
    content: float  # the paper's L_content (unweighted)
    style: float  # the paper's L_style = Σ w_l E_l (unweighted)
    tv: float  # total variation, see losses.tv_loss
    total: float  # the objective actually minimised (see Targets)
    elapsed_s: float  # since the start of `stylize`, targets and tracing included
    image: np.ndarray | None = None  # float32 (height, width, 3) pixels, when an iterate is due


class Diverged(ArithmeticError):
    """The objective or its gradient stopped being finite; the image was left as it was."""

    def __init__(self, record: Progress):
        super().__init__(f"non-finite loss at iteration {record.iteration}")
        self.record = record  # its image: the last finite one, from before the failed step


class Targets(NamedTuple):
    """Everything the objective compares against, computed once; all tensors (no Python floats).

    objective = α Σ_c L_c / L_c(0) + β Σ_l w_l E_l / E_l(0) + tv_weight · tv, where X(0) is
    the loss for all-zero features (see losses.relative): α, β act on relative errors.
    """

    content_features: tuple  # P per content layer
    content_at_zero: tuple  # L_content(0, P) per content layer
    style_grams: tuple  # A per style layer, blended over the style images (blend_grams)
    style_at_zero: tuple  # E_l(0, A) per style layer
    layer_weights: tf.Tensor  # w_l, summing to 1
    loss_weights: tf.Tensor  # (α, β, tv_weight)


def compute_targets(
    extractor: keras.Model,
    content_image: np.ndarray,
    style_images: tuple,
    model: ModelSettings,
    loss: LossSettings,
) -> Targets:
    """The content features and style Gram matrices the generated image is pulled towards.

    The generated image has the content image's size; the style images (one array, or a tuple
    with one per [loss] style_blend_weights) may have any size.
    """
    style_images = (style_images,) if isinstance(style_images, np.ndarray) else style_images
    content = extractor(tf.constant(content_image[None]))
    content_features = tuple(content[name] for name in model.content_layers)
    style_grams = style_targets(
        extractor, style_images, loss.style_blend_weights, model.style_layers, content
    )
    return Targets(
        content_features=content_features,
        content_at_zero=tuple(content_loss(tf.zeros_like(p), p) for p in content_features),
        style_grams=style_grams,
        style_at_zero=tuple(
            style_layer_loss(tf.zeros_like(content[name]), a)  # zeros of the generated size
            for name, a in zip(model.style_layers, style_grams, strict=True)
        ),
        layer_weights=tf.constant(model.style_layer_weights, tf.float32),
        loss_weights=tf.constant([loss.content_weight, loss.style_weight, loss.tv_weight]),
    )


def _positions(features: tf.Tensor) -> float:
    return float(features.shape[1] * features.shape[2])


def style_targets(
    extractor: keras.Model,
    style_images: tuple,
    weights: tuple,
    style_layers: tuple,
    generated_features: dict,
) -> tuple:
    """The blended style Gram matrix per style layer, for an image with `generated_features`
    (any features of the generated image's size: their shapes give M per layer)."""
    styles = [extractor(tf.constant(image[None])) for image in style_images]
    return tuple(
        blend_grams(
            [gram_matrix(s[name]) for s in styles],
            weights,
            [_positions(generated_features[name])] + [_positions(s[name]) for s in styles],
        )
        for name in style_layers
    )


def make_objective(extractor: keras.Model, content_layers: tuple, style_layers: tuple):
    """A function (image batch, Targets) -> [content, style, tv, total] as one tensor."""

    def objective(image: tf.Tensor, targets: Targets) -> tf.Tensor:
        features = extractor(image)
        content_terms = [
            content_loss(features[name], p)
            for name, p in zip(content_layers, targets.content_features, strict=True)
        ]
        style_terms = tf.stack(
            [
                style_layer_loss(features[name], a)
                for name, a in zip(style_layers, targets.style_grams, strict=True)
            ]
        )
        content = tf.add_n(content_terms)
        style = tf.reduce_sum(targets.layer_weights * style_terms)
        tv = tv_loss(image)
        alpha, beta, tv_weight = tf.unstack(targets.loss_weights)
        total = (
            alpha
            * tf.add_n(
                [
                    relative(c, z)
                    for c, z in zip(content_terms, targets.content_at_zero, strict=True)
                ]
            )
            + beta
            * tf.reduce_sum(targets.layer_weights * relative(style_terms, targets.style_at_zero))
            + tv_weight * tv
        )
        return tf.stack([content, style, tv, total])

    return objective


def make_step(objective, optimizer: keras.optimizers.Optimizer):
    """One Adam update of `generated` in place; returns the losses of the image before it and
    whether the update was finite. A non-finite one is undone, so the image stays usable."""

    @tf.function
    def step(generated: tf.Variable, targets: Targets) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            losses = objective(generated, targets)
            total = losses[3]  # indexed inside the tape, or the gradient is lost
        gradient = tape.gradient(total, generated)
        before = generated.read_value()  # a snapshot: TF copies on the write below
        optimizer.apply_gradients([(gradient, generated)])
        after = tf.clip_by_value(generated, 0.0, 255.0)  # keep valid pixels
        finite = tf.reduce_all(
            [tf.reduce_all(tf.math.is_finite(t)) for t in (losses, gradient, after)]
        )
        generated.assign(tf.where(finite, after, before))
        return losses, finite

    return step


def initial_image(
    content_image: np.ndarray, style_image: np.ndarray, image: ImageSettings
) -> np.ndarray:
    """The starting point: the content image, a seeded noise blend of it, or the style image
    (stretched to the content's shape)."""
    if image.init == "style":
        return resize(style_image, content_image.shape[1], content_image.shape[0]).copy()
    if image.init == "noise":
        noise = np.random.default_rng(image.seed).uniform(0, 255, content_image.shape)
        blend = (1 - image.noise_ratio) * content_image + image.noise_ratio * noise
        return blend.astype(np.float32)
    return content_image.copy()


def stylize(
    extractor: keras.Model,
    content_image: np.ndarray,
    style_images: tuple,
    model: ModelSettings,
    loss: LossSettings,
    optimizer: OptimizerSettings,
    image: ImageSettings,
    save_every: int,
    stop_requested: Callable[[], bool] = lambda: False,
) -> Iterator[Progress]:
    """Optimise an image; yield a Progress per iteration, with the image every `save_every`.

    The last record always has the image: after `optimizer.iterations` steps, or early once
    `stop_requested()` is true (checked before each step, so a stop costs no extra copy while
    running). A non-finite loss or update yields that iteration's record, with the last finite
    image, and then raises `Diverged`. The images are float32 (height, width, 3) pixels 0..255;
    the result has the content image's shape, the style images (one per [loss]
    style_blend_weights) any shape.
    """
    start = time.perf_counter()
    style_images = (style_images,) if isinstance(style_images, np.ndarray) else style_images
    targets = compute_targets(extractor, content_image, style_images, model, loss)
    generated = tf.Variable(initial_image(content_image, style_images[0], image)[None])
    adam = keras.optimizers.Adam(
        learning_rate=optimizer.learning_rate,
        beta_1=optimizer.beta_1,
        beta_2=optimizer.beta_2,
        epsilon=optimizer.epsilon,
    )
    adam.build([generated])
    objective = make_objective(extractor, model.content_layers, model.style_layers)
    step = make_step(objective, adam)
    evaluate = tf.function(objective)  # the last record needs losses only, no update

    for iteration in range(optimizer.iterations + 1):
        last = iteration == optimizer.iterations or stop_requested()
        due = last or iteration % save_every == 0
        snapshot = generated[0].numpy() if due else None
        if last:
            losses = evaluate(generated, targets).numpy()
            finite = bool(np.isfinite(losses).all())
        else:
            losses, finite = (t.numpy() for t in step(generated, targets))
        if not finite and snapshot is None:
            snapshot = generated[0].numpy()  # unchanged: the failed update was undone
        record = Progress(iteration, *map(float, losses), time.perf_counter() - start, snapshot)
        yield record
        if not finite:
            raise Diverged(record)
        if last:
            return
