"""Spatial control (Gatys, Ecker, Bethge, Hertzmann & Shechtman, *Controlling Perceptual
Factors in Neural Style Transfer*, CVPR 2017): which style goes where, and where the result
stays the photo.

A mask is a float32 array (height, width), 0..1, at the content image's size: 1 = fully
this style (or fully the photo), grey = partly. Masks come from `[paths] style_masks` (one
grey image per style image), or from a colour-label image `[paths] regions` with
`[loss] region_styles` mapping its colours to style images or to `photo`; `[paths]
content_mask` adds a photo region; `[loss] auto_regions` finds the faces (the default), or
background, person and face, in the content photo (nst.inputs.portrait). Each style layer
sees its mask carried down through the network's 2x2 poolings (`layer_masks`), so it has the
layer's exact size, and a position's weight is the share of the region in its window. No
TensorFlow here: masks are checked with the other inputs, before the network is built.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from nst.inputs.colors import luminance
from nst.inputs.images import ImageError, load_image, resize
from nst.inputs.portrait import FoundRegions, describe, find_regions, not_found
from nst.settings import PHOTO, LossSettings, PathsSettings
from nst.settings.networks import layer_shapes

UNLISTED_TOLERANCE = 40.0  # RGB distance within which a pixel belongs to a listed colour
UNLISTED_SHARE = 0.01  # a share of unlisted pixels above this is an error (below: edges, JPEG)
EMPTY_MASK = 0.5  # a mask's total weight, in pixels, below which it puts its style nowhere
HAND_MASKS_WIN = (
    "[loss] auto_regions = faces: [paths] regions or style_masks place the styles: no faces "
    "looked for"
)
EDGE_SIGMA = 0.01  # the photo region's soft edge: Gaussian sigma, a share of the longer side


class Guidance(NamedTuple):
    """Where each style goes and where the result stays the photo, at one image size."""

    # one per style image, or a single one for the blend of them all; (height, width), 0..1
    style_masks: tuple[np.ndarray, ...]
    photo_mask: np.ndarray | None  # (height, width), 0..1, soft edged; None: no photo region
    # [paths] style_image_masks: per style image, at its size, the part of the painting whose
    # statistics count (0..1); None: each whole painting
    painting_masks: tuple[np.ndarray, ...] | None = None
    # [loss] auto_regions: what was found in the content photo (the run saves region_*.png)
    found: FoundRegions | None = None
    # [loss] face_content: the content term's weight per pixel, (height, width), >= 1 (raised
    # inside the faces, soft edged); None: 1 everywhere
    content_weights: np.ndarray | None = None
    # [loss] face_photo: where the blurred picture is held to the blurred photo, (height,
    # width), 0..1, soft edged (the faces); None: nowhere
    face_tone: np.ndarray | None = None


def resize_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """`mask` resized to (width, height), bilinear (area-averaging when shrinking), 0..1."""
    if mask.shape == (height, width):
        return mask.astype(np.float32)
    image = Image.fromarray(np.ascontiguousarray(mask, dtype=np.float32))
    resized = np.asarray(image.resize((width, height), Image.Resampling.BILINEAR))
    return np.clip(resized, 0.0, 1.0).astype(np.float32)


def pool_mask(mask: np.ndarray) -> np.ndarray:
    """A 2x2 average with stride 2, the odd last row and column dropped, as Keras' 'valid'
    pooling does: a pooled position's weight is the region's share of its window."""
    height, width = mask.shape[0] // 2, mask.shape[1] // 2
    crop = mask[: 2 * height, : 2 * width]
    return crop.reshape(height, 2, width, 2).mean(axis=(1, 3))


def layer_masks(mask: np.ndarray, network: str, layers: tuple) -> tuple[np.ndarray, ...]:
    """The mask at each of `layers`' resolution: carried down through every pooling before it
    (the convolutions keep the size), so it matches that layer's features position by position."""
    wanted = {}
    current = mask.astype(np.float32)
    height, width = mask.shape
    for name, *_ in layer_shapes(network, height, width):
        if name.endswith("_pool"):
            current = pool_mask(current)
        if name in layers:
            wanted[name] = current
        if len(wanted) == len(set(layers)):
            break
    return tuple(wanted[name] for name in layers)


