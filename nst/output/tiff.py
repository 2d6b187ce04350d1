"""An RGB TIFF of 8- or 16-bit samples with its ICC profile and print resolution embedded.

Pillow writes TIFFs of 8-bit RGB only and OpenCV embeds no ICC profile, so nst writes the
few tags a print TIFF needs itself: baseline RGB, Adobe Deflate compression with the
horizontal predictor (what Photoshop, GIMP, libtiff and every print RIP read), the
resolution in dots per inch and the profile (tag 34675).
"""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction

import numpy as np

_SHORT, _LONG, _RATIONAL, _UNDEFINED = 3, 4, 5, 7
_SIZES = {_SHORT: 2, _LONG: 4, _RATIONAL: 8, _UNDEFINED: 1}
_STRIP_BYTES = 1 << 16  # uncompressed bytes per strip: readers can decode a strip at a time
_DEFLATE, _HORIZONTAL, _RGB, _INCH = 8, 2, 2, 2


def tiff_bytes(samples: np.ndarray, icc: bytes, dpi: float) -> bytes:
    """`samples` (height, width, 3), uint8 or uint16, as a little-endian TIFF."""
    samples = np.ascontiguousarray(samples, samples.dtype.newbyteorder("<"))
    height, width, _ = samples.shape
    bits = samples.dtype.itemsize * 8
    rows = max(1, _STRIP_BYTES // (width * 3 * samples.dtype.itemsize))
    strips = [zlib.compress(_predicted(samples[top : top + rows]).tobytes(), 6)
              for top in range(0, height, rows)]  # fmt: skip
    resolution = Fraction(dpi).limit_denominator(10000)
    tags = [
        (256, _LONG, [width]),
        (257, _LONG, [height]),
        (258, _SHORT, [bits] * 3),
        (259, _SHORT, [_DEFLATE]),
        (262, _SHORT, [_RGB]),
        (273, _LONG, [0] * len(strips)),  # the strips' offsets, known once laid out
        (277, _SHORT, [3]),
        (278, _LONG, [rows]),
        (279, _LONG, [len(strip) for strip in strips]),
        (282, _RATIONAL, [resolution.numerator, resolution.denominator]),
        (283, _RATIONAL, [resolution.numerator, resolution.denominator]),
        (284, _SHORT, [1]),  # the samples of a pixel side by side
        (296, _SHORT, [_INCH]),
        (317, _SHORT, [_HORIZONTAL]),
        (34675, _UNDEFINED, icc),
    ]
    return _layout(tags, strips)


def _predicted(block: np.ndarray) -> np.ndarray:
    """TIFF's horizontal predictor: each sample less its left neighbour's (wrapping), which
    a smooth picture turns into small numbers that compress well."""
    differences = block.copy()
    differences[:, 1:] -= block[:, :-1]
    return differences


def _layout(tags: list, strips: list[bytes]) -> bytes:
    """Header, one image file directory, the values too long for it, then the strips."""
    directory_size = 2 + 12 * len(tags) + 4
    values = [_packed(kind, data) for _, kind, data in tags]
    outside = 8 + directory_size  # where the first value too long for its entry goes
    offsets, cursor = [], outside
    for packed in values:
        offsets.append(cursor if len(packed) > 4 else None)
        cursor += len(packed) + len(packed) % 2 if len(packed) > 4 else 0
    strip_offsets, position = [], cursor
    for strip in strips:
        strip_offsets.append(position)
        position += len(strip)
    strip_index = next(i for i, (tag, _, _) in enumerate(tags) if tag == 273)
    values[strip_index] = _packed(_LONG, strip_offsets)
    directory = struct.pack("<H", len(tags))
    extra = b""
    for (tag, kind, data), packed, offset in zip(tags, values, offsets, strict=True):
        count = len(data) // 2 if kind == _RATIONAL else len(data)
        field = packed.ljust(4, b"\0") if offset is None else struct.pack("<I", offset)
        directory += struct.pack("<HHI", tag, kind, count) + field
        if offset is not None:
            extra += packed + b"\0" * (len(packed) % 2)  # values start on a word boundary
    return b"II*\0" + struct.pack("<I", 8) + directory + b"\0\0\0\0" + extra + b"".join(strips)


def _packed(kind: int, data) -> bytes:
    if kind == _UNDEFINED:
        return bytes(data)
    code = {_SHORT: "H", _LONG: "I", _RATIONAL: "I"}[kind]
    return struct.pack(f"<{len(data)}{code}", *data)
