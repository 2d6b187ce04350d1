"""The feature extractor: a frozen VGG cut at the deepest layer the losses need.

Input contract: a float32 batch (1, height, width, 3), RGB, pixel values 0..255 (any size of
at least networks.MIN_SIDE px a side). The network's own `preprocess_input` (RGB->BGR, ImageNet mean
subtracted) is the model's first layer, so callers and the optimised image stay in pixels.
Output: a dict from Keras layer name (e.g. `block4_conv2`) to that layer's activations.
"""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path

import keras
import tensorflow as tf

from nst.settings import ModelSettings
from nst.settings.networks import (  # no TensorFlow needed there
    WEIGHTS_FILE,
    WEIGHTS_ORIGIN,
    WeightsError,
    check_weights_file,
)

APPLICATIONS = {
    "vgg16": (keras.applications.VGG16, keras.applications.vgg16.preprocess_input),
    "vgg19": (keras.applications.VGG19, keras.applications.vgg19.preprocess_input),
}
DOWNLOAD_TIMEOUT_S = 60  # per connection attempt or read, not for the whole download


def native_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), read from Linux."""
    try:
        flags = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def compute_dtype(precision: str, optimizer: str = "adam") -> str:
    """The convolutions' arithmetic for [model] precision and [optimizer] name.

    auto: bfloat16 for Adam where the CPU computes it natively, else float32; always float32
    for L-BFGS, whose line search compares objective values that bfloat16's rounding noise
    drowns (README: Precision). An explicit float32 or bfloat16 is kept.
    """
    if precision != "auto":
        return precision
    if optimizer == "lbfgs":
        return "float32"
    on_cpu = not tf.config.list_physical_devices("GPU")
    return "bfloat16" if on_cpu and native_bfloat16() else "float32"


def _in_bfloat16(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A copy of a VGG conv or pooling layer computing in bfloat16 (weights kept in float32)."""
    return _copy(layer, dtype="mixed_bfloat16")


def _unpadded(conv: keras.layers.Conv2D) -> keras.layers.Conv2D:
    """A copy of a 3x3 'same' convolution that pads nothing (its input comes mirrored)."""
    return _copy(conv, padding="valid")


def _copy(layer: keras.layers.Layer, **changes) -> keras.layers.Layer:
    config = {**layer.get_config(), **changes}
    copy = layer.__class__.from_config(config)
    if isinstance(layer, keras.layers.Conv2D):
        copy.build((None, None, None, layer.kernel.shape[2]))
        copy.set_weights(layer.get_weights())
    return copy


