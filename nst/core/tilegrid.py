"""Where the tiles of a tiled step lie and how large they may be (no TensorFlow: the checks
before a run count them too).

A step whose activations do not fit the memory budget runs over tiles (nst.core.tiles). Each
tile owns a core, a rectangle of the picture; the cores partition it. The network sees the
core widened by a halo on every side where the picture goes on (clipped at its borders, where
the network pads as it does for the whole picture), so every feature position the core owns is
computed exactly as for the whole picture. Cores start on multiples of `grid`, 2 ** the
poolings before the deepest layer, so that every layer's positions fall on the same grid as
the whole picture's.
"""

from __future__ import annotations

from typing import NamedTuple

from nst.settings import ModelSettings
from nst.settings.networks import deepest_layer, layer_names, layer_shapes

# The memory model of an optimisation step (fitted, see nst.run.preflight): the activations
# and their gradients.
ACTIVATION_COPIES = 1.8
# What a tiled scale keeps of the whole picture besides one tile's activations, in float32
# copies of its pixels: the iterate, its running average, Adam's two moments (a pyramid's
# levels add a third to these), the preprocessed and mirrored picture, the gradient being
# summed over the tiles and its way back through the mirror, the pixel terms' gradient, and
# the tape's and Adam's temporaries. 16 counted came out 0.6 GB short of the float32 peak at
# 2048x1536 and 1.5 GB short at 4096x3072 (bench/results/tiles.md): 32 covers both.
PICTURE_COPIES = 32
# And what a tiled step costs whatever the picture's size: a trace of the tile's passes for
# each shape a tile takes (inner, edge, corner), their buffers. Whole runs at 2048x1536 with a
# memory_limit (bench/results/memory_run.md): 30 tiles of 352 px peaked 74 MB over the rest
# of this estimate, 12 tiles of 528 px 104 MB under it, the same picture: a cost the smaller
# tiles do not shrink. 256 MB covers it with a margin.
TILED_BYTES = 256 * 1024**2

# The sliced style loss's sizes (nst.core.objective.SlicedStyle), here so that the checks
# before a run, which import no TensorFlow, count what it keeps.
# Its projections: a pool of PROJECTION_SETS sets of at most DIRECTIONS unit directions a
# layer, drawn once per size under the run's seed, one set a step in turn. Drawing anew every
# step would sort the style's features every step too: at 512 px that costs several times a
# step.
DIRECTIONS = 64
PROJECTION_SETS = 8
QUANTILES = 4096  # the style's sorted projections kept at this many quantiles at most
# A position's quantile is read among at most this many of the picture's positions (a grid,
# its offset moving every step), not all of them: the loss is then a sum over positions once
# the sample is ranked, so it runs over tiles exactly (nst.core.tiles), and a print's tables
# stay small (sliced_bytes). Up to 512 x 512 px every position is in the sample (stride 1:
# one sort, as fast as before); a sampled layer searches each position among the sample,
# which costs more than a sort of it at 512 px (bench/results/sliced.md).
SAMPLE_POSITIONS = 262144
# What a sliced step over tiles keeps per style layer, in copies of the picture's sample
# (its grid positions' projections): the sample summed over the tiles, sorted, its order and
# each position's rank, and per region the masses below each place (one copy a region).
# Steps over tiles peaked 316 MB above the Gram loss's at 1024x768 (256 px cores) and 447 MB
# at 2048x1536 (512 px cores); this counts 375 and 517 MB (bench/results/memory.md).
TABLE_COPIES = 3


class Reach(NamedTuple):
    grid: int  # cores start on multiples of this many pixels
    halo: int  # pixels on each side of a core the deepest layer's owned features depend on


