"""The objective as a list of named terms, assembled per run.

    objective = Σ_t weight_t · value_t(image)

Each `Term` has a name (what the record and the plots call it), a `kind` (a small frozen
dataclass, the function: fixed when the step is traced), a weight and its inputs (tensors:
inputs of the traced step, so new targets, weights or masks never retrace it). A new loss is
one new kind and one more item in `build_terms`; a still image has no temporal term, a run
without a photo region no photo term.

Each kind returns (raw, value): `raw` is the loss as the paper or its source defines it (what
the record logs), `value` the normalised, dimensionless error the weight multiplies (see
losses.relative: α, β and the layer weights then mean the same for every network and size).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from nst.core.fanout import fan_out
from nst.core.guided import (
    Regions,
    content_weight_maps,
    make_regions,
    painting_grams,
    region_targets,
    style_at_zero,
    style_layer_errors,
)
from nst.core.losses import (
    content_loss,
    content_norm,
    face_tone_loss,
    guided_sliced_wasserstein,
    low_pass,
    photo_loss,
    relative,
    temporal_loss,
    tv_loss,
)
from nst.core.records import Losses
from nst.core.tilefeatures import TiledForward
from nst.core.tilefeatures import style_at_zero as tiled_style_at_zero
from nst.core.tilegrid import (  # the sliced loss's sizes: the checks before a run count them
    DIRECTIONS,
    PROJECTION_SETS,
    QUANTILES,
    SAMPLE_POSITIONS,
    sample_stride,
)
from nst.inputs.masks import Guidance, guidance_at, layer_masks, resize_mask
from nst.settings import LossSettings, ModelSettings
from nst.settings.networks import style_loss_layers

# [loss] face_photo's blur, as a share of the picture's longer side (2 px at 512): it holds
# the face's forms of about 4 sigma and larger (eyes, mouth, the shading of the cheeks) and
# leaves the finer brush texture free; the crackle of a face painted from noise is coarser.
FACE_TONE_SIGMA = 1.0 / 256.0


class Term(NamedTuple):
    """One named part of the objective: `kind(image, features, inputs, draw)` -> (raw, value)."""

    name: str  # content | style | tv | photo | temporal
    kind: object  # a frozen dataclass (hashable: the traced objective is cached by it)
    weight: tf.Tensor  # scalar float32
    inputs: tuple  # tensors (nested tuples of them), the kind's targets


class Temporal(NamedTuple):
    """A video frame's pull towards the previous result carried along the optical flow
    (Ruder et al.; see nst.inputs.flow and nst.core.losses.temporal_loss)."""

    carried: np.ndarray  # (height, width, 3) pixels 0..255
    consistency: np.ndarray  # (height, width) weights c in 0..1
    weight: float  # [video] temporal_weight


class ContentTargets(NamedTuple):
    features: tuple  # P per content layer
    at_zero: tuple  # L_content(0, P) per content layer (unweighted)
    weights: tuple = ()  # per content layer (1, h, w, 1) content weights; (): 1 everywhere


class GramTargets(NamedTuple):
    grams: tuple  # A per style layer, (R, N, N): one per region (see nst.core.guided)
    at_zero: tuple  # E_l,r(0, A) per style layer, (R,)
    layer_weights: tf.Tensor  # w_l, summing to 1
    regions: Regions  # where each style applies, where the photo stays (masks as inputs)


class SlicedTargets(NamedTuple):
    quantiles: tuple  # per style layer, (R, sets, K, Q): each region's style, sorted projections
    at_zero: tuple  # per style layer, (R,) SW_l,r(0): the mean squared projection of its style
    directions: tuple  # per style layer, (sets, N, K): unit directions
    layer_weights: tf.Tensor  # w_l, summing to 1
    regions: Regions  # where each style applies (masks weigh the positions), the photo region


def named(terms: tuple, name: str) -> Term:
    """The term called `name`."""
    return next(t for t in terms if t.name == name)


def signature(terms: tuple) -> tuple:
    """What the traced objective depends on besides tensors: the terms' names and kinds."""
    return tuple((t.name, t.kind) for t in terms)


def tensors(terms: tuple) -> tuple:
    """What the traced step takes as inputs: per term, (weight, inputs)."""
    return tuple((t.weight, t.inputs) for t in terms)


