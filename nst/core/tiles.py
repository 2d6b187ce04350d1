"""The objective and its gradient computed over tiles, in memory bounded by the tile's size,
equal to the whole picture's to float rounding (where are the tiles: nst.core.tilegrid).

The style is matched for the whole picture, not per tile: a Gram matrix is a sum over
positions, so the tiles' partial Gram matrices add up to the picture's. One step is two passes:

1. every tile forward: its core's partial Gram matrices and content error, summed;
2. dL/dG once from the summed Gram matrices, then every tile forward and backward of the
   surrogate Σ_l stop_gradient(dL/dG_l) · G_l,tile + α content_tile, whose gradient with respect
   to the tile's input is that tile's share of dL/dimage; the shares are added up.

The sliced loss ranks each position among a sample grid of the picture's positions
(nst.core.losses.on_grid): in pass 1 every tile places its grid positions' projections in the
whole grid (a sum again), the grid is sorted once, and in pass 2 each tile adds its positions'
share of the loss, a sum over positions once the sample is known, and of its gradient.

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
from nst.core.losses import (
    by_directions,
    on_grid,
    project,
    ranks,
    relative,
    sample_tables,
    transport_errors,
)
from nst.core.objective import (
    Content,
    FaceTone,
    GramStyle,
    Photo,
    SlicedStyle,
    Smoothness,
    TemporalTerm,
    content_relative,
    drawn_set,
    over_layers_and_regions,
    sample_grid,
)
from nst.core.records import Losses
from nst.core.tilefeatures import network_parts, owned
from nst.core.tilegrid import cores, reach, window
from nst.settings import SettingsError

PIXEL_KINDS = Smoothness | Photo | FaceTone | TemporalTerm | LowPassAnchor  # of the pixels alone


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
            if not isinstance(kind, Content | GramStyle | SlicedStyle | PIXEL_KINDS):
                raise SettingsError(
                    f"the {name} term cannot run over tiles ([image] memory_limit: this "
                    f"{width}x{height} scale does not fit): raise [image] memory_limit or "
                    f"lower [image] max_size"
                )
        grid_reach = reach(model.network, (*model.content_layers, *model.style_layers))
        self.windows = [
            (core, window(core, height, width, grid_reach.halo, self.margin))
            for core in cores(height, width, side)
        ]
        self.wanted = {
            n
            for _, k in kinds
            if isinstance(k, Content | GramStyle | SlicedStyle)
            for n in k.layers
        }
        self.layer_shapes = {  # the picture's positions at each layer
            layer.name: (height // 2**poolings, width // 2**poolings)
            for layer, poolings in self.layers
        }
        self._statistics = tf.function(self._tile_statistics)
        self._share = tf.function(self._tile_share)
        self._gradient = tf.function(self._tile_gradient)
        self._sliced_values = tf.function(self._tile_sliced_values)
        self._style = tf.function(self._style_from_statistics)

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

    def _tile_terms(self, features: dict, place, inputs: tuple, draw, answers=None) -> tuple:
        """(per style term its statistics of the tile: partial Gram matrices per layer
        (R, N, N), or for a sliced term its projections on the sample grid (pass 1; `answers`
        None) or nothing (pass 2); content raw, value; the sliced terms' raw and weighted value
        on the tile's positions (pass 2: from `answers`, the style's answers per term))."""
        statistics, content_raw, content_value, sliced_raw, sliced_value = [], 0.0, 0.0, 0.0, 0.0
        for (_, kind), (weight, term_inputs) in zip(self.kinds, inputs, strict=True):
            if isinstance(kind, GramStyle):
                statistics.append(self._partial_grams(features, kind, term_inputs, place))
            elif isinstance(kind, SlicedStyle) and answers is None:
                statistics.append(self._partial_samples(features, kind, term_inputs, place, draw))
            elif isinstance(kind, SlicedStyle):
                tables = answers[len(statistics)]
                raw, value = self._sliced_share(features, kind, term_inputs, place, draw, tables)
                statistics.append(())
                sliced_raw, sliced_value = sliced_raw + raw, sliced_value + weight * value
            elif isinstance(kind, Content):
                raw, value = self._partial_content(features, kind, term_inputs, place)
                content_raw += raw
                content_value += weight * value
        return tuple(statistics), content_raw, content_value, sliced_raw, sliced_value

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
        return tf.add_n(raws), content_relative(raws, at_zero)

    def _partial_samples(self, features, kind, term_inputs, place, draw) -> tuple:
        """Per layer, the projections of the tile's owned positions on this step's sample grid
        (SlicedStyle), in place in the whole grid (1, rows, cols, K), zero elsewhere: summed
        over the tiles, the picture's sample."""
        targets, _, directions, _, _ = term_inputs
        samples = []
        for k, name in enumerate(kind.layers):
            _, theta = drawn_set(targets[k], directions[k], draw)
            owned, (y, x, h, w) = self._owned(features, name, place)
            height, width = self.layer_shapes[name]
            stride, (oy, ox) = sample_grid(height, width, draw)
            rows, first_row, row_count = _grid_rows(y, h, oy, stride, height)
            cols, first_col, col_count = _grid_rows(x, w, ox, stride, width)
            top = tf.minimum(oy + first_row * stride - y, h)  # a tile the grid misses: h
            left = tf.minimum(ox + first_col * stride - x, w)
            size = [1, _reach(row_count, stride), _reach(col_count, stride), -1]
            # the grid's part of all owned positions' projections, as pass 2 computes them:
            # a sample position then finds itself, not a rounding away, among the sample
            projected = project(owned, theta)
            block = tf.slice(projected, [0, top, left, 0], size)[:, ::stride, ::stride]
            paddings = [
                [0, 0],
                [first_row, rows - first_row - row_count],
                [first_col, cols - first_col - col_count],
                [0, 0],
            ]
            samples.append(tf.pad(block, paddings))
        return tuple(samples)

    def _sliced_tables(self, kind, term_inputs, samples: tuple, draw) -> tuple:
        """Per layer, losses.sample_tables of the picture's sample (`samples`: the tiles'
        _partial_samples summed), each position weighing its region's mask."""
        regions = term_inputs.regions
        tables = []
        for k, (name, sample) in enumerate(zip(kind.layers, samples, strict=True)):
            height, width = self.layer_shapes[name]
            stride, offset = sample_grid(height, width, draw)
            masses = None
            if regions.masks is not None:
                masks = regions.masks[k]
                grid = on_grid(masks[..., None], height, width, stride, offset)
                masses = tf.reshape(grid, (tf.shape(masks)[0], -1))
            ordered, below, order = sample_tables(by_directions(sample), masses)
            # stride 1: every position is in the sample, and its place is its rank
            places = tf.reshape(ranks(order), (-1, height, width)) if stride == 1 else None
            tables.append((ordered, below, places))
        return tuple(tables)

    def _sliced_share(self, features, kind, term_inputs, place, draw, tables) -> tuple:
        """(raw, value) of a sliced term on the tile's owned positions: SlicedStyle's, summed
        over the tiles, given the picture's sample (`tables`)."""
        targets, _, directions, _, regions = term_inputs
        errors = []
        for k, name in enumerate(kind.layers):
            quantiles, theta = drawn_set(targets[k], directions[k], draw)
            owned, (y, x, h, w) = self._owned(features, name, place)
            projected = by_directions(project(owned, theta))
            count = tf.cast(tf.shape(theta)[1], tf.float32)
            if regions.masks is None:
                weights, mass = None, float(self.layer_shapes[name][0] * self.layer_shapes[name][1])
            else:
                masks = regions.masks[k]
                weights = tf.reshape(
                    tf.slice(masks, [0, y, x], [-1, h, w]), (tf.shape(masks)[0], -1)
                )
                mass = tf.maximum(tf.reduce_sum(masks, axis=(1, 2)), 1e-6)
            ordered, below, places = tables[k]
            if places is not None:  # the owned positions' ranks in the whole picture
                places = tf.reshape(
                    tf.slice(places, [0, y, x], [-1, h, w]), (tf.shape(places)[0], -1)
                )
            error = transport_errors(projected, weights, ordered, below, quantiles, places)
            errors.append(error / (count * mass))
        return SlicedStyle.totals(errors, term_inputs)

    def _tile_statistics(self, padded, place, extent, inputs, draw) -> tuple:
        """Pass 1 for one tile: its style statistics and content terms."""
        features = self._features(self._tile(padded, place, extent))
        return self._tile_terms(features, place, inputs, draw)[:3]

    def _tile_sliced_values(self, padded, place, extent, inputs, draw, answers) -> tuple:
        """The sliced terms' (raw, weighted value) on one tile's positions."""
        features = self._features(self._tile(padded, place, extent))
        return self._tile_terms(features, place, inputs, draw, answers)[3:]

    def _tile_gradient(self, padded, place, extent, inputs, draw, answers) -> tuple:
        """Pass 2 for one tile: (its share of d total / d padded picture, on its window; the
        sliced terms' raw and weighted value on its positions)."""
        tile = self._tile(padded, place, extent)
        with tf.GradientTape() as tape:
            tape.watch(tile)
            features = self._features(tile)
            statistics, _, content, sliced_raw, sliced = self._tile_terms(
                features, place, inputs, draw, answers
            )
            surrogate = content + sliced
            for per_term, slopes in zip(statistics, answers, strict=True):
                for gram, slope in zip(per_term, slopes, strict=False):  # (): a sliced term
                    surrogate += tf.reduce_sum(slope * gram)
        return tape.gradient(surrogate, tile), sliced_raw, sliced

    def _tile_share(self, padded, place, extent, inputs, draw, answers, gradient) -> tuple:
        """Pass 2 for one tile: `gradient` (d total / d padded picture so far) plus its share;
        the sliced terms' raw and weighted value on its positions."""
        share, sliced_raw, sliced = self._tile_gradient(
            padded, place, extent, inputs, draw, answers
        )
        shape = tf.shape(padded)
        paddings = [
            [0, 0],
            [place[4], shape[1] - place[4] - extent[0]],
            [place[5], shape[2] - place[5] - extent[1]],
            [0, 0],
        ]
        return gradient + tf.pad(share, paddings), sliced_raw, sliced

    def _style_from_statistics(self, statistics: tuple, inputs: tuple, draw) -> tuple:
        """(style raw, weighted style value of the Gram terms; per style term its answer: for a
        Gram term d value / d grams, for a sliced term its sample's tables) from the picture's
        statistics. The Gram terms' value is nst.core.objective.GramStyle's; the sliced terms'
        is a sum over positions, taken in pass 2."""
        raw, value = tf.constant(0.0), tf.constant(0.0)
        styles = [
            (kind, weight, term_inputs)
            for (_, kind), (weight, term_inputs) in zip(self.kinds, inputs, strict=True)
            if isinstance(kind, GramStyle | SlicedStyle)
        ]
        grams = [
            s
            for (kind, _, _), s in zip(styles, statistics, strict=True)
            if isinstance(kind, GramStyle)
        ]
        with tf.GradientTape() as tape:
            tape.watch(grams)
            for (kind, weight, targets), term_grams in zip(styles, statistics, strict=True):
                if isinstance(kind, GramStyle):
                    r, v = self._style_errors(kind, targets, term_grams)
                    raw, value = raw + r, value + weight * v
        slopes = iter(tape.gradient(value, grams))
        answers = [
            next(slopes)
            if isinstance(kind, GramStyle)
            else self._sliced_tables(kind, targets, samples, draw)
            for (kind, _, targets), samples in zip(styles, statistics, strict=True)
        ]
        return raw, value, tuple(answers)

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

    def statistics(
        self, padded: tf.Tensor, inputs: tuple, tiles=None, interrupted=None, draw=None
    ) -> tuple:
        """Pass 1 over the tiles numbered `tiles` (None: all, row by row): (their style
        statistics per style term and layer, summed; content raw; content value). Summed over
        a partition of the tiles they are the picture's (nst.batch.raytiles sums them over
        workers). `interrupted()` true before a tile raises TilesInterrupted; `draw`: the step's
        projections (sliced terms; None: draw 0)."""
        draw = tf.constant(0, tf.int64) if draw is None else draw
        statistics, content_raw, content_value = None, 0.0, 0.0
        places = self._places()
        for number in range(len(places)) if tiles is None else tiles:
            _check(interrupted)
            place, extent = places[number]
            partial, raw, value = self._statistics(padded, place, extent, inputs, draw)
            statistics = (
                partial
                if statistics is None
                else tf.nest.map_structure(tf.add, statistics, partial)
            )
            content_raw, content_value = content_raw + raw, content_value + value
        return statistics, content_raw, content_value

    def style(self, statistics: tuple, inputs: tuple, draw=None) -> tuple:
        """(style raw, weighted style value, per style term its answer for pass 2) from the
        picture's statistics (`statistics` over all tiles); the Gram terms' alone, the sliced
        terms' value being a sum over the tiles in pass 2."""
        return self._style(statistics, inputs, tf.constant(0, tf.int64) if draw is None else draw)

    def has_sliced(self) -> bool:
        """Whether a sliced style term is among the terms (its value comes from pass 2)."""
        return any(isinstance(kind, SlicedStyle) for _, kind in self.kinds)

    def shares(self, padded: tf.Tensor, inputs: tuple, slopes: tuple, tiles):
        """Pass 2 over the tiles numbered `tiles` of an objective whose style terms are all
        Gram terms: per tile, (its window (top, left, height, width) in the padded picture,
        its share of d total / d padded picture there)."""
        places, draw = self._places(), tf.constant(0, tf.int64)
        for number in tiles:
            place, extent = places[number]
            share, _, _ = self._gradient(padded, place, extent, inputs, draw, slopes)
            yield self.windows[number][1], share

    def losses(self, image: tf.Tensor, inputs: tuple, draw: tf.Tensor) -> Losses:
        """The objective's Losses at `image` (1, height, width, 3), as make_objective's."""
        padded = self.padded(image)
        statistics, content_raw, content_value = self.statistics(padded, inputs, draw=draw)
        style_raw, style_value, answers = self._style(statistics, inputs, draw)
        if self.has_sliced():
            for place, extent in self._places():
                raw, value = self._sliced_values(padded, place, extent, inputs, draw, answers)
                style_raw, style_value = style_raw + raw, style_value + value
        tv, pixels = self.pixel_terms(image, inputs, draw)
        return Losses(content_raw, style_raw, tv, content_value + style_value + pixels)

    def value_and_gradient(self, image, inputs: tuple, draw: tf.Tensor, interrupted=None) -> tuple:
        """(Losses, d total / d image) at `image`, as the untiled objective's; TilesInterrupted
        where `interrupted()` (None: never asked) is true before a tile."""
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(image)
            padded = self.padded(image)
            tv, pixels = self.pixel_terms(image, inputs, draw)
        statistics, content_raw, content_value = self.statistics(
            padded, inputs, None, interrupted, draw
        )
        style_raw, style_value, answers = self._style(statistics, inputs, draw)
        gradient = tf.zeros_like(padded)
        for place, extent in self._places():
            _check(interrupted)
            gradient, raw, value = self._share(
                padded, place, extent, inputs, draw, answers, gradient
            )
            style_raw, style_value = style_raw + raw, style_value + value
        through = tape.gradient(padded, image, output_gradients=gradient)
        pixel_gradient = tape.gradient(pixels, image, unconnected_gradients="zero")
        del tape
        total = content_value + style_value + pixels
        return Losses(content_raw, style_raw, tv, total), through + pixel_gradient


def _grid_rows(start, length, offset, stride: int, extent: int) -> tuple:
    """(the sample grid's rows in all, the first of them in [start, start + length) and how
    many): the grid's rows are offset + i · stride, i < extent // stride."""
    rows = extent // stride
    first = tf.clip_by_value(-((offset - start) // stride), 0, rows)  # ceil((start - offset) / s)
    end = tf.clip_by_value(-((offset - start - length) // stride), 0, rows)
    return rows, first, tf.maximum(end - first, 0)


def _reach(count, stride: int):
    """The rows a strided slice of `count` rows spans."""
    return tf.maximum(count * stride - stride + 1, 0)
