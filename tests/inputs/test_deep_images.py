"""16-bit RGB photos load at full precision: the levels between 8-bit ones survive, and the
orientation, transparency and colour profile are applied as for 8-bit pictures."""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from nst.inputs.images import _chunk, _with_chunks, load_image, png_bytes, srgb_profile
from nst.output.tiff import tiff_bytes
from tests.helpers.icc import ADOBE_RGB_D50, rgb_profile, to_srgb

ADOBE_GAMMA = 563 / 256  # Adobe RGB (1998): 2.2 as a u8.8 number
# A gradient in 16-bit levels, most of them between two 8-bit ones (not multiples of 257).
RAMP = np.stack(
    [
        np.tile(np.linspace(0, 65535, 80).round(), (48, 1)),
        np.tile(np.linspace(65535, 1000, 80).round(), (48, 1)),
        np.tile(np.linspace(300, 40000, 48).round()[:, None], (1, 80)),
    ],
    axis=2,
).astype(np.uint16)


def from_adobe(pixels: np.ndarray) -> np.ndarray:
    """The intended conversion, written from the standards: the Adobe profile's gamma and
    colorants and the sRGB profile's, as the profiles store them (s15Fixed16), sRGB's curve;
    out-of-gamut colours clipped. (tests.helpers.icc.to_srgb rounds sRGB's colorants to 4
    places, which moves the darkest levels by up to 0.3: sRGB's curve is steep there.)"""
    s15 = lambda m: np.round(np.asarray(m) * 65536) / 65536  # noqa: E731
    srgb = srgb_profile().profile
    colorants = (srgb.red_colorant, srgb.green_colorant, srgb.blue_colorant)
    srgb_to_xyz = s15(np.array([xyz for xyz, _ in colorants]).T)
    linear = (np.asarray(pixels, np.float64) / 255.0) ** ADOBE_GAMMA
    linear = np.clip(linear @ (np.linalg.inv(srgb_to_xyz) @ s15(ADOBE_RGB_D50)).T, 0.0, 1.0)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return encoded * 255.0


def write_png16(path: Path, samples: np.ndarray, *chunks: bytes) -> Path:
    """`samples` (RGB or RGBA uint16) as a 16-bit PNG, with `chunks` after its header."""
    order = [2, 1, 0, 3][: samples.shape[2]]
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(samples[..., order]))
    assert ok
    path.write_bytes(_with_chunks(encoded.tobytes(), *chunks))
    return path


def test_a_16_bit_png_keeps_the_levels_between_8_bit_ones(tmp_path):
    image = load_image(write_png16(tmp_path / "ramp.png", RAMP))
    assert image.dtype == np.float32 and image.shape == (48, 80, 3)
    np.testing.assert_allclose(image, RAMP / 257.0, atol=1e-3)
    fractional = np.abs(image - np.rint(image)) > 0.05
    assert fractional.mean() > 0.5  # not 8-bit levels in disguise


def test_a_16_bit_tiff_with_the_srgb_profile_keeps_its_levels(tmp_path):
    path = tmp_path / "ramp.tif"
    path.write_bytes(tiff_bytes(RAMP, srgb_profile().tobytes(), 300.0))
    np.testing.assert_allclose(load_image(path), RAMP / 257.0, atol=0.02)


def test_a_16_bit_adobe_rgb_png_is_converted_to_srgb(tmp_path):
    colours = np.random.default_rng(1).uniform(0, 255, (24, 40, 3))
    profile = rgb_profile(ADOBE_RGB_D50, ADOBE_GAMMA, "Adobe RGB (1998) lookalike")
    path = tmp_path / "adobe.png"
    path.write_bytes(png_bytes(colours, 16, profile=profile))
    image = load_image(path)
    np.testing.assert_allclose(image, from_adobe(colours), atol=0.05)
    np.testing.assert_allclose(image, to_srgb(colours, ADOBE_RGB_D50, ADOBE_GAMMA), atol=0.5)
    # and as LittleCMS converts the same colours at 8 bits (how it was read before), within
    # its 8-bit rounding and grid interpolation
    eight = tmp_path / "adobe8.png"
    eight.write_bytes(png_bytes(colours, 8, profile=profile))
    np.testing.assert_allclose(image, load_image(eight), atol=3)


def test_a_16_bit_adobe_rgb_tiff_is_converted_to_srgb(tmp_path):
    colours = np.random.default_rng(2).integers(0, 65536, (16, 24, 3)).astype(np.uint16)
    profile = rgb_profile(ADOBE_RGB_D50, ADOBE_GAMMA, "Adobe RGB (1998) lookalike")
    path = tmp_path / "adobe.tif"
    path.write_bytes(tiff_bytes(colours, profile, 300.0))
    np.testing.assert_allclose(load_image(path), from_adobe(colours / 257.0), atol=0.05)


def test_16_bit_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((4, 6, 4), np.uint16)
    rgba[..., :3] = 257 * 100 + 128  # between two 8-bit levels
    rgba[:, :3, 3] = 65535  # opaque on the left, half transparent on the right
    rgba[:, 3:, 3] = 32768
    image = load_image(write_png16(tmp_path / "rgba.png", rgba))
    np.testing.assert_allclose(image[:, :3], (257 * 100 + 128) / 257, atol=1e-3)
    half = 32768 / 65535
    expected = (257 * 100 + 128) / 257 * half + 255 * (1 - half)
    np.testing.assert_allclose(image[:, 3:], expected, atol=1e-3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16_bit_orientation_is_applied_as_for_8_bit(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    tag = _chunk(b"eXIf", exif.tobytes().removeprefix(b"Exif\0\0"))
    path = write_png16(tmp_path / "turned.png", RAMP[:, :60], tag)
    eight = tmp_path / "turned8.png"
    Image.fromarray((RAMP[:, :60] // 257).astype(np.uint8)).save(eight, exif=exif)
    expected = load_image(eight)  # Pillow's orientation, on the 8-bit copy
    assert load_image(path).shape == expected.shape
    np.testing.assert_allclose(load_image(path), expected, atol=1.0)


def test_a_16_bit_file_whose_profile_cannot_be_used_is_read_as_before_with_the_note(tmp_path):
    damaged = _chunk(b"iCCP", b"broken\0\0" + zlib.compress(b"not a profile"))
    notes: list[str] = []
    image = load_image(write_png16(tmp_path / "damaged.png", RAMP, damaged), notes.append)
    np.testing.assert_allclose(image, RAMP / 257.0, atol=1.0)  # 8 bits, read as sRGB
    assert notes and "damaged colour profile" in notes[0]
