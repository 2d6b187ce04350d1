"""The objective: relative errors make α/β independent of the network's activation scale."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from nst.features import build_feature_extractor
from nst.optimize import compute_targets, make_objective
from nst.settings import load_settings


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
        targets = compute_targets(net, content, (style,), model, loss)
        losses = make_objective(net, model.content_layers, model.style_layers)(
            tf.constant(image[None]), targets
        ).numpy()
        totals.append(losses[3])
        paper.append(losses[:2])
    assert totals[1] == pytest.approx(totals[0], rel=1e-4)
    # content scales with factor², the style loss (Gram² ) with factor⁴
    assert paper[1][0] == pytest.approx(paper[0][0] * 37.0**2, rel=1e-3)
    assert paper[1][1] == pytest.approx(paper[0][1] * 37.0**4, rel=1e-3)
