"""The feature extractor: named outputs, the cut, average pooling, preprocessing, weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from nst.core.features import WeightsError, build_feature_extractor
from nst.settings import load_settings
from tests.helpers import VGG16_WEIGHTS, needs_vgg16


def model_settings(*overrides: str):
    return load_settings(None, ("model.weights=random", *overrides)).model


@pytest.mark.parametrize("network", ["vgg16", "vgg19"])
def test_outputs_are_named_and_shaped_as_configured(network):
    model = model_settings(f"model.network={network}")
    extractor = build_feature_extractor(model)
    features = extractor(np.zeros((1, 64, 48, 3), np.float32))
    assert set(features) == {*model.content_layers, *(f"block{i}_conv1" for i in range(1, 5))}
    assert model.content_layers == ("block3_conv3", "block4_conv2")
    assert features["block1_conv1"].shape == (1, 64, 48, 64)
    assert features["block4_conv2"].shape == (1, 8, 6, 512)


def test_network_is_cut_at_the_deepest_layer_needed():
    model = model_settings("model.content_layers=block2_conv2", "model.style_layers=block1_conv1")
    names = [layer.name for layer in build_feature_extractor(model).layers]
    network = [name for name in names if not name.startswith("crop_")]  # reflect's crops
    assert network[-1] == "block2_conv2"
    assert "block3_conv1" not in names


def test_extractor_is_frozen():
    extractor = build_feature_extractor(model_settings())
    assert extractor.trainable_weights == []


def test_preprocessing_is_the_networks_own():
    """Input is RGB 0..255; the model applies Keras' caffe preprocessing (BGR, mean removed)."""
    model = model_settings("model.content_layers=block1_conv1", "model.style_layers=block1_conv1")
    extractor = build_feature_extractor(model)
    pre = extractor.get_layer("preprocess")
    x = np.random.default_rng(0).uniform(0, 255, (1, 8, 8, 3)).astype(np.float32)
    expected = keras.applications.vgg19.preprocess_input(x.copy())
    np.testing.assert_allclose(np.asarray(pre(x)), expected, rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(pre(x))[..., ::-1] + [123.68, 116.779, 103.939], x, atol=1e-4
    )


def test_avg_pooling_swaps_every_pool_and_keeps_conv_weights():
    max_model = build_feature_extractor(model_settings("model.pooling=max"))
    avg_model = build_feature_extractor(model_settings("model.pooling=avg"))
    max_pools = [layer for layer in max_model.layers if "pool" in layer.name]
    avg_pools = [layer for layer in avg_model.layers if "pool" in layer.name]
    assert len(avg_pools) == len(max_pools) == 3  # cut after block4_conv2: 3 pools before it
    assert all(isinstance(pool, keras.layers.AveragePooling2D) for pool in avg_pools)
    assert all(isinstance(pool, keras.layers.MaxPooling2D) for pool in max_pools)
    for layer in max_model.layers:
        if "conv" in layer.name:
            for a, b in zip(
                layer.get_weights(), avg_model.get_layer(layer.name).get_weights(), strict=True
            ):
                np.testing.assert_array_equal(a, b)


def test_random_weights_are_reproducible_from_the_seed():
    a = build_feature_extractor(model_settings(), seed=3).get_layer("block1_conv1").get_weights()
    b = build_feature_extractor(model_settings(), seed=3).get_layer("block1_conv1").get_weights()
    np.testing.assert_array_equal(a[0], b[0])


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        build_feature_extractor(model_settings(f"model.weights={tmp_path / 'none.h5'}"))


def test_corrupt_weights_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(WeightsError, match="cannot load it into vgg19"):
        build_feature_extractor(model_settings(f"model.weights={bad}"))


@needs_vgg16
def test_vgg16_weights_do_not_fit_vgg19():
    # recognised before anything is built: the message says which network it is
    with pytest.raises(WeightsError, match=r"this is a VGG16 weights file .*set network = vgg16"):
        build_feature_extractor(model_settings(f"model.weights={VGG16_WEIGHTS}"))


