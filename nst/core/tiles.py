"""The objective and its gradient computed over tiles, in memory bounded by the tile's size,
equal to the whole picture's to float rounding (where are the tiles: nst.core.tilegrid).

The style is matched for the whole picture, not per tile: a Gram matrix is a sum over
positions, so the tiles' partial Gram matrices add up to the picture's. One step is two passes:

1. every tile forward: its core's partial Gram matrices and content error, summed;
2. dL/dG once from the summed Gram matrices, then every tile forward and backward of the
   surrogate Σ_l stop_gradient(dL/dG_l) · G_l,tile + α content_tile, whose gradient with respect
   to the tile's input is that tile's share of dL/dimage; the shares are added up.

The cores partition every layer's positions and each owned feature is computed exactly (the
halo), so the shares add up to the whole picture's gradient: the halo of one tile and the core
of its neighbour both receive what flows to them, and no seam is left. The pixel terms
(smoothness, the photo's and a video frame's pull) cost no activations: they are computed on
the whole picture. The picture is preprocessed and mirrored ([model] padding = reflect) whole,
then cut; the gradient flows back through both.
"""

from __future__ import annotations

import tensorflow as tf

from nst.core.finest import LowPassAnchor
from nst.core.losses import relative
from nst.core.objective import (
    Content,
    GramStyle,
    Photo,
    Smoothness,
    TemporalTerm,
    over_layers_and_regions,
)
from nst.core.records import Losses
from nst.core.tilefeatures import network_parts, owned
from nst.core.tilegrid import cores, reach, window
from nst.settings import SettingsError

PIXEL_KINDS = Smoothness | Photo | TemporalTerm | LowPassAnchor  # terms of the pixels alone


class TilesInterrupted(Exception):
    """A stop was asked between two tiles: the step was given up, nothing was updated."""


def _check(interrupted) -> None:
    # A step over many tiles of a print takes minutes: a stop is honoured at the next tile,
    # not the next step (the run resumes from the step's start, which is unchanged).
    if interrupted is not None and interrupted():
        raise TilesInterrupted