def reach(network: str, layers) -> Reach:
    """The grid and halo for features up to the deepest of `layers`. A 3x3 convolution at a
    level of p poolings widens the dependence by 2**p pixels a side; a 2x2 pooling adds nothing
    as every window's edges lie on the grid (or on the picture's borders)."""
    names = layer_names(network)
    deepest = deepest_layer(network, layers)
    depth, level = 0, 0
    for name in names[: names.index(deepest) + 1]:
        pooling = name.endswith("_pool")
        depth += 0 if pooling else 2**level
        level += pooling
    grid = 2**level
    return Reach(grid, -(-depth // grid) * grid)


def spans(length: int, side: int) -> list[tuple[int, int]]:
    """[start, end) of the cores along one side of `length` pixels, `side` long (a multiple of
    the grid), the last one shorter where the length is not a multiple of it."""
    return [(start, min(start + side, length)) for start in range(0, length, side)]


def cores(height: int, width: int, side: int) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of every core, row by row."""
    return [(*rows, *cols) for rows in spans(height, side) for cols in spans(width, side)]


def window(core: tuple, height: int, width: int, halo: int, margin: int) -> tuple:
    """(top, left, height, width) of what the network sees for a core, in the coordinates of
    the picture mirrored `margin` pixels past each border ([model] padding = reflect; 0: none):
    the core widened by the halo, clipped to that picture."""
    top, bottom, left, right = core
    y0, x0 = max(0, top + margin - halo), max(0, left + margin - halo)
    y1 = min(height + 2 * margin, bottom + margin + halo)
    x1 = min(width + 2 * margin, right + margin + halo)
    return y0, x0, y1 - y0, x1 - x0


def activation_values(model: ModelSettings, width: int, height: int) -> int:
    """Values of one image and all its activations up to the deepest layer the run uses."""
    cut = deepest_layer(model.network, (*model.content_layers, *model.style_layers))
    return width * height * 3 + sum(
        h * w * c for _, h, w, c in layer_shapes(model.network, height, width, upto=cut)
    )


def step_bytes(model: ModelSettings, width: int, height: int) -> int:
    """The estimated memory of one step's activations and their gradients on width x height."""
    return int(ACTIVATION_COPIES * 4 * activation_values(model, width, height))


def tile_side(model: ModelSettings, height: int, width: int, budget: int | None) -> int | None:
    """The side of the tiles' cores at a height x width scale for a step of at most `budget`
    bytes: None where the whole picture fits (or no budget is known), else the largest
    multiple of the grid whose widest window fits (the grid itself where none does)."""
    if budget is None or step_bytes(model, width, height) <= budget:
        return None
    grid, halo = reach(model.network, (*model.content_layers, *model.style_layers))
    side = grid
    while side < max(height, width):
        wider = side + grid
        if step_bytes(model, min(width, wider + 2 * halo), min(height, wider + 2 * halo)) > budget:
            break
        side = wider
    return side


# Below some size smaller tiles took no less memory: at 4096x3072 a run over 192 tiles of
# 256 px peaked 0.6 GB above its estimate and about as high as one over 42 tiles of 592 px
# with the same targets, one over 48 of 560 px 0.1 GB above (bench/results/memory.md). A
# step over tiles holds transients of the whole picture's size however small its tiles (the
# gradient summed tile by tile, padded, and its way back through the mirror): a tile's step
# is counted at no less than this many float32 copies of the picture's pixels.
TILE_FLOOR_COPIES = 8


def tiled_step_bytes(model: ModelSettings, height: int, width: int, side: int) -> int:
    """The estimated memory of a step over tiles of `side` px cores: the widest tile's
    activations (at least TILE_FLOOR_COPIES of the picture), and what it keeps of the whole
    picture (`picture_bytes`)."""
    halo = reach(model.network, (*model.content_layers, *model.style_layers)).halo
    tile = step_bytes(model, min(width, side + 2 * halo), min(height, side + 2 * halo))
    floor = 4 * TILE_FLOOR_COPIES * 3 * height * width
    return max(tile, floor) + picture_bytes(model, height, width)


def picture_bytes(model: ModelSettings, height: int, width: int) -> int:
    """What a tiled scale keeps of the whole height x width picture: PICTURE_COPIES of its
    pixels and the content targets (the content image's features at the content layers),
    and the tiles' fixed cost (TILED_BYTES)."""
    shapes = layer_shapes(model.network, height, width)
    content = sum(h * w * c for name, h, w, c in shapes if name in model.content_layers)
    return 4 * (PICTURE_COPIES * 3 * height * width + content) + TILED_BYTES


def sample_stride(height: int, width: int, most: int) -> int:
    """The sample grid's step: the smallest s with (height // s) · (width // s) ≤ most."""
    stride = 1
    while (height // stride) * (width // stride) > most:
        stride += 1
    return stride


class SlicedBytes(NamedTuple):
    tables: int  # kept beside every step over tiles: the picture's sample tables, the targets
    style_grid: int  # kept while the targets are made: the style's features on its grid


def sliced_bytes(
    model: ModelSettings, height: int, width: int, regions: int = 0, style_area: float = 1.0
) -> SlicedBytes:
    """What the sliced style loss keeps of a height x width picture whose step runs over tiles:
    the picture's sample tables (TABLE_COPIES + `regions` copies of its projections on the
    grid) and the targets (the style's sorted projections, one set a region) at every step;
    the style's features on its sample grid (the style `style_area` times the picture's area)
    while they are made, beside a forward pass of a tile (no step)."""
    style = [round(side * style_area**0.5) for side in (height, width)]
    tables = grid = targets = 0
    for name, h, w, c in layer_shapes(model.network, height, width):
        if name not in model.style_layers:
            continue
        stride = sample_stride(h, w, SAMPLE_POSITIONS)
        tables += (h // stride) * (w // stride) * min(c, DIRECTIONS)
        targets += PROJECTION_SETS * min(c, DIRECTIONS) * QUANTILES
    for name, h, w, c in layer_shapes(model.network, *style):
        if name in model.style_layers:
            stride = sample_stride(h, w, SAMPLE_POSITIONS)
            grid += -(-h // stride) * -(-w // stride) * c
    return SlicedBytes(
        4 * ((TABLE_COPIES + regions) * tables + max(1, regions) * targets), 4 * grid
    )


def smallest_side(model: ModelSettings) -> int:
    """The smallest sensible core: as wide as the halo (a tile then computes at most 9 times
    its core's positions), and at least the grid."""
    grid, halo = reach(model.network, (*model.content_layers, *model.style_layers))
    return max(grid, halo)


def tile_count(model: ModelSettings, height: int, width: int, budget: int | None) -> int:
    """How many tiles a height x width scale steps over within `budget` (1: the whole)."""
    side = tile_side(model, height, width, budget)
    return 1 if side is None else len(cores(height, width, side))
