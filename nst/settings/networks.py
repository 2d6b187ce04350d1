"""The networks nst can use, as plain data, so settings can be checked without TensorFlow.

Layer names are Keras' (`block4_conv2` is the paper's conv4_2), in the network's order.
"""

from pathlib import Path

NETWORKS = ("vgg19", "vgg16")
# Both VGGs pool five times by 2: from 2**5 px a side every layer keeps at least one position.
# The layers a run uses may need less (see min_input_side); no image side goes below this.
MIN_SIDE = 2**5
# Keras' own file names and download place for the ImageNet weights (include_top=False).
WEIGHTS_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/{network}/{file}"
WEIGHTS_FILE = "{network}_weights_tf_dim_ordering_tf_kernels_notop.h5"


class WeightsError(RuntimeError):
    """Network weights that cannot be had or do not fit; the message says what to do."""


_CONV_PER_BLOCK = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_CHANNELS_PER_BLOCK = (64, 128, 256, 512, 512)  # the same for both networks
_PARAMETERS = {"vgg16": 14_714_688, "vgg19": 20_024_384}  # include_top=False, as Keras counts
# The paper's style layers, conv1_1 .. conv5_1 (Keras names, both networks); the default
# leaves out block5_conv1 (ModelSettings.style_layers says why).
PAPER_STYLE_LAYERS = tuple(f"block{i}_conv1" for i in range(1, 6))


def layer_names(network: str) -> tuple[str, ...]:
    """All layer names of the convolutional part of `network`, input excluded, in order."""
    names = []
    for block, convs in enumerate(_CONV_PER_BLOCK[network], start=1):
        names += [f"block{block}_conv{i}" for i in range(1, convs + 1)]
        names.append(f"block{block}_pool")
    return tuple(names)


def conv_layer_names(network: str) -> tuple[str, ...]:
    """The convolution layers of `network`: the ones whose features a loss can use."""
    return tuple(name for name in layer_names(network) if "_conv" in name)


def layer_shapes(
    network: str, height: int, width: int, upto: str | None = None
) -> tuple[tuple[str, int, int, int], ...]:
    """(name, height, width, channels) of each layer's output for a height x width input, up to
    and including `upto` (None: all). Convolutions keep the size ('same' padding); each 2x2
    pooling halves it, rounding down, as Keras' 'valid' pooling does."""
    shapes = []
    for name in layer_names(network):
        block = int(name[len("block")])
        if name.endswith("_pool"):
            height, width = height // 2, width // 2
        shapes.append((name, height, width, _CHANNELS_PER_BLOCK[block - 1]))
        if name == upto:
            break
    return tuple(shapes)


# [loss] style_loss = mixed: the sliced loss from this block on, Gram matrices before it. A
# sliced layer sorts each of its positions along every direction each step: at 512 px that
# cost 2.0 CPU s a step at block1_conv1 and 0.43 at block2_conv1 against 0.04 for their Gram
# matrices, while from block 3 on (a sixteenth of the positions) it costs about what the Gram
# matrices do (bench/results/defaults.md). The deep layers carry the forms the sliced loss
# keeps better (the towers, the bands across a sky); the first two the brush texture.
MIXED_SLICED_FROM_BLOCK = 3


def style_loss_layers(style_loss: str, layers) -> tuple[tuple, tuple]:
    """(the style layers matched by Gram matrices, those matched by the sliced loss) under
    [loss] style_loss (gram | sliced | mixed: the sliced loss from MIXED_SLICED_FROM_BLOCK)."""
    if style_loss == "gram":
        return tuple(layers), ()
    if style_loss == "sliced":
        return (), tuple(layers)
    deep = tuple(n for n in layers if int(n[len("block")]) >= MIXED_SLICED_FROM_BLOCK)
    return tuple(n for n in layers if n not in deep), deep


def deepest_layer(network: str, layers) -> str:
    """Of `layers`, the one deepest in `network`: where the feature extractor is cut."""
    order = layer_names(network)
    return max(layers, key=order.index)


def min_input_side(network: str, layers) -> int:
    """The shortest image side, in pixels, for which every one of `layers` keeps at least one
    position: 2 ** (number of poolings before the deepest of them)."""
    deepest = deepest_layer(network, layers)
    names = layer_names(network)
    poolings = sum(1 for name in names[: names.index(deepest)] if name.endswith("_pool"))
    return 2**poolings


def parameter_count(network: str) -> int:
    """Weights of the whole convolutional part (Keras loads all of it before the cut)."""
    return _PARAMETERS[network]


def check_weights_file(network: str, weights: str) -> Path:
    """The path of a weights file given in [model] weights, if it is a file of `network`'s
    weights (or of no network this can tell); else WeightsError, before TensorFlow loads."""
    path = Path(weights)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise WeightsError(
            f"[model] weights = {weights}: that file {what}; give the path of a Keras weights "
            f"file for {network} (include_top=False), or imagenet, or random"
        )
    found = network_of_weights(path)
    if found is not None and found != network:
        convs = sum(_CONV_PER_BLOCK[found])
        raise WeightsError(
            f"[model] weights = {weights}: this is a {found.upper()} weights file ({convs} "
            f"convolution layers): set network = {found} in [model] (now {network}), or give "
            f"a {network} weights file"
        )
    return path


def network_of_weights(path: Path) -> str | None:
    """The VGG whose convolutions a Keras weights file holds (.weights.h5 of Keras 3, or the
    older .h5 that Keras downloads), told by its number of 3x3 convolution kernels: 13 in
    VGG16, 16 in VGG19. None where the file cannot be read as HDF5 or fits neither: loading
    it then says why (h5py only reads the file's index here, not its weights)."""
    import h5py  # a Keras dependency; light, and no TensorFlow

    kernels = []

    def visit(name: str, item) -> None:
        if isinstance(item, h5py.Dataset) and item.ndim == 4 and item.shape[:2] == (3, 3):
            kernels.append(item.shape)

    try:
        with h5py.File(path, "r") as file:
            file.visititems(visit)
    except (OSError, ValueError, RuntimeError, KeyError):  # not HDF5, truncated, damaged
        return None
    by_count = {sum(convs): name for name, convs in _CONV_PER_BLOCK.items()}
    return by_count.get(len(kernels))
