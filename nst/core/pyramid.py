"""The image as a Laplacian pyramid ([image] parameterization = pyramid), after Kolkin et al.
(STROTSS 2019, NNST 2022): the optimiser moves a few levels, each half the size of the one
before (the last a small blurred image, the others the detail between two sizes), and the
step renders them to pixels. A step then moves large forms as far as fine texture, and no
single pixel can run off alone as speckle. One level is the plain image ("pixels").
"""

from __future__ import annotations

import tensorflow as tf

SMALLEST_SIDE = 8  # no level's short side below this many pixels


def level_shapes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """(height, width) of each level, finest first: halved (rounding up) each time, as many
    as asked while the short side stays at least SMALLEST_SIDE."""
    shapes = [(height, width)]
    while len(shapes) < levels and (min(shapes[-1]) + 1) // 2 >= SMALLEST_SIDE:
        h, w = shapes[-1]
        shapes.append(((h + 1) // 2, (w + 1) // 2))
    return shapes


def _down(image: tf.Tensor, shape: tuple[int, int]) -> tf.Tensor:
    return tf.image.resize(image, shape, method="area")


def _up(image: tf.Tensor, shape) -> tf.Tensor:
    return tf.image.resize(image, shape, method="bilinear")


def decompose(image: tf.Tensor, levels: int) -> tuple:
    """The Laplacian pyramid of an image batch (1, h, w, 3), finest first: detail levels
    g_k − up(g_k+1), then the coarsest g_K; `render` adds them back up exactly."""
    shapes = level_shapes(image.shape[1], image.shape[2], levels)
    pyramid, current = [], image
    for shape in shapes[1:]:
        coarser = _down(current, shape)
        pyramid.append(current - _up(coarser, current.shape[1:3]))
        current = coarser
    return (*pyramid, current)


def render(pyramid) -> tf.Tensor:
    """The image a pyramid (finest first) stands for: each level added to the one above,
    enlarged bilinearly. One level: that level itself."""
    image = pyramid[-1]
    for detail in reversed(pyramid[:-1]):
        image = _up(image, tf.shape(detail)[1:3]) + detail
    return image


def clipped_finest(pyramid, rendered: tf.Tensor, clipped: tf.Tensor) -> tf.Tensor:
    """The finest level that makes the pyramid render to `clipped` (the valid pixels of
    `rendered`) without touching the coarser levels: their moves are kept."""
    if len(pyramid) == 1:
        return clipped
    return pyramid[0] - (rendered - clipped)