class TiledObjective:
    """The objective of `kinds` (a terms' signature, nst.core.objective) on a height x width
    picture, over tiles whose cores are `side` pixels: `value_and_gradient` and `losses` as the
    untiled objective's, and the per-tile passes traced once for all tiles of the picture."""

    def __init__(self, extractor, kinds: tuple, model, height: int, width: int, side: int):
        self.preprocess, self.margin, self.layers = network_parts(extractor)
        self.kinds, self.shape, self.side = kinds, (height, width), side
        for name, kind in kinds:
            if not isinstance(kind, Content | GramStyle | PIXEL_KINDS):
                raise SettingsError(
                    f"[loss] style_loss = sliced cannot run over tiles ([image] memory_limit: "
                    f"this {width}x{height} scale does not fit): raise [image] memory_limit, "
                    f"lower [image] max_size, or use style_loss = gram ({name}: {kind})"
                )
        grid_reach = reach(model.network, (*model.content_layers, *model.style_layers))
        self.windows = [
            (core, window(core, height, width, grid_reach.halo, self.margin))
            for core in cores(height, width, side)
        ]
        self.wanted = {n for _, k in kinds if isinstance(k, Content | GramStyle) for n in k.layers}
        self._statistics = tf.function(self._tile_statistics)
        self._share = tf.function(self._tile_share)
        self._gradient = tf.function(self._tile_gradient)
        self._style = tf.function(self._style_from_grams)

    def padded(self, image: tf.Tensor) -> tf.Tensor:
        """The picture as the network's first convolution sees it: preprocessed, mirrored."""
        x = self.preprocess(image)
        m = self.margin
        return tf.pad(x, [[0, 0], [m, m], [m, m], [0, 0]], mode="REFLECT") if m else x

    def _features(self, tile: tf.Tensor) -> dict:
        """{layer name: (its features, poolings before it)} of a tile, float32."""
        out, x = {}, tile
        for layer, poolings in self.layers:
            x = layer(x)
            if layer.name in self.wanted:
                out[layer.name] = (tf.cast(x, tf.float32), poolings)
            if len(out) == len(self.wanted):
                break
        return out

    def _owned(self, features: dict, name: str, place: tf.Tensor):
        """nst.core.tilefeatures.owned of layer `name`'s features of a tile."""
        values, poolings = features[name]
        return owned(values, poolings, place, self.margin)

    def _tile(self, padded: tf.Tensor, place: tf.Tensor, extent: tf.Tensor) -> tf.Tensor:
        return tf.slice(padded, [0, place[4], place[5], 0], [1, extent[0], extent[1], -1])

    def _tile_terms(self, features: dict, place: tf.Tensor, inputs: tuple) -> tuple:
        """(per style term: partial Gram matrices per layer (R, N, N); content raw, value)."""
        grams, content_raw, content_value = [], 0.0, 0.0
        for (_, kind), (weight, term_inputs) in zip(self.kinds, inputs, strict=True):
            if isinstance(kind, GramStyle):
                grams.append(self._partial_grams(features, kind, term_inputs, place))
            elif isinstance(kind, Content):
                raw, value = self._partial_content(features, kind, term_inputs, place)
                content_raw += raw
                content_value += weight * value
        return tuple(grams), content_raw, content_value

    def _partial_grams(self, features, kind, term_inputs, place) -> tuple:
        regions = term_inputs.regions
        masks = regions.masks or (None,) * len(kind.layers)
        grams = []
        for name, mask in zip(kind.layers, masks, strict=True):
            owned, (y, x, h, w) = self._owned(features, name, place)
            f = tf.reshape(owned, (-1, tf.shape(owned)[-1]))
            if mask is None:
                grams.append(tf.matmul(f, f, transpose_a=True)[None])
                continue
            weights = tf.reshape(tf.slice(mask, [0, y, x], [-1, h, w]), (tf.shape(mask)[0], -1, 1))
            grams.append(tf.einsum("rmi,mj->rij", weights * f, f))
        return tuple(grams)

    def _partial_content(self, features, kind, term_inputs, place) -> tuple:
        """(the core's share of the content loss, of its relative value); weighted ([loss]
        face_content): each position by its content weight, as Content does."""
        targets, at_zero, weights = term_inputs
        weights = weights if kind.weighted else (None,) * len(kind.layers)
        raws = []
        for name, target, c in zip(kind.layers, targets, weights, strict=True):
            owned, (y, x, h, w) = self._owned(features, name, place)
            square = tf.square(owned - tf.slice(target, [0, y, x, 0], [1, h, w, -1]))
            if c is not None:  # [loss] face_content: the content weights of the owned part
                square = tf.slice(c, [0, y, x, 0], [1, h, w, -1]) * square
            raws.append(0.5 * tf.reduce_sum(square))
        value = tf.add_n([relative(r, z) for r, z in zip(raws, at_zero, strict=True)])
        return tf.add_n(raws), value

    def _tile_statistics(self, padded, place, extent, inputs) -> tuple:
        """Pass 1 for one tile: its partial Gram matrices and content terms."""
        return self._tile_terms(self._features(self._tile(padded, place, extent)), place, inputs)

    def _tile_gradient(self, padded, place, extent, inputs, slopes) -> tf.Tensor:
        """Pass 2 for one tile: its share of d total / d padded picture, on its window."""
        tile = self._tile(padded, place, extent)
        with tf.GradientTape() as tape:
            tape.watch(tile)
            grams, _, content = self._tile_terms(self._features(tile), place, inputs)
            surrogate = content + tf.add_n(
                [
                    tf.reduce_sum(slope * gram)
                    for per_term, slopes_term in zip(grams, slopes, strict=True)
                    for gram, slope in zip(per_term, slopes_term, strict=True)
                ]
                or [tf.constant(0.0)]
            )
        return tape.gradient(surrogate, tile)

    def _tile_share(self, padded, place, extent, inputs, slopes, gradient) -> tf.Tensor:
        """Pass 2 for one tile: `gradient` (d total / d padded picture so far) plus its share."""
        share = self._tile_gradient(padded, place, extent, inputs, slopes)
        shape = tf.shape(padded)
        paddings = [
            [0, 0],
            [place[4], shape[1] - place[4] - extent[0]],
            [place[5], shape[2] - place[5] - extent[1]],
            [0, 0],
        ]
        return gradient + tf.pad(share, paddings)

    def _style_from_grams(self, grams: tuple, inputs: tuple) -> tuple:
        """(style raw, weighted style value, d value / d grams) from the picture's Gram matrices,
        as nst.core.objective.GramStyle computes them from the picture's features."""
        raw, value = tf.constant(0.0), tf.constant(0.0)
        styles = [
            (kind, weight, targets)
            for (_, kind), (weight, targets) in zip(self.kinds, inputs, strict=True)
            if isinstance(kind, GramStyle)
        ]
        with tf.GradientTape() as tape:
            tape.watch(grams)
            for (kind, weight, targets), term_grams in zip(styles, grams, strict=True):
                r, v = self._style_errors(kind, targets, term_grams)
                raw, value = raw + r, value + weight * v
        return raw, value, tape.gradient(value, grams)

    def _style_errors(self, kind, targets, grams) -> tuple:
        target_grams, at_zero, layer_weights, regions = targets
        height, width = self.shape
        errors = []
        for k, (gram, target) in enumerate(zip(grams, target_grams, strict=True)):
            channels = tf.cast(tf.shape(gram)[-1], tf.float32)
            if regions.masks is None:
                p = dict((layer.name, p) for layer, p in self.layers)[kind.layers[k]]
                positions = tf.constant([float((height // 2**p) * (width // 2**p))])
            else:
                positions = tf.maximum(tf.reduce_sum(regions.masks[k], axis=(1, 2)), 1e-6)
            scaled = (gram - target) / (2.0 * channels * positions[:, None, None])
            errors.append(tf.reduce_sum(tf.square(scaled), axis=(1, 2)))
        relatives = [relative(e, z) for e, z in zip(errors, at_zero, strict=True)]
        return (
            over_layers_and_regions(errors, regions.weights, layer_weights),
            over_layers_and_regions(relatives, regions.weights, layer_weights),
        )

    def _places(self) -> list:
        """Per tile, (place, extent) as int32 tensors (see `_owned`)."""
        return [
            (tf.constant([*core, y, x], tf.int32), tf.constant([h, w], tf.int32))
            for core, (y, x, h, w) in self.windows
        ]

    def pixel_terms(self, image: tf.Tensor, inputs: tuple, draw: tf.Tensor) -> tuple:
        """(tv raw, weighted value of the terms of the pixels alone), on the whole picture."""
        tv, total = tf.constant(0.0), tf.constant(0.0)
        for (name, kind), (weight, term_inputs) in zip(self.kinds, inputs, strict=True):
            if isinstance(kind, PIXEL_KINDS):
                raw, value = kind(image, None, term_inputs, draw)
                tv = raw if name == "tv" else tv
                total = total + weight * value
        return tv, total

    def statistics(self, padded: tf.Tensor, inputs: tuple, tiles=None, interrupted=None) -> tuple:
        """Pass 1 over the tiles numbered `tiles` (None: all, row by row): (their Gram matrices
        per style term and layer, summed; content raw; content value). Summed over a partition
        of the tiles they are the picture's (nst.batch.raytiles sums them over workers).
        `interrupted()` true before a tile raises TilesInterrupted."""
        grams, content_raw, content_value = None, 0.0, 0.0
        places = self._places()
        for number in range(len(places)) if tiles is None else tiles:
            _check(interrupted)
            place, extent = places[number]
            partial, raw, value = self._statistics(padded, place, extent, inputs)
            grams = partial if grams is None else tf.nest.map_structure(tf.add, grams, partial)
            content_raw, content_value = content_raw + raw, content_value + value
        return grams, content_raw, content_value

    def style(self, grams: tuple, inputs: tuple) -> tuple:
        """(style raw, weighted style value, d value / d grams) from the picture's Gram
        matrices (`statistics` over all tiles)."""
        return self._style(grams, inputs)

    def shares(self, padded: tf.Tensor, inputs: tuple, slopes: tuple, tiles):
        """Pass 2 over the tiles numbered `tiles`: per tile, (its window (top, left, height,
        width) in the padded picture, its share of d total / d padded picture there)."""
        places = self._places()
        for number in tiles:
            place, extent = places[number]
            yield self.windows[number][1], self._gradient(padded, place, extent, inputs, slopes)

    def losses(self, image: tf.Tensor, inputs: tuple, draw: tf.Tensor) -> Losses:
        """The objective's Losses at `image` (1, height, width, 3), as make_objective's."""
        grams, content_raw, content_value = self.statistics(self.padded(image), inputs)
        style_raw, style_value, _ = self._style(grams, inputs)
        tv, pixels = self.pixel_terms(image, inputs, draw)
        return Losses(content_raw, style_raw, tv, content_value + style_value + pixels)

    def value_and_gradient(self, image, inputs: tuple, draw: tf.Tensor, interrupted=None) -> tuple:
        """(Losses, d total / d image) at `image`, as the untiled objective's; TilesInterrupted
        where `interrupted()` (None: never asked) is true before a tile."""
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(image)
            padded = self.padded(image)
            tv, pixels = self.pixel_terms(image, inputs, draw)
        grams, content_raw, content_value = self.statistics(padded, inputs, None, interrupted)
        style_raw, style_value, slopes = self._style(grams, inputs)
        gradient = tf.zeros_like(padded)
        for place, extent in self._places():
            _check(interrupted)
            gradient = self._share(padded, place, extent, inputs, slopes, gradient)
        through = tape.gradient(padded, image, output_gradients=gradient)
        pixel_gradient = tape.gradient(pixels, image, unconnected_gradients="zero")
        del tape
        total = content_value + style_value + pixels
        return Losses(content_raw, style_raw, tv, total), through + pixel_gradient
