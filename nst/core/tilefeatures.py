"""The network run over tiles of one picture, in memory bounded by the tile (where the tiles
lie: nst.core.tilegrid): what the tiled step (nst.core.tiles) runs per tile, and the targets a
tiled scale needs before its loop (nst.core.objective.build_terms), equal to the whole
picture's to float rounding:

- the content image's features at the content layers, stitched from the positions each
  tile's core owns (the halo makes every owned position exact);
- a style image's Gram matrices, summed over its tiles (a Gram matrix is a sum over
  positions), guided by the style image's own mask where it has one;
- E(0) of the style targets from the generated picture's layer shapes alone, without
  materialising all-zero features of the whole picture (at conv1 of a 4096 px picture: 3 GB).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from nst.core.tilegrid import cores, reach, sample_stride, window
from nst.inputs.masks import layer_masks, resize_mask
from nst.settings import ModelSettings
from nst.settings.networks import layer_shapes


def network_parts(extractor: keras.Model) -> tuple:
    """(preprocess, mirror margin, [(layer, poolings before its output)]) of a feature extractor
    (nst.core.features): what runs on the whole picture, and the layers run on a tile."""
    from nst.core.features import MARGIN, MIRROR_PREFIX  # reflect's margin, reflect_* layers

    names = {layer.name for layer in extractor.layers}
    layers, poolings = [], 0
    pooling = keras.layers.MaxPooling2D | keras.layers.AveragePooling2D
    for layer in extractor.layers:
        if isinstance(layer, keras.layers.Conv2D | pooling) or layer.name.startswith(MIRROR_PREFIX):
            layers.append((layer, poolings))
        poolings += isinstance(layer, pooling)
    preprocess = extractor.get_layer("preprocess")
    return preprocess, (MARGIN if "reflect" in names else 0), layers


def owned(values, poolings: int, place, margin: int) -> tuple:
    """(the features `values` of a tile at a layer after `poolings` poolings whose positions
    the tile's core owns, the slice of the picture's layer they are: (top, left, height,
    width)). `place`: (core top, bottom, left, right, window top, left) in picture pixels and
    mirrored-picture pixels, Python ints or an int32 tensor (inside a traced step)."""
    top, bottom, left, right, wy, wx = (place[k] for k in range(6))
    s = 2**poolings
    rows, cols = [top // s, bottom // s], [left // s, right // s]
    at = [(top + margin - wy) // s, (left + margin - wx) // s]
    size = [rows[1] - rows[0], cols[1] - cols[0]]
    part = tf.slice(values, [0, at[0], at[1], 0], [1, size[0], size[1], -1])
    return part, (rows[0], cols[0], size[0], size[1])


class TiledForward:
    """The network's forward pass over tiles whose cores are `side` px, one tile at a time
    (eager: each tile's activations are freed before the next tile's)."""

    def __init__(self, extractor: keras.Model, model: ModelSettings, side: int):
        self.preprocess, self.margin, self.layers = network_parts(extractor)
        self.network, self.side = model.network, side
        self.halo = reach(model.network, (*model.content_layers, *model.style_layers)).halo

    def _owned_per_tile(self, image: np.ndarray, layers: tuple):
        """Per core, row by row: (core, {layer: (owned features, their slice)})."""
        height, width = image.shape[:2]
        x = self.preprocess(tf.constant(image[None], tf.float32))
        m = self.margin
        padded = tf.pad(x, [[0, 0], [m, m], [m, m], [0, 0]], mode="REFLECT") if m else x
        for core in cores(height, width, self.side):
            y, x0, h, w = window(core, height, width, self.halo, m)
            features, out = padded[:, y : y + h, x0 : x0 + w, :], {}
            for layer, poolings in self.layers:
                features = layer(features)
                if layer.name in layers:
                    values = tf.cast(features, tf.float32)
                    out[layer.name] = owned(values, poolings, (*core, y, x0), m)
                if len(out) == len(set(layers)):
                    break
            yield core, out

    def stitched(self, image: np.ndarray, layers: tuple) -> dict:
        """{layer: the features (1, h_l, w_l, c) of `image` (height, width, 3) at `layers`},
        as the extractor gives them for the whole image. Each tile's part is copied into its
        place at once, so the layer is held once (and once more while it becomes a tensor),
        not as parts, rows and the whole together: at 4096x3072 a copy of block4_conv2 is
        400 MB."""
        height, width = image.shape[:2]
        wanted = self.shapes(height, width, layers)
        whole = {name: np.empty(wanted[name].shape, np.float32) for name in layers}
        for _, parts in self._owned_per_tile(image, layers):
            for name in layers:
                part, (top, left, rows, cols) = parts[name]
                whole[name][:, top : top + rows, left : left + cols, :] = part.numpy()
        return {name: tf.convert_to_tensor(whole.pop(name)) for name in layers}

    def grams(self, image: np.ndarray, layers: tuple, mask: np.ndarray | None = None) -> list:
        """Per layer, (G, M) as nst.core.guided.painting_grams gives them for one style image:
        G = Σ_p s_p F_p F_pᵀ (N, N) over the tiles, s the image's `mask` carried down to the
        layer (None: all ones) and M = Σ_p s_p its positions' mass."""
        masks = None if mask is None else layer_masks(mask, self.network, layers)
        sums = [0.0] * len(layers)
        for _, parts in self._owned_per_tile(image, layers):
            for k, name in enumerate(layers):
                part, (y, x, h, w) = parts[name]
                f = tf.reshape(part, (-1, part.shape[-1]))
                weighted = f
                if masks is not None:
                    weighted = tf.reshape(masks[k][y : y + h, x : x + w], (-1, 1)) * f
                sums[k] = sums[k] + tf.matmul(weighted, f, transpose_a=True)
        height, width = image.shape[:2]
        if masks is None:
            shapes = {n: (h * w) for n, h, w, _ in layer_shapes(self.network, height, width)}
            return [(g, float(shapes[n])) for g, n in zip(sums, layers, strict=True)]
        return [(g, max(float(m.sum()), 1e-6)) for g, m in zip(sums, masks, strict=True)]

    def grid(self, image: np.ndarray, layers: tuple, most: int) -> dict:
        """{layer: the features at the positions (i s, j s) of `image`, (rows, cols, c)}, s the
        layer's sample stride for at most `most` positions (nst.core.tilegrid.sample_stride), as
        nst.core.objective.style_grid takes them from the whole image's features; only the
        grid is kept, never the whole layer."""
        height, width = image.shape[:2]
        sizes = {n: (h, w, c) for n, h, w, c in layer_shapes(self.network, height, width)}
        strides = {name: sample_stride(*sizes[name][:2], most) for name in layers}
        grids = {
            name: np.empty((-(-h // strides[name]), -(-w // strides[name]), c), np.float32)
            for name in layers
            for h, w, c in [sizes[name]]
        }
        for _, parts in self._owned_per_tile(image, layers):
            for name in layers:
                part, (y, x, _, _) = parts[name]
                s = strides[name]
                first_row, first_col = -(-y // s), -(-x // s)  # the grid's first in the part
                taken = part.numpy()[0, first_row * s - y :: s, first_col * s - x :: s]
                rows, cols = taken.shape[:2]
                grids[name][first_row : first_row + rows, first_col : first_col + cols] = taken
        return grids

    def painting_grams(self, style_images: tuple, painting: tuple | None, layers: tuple) -> list:
        """nst.core.guided.painting_grams over tiles: per style image, per layer, (G_s, M_s)."""
        return [
            self.grams(
                image,
                layers,
                None if painting is None else resize_mask(painting[k], width, height),
            )
            for k, image in enumerate(style_images)
            for height, width in [image.shape[:2]]
        ]

    def shapes(self, height: int, width: int, layers: tuple) -> dict:
        """{layer: a TensorSpec of its features on a height x width picture}: what
        nst.core.guided.region_targets reads of the generated image (its size alone)."""
        sizes = {n: (h, w, c) for n, h, w, c in layer_shapes(self.network, height, width)}
        return {name: tf.TensorSpec((1, *sizes[name])) for name in layers}


def style_at_zero(regions, targets: tuple, shapes: tuple) -> tuple:
    """E_l,r(0, A_l,r) per style layer, (R,), as nst.core.guided.style_at_zero computes it from
    all-zero features, from their shapes (`shapes`: per style layer a TensorSpec): with G = 0,
    E = Σ (A / (2 N M))², M the positions (or each region's mass, at least 1e-6)."""
    errors = []
    for k, (target, spec) in enumerate(zip(targets, shapes, strict=True)):
        channels = float(spec.shape[-1])
        if regions.masks is None:
            positions = tf.constant([float(spec.shape[1] * spec.shape[2])])
        else:
            positions = tf.maximum(tf.reduce_sum(regions.masks[k], axis=(1, 2)), 1e-6)
        scaled = target / (2.0 * channels * positions[:, None, None])
        errors.append(tf.reduce_sum(tf.square(scaled), axis=(1, 2)))
    return tuple(errors)
