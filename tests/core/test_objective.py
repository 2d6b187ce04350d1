"""The objective: relative errors make α/β independent of the network's activation scale."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from nst.core.features import build_feature_extractor
from nst.core.objective import build_terms, make_objective, signature, tensors
from nst.settings import load_settings
from tests.helpers import loop_inputs, loop_recipe


def scaled(extractor: keras.Model, factor: float) -> keras.Model:
    """The same network with every output multiplied by `factor` (another network's scale)."""
    outputs = {name: out * factor for name, out in extractor.output.items()}
    return keras.Model(extractor.input, outputs)


def test_objective_does_not_depend_on_activation_scale():
    """VGG19 (Caffe) and the torchvision VGG16 differ in activation scale by large factors;
    the minimised total must not, so one α/β serves both. The paper's logged losses do."""
    settings = load_settings(None, ("model.weights=random",))
    model, loss = settings.model, settings.loss
    extractor = build_feature_extractor(model)
    rng = np.random.default_rng(0)
    content, style, image = (rng.uniform(0, 255, (40, 48, 3)).astype(np.float32) for _ in "csi")
    totals, paper = [], []
    for factor in (1.0, 37.0):
        net = scaled(extractor, factor)
        terms = build_terms(net, content, (style,), model, loss)
        losses = make_objective(net, signature(terms))(
            tf.constant(image[None]), tensors(terms), tf.constant(0, tf.int64)
        )
        totals.append(float(losses.total))
        paper.append((float(losses.content), float(losses.style)))
    assert totals[1] == pytest.approx(totals[0], rel=1e-4)
    # content scales with factor², the style loss (Gram² ) with factor⁴
    assert paper[1][0] == pytest.approx(paper[0][0] * 37.0**2, rel=1e-3)
    assert paper[1][1] == pytest.approx(paper[0][1] * 37.0**4, rel=1e-3)


def adam_result(alpha: float, beta: float, epsilon: str):
    """The last record of 20 Adam steps on a random VGG16 at 40×32, at the given weights."""
    from nst.core.optimize import stylize

    settings = load_settings(
        None,
        (
            "model.network=vgg16",
            "model.weights=random",
            "model.precision=float32",
            f"loss.content_weight={alpha}",
            f"loss.style_weight={beta}",
            "loss.tv_weight=0",  # α and β alone: a fixed tv weight would change the balance
            f"optimizer.epsilon={epsilon}",
            "optimizer.iterations=20",
        ),
    )
    rng = np.random.default_rng(1)
    content, style = (rng.uniform(0, 255, (32, 40, 3)).astype(np.float32) for _ in "cs")
    records = stylize(
        build_feature_extractor(settings.model),
        loop_inputs(content, style),
        loop_recipe(settings, 20),
    )
    return list(records)[-1]


@pytest.mark.slow
def test_adam_depends_only_on_the_ratio_of_style_to_content_weight():
    """With the default epsilon, far below the gradients, Adam's step is scale-free: scaling α
    and β together leaves the descent as it was, so β/α sets the balance and learning_rate the
    step. (Pixel for pixel the images differ: a step moves even pixels whose gradient is
    rounding noise.) With an epsilon near the gradients' size it would set the speed."""
    default = str(load_settings(None, ()).optimizer.epsilon)
    one, hundred = adam_result(1.0, 10.0, default), adam_result(100.0, 1000.0, default)
    assert hundred.content == pytest.approx(one.content, rel=0.1)  # measured: 2 % apart
    assert hundred.style == pytest.approx(one.style, rel=0.1)  # 4 %
    # here the gradients are ~3e-6 a pixel: an epsilon of 1e-5 slows the α = 1 run 10-fold
    slow, fast = adam_result(1.0, 10.0, "1e-5"), adam_result(100.0, 1000.0, "1e-5")
    assert slow.style > 2 * fast.style, (slow.style, fast.style)


def test_content_term_is_the_mean_of_its_layers_relative_errors():
    """α (1/C) Σ_c L_c / L_c(0) with L_c = 1/2 Σ (F − P)²: two content layers weigh the content
    as much as one does, so adding a layer does not change the balance with the style."""
    layers = ("block3_conv3", "block4_conv2")
    settings = load_settings(
        None,
        (
            "model.network=vgg16",
            "model.weights=random",
            "model.precision=float32",
            f"model.content_layers={','.join(layers)}",
            "loss.content_weight=3",
            "loss.style_weight=0",
            "loss.tv_weight=0",
        ),
    )
    model, loss = settings.model, settings.loss
    extractor = build_feature_extractor(model)
    rng = np.random.default_rng(2)
    content, style, image = (rng.uniform(0, 255, (40, 48, 3)).astype(np.float32) for _ in "csi")
    terms = build_terms(extractor, content, (style,), model, loss)
    losses = make_objective(extractor, signature(terms))(
        tf.constant(image[None]), tensors(terms), tf.constant(0, tf.int64)
    )
    ours, target = extractor(image[None]), extractor(content[None])
    relatives = []
    for name in layers:
        f, p = np.float64(ours[name]), np.float64(target[name])
        relatives.append(np.sum((f - p) ** 2) / np.sum(p**2))
    assert float(losses.total) == pytest.approx(3 * np.mean(relatives), rel=1e-4)
    assert float(losses.content) == pytest.approx(
        sum(0.5 * np.sum((np.float64(ours[n]) - np.float64(target[n])) ** 2) for n in layers),
        rel=1e-4,
    )