def build_feature_extractor(
    model: ModelSettings, seed: int = 0, optimizer: str = "adam"
) -> keras.Model:
    """A frozen multi-output model: pixels in, {layer name: features} out (see module doc).

    Its arithmetic is `compute_dtype(model.precision, optimizer)`; with bfloat16 the features
    still come out as float32, so the losses stay in float32.
    """
    constructor, preprocess_input = APPLICATIONS[model.network]
    base = _load_network(constructor, model.network, model.weights, seed)
    wanted = set(model.content_layers) | set(model.style_layers)
    bfloat16 = compute_dtype(model.precision, optimizer) == "bfloat16"

    image = keras.Input(shape=(None, None, 3), name="image")
    x = keras.layers.Lambda(preprocess_input, name="preprocess")(image)
    margin = MARGIN if model.padding == "reflect" else 0
    if margin:
        x = _reflected(x, margin)
    outputs, poolings = {}, 0
    mirrored = _mirrored_convolutions(base, model.padding)
    for layer in base.layers[1:]:
        if model.pooling == "avg" and isinstance(layer, keras.layers.MaxPooling2D):
            # Gatys et al.: average pooling gives smoother results; conv weights unchanged.
            layer = keras.layers.AveragePooling2D(layer.pool_size, layer.strides, name=layer.name)
        if layer.name in mirrored:
            x = _mirror_one_pixel(x, layer.name)
            layer = _unpadded(layer)
        if bfloat16:
            layer = _in_bfloat16(layer)
        x = layer(x)
        poolings += isinstance(layer, keras.layers.MaxPooling2D | keras.layers.AveragePooling2D)
        if layer.name in wanted:
            out = _cropped(x, margin // 2**poolings, layer.name) if margin else x
            outputs[layer.name] = keras.ops.cast(out, "float32") if bfloat16 else out
        if len(outputs) == len(wanted):
            break  # deeper layers cost time and memory and feed no loss
    extractor = keras.Model(image, outputs, name=f"{model.network}_{model.pooling}_features")
    extractor.trainable = False
    return extractor


# [model] padding = reflect: the picture is mirrored this many pixels past each border before
# the network and every layer's features are cropped back to the picture. A multiple of
# 2**4, so that the four poolings before conv5_1 keep the picture's own positions.
MARGIN = 16


# padding = reflect_first / reflect_each: the convolutions whose zero border becomes the
# picture mirrored by one pixel. Mirroring is done by slicing and concatenating: its gradient
# is as cheap as the copy (tf.pad's REFLECT gradient is not, on CPUs).
MIRROR_PREFIX = "mirror_"


def _mirrored_convolutions(base: keras.Model, padding: str) -> set[str]:
    convolutions = [layer.name for layer in base.layers if isinstance(layer, keras.layers.Conv2D)]
    return {"reflect_first": set(convolutions[:1]), "reflect_each": set(convolutions)}.get(
        padding, set()
    )


def mirror_one_pixel(t):
    """t (batch, h, w, c) with one more row and column on each side, mirrored as tf.pad's
    REFLECT mode does (the edge row itself is not repeated)."""
    t = tf.concat([t[:, 1:2], t, t[:, -2:-1]], axis=1)
    return tf.concat([t[:, :, 1:2], t, t[:, :, -2:-1]], axis=2)


def _mirror_one_pixel(x, conv_name: str):
    return keras.layers.Lambda(mirror_one_pixel, name=MIRROR_PREFIX + conv_name)(x)


def _reflected(x, margin: int):
    return keras.layers.Lambda(
        lambda t: tf.pad(t, [[0, 0], [margin, margin], [margin, margin], [0, 0]], mode="REFLECT"),
        name="reflect",
    )(x)


def crop(t, margin: int):
    """t (batch, h, w, c) without `margin` rows and columns on each side. tf.slice, not
    Python slicing: a strided slice's gradient (StridedSliceGrad) cost reflect's step a
    quarter more on CPUs, a slice's (a zero pad) costs next to nothing; the values are the same
    (bench/results/defaults.md, Cheaper borders)."""
    size = tf.shape(t)[1:3] - 2 * margin
    channels = t.shape[-1] or -1  # known to Keras' shape inference where the input's is
    return tf.slice(t, [0, margin, margin, 0], [-1, size[0], size[1], channels])


def _cropped(x, margin: int, name: str):
    return keras.layers.Lambda(crop, arguments={"margin": margin}, name="crop_" + name)(x)


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded model weights (honours KERAS_HOME)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def _load_network(constructor, network: str, weights: str, seed: int) -> keras.Model:
    if weights == "random":
        keras.utils.set_random_seed(seed)  # the same random network for the same seed
        return constructor(include_top=False, weights=None)
    if weights == "imagenet":
        previous = socket.getdefaulttimeout()
        # Keras downloads with urllib and no timeout: a silently dropped connection would
        # hang the run forever instead of ending in the message below.
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        try:
            return constructor(include_top=False, weights="imagenet")
        except Exception as error:  # Keras raises a bare Exception for a failed download
            file = WEIGHTS_FILE.format(network=network)
            raise WeightsError(
                f"cannot get the ImageNet {network} weights: {str(error).splitlines()[0]}. "
                f"Keras downloads {file} (about 80 MB) once from "
                f"{WEIGHTS_ORIGIN.format(network=network, file=file)} into {keras_cache_dir()}. "
                f"Offline: copy that file into that folder, or set [model] weights to the path "
                f"of a local weights file, or weights = random for a smoke run (no artistic "
                f"result)."
            ) from None
        finally:
            socket.setdefaulttimeout(previous)
    path = check_weights_file(network, weights)
    try:
        with warnings.catch_warnings():  # Keras warns per layer before it raises: noise
            warnings.simplefilter("ignore")
            return constructor(include_top=False, weights=str(path))
    except Exception as error:  # h5py/Keras raise many kinds for a bad or mismatched file
        reason = str(error).splitlines()[0].rstrip(":. ") if str(error) else type(error).__name__
        raise WeightsError(
            f"[model] weights = {weights}: cannot load it into {network} "
            f"(include_top=False): {reason}. Is it a {network} weights "
            f"file, complete, and does [model] network match it?"
        ) from None