def make_objective(extractor: keras.Model, kinds: tuple):
    """A function (image batch, term tensors, draw) -> Losses of scalar tensors, for the
    terms named by `kinds` (a `signature`). `draw` numbers the step, for losses that draw
    random projections (int64 scalar tensor; the others ignore it)."""

    def objective(image: tf.Tensor, inputs: tuple, draw: tf.Tensor) -> Losses:
        pictures = _pictures(image, kinds, extractor)
        raw = {"content": 0.0, "style": 0.0, "tv": 0.0}
        summed, total = set(), 0.0
        for (name, kind), (weight, term_inputs) in zip(kinds, inputs, strict=True):
            picture, copies, at_features = pictures[_size(kind)]
            at = next(copies) if _reads_pixels(kind) else picture
            kind = kind.kind if isinstance(kind, AtSize) else kind
            loss, value = kind(at, at_features, term_inputs, draw)
            raw[name] = raw[name] + loss if name in summed else loss  # two style terms: added
            summed.add(name)
            total = total + weight * value
        return Losses(raw["content"], raw["style"], raw["tv"], total)

    return objective


def reference_picture(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """Pictures (batch, h, w, c) resized to height x width: a triangle filter as wide as the
    shrink when smaller (antialiased, every pixel counts), bilinear when larger; differentiable."""
    if tuple(image.shape[1:3]) == (height, width):
        return image
    return tf.image.resize(image, (height, width), method="bilinear", antialias=True)


@dataclass(frozen=True)
class AtSize:
    """A term `kind` of the picture resized to height x width (reference_picture) and of that
    picture's features ([image] reference_size): the same constraint at every output size."""

    kind: object
    height: int
    width: int


def _size(kind) -> tuple:
    """The (height, width) an AtSize kind takes its picture at; (None, None): the picture's own."""
    return (kind.height, kind.width) if isinstance(kind, AtSize) else (None, None)


def _pictures(image: tf.Tensor, kinds: tuple, extractor) -> dict:
    """Per size the terms take: (the picture at that size, an iterator over its copies for
    the terms that read the pixels, its features). Each reader of the picture (the network,
    each such term, each resize) takes its own copy (fanout: their gradients then add up in
    a fixed order); the terms of the features alone read none."""
    sizes = [_size(kind) for _, kind in kinds]
    readers = [size for size, (_, kind) in zip(sizes, kinds, strict=True) if _reads_pixels(kind)]
    others = list(dict.fromkeys(size for size in sizes if size != (None, None)))
    full = readers.count((None, None))
    network, *copies = fan_out(image, 1 + full + len(others))
    pictures = {(None, None): (network, iter(copies[:full]), extractor(network))}
    for size, source in zip(others, copies[full:], strict=True):  # AtSize: once per size
        network, *resized = fan_out(reference_picture(source, *size), 1 + readers.count(size))
        pictures[size] = network, iter(resized), extractor(network)
    return pictures


def _reads_pixels(kind) -> bool:
    """Whether a term reads the picture itself, not only its features (unknown kinds: yes)."""
    return getattr(kind.kind if isinstance(kind, AtSize) else kind, "reads_pixels", True)


def with_reference(terms: tuple, reference: tuple, height: int, width: int, mode: str) -> tuple:
    """`terms` (full size) with, by `mode`, the content term replaced by `reference`'s (the
    terms built for the picture at height x width: "content", "both"), half the style weight
    moved to `reference`'s style terms ("both") or the style terms replaced by them ("style");
    the reference terms' kinds wrapped in AtSize."""
    content = named(reference, "content")
    referenced = []
    for term in terms:
        if term.name == "content" and mode != "style":
            term = term._replace(kind=AtSize(content.kind, height, width), inputs=content.inputs)
        elif term.name == "style" and mode == "both":
            term = term._replace(weight=0.5 * term.weight)
        elif term.name == "style" and mode == "style":
            continue  # the reference's style terms take its place, below
        referenced.append(term)
    if mode != "content":  # mixed has two style terms: each moves
        share = 0.5 if mode == "both" else 1.0
        referenced += [
            t._replace(kind=AtSize(t.kind, height, width), weight=share * t.weight)
            for t in reference
            if t.name == "style"
        ]
    return tuple(referenced)


@dataclass(frozen=True)
class Content:
    """α (1/C) Σ_c L_c / L_c(0): the paper's content loss per content layer, relative, averaged
    over the C layers (α weighs the content the same with one layer or several).

    Weighted (`[loss] face_content`): L_c = 1/2 Σ_p c_p (F_p − P_p)² with c the content
    weights carried down to the layer (>= 1, raised inside the faces), still divided by the
    unweighted L_c(0): outside the faces the force is as without weights, inside c times it."""

    layers: tuple
    weighted: bool = False
    reads_pixels = False  # the features alone (a class attribute, not a field)

    def __call__(self, image, features, inputs, draw):
        targets, at_zero, weights = inputs
        if self.weighted:
            pairs = zip(self.layers, targets, weights, strict=True)
            losses = [0.5 * tf.reduce_sum(c * tf.square(features[n] - p)) for n, p, c in pairs]
        else:
            pairs = zip(self.layers, targets, strict=True)
            losses = [content_loss(features[n], p) for n, p in pairs]
        return tf.add_n(losses), content_relative(losses, at_zero)


def content_relative(losses: list, at_zero) -> tf.Tensor:
    """(1/C) Σ_c L_c / L_c(0): the C content layers' relative errors, averaged."""
    relatives = [relative(c, z) for c, z in zip(losses, at_zero, strict=True)]
    return tf.add_n(relatives) / len(relatives)


@dataclass(frozen=True)
class GramStyle:
    """β Σ_l w_l Σ_r a_r E_l,r / E_l,r(0): the paper's Gram style loss per layer and region
    (one all-ones region without masks: the paper's L_style), relative."""

    layers: tuple
    reads_pixels = False

    def __call__(self, image, features, inputs, draw):
        grams, at_zero, layer_weights, regions = inputs
        errors = style_layer_errors(features, self.layers, grams, regions)
        relatives = [relative(e, z) for e, z in zip(errors, at_zero, strict=True)]
        return (
            over_layers_and_regions(errors, regions.weights, layer_weights),
            over_layers_and_regions(relatives, regions.weights, layer_weights),
        )


def over_layers_and_regions(per_layer: list, region_weights, layer_weights) -> tf.Tensor:
    """Σ_l w_l Σ_r a_r E_l,r: a style loss's errors per layer, (R,) each, summed."""
    per_region = tf.stack([tf.reduce_sum(region_weights * e) for e in per_layer])
    return tf.reduce_sum(layer_weights * per_region)


@dataclass(frozen=True)
class Smoothness:
    """tv_weight · tv: total variation of the image (losses.tv_loss)."""

    def __call__(self, image, features, inputs, draw):
        tv = tv_loss(image)
        return tv, tv


@dataclass(frozen=True)
class Photo:
    """photo_weight · the mean squared pixel difference to the photo in its region."""

    def __call__(self, image, features, inputs, draw):
        photo, mask = inputs
        loss = photo_loss(image, photo, mask)
        return loss, loss


@dataclass(frozen=True)
class FaceTone:
    """face_photo · the blurred picture's mean squared luminance difference to the blurred
    photo inside the faces (losses.face_tone_loss); `sigma` px, FACE_TONE_SIGMA of the
    picture's side."""

    sigma: float

    def __call__(self, image, features, inputs, draw):
        photo_blurred, mask = inputs
        loss = face_tone_loss(image, photo_blurred, mask, self.sigma)
        return loss, loss


def face_tone_term(content_image: np.ndarray, mask: np.ndarray, weight: float) -> Term:
    """[loss] face_photo's term at this size: the blur scales with the picture, so that a
    preview and its print hold forms of the same share of the picture."""
    height, width = content_image.shape[:2]
    sigma = max(FACE_TONE_SIGMA * max(height, width), 0.5)
    photo = low_pass(tf.constant(content_image[None], tf.float32), sigma)
    inputs = (photo, tf.constant(mask[None, ..., None], tf.float32))
    return Term("face", FaceTone(sigma), _weight(weight), inputs)


@dataclass(frozen=True)
class TemporalTerm:
    """temporal_weight · the difference to the previous frame's result carried by the flow."""

    def __call__(self, image, features, inputs, draw):
        carried, consistency = inputs
        loss = temporal_loss(image, carried, consistency)
        return loss, loss


def build_terms(
    extractor: keras.Model,
    content_image: np.ndarray,
    style_images: tuple,
    model: ModelSettings,
    loss: LossSettings,
    guidance: Guidance | None = None,
    temporal: Temporal | None = None,
    session=None,
    seed: int = 0,
    side: int | None = None,
) -> tuple:
    """The terms of one run at one size: content, style, tv, and the photo region's and a
    video frame's pull where there are such.

    The generated image has the content image's size; the style images (one per [loss]
    style_blend_weights) may have any size; `guidance` places them (None: the blend
    everywhere). A `session` (nst.core.optimize.Session) computes the features in a graph and
    keeps each size's style targets, which do not change between a video's frames; `seed`
    draws the sliced loss's projections. `side`: the scale steps over tiles of that many px
    (nst.core.tiles), and the targets are computed over such tiles too (nst.core.tilefeatures).
    """
    features = session.features if session is not None else tf.function(extractor)
    tiles = None if side is None else TiledForward(extractor, model, side)
    if tiles is None:
        content = features(tf.constant(content_image[None]))
    else:
        content = tiles.stitched(content_image, model.content_layers)
    content_features = tuple(content[name] for name in model.content_layers)
    height, width = content_image.shape[:2]
    weights = content_weight_maps(guidance, height, width, model.network, model.content_layers)
    content_term = Term(
        "content",
        Content(model.content_layers, weighted=weights is not None),
        tf.constant(loss.content_weight, tf.float32),
        ContentTargets(
            content_features,
            tuple(content_norm(p) for p in content_features),
            weights or (),
        ),
    )
    cache = session.style if session is not None else {}
    key = (content_image.shape, loss.style_loss) if guidance is None else None
    if key not in cache:  # with masks: computed every time
        cache[key] = style_terms(
            features, content, content_image, style_images, model, loss, guidance, seed, tiles
        )
    styles, regions = cache.pop(key) if key is None else cache[key]
    terms = [content_term, *styles, Term("tv", Smoothness(), _weight(loss.tv_weight), ())]
    if temporal is not None:
        carried = tf.constant(temporal.carried[None], tf.float32)
        consistency = tf.constant(temporal.consistency[None, ..., None], tf.float32)
        terms.append(
            Term("temporal", TemporalTerm(), _weight(temporal.weight), (carried, consistency))
        )
    if regions.photo_mask is not None:  # a region kept as the photo
        terms.append(
            Term("photo", Photo(), _weight(loss.photo_weight), (regions.photo, regions.photo_mask))
        )
    if guidance is not None and guidance.face_tone is not None:  # [loss] face_photo
        tone = guidance_at(guidance, height, width).face_tone
        terms.append(face_tone_term(content_image, tone, loss.face_photo))
    return tuple(terms)


def _weight(value: float) -> tf.Tensor:
    return tf.constant(value, tf.float32)


def style_terms(
    features, content: dict, content_image, style_images, model, loss, guidance, seed, tiles=None
):
    """(the style Terms for [loss] style_loss, the Regions they use): one Gram or sliced term,
    or with `mixed` a Gram term on the first blocks' layers and a sliced one on the rest
    (networks.style_loss_layers), each layer keeping its share of style_layer_weights.
    `tiles` (a TiledForward): the targets over tiles, of the style images and of the
    picture's size alone."""
    terms, regions = [], None
    weights = dict(zip(model.style_layers, model.style_layer_weights, strict=True))
    parts = style_loss_layers(loss.style_loss, model.style_layers)
    for kind, layers in zip(("gram", "sliced"), parts, strict=True):
        if not layers:
            continue
        part = replace(
            model, style_layers=layers, style_layer_weights=tuple(weights[n] for n in layers)
        )
        term, regions = style_term(
            features, content, content_image, style_images, part, kind, loss, guidance, seed,
            tiles,
        )  # fmt: skip
        terms.append(term)
    return tuple(terms), regions


def style_term(
    features, content, content_image, style_images, model, kind, loss, guidance, seed, tiles
):
    """(the style Term of `kind` (gram | sliced) on model.style_layers, the Regions it uses)."""
    blend = loss.style_blend_weights
    regions = make_regions(guidance, content_image, blend, model.network, model.style_layers)
    layer_weights = tf.constant(model.style_layer_weights, tf.float32)
    weight = _weight(loss.style_weight)
    painting = None if guidance is None else guidance.painting_masks
    if kind == "sliced":
        styled = [  # over tiles, only the grid is kept: a print's style is as large
            style_grid(features(tf.constant(s[None])), model.style_layers)
            if tiles is None
            else tiles.grid(s, model.style_layers, SAMPLE_POSITIONS)
            for s in style_images
        ]
        painted = painting_layer_masks(style_images, painting, model.network, model.style_layers)
        count = 1 if regions.masks is None else int(regions.masks[0].shape[0])
        targets, at_zero, directions = sliced_inputs(
            styled, blend, model.style_layers, seed, count, painted
        )
        inputs = SlicedTargets(targets, at_zero, directions, layer_weights, regions)
        return Term("style", SlicedStyle(model.style_layers), weight, inputs), regions
    if tiles is not None:
        return tiled_gram_term(tiles, content_image, style_images, painting, model, loss, regions)
    styles = painting_grams(features, style_images, painting, model.network, model.style_layers)
    grams = region_targets(styles, blend, model.style_layers, regions, content)
    generated = tuple(content[name] for name in model.style_layers)
    at_zero = style_at_zero(regions, grams, generated)
    inputs = GramTargets(grams, at_zero, layer_weights, regions)
    return Term("style", GramStyle(model.style_layers), weight, inputs), regions


def tiled_gram_term(tiles, content_image, style_images, painting, model, loss, regions):
    """style_term's Gram term with its targets computed over tiles (nst.core.tilefeatures)."""
    layers = model.style_layers
    styles = tiles.painting_grams(style_images, painting, layers)
    shapes = tiles.shapes(*content_image.shape[:2], layers)
    grams = region_targets(styles, loss.style_blend_weights, layers, regions, shapes)
    at_zero = tiled_style_at_zero(regions, grams, tuple(shapes[name] for name in layers))
    layer_weights = tf.constant(model.style_layer_weights, tf.float32)
    inputs = GramTargets(grams, at_zero, layer_weights, regions)
    return Term("style", GramStyle(layers), _weight(loss.style_weight), inputs), regions


# The sliced term's relative error times this paints about as much as the Gram term's at the
# same style_weight: the Gram error is quartic in the features, the sliced one quadratic, so
# at equal weight the sliced loss left the picture nearer the photo. The weight at which it
# moved as far from the photo as gram at 10 was 23-30 on seven pairs (median 25.7; 128 and
# 256 px, bench/results/sliced.md).
SLICED_SCALE = 2.5


@dataclass(frozen=True)
class SlicedStyle:
    """β c Σ_l w_l Σ_r a_r SW_l,r / SW_l,r(0): sliced Wasserstein distance of the feature
    distributions per style layer and region (losses.guided_sliced_wasserstein, each position
    weighed by its region's mask), each position's quantile read among a sample grid of at
    most SAMPLE_POSITIONS (sample_grid), relative to that of all-zero features, times
    c = SLICED_SCALE so that a style_weight paints as much as with the Gram loss; a_r as in
    GramStyle."""

    layers: tuple
    reads_pixels = False

    def __call__(self, image, features, inputs, draw):
        targets, _, directions, _, regions = inputs
        errors = []
        for k, name in enumerate(self.layers):
            quantiles, theta = drawn_set(targets[k], directions[k], draw)
            stride, offset = sample_grid(*features[name].shape[1:3], draw)
            masks = None if regions.masks is None else regions.masks[k]
            args = (features[name], masks, quantiles, theta, stride, offset)
            errors.append(guided_sliced_wasserstein(*args))
        return self.totals(errors, inputs)

    @staticmethod
    def totals(errors: list, inputs) -> tuple:
        """(raw, value) from the distances per layer and region."""
        _, at_zero, _, layer_weights, regions = inputs
        relatives = [relative(e, z) for e, z in zip(errors, at_zero, strict=True)]
        return (
            over_layers_and_regions(errors, regions.weights, layer_weights),
            SLICED_SCALE * over_layers_and_regions(relatives, regions.weights, layer_weights),
        )


def drawn_set(targets: tf.Tensor, directions: tf.Tensor, draw) -> tuple:
    """(this step's targets (R, K, Q), its directions (N, K)): the pool's sets in turn."""
    which = tf.math.floormod(draw, PROJECTION_SETS)
    return tf.gather(targets, which, axis=1), tf.gather(directions, which)


def sample_grid(height: int, width: int, draw) -> tuple:
    """(stride, offset) of this step's sample grid on a height x width layer: at most
    SAMPLE_POSITIONS positions, its offset moving with the draw so that every position is
    sampled in turn."""
    stride = sample_stride(height, width, SAMPLE_POSITIONS)
    at = tf.cast(tf.math.floormod(draw, stride * stride), tf.int32)
    return stride, (at // stride, at % stride)


def style_grid(features: dict, layers: tuple) -> dict:
    """{layer: the style's features at the positions (i s, j s), (rows, cols, c)}, s the
    layer's sample stride (sample_grid's): the positions its distribution is read from."""
    grids = {}
    for name in layers:
        stride = sample_stride(*features[name].shape[1:3], SAMPLE_POSITIONS)
        grids[name] = np.asarray(features[name][0, ::stride, ::stride])
    return grids


def painting_layer_masks(style_images: tuple, painting: tuple | None, network: str, layers):
    """Per style image, per style layer, its painting mask ([paths] style_image_masks) carried
    down to the layer's positions and read on style_grid's grid, flat; None: each whole
    painting."""
    if painting is None:
        return None
    carried = []
    for image, mask in zip(style_images, painting, strict=True):
        at_size = resize_mask(mask, image.shape[1], image.shape[0])
        layered = layer_masks(at_size, network, layers)
        strides = [sample_stride(*m.shape, SAMPLE_POSITIONS) for m in layered]
        carried.append([m[::s, ::s].reshape(-1) for m, s in zip(layered, strides, strict=True)])
    return carried


def sliced_inputs(
    styled: list, blend: tuple, layers: tuple, seed: int, region_count: int = 1, painted=None
) -> tuple:
    """(targets, at_zero, directions) per style layer for SlicedStyle: per region the sorted
    projections (R, sets, K, Q) of its style's features (`styled`: per style, style_grid's)
    along (sets, N, K) unit directions drawn under `seed`, and SW(0) per region, the mean
    squared projection, (R,).

    One region: the blend of the styles, each style's positions weighing its blend weight in
    all; R regions: region r takes style r alone. `painted` (painting_layer_masks) weighs each
    style's positions by its painting mask."""
    rng = np.random.default_rng(seed)
    targets, at_zero, directions = [], [], []
    for k, name in enumerate(layers):
        rows = [np.asarray(s[name]).reshape(-1, s[name].shape[-1]) for s in styled]
        masses = [p[k] for p in painted] if painted else [None] * len(rows)
        sources = _region_sources(rows, masses, blend, region_count)
        channels = rows[0].shape[1]
        theta = rng.standard_normal((PROJECTION_SETS, channels, min(channels, DIRECTIONS)))
        theta = (theta / np.linalg.norm(theta, axis=1, keepdims=True)).astype(np.float32)
        keep = min(QUANTILES, max(len(r) for r, _ in sources))
        # one set at a time: all sets' sorted projections at once would take gigabytes
        quantiles = np.stack([[_sorted_at(r @ t, w, keep) for t in theta] for r, w in sources])
        targets.append(tf.constant(quantiles, tf.float32))
        squares = np.mean(np.square(quantiles), axis=(1, 2, 3))
        at_zero.append(tf.constant(np.maximum(squares, 1e-30), tf.float32))
        directions.append(tf.constant(theta, tf.float32))
    return tuple(targets), tuple(at_zero), tuple(directions)


def _region_sources(rows: list, masses: list, blend: tuple, region_count: int) -> list:
    """Per region, (feature rows, their weights or None for equal ones): style r for region r,
    or for one region all styles' rows, style s's weighing b_s in all."""
    if region_count > 1 or len(rows) == 1:
        return list(zip(rows, masses, strict=True))
    weights = []
    for r, m, share in zip(rows, masses, blend, strict=True):
        mass = np.ones(len(r)) if m is None else m.astype(np.float64)
        weights.append(share * mass / max(mass.sum(), 1e-12))
    return [(np.concatenate(rows), np.concatenate(weights))]


def _sorted_at(projected: np.ndarray, weights: np.ndarray | None, keep: int) -> np.ndarray:
    """(K, keep): the distribution of each column of `projected` (M, K), its positions weighed
    by `weights` (None: equally), read at the quantiles (j + ½)/keep."""
    if weights is None:
        at = ((np.arange(keep) + 0.5) * projected.shape[0] / keep).astype(int)
        return np.sort(projected.T, axis=-1)[:, at]
    levels = (np.arange(keep) + 0.5) / keep
    out = np.empty((projected.shape[1], keep), projected.dtype)
    for k, column in enumerate(projected.T):
        order = np.argsort(column)
        below = np.cumsum(weights[order])
        at = np.searchsorted(below / max(below[-1], 1e-12), levels, side="right")
        out[k] = column[order][np.minimum(at, len(column) - 1)]
    return out
