"""Generators of broken and odd input files for the robustness tests (all made on the fly)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.helpers import make_image


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A valid PNG header claiming width x height grey pixels, with no pixel data: what a
    decompression bomb looks like to Pillow before it decodes anything."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + _chunk(b"IEND", b""))
    return path


def png_16bit_rgb(path: Path, pixels: np.ndarray) -> Path:
    """A 16-bit-per-channel RGB PNG of `pixels` (uint16, height x width x 3); Pillow cannot
    write these, so the file is assembled by hand."""
    height, width, _ = pixels.shape
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in pixels)
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
    data = b"\x89PNG\r\n\x1a\n" + header + _chunk(b"IDAT", zlib.compress(rows))
    path.write_bytes(data + _chunk(b"IEND", b""))
    return path


def encoded(format: str, width: int = 64, height: int = 48, seed: int = 3) -> bytes:
    """A noisy RGB image encoded as `format` (noise: no two halves of the data alike)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=format)
    return buffer.getvalue()


def truncated(path: Path, format: str) -> Path:
    data = encoded(format)
    path.write_bytes(data[: len(data) // 2])
    return path


def corrupted(path: Path, format: str) -> Path:
    """The whole file, with bytes flipped in the middle of the compressed pixel data."""
    data = bytearray(encoded(format))
    for i in range(len(data) // 3, len(data) - 16, 5):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


def good_pair(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return make_image(folder / "content.png", seed=1), make_image(folder / "style.png", seed=2)
