"""The result converted from sRGB into another RGB colour profile, in floating point.

Pillow's colour management (LittleCMS through ImageCms) holds 8-bit RGB only, which would
throw away a 16-bit print file's finer levels. Nearly every profile a photo carries (Adobe
RGB, Display P3, ProPhoto, a camera's) is a matrix/TRC profile: three tone curves and a 3x3
matrix to the profile connection space (CIE XYZ, D50). Two of those convert exactly in float
(relative colorimetric, as LittleCMS converts between them): decode sRGB's curves, through
sRGB's matrix to XYZ, through the other's inverse matrix, encode with its curves inverted.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from PIL import ImageCms

_PARAMETERS = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}  # ICC parametricCurveType: function -> count
_INVERSE_SAMPLES = 65537  # a curve inverted by interpolation: finer than a 16-bit level
_BLOCK_ROWS = 256


@dataclass(frozen=True)
class MatrixProfile:
    """An RGB matrix/TRC profile: linear light -> XYZ (D50) by `matrix`, each channel's
    value -> linear light by its curve, sampled at `_INVERSE_SAMPLES` points in 0..1."""

    matrix: np.ndarray  # 3x3, columns: the red, green and blue colorants
    curves: tuple[np.ndarray, np.ndarray, np.ndarray]


def profile_name(icc: bytes) -> str:
    """The profile's own description ('Adobe RGB (1998)'), or 'unnamed profile'."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.getProfileDescription(profile).strip() or "unnamed profile"
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError):
        return "unnamed profile"


def matrix_profile(icc: bytes) -> MatrixProfile | None:
    """The profile's matrix and curves; None for any other kind (table-based, grey, CMYK) or
    a profile that cannot be read."""
    try:
        if icc[16:20] != b"RGB ":
            return None
        tags = _tag_table(icc)
        matrix = np.array([_xyz(icc, tags[f"{c}XYZ"]) for c in "rgb"]).T
        curves = tuple(_curve(icc, tags[f"{c}TRC"]) for c in "rgb")
    except (KeyError, ValueError, struct.error, IndexError):
        return None
    if abs(np.linalg.det(matrix)) < 1e-9:
        return None
    return MatrixProfile(matrix, curves)


def _tag_table(icc: bytes) -> dict[str, tuple[int, int]]:
    (count,) = struct.unpack_from(">I", icc, 128)
    table = {}
    for index in range(count):
        signature, offset, size = struct.unpack_from(">4sII", icc, 132 + 12 * index)
        if offset + size > len(icc):
            raise ValueError("a tag past the profile's end")
        table[signature.decode("latin-1")] = (offset, size)
    return table


def _xyz(icc: bytes, where: tuple[int, int]) -> tuple[float, ...]:
    offset, _ = where
    if icc[offset : offset + 4] != b"XYZ ":
        raise ValueError("a colorant that is not an XYZ tag")
    return tuple(v / 65536 for v in struct.unpack_from(">3i", icc, offset + 8))


def _curve(icc: bytes, where: tuple[int, int]) -> np.ndarray:
    """A tone curve (curv: identity, gamma or table; para: one of ICC's five functions),
    sampled at `_INVERSE_SAMPLES` evenly spaced values in 0..1."""
    offset, _ = where
    kind = icc[offset : offset + 4]
    x = np.linspace(0.0, 1.0, _INVERSE_SAMPLES)
    if kind == b"curv":
        (count,) = struct.unpack_from(">I", icc, offset + 8)
        if count == 0:
            return x
        if count == 1:
            return x ** (struct.unpack_from(">H", icc, offset + 12)[0] / 256)
        table = np.array(struct.unpack_from(f">{count}H", icc, offset + 12)) / 65535
        return np.interp(x, np.linspace(0.0, 1.0, count), table)
    if kind == b"para":
        (function,) = struct.unpack_from(">H", icc, offset + 8)
        values = struct.unpack_from(f">{_PARAMETERS[function]}i", icc, offset + 12)
        return _parametric(x, function, [v / 65536 for v in values])
    raise ValueError(f"a tone curve of type {kind!r}")


def _parametric(x: np.ndarray, function: int, p: list[float]) -> np.ndarray:
    """ICC's parametricCurveType: Y = (aX + b)^g (+ e) above a threshold, a line below."""
    g, a, b, c, d, e, f = [*p, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0][:7]
    if function == 0:
        return x**g
    power = np.power(np.maximum(a * x + b, 0.0) if function else x, g)
    if function == 1:
        return np.where(x >= -b / a, power, 0.0)
    if function == 2:
        return np.where(x >= -b / a, power + c, c)
    if function == 3:
        return np.where(x >= d, power, c * x)
    return np.where(x >= d, power + e, c * x + f)


def convert(pixels: np.ndarray, source: MatrixProfile, target: MatrixProfile) -> np.ndarray:
    """Float 0..255 RGB in `source` -> float32 0..255 in `target` (relative colorimetric);
    colours outside the target's gamut are clipped to it."""
    pixels = np.asarray(pixels)
    converted = np.empty(pixels.shape, np.float32)
    for top in range(0, pixels.shape[0], _BLOCK_ROWS):  # a print-sized image in bounded memory
        rows = slice(top, top + _BLOCK_ROWS)
        converted[rows] = _convert_block(pixels[rows], source, target)
    return converted


def _convert_block(pixels: np.ndarray, source: MatrixProfile, target: MatrixProfile):
    x = np.linspace(0.0, 1.0, _INVERSE_SAMPLES)
    encoded = np.clip(np.asarray(pixels, np.float64) / 255.0, 0.0, 1.0)
    linear = np.stack([np.interp(encoded[..., c], x, source.curves[c]) for c in range(3)], -1)
    into = np.linalg.inv(target.matrix) @ source.matrix
    linear = np.clip(linear @ into.T, 0.0, 1.0)
    # the target's curves inverted: values sampled evenly in 0..1 against their light
    inverse = [np.maximum.accumulate(curve) for curve in target.curves]
    return np.stack([np.interp(linear[..., c], inverse[c], x) for c in range(3)], -1) * 255.0