@needs_vgg16
def test_shared_vgg16_weights_load():
    extractor = build_feature_extractor(
        model_settings("model.network=vgg16", f"model.weights={VGG16_WEIGHTS}")
    )
    features = extractor(np.full((1, 32, 32, 3), 128.0, np.float32))
    assert float(np.abs(features["block1_conv1"]).mean()) > 0


def test_mirroring_one_pixel_is_tf_pads_reflect():
    import tensorflow as tf

    from nst.core.features import mirror_one_pixel

    x = tf.constant(np.random.default_rng(0).standard_normal((1, 5, 7, 3)), tf.float32)
    expected = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
    np.testing.assert_array_equal(mirror_one_pixel(x).numpy(), expected.numpy())


@pytest.mark.parametrize("padding", ["reflect_first", "reflect_each"])
def test_mirrored_convolutions_keep_the_shapes_and_change_only_the_border(padding):
    """reflect_first / reflect_each: the same features inside the picture as zeros' at the first
    layer, other values only where a 3x3 kernel reaches past the edge."""
    picture = np.random.default_rng(1).uniform(0, 255, (1, 32, 40, 3)).astype(np.float32)
    zeros = build_feature_extractor(model_settings("model.padding=zeros"))(picture)
    mirrored = build_feature_extractor(model_settings(f"model.padding={padding}"))(picture)
    for name, values in zeros.items():
        assert mirrored[name].shape == values.shape
    first, other = zeros["block1_conv1"].numpy(), mirrored["block1_conv1"].numpy()
    np.testing.assert_allclose(other[:, 1:-1, 1:-1], first[:, 1:-1, 1:-1], rtol=1e-5, atol=1e-4)
    assert not np.allclose(other[:, 0], first[:, 0])


def _unmirrored(gradient: np.ndarray, margin: int) -> np.ndarray:
    """The adjoint of np.pad(mode='reflect') along axes 1 and 2: each mirrored row and column's
    gradient added back onto the picture's row or column it copies."""
    for axis in (1, 2):
        g = np.moveaxis(gradient, axis, 0).copy()
        n = g.shape[0] - 2 * margin
        inner = g[margin : margin + n]
        for k in range(1, margin + 1):
            inner[k] += g[margin - k]
            inner[n - 1 - k] += g[margin + n - 1 + k]
        gradient = np.moveaxis(inner, 0, axis)
    return gradient


def test_reflect_is_the_network_on_a_numpy_mirrored_picture_cropped():
    """padding = reflect: features and their gradient to the picture equal the zero-padded
    network run on the picture mirrored by np.pad, cropped back per layer (the crop being a
    slice for speed must not change a value)."""
    import tensorflow as tf

    from nst.core.features import MARGIN

    rng = np.random.default_rng(2)
    picture = tf.constant(rng.uniform(0, 255, (1, 40, 56, 3)), tf.float32)
    m = MARGIN
    mirrored = np.pad(picture.numpy(), [(0, 0), (m, m), (m, m), (0, 0)], mode="reflect")
    mirrored = tf.constant(mirrored)
    reflect = build_feature_extractor(model_settings("model.padding=reflect"))
    zeros = build_feature_extractor(model_settings("model.padding=zeros"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([picture, mirrored])
        ours, theirs = reflect(picture), zeros(mirrored)
        loss, reference = 0.0, 0.0
        for k, name in enumerate(sorted(ours)):
            c = (theirs[name].shape[2] - ours[name].shape[2]) // 2  # the margin at this layer
            cropped = theirs[name][:, c:-c, c:-c, :]
            np.testing.assert_allclose(ours[name], cropped, rtol=1e-5, atol=1e-3)
            weights = tf.constant(rng.standard_normal(cropped.shape[1:]), tf.float32)
            loss += (k + 1) * tf.reduce_sum(weights * ours[name])
            reference += (k + 1) * tf.reduce_sum(weights * cropped)
    gradient = tape.gradient(loss, picture).numpy()
    expected = _unmirrored(tape.gradient(reference, mirrored).numpy(), m)
    assert np.abs(gradient).max() > 0
    np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
