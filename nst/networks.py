"""The networks nst can use, as plain data, so settings can be checked without TensorFlow.

Layer names are Keras' (`block4_conv2` is the paper's conv4_2), in the network's order.
"""

NETWORKS = ("vgg19", "vgg16")

_CONV_PER_BLOCK = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}


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
