"""16-bit RGB photos (PNG, TIFF) read at full precision.

Pillow holds no 16-bit RGB mode: it opens such a file as 8-bit RGB, throwing away the finer
levels a print workflow kept (a smooth sky from a raw converter). OpenCV decodes the samples
as they are; the orientation, transparency and colour profile are then applied here as
nst.inputs.images applies them to 8-bit pictures, in floating point: a matrix profile
(nearly every photo's) by nst.inputs.icc. A file this cannot take at full precision (a
table-based profile, a colour key, premultiplied alpha) is left to Pillow's 8-bit path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from nst.inputs import icc

_PNG_COLOUR_TYPES = {2: 3, 6: 4}  # IHDR colour type -> samples a pixel: RGB, RGB + alpha
_TIFF_RGB, _TIFF_UNASSOCIATED_ALPHA = 2, 2
# EXIF orientation -> what turns the stored picture upright (as PIL.ImageOps.exif_transpose)
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def deep_rgb(path: Path, image: Image.Image) -> np.ndarray | None:
    """The 16-bit RGB(A) PNG or TIFF at `path` (`image`: Pillow's opening of it) as float32
    sRGB 0..255, upright, transparency on white, its profile converted; None for any other
    file, or one to be read at 8 bits (see the module's note)."""
    channels = _deep_channels(path, image)
    if channels is None or "transparency" in image.info:
        return None
    carried = image.info.get("icc_profile")
    source = icc.matrix_profile(carried) if carried else None
    if carried and source is None:
        return None  # LittleCMS converts it, at 8 bits (or notes a damaged profile)
    samples = _decode(path, channels)
    if samples is None:
        return None
    samples = _UPRIGHT.get(image.getexif().get(0x0112, 1), lambda a: a)(samples)
    rgb = samples[..., :3] * np.float32(1 / 65535)
    if channels == 4:  # composited in the file's own colour space: white is white in every one
        alpha = samples[..., 3:] * np.float32(1 / 65535)
        rgb = rgb * alpha + (1 - alpha)
    rgb *= np.float32(255)
    if source is not None:
        return icc.convert(rgb, source, icc.srgb_matrix())
    return rgb.astype(np.float32)


def _deep_channels(path: Path, image: Image.Image) -> int | None:
    """Samples a pixel (3 or 4) of a 16-bit RGB or RGB + alpha PNG or TIFF, else None."""
    if image.format == "PNG":
        with open(path, "rb") as file:
            header = file.read(26)  # signature, IHDR's length and type, size, depth, colour
        if len(header) < 26 or header[24] != 16:
            return None
        return _PNG_COLOUR_TYPES.get(header[25])
    if image.format == "TIFF":
        tags = image.tag_v2
        bits, samples = tags.get(258, ()), tags.get(277, 1)
        if tags.get(262) != _TIFF_RGB or tags.get(339, 1) not in (1, (1,) * samples):
            return None
        if samples == 4 and tags.get(338) not in (_TIFF_UNASSOCIATED_ALPHA, (2,)):
            return None
        if samples in (3, 4) and tuple(bits) == (16,) * samples:
            return samples
    return None


def _decode(path: Path, channels: int) -> np.ndarray | None:
    """The file's samples, RGB(A) uint16 as stored (OpenCV gives them BGR(A)); None where
    OpenCV reads something else."""
    import cv2  # only for 16-bit files: OpenCV loads in ~0.2 s

    stored = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if stored is None or stored.dtype != np.uint16 or stored.ndim != 3:
        return None
    if stored.shape[2] != channels:
        return None
    order = [2, 1, 0, 3][:channels]
    return stored[..., order].astype(np.float32)  # exact: 16 bits fit its 24