def gaussian_blur(mask: np.ndarray, sigma: float) -> np.ndarray:
    """`mask` convolved with a separable Gaussian of `sigma` pixels (edges repeated)."""
    if sigma <= 0:
        return mask.astype(np.float32)
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(mask.astype(np.float64), radius, mode="edge")
    rows = np.apply_along_axis(np.convolve, 1, padded, taps, mode="valid")
    return np.apply_along_axis(np.convolve, 0, rows, taps, mode="valid").astype(np.float32)


def grey_mask(path: Path, width: int, height: int, what: str) -> np.ndarray:
    """A mask image (white = 1, black = 0, any size or colour mode) at (width, height)."""
    mask = resize_mask(luminance(load_image(path)) / 255.0, width, height)
    if mask.sum() < EMPTY_MASK:
        raise ImageError(f"{what} {path} is all black: it marks no region; white marks the region")
    return mask


def parse_colour(text: str) -> np.ndarray:
    """'#rrggbb' -> its RGB values 0..255 (the settings have checked the form)."""
    return np.array([int(text[i : i + 2], 16) for i in (1, 3, 5)], np.float64)


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in np.rint(rgb))


def blend_distance(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Each pixel's RGB distance to the nearest listed colour or blend of two of them (an
    anti-aliased edge between two regions is such a blend)."""
    best = np.linalg.norm(pixels[..., None, :] - palette, axis=-1).min(axis=-1)
    for i, a in enumerate(palette):
        for b in palette[i + 1 :]:
            t = np.clip((pixels - a) @ (b - a) / np.dot(b - a, b - a), 0.0, 1.0)
            blend = a + t[..., None] * (b - a)
            best = np.minimum(best, np.linalg.norm(pixels - blend, axis=-1))
    return best


def label_masks(doodle: np.ndarray, colours: tuple[str, ...], path: Path) -> np.ndarray:
    """(len(colours), height, width) 0/1 masks: each pixel of the colour-label image to its
    nearest listed colour; more than UNLISTED_SHARE of pixels far from every one is an error."""
    palette = np.stack([parse_colour(c) for c in colours])
    distances = np.linalg.norm(doodle[:, :, None, :] - palette[None, None], axis=-1)
    nearest = distances.argmin(axis=-1)
    unlisted = blend_distance(doodle, palette) > UNLISTED_TOLERANCE
    if unlisted.mean() > UNLISTED_SHARE:
        values, counts = np.unique(doodle[unlisted].round(), axis=0, return_counts=True)
        raise ImageError(
            f"[paths] regions = {path}: colour {_hex(values[counts.argmax()])} covers "
            f"{100 * counts.max() / unlisted.size:.1f}% of the image but has no style: add it "
            f"to [loss] region_styles (listed: {', '.join(colours)})"
        )
    masks = np.stack([(nearest == k) for k in range(len(colours))]).astype(np.float32)
    for colour, mask in zip(colours, masks, strict=True):
        if mask.sum() < EMPTY_MASK:
            raise ImageError(
                f"[loss] region_styles: colour {colour} is nowhere in [paths] regions = {path}"
            )
    return masks


def region_masks(
    paths: PathsSettings, loss: LossSettings, width: int, height: int
) -> tuple[list, np.ndarray | None]:
    """The colour-label image's masks at (width, height): one per style image (the union of
    its colours) and the union of the `photo` colours (None if none); soft at the edges."""
    doodle = load_image(paths.regions)
    colours = tuple(colour for colour, _ in loss.region_styles)
    labels = label_masks(doodle, colours, paths.regions)
    resized = [resize_mask(mask, width, height) for mask in labels]
    targets = [target for _, target in loss.region_styles]

    def union(wanted: str) -> np.ndarray:
        return sum(m for m, t in zip(resized, targets, strict=True) if t == wanted)

    styles = [union(str(path)) for path in paths.style_image]
    photo = union(PHOTO) if PHOTO in targets else None
    return styles, photo


def painting_masks(paths: PathsSettings, style_sizes: tuple) -> tuple | None:
    """[paths] style_image_masks, each at its style image's (width, height) in `style_sizes`;
    None when not set."""
    if not paths.style_image_masks:
        return None
    return tuple(
        grey_mask(path, width, height, f"[paths] style_image_masks (for {style.name}):")
        for path, style, (width, height) in zip(
            paths.style_image_masks, paths.style_image, style_sizes, strict=True
        )
    )


def found_regions(
    paths: PathsSettings,
    loss: LossSettings,
    width: int,
    height: int,
    on_note: Callable[[str], None],
) -> FoundRegions | None:
    """[loss] auto_regions: the regions of the content photo at (width, height); None where
    nothing is found (the run goes on without regions), with one line through `on_note` for
    people (asked for) and none for faces (the default: a landscape needs no word on faces).
    With faces (the default), OpenCV without its face cascades is such a line too; with
    people it is an ImageError (auto_region_styles cannot do without)."""
    people = loss.auto_regions == "people"
    picture = resize(load_image(paths.content_image), width, height)
    try:
        found = find_regions(picture, people=people)
    except ImageError as error:
        if people:
            raise
        on_note(f"{error}; running without regions")
        return None
    if found is not None:
        on_note(describe(found))
    elif people:  # asked for: say so; the default faces stays quiet on a landscape
        on_note(f"{not_found(paths.content_image.name, people)}: running without regions")
    return found


def regions_wanted(paths: PathsSettings, loss: LossSettings) -> bool:
    """Whether [loss] auto_regions looks for regions: not when off, nor where hand masks win
    (hand_masks_win). auto_regions = people with hand masks is refused by the settings."""
    return loss.auto_regions != "off" and not hand_masks_win(paths, loss)


def hand_masks_win(paths: PathsSettings, loss: LossSettings) -> bool:
    """auto_regions = faces (the default) with hand [paths] regions or style_masks: those
    place the styles, no faces are looked for."""
    hand = paths.regions is not None or bool(paths.style_masks)
    return loss.auto_regions == "faces" and hand


def auto_masks(found: FoundRegions, paths: PathsSettings, loss: LossSettings) -> tuple:
    """Style masks and photo mask from the found regions: per style image the union of the
    regions [loss] auto_region_styles gives it, the union of those mapped to `photo` (None if
    none); without a mapping, the blend of the styles everywhere (portrait mode). A face with
    no style of its own takes its person's at `face_style` of the force: less style there,
    so the content term keeps more of the face (the soft edge of the face avoids a seam)."""
    face = found.face * loss.face_style
    if not loss.auto_region_styles:
        return [1.0 - found.face + face], None
    mapping = dict(loss.auto_region_styles)
    named = {"background": found.background, "person": found.person, "face": found.face}
    if "face" not in mapping:
        mapping["face"] = mapping["person"]
        named["face"] = face

    def union(wanted: str) -> np.ndarray:
        return sum((m for n, m in named.items() if mapping[n] == wanted), 0 * found.face)

    photo = union(PHOTO) if PHOTO in mapping.values() else None
    return [union(str(path)) for path in paths.style_image], photo


def load_guidance(
    paths: PathsSettings,
    loss: LossSettings,
    width: int,
    height: int,
    style_sizes: tuple = (),
    on_note: Callable[[str], None] | None = None,
    found: FoundRegions | None = None,
) -> Guidance | None:
    """The masks the settings ask for, at the content's (width, height), and the style images'
    own masks at their (width, height) in `style_sizes`; None: no masks.

    The photo region (content_mask and/or regions mapped to `photo`) is taken out of every
    style's mask; its own mask, which pulls the result towards the photo, gets a soft edge.
    Only style image masks: no style masks (the blend everywhere). Unusable masks raise
    ImageError (the settings were checked before). [loss] auto_regions finds its regions
    here (notes through `on_note`, default: stderr); a hand content_mask joins the regions
    mapped to `photo` and wins over the found ones (no style there). `found`: regions found
    already (a video frame's, nst.inputs.portrait.carry_regions), at (width, height).
    """
    notes = []  # told once the masks are known good: a bad mask stays a one-line error
    if not regions_wanted(paths, loss):
        found = None
    elif found is None:
        found = found_regions(paths, loss, width, height, notes.append)
    if hand_masks_win(paths, loss):
        notes.append(HAND_MASKS_WIN)
    guidance = masks_for(paths, loss, width, height, style_sizes, found)
    for note in notes:
        (on_note or _note)(note)
    return guidance


def masks_for(
    paths: PathsSettings,
    loss: LossSettings,
    width: int,
    height: int,
    style_sizes: tuple,
    found: FoundRegions | None,
) -> Guidance | None:
    """load_guidance's masks, with the regions `found` (None: none)."""
    painting = painting_masks(paths, style_sizes)
    if not (paths.style_masks or paths.regions or paths.content_mask or found):
        return None if painting is None else Guidance((), None, painting)
    photo = None
    if found is not None:
        styles, photo = auto_masks(found, paths, loss)
    elif paths.regions is not None:
        styles, photo = region_masks(paths, loss, width, height)
    elif paths.style_masks:
        styles = [grey_mask(p, width, height, "style mask") for p in paths.style_masks]
    else:
        styles = [np.ones((height, width), np.float32)]  # the blend, outside the photo
    if paths.content_mask is not None:
        content = grey_mask(paths.content_mask, width, height, "[paths] content_mask")
        photo = content if photo is None else np.maximum(photo, content)
    if photo is not None:
        # Styles leave the photo region as drawn, so that every position keeps a total
        # weight of 1; only the pull towards the photo gets the soft edge (no seam there).
        styles = [mask * (1.0 - photo) for mask in styles]
        photo = np.clip(gaussian_blur(photo, EDGE_SIGMA * max(width, height)), 0.0, 1.0)
    check_room(paths, styles)
    weights = None if found is None else face_content_weights(found, loss)
    tone = None if found is None else face_tone_mask(found, loss)
    styles = tuple(m.astype(np.float32) for m in styles)
    return Guidance(styles, photo, painting, found, weights, tone)


def check_room(paths: PathsSettings, styles: list) -> None:
    """ImageError where a style's mask is empty once the photo region is taken out."""
    names = [f"style image {p}" for p in paths.style_image] if len(styles) > 1 else ["style"]
    for name, mask in zip(names, styles, strict=False):  # a single mask: the blend's
        if mask.sum() < EMPTY_MASK:
            raise ImageError(
                f"{name} has no region left outside the photo region "
                f"([paths] content_mask, regions or auto_region_styles mapped to {PHOTO}): "
                "give it some"
            )


def _note(text: str) -> None:
    print(f"nst: note: {text}", file=sys.stderr)


def guidance_at(guidance: Guidance, height: int, width: int) -> Guidance:
    """The same guidance at another image size (coarse-to-fine's smaller scales); the style
    images' own masks are resized with their images (nst.core.guided.painting_grams)."""
    photo, weights, tone = guidance.photo_mask, guidance.content_weights, guidance.face_tone
    return Guidance(
        tuple(resize_mask(m, width, height) for m in guidance.style_masks),
        None if photo is None else resize_mask(photo, width, height),
        guidance.painting_masks,
        content_weights=None if weights is None else resize_weights(weights, width, height),
        face_tone=None if tone is None else resize_mask(tone, width, height),
    )


def resize_weights(weights: np.ndarray, width: int, height: int) -> np.ndarray:
    """Content weights (>= 1) at (width, height): resize_mask on their excess over 1."""
    peak = max(float(weights.max()) - 1.0, 1e-12)
    return 1.0 + peak * resize_mask((weights - 1.0) / peak, width, height)


def face_tone_mask(found: FoundRegions, loss: LossSettings) -> np.ndarray | None:
    """[loss] face_photo: the faces' soft mask squared, where the face has no style of its own
    and the weight is above 0; None otherwise (no such term). Squared, the hold lets go
    sooner towards the oval's edge, which reaches over hair and hats: with the mask itself
    the photo's bright backdrop and a cap's badge came back there (bench/results/face_photo.md)."""
    if loss.face_photo == 0.0 or "face" in dict(loss.auto_region_styles):
        return None
    if float(found.face.max()) == 0.0:
        return None
    return np.square(found.face).astype(np.float32)


def face_content_weights(found: FoundRegions, loss: LossSettings) -> np.ndarray | None:
    """[loss] face_content: 1 + (face_content − 1) · face, the content term's weight per
    pixel (the face's soft edge: no seam); None where it is 1 everywhere or the face has a
    style (or the photo) of its own in auto_region_styles."""
    if loss.face_content == 1.0 or "face" in dict(loss.auto_region_styles):
        return None
    return (1.0 + (loss.face_content - 1.0) * found.face).astype(np.float32)
