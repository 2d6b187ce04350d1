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


def tiled_step_bytes(model: ModelSettings, height: int, width: int, side: int) -> int:
    """The estimated memory of a step over tiles of `side` px cores: the widest tile's
    activations, and what it keeps of the whole picture (`picture_bytes`)."""
    halo = reach(model.network, (*model.content_layers, *model.style_layers)).halo
    tile = step_bytes(model, min(width, side + 2 * halo), min(height, side + 2 * halo))
    return tile + picture_bytes(model, height, width)


def picture_bytes(model: ModelSettings, height: int, width: int) -> int:
    """What a tiled scale keeps of the whole height x width picture: PICTURE_COPIES of its
    pixels and the content targets (the content image's features at the content layers),
    and the tiles' fixed cost (TILED_BYTES)."""
    shapes = layer_shapes(model.network, height, width)
    content = sum(h * w * c for name, h, w, c in shapes if name in model.content_layers)
    return 4 * (PICTURE_COPIES * 3 * height * width + content) + TILED_BYTES


def smallest_side(model: ModelSettings) -> int:
    """The smallest sensible core: as wide as the halo (a tile then computes at most 9 times
    its core's positions), and at least the grid."""
    grid, halo = reach(model.network, (*model.content_layers, *model.style_layers))
    return max(grid, halo)


def tile_count(model: ModelSettings, height: int, width: int, budget: int | None) -> int:
    """How many tiles a height x width scale steps over within `budget` (1: the whole)."""
    side = tile_side(model, height, width, budget)
    return 1 if side is None else len(cores(height, width, side))
