"""Real ICC colour profiles built on the fly: an RGB matrix/TRC (v2) profile with any primaries
and gamma, the kind cameras, phones and editors embed (Adobe RGB, Display P3, ...)."""

from __future__ import annotations

import struct

import numpy as np

D50 = (0.9642, 1.0, 0.8249)  # the ICC profile connection space's white
# Colorants (red, green, blue columns of RGB -> XYZ), adapted to D50 as ICC profiles store them.
SRGB_D50 = np.array([[0.4361, 0.3851, 0.1431], [0.2225, 0.7169, 0.0606], [0.0139, 0.0971, 0.7141]])
ADOBE_RGB_D50 = np.array(
    [[0.6097, 0.2053, 0.1492], [0.3111, 0.6257, 0.0632], [0.0195, 0.0609, 0.7446]]
)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + _s15(x) + _s15(y) + _s15(z)


def _desc(text: str) -> bytes:
    ascii_text = text.encode() + b"\0"
    return (
        b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text
        + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + bytes(67)
    )  # fmt: skip


def rgb_profile(colorants: np.ndarray, gamma: float, name: str = "test RGB") -> bytes:
    """An ICC v2 display profile: linear light = (value/255) ** gamma, XYZ = colorants @ it."""
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
    tags = [
        (b"desc", _desc(name)),
        (b"cprt", b"text" + bytes(4) + b"none\0\0\0\0"),
        (b"wtpt", _xyz(*D50)),
        (b"rXYZ", _xyz(*colorants[:, 0])),
        (b"gXYZ", _xyz(*colorants[:, 1])),
        (b"bXYZ", _xyz(*colorants[:, 2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        body += bytes(-len(body) % 4)  # every tag starts on a 4-byte boundary
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size) + bytes(4) + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ " + bytes(12) + b"acsp" + bytes(24) + struct.pack(">I", 0)
        + _s15(D50[0]) + _s15(D50[1]) + _s15(D50[2]) + bytes(48)
    )  # fmt: skip
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def to_srgb(pixels: np.ndarray, colorants: np.ndarray, gamma: float) -> np.ndarray:
    """What a colour-managed reader must make of `pixels` (0..255) in that profile: sRGB
    0..255, by the same matrices (relative colorimetric, out-of-gamut values clipped)."""
    linear = (np.asarray(pixels, np.float64) / 255.0) ** gamma
    srgb_linear = np.clip(linear @ colorants.T @ np.linalg.inv(SRGB_D50).T, 0.0, 1.0)
    encoded = np.where(
        srgb_linear <= 0.0031308,
        12.92 * srgb_linear,
        1.055 * srgb_linear ** (1 / 2.4) - 0.055,
    )
    return encoded * 255.0
