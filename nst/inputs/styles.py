"""Artistic control over the style: several blended style images, their scale, and the
photo's colours kept (luminance-only transfer or colour-statistics matching).

`load_inputs` gives the images the optimisation sees (the blended Gram targets are made in
`nst.core.guided.region_targets`, with `nst.core.losses.blend_grams`); `restore_colors` puts the
photo's colours back into each saved image after a luminance-only transfer. No TensorFlow
here: the inputs are checked before it loads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np

from nst.inputs.colors import grey, luminance, match_color_statistics, match_luminance, with_chroma
from nst.inputs.images import ImageError, fit_size, load_image, resize
from nst.inputs.masks import Guidance
from nst.settings import ImageSettings, PathsSettings
from nst.settings.networks import MIN_SIDE


class Inputs(NamedTuple):
    content: np.ndarray  # the content image the optimisation sees (grey for luminance)
    styles: tuple[np.ndarray, ...]  # one per style image, each at its own size
    photo: np.ndarray  # the content image as loaded and resized, in its own colours
    guidance: Guidance | None = None  # where each style goes, where the photo stays (masks)


def style_size(
    style_wh: tuple[int, int], content_wh: tuple[int, int], scale: float | None
) -> tuple[int, int]:
    """(width, height) of a style image: the content's (scale None: stretched, as in the
    paper), or aspect kept with the longer side `scale` × the content's longer side."""
    if scale is None:
        return content_wh
    return fit_size(*style_wh, max(1, round(scale * max(content_wh))))


def load_inputs(paths: PathsSettings, image: ImageSettings, on_note=None) -> Inputs:
    """The content image at `max_size`, the style images scaled to it, colours prepared."""
    photo = load_image(paths.content_image, on_note)
    width, height = fit_size(photo.shape[1], photo.shape[0], image.max_size)
    photo = resize(photo, width, height)
    styles = load_styles(paths, image, (width, height), on_note)
    return prepare_colors(photo, styles, image.preserve_colors)


def load_styles(
    paths: PathsSettings, image: ImageSettings, content_wh: tuple[int, int], on_note=None
) -> list:
    """The style images scaled for a content image of `content_wh` (width, height)."""
    width, height = content_wh
    styles = []
    for path in paths.style_image:
        style = load_image(path, on_note)
        size = style_size((style.shape[1], style.shape[0]), (width, height), image.style_scale)
        # stretched, the style has the content's size, which the preflight checks (nst.run.still)
        if image.style_scale is not None and min(size) < MIN_SIDE:
            raise ImageError(
                f"style image {path} at [image] style_scale = {image.style_scale:g} would be "
                f"{size[0]}x{size[1]} px; the network needs at least {MIN_SIDE} px a side: "
                f"raise style_scale or max_size"
            )
        styles.append(resize(style, *size))
    return styles


def prepare_colors(photo: np.ndarray, styles: list, preserve_colors: str) -> Inputs:
    """The images to optimise with, for `preserve_colors` none | luminance | histogram."""
    if preserve_colors == "histogram":  # recolour each style image with the photo's colours
        styles = [np.clip(match_color_statistics(s, photo), 0, 255) for s in styles]
        return Inputs(photo, tuple(s.astype(np.float32) for s in styles), photo)
    if preserve_colors == "luminance":  # luminance only, the style's matched to the photo's
        content_luma = luminance(photo)
        styles = [grey(match_luminance(luminance(s), content_luma)) for s in styles]
        return Inputs(grey(content_luma), tuple(styles), photo)
    return Inputs(photo, tuple(styles), photo)


def restore_colors(records: Iterable, photo: np.ndarray, preserve_colors: str) -> Iterator:
    """The optimisation's records, each saved image given the photo's chroma (luminance mode)."""
    for record in records:
        if preserve_colors == "luminance" and record.image is not None:
            height, width = record.image.shape[:2]  # smaller at coarse-to-fine's first scales
            colored = with_chroma(record.image, resize(photo, width, height))
            colored = np.clip(colored, 0, 255).astype(np.float32)
            record = dataclasses.replace(record, image=colored)
        yield record
