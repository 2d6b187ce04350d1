"""Colours in and out: embedded ICC profiles are converted to sRGB, deep and float samples are
scaled by their range, the PNGs nst writes are tagged as sRGB; and the colour maths for keeping
the photo's colours (conversions, luminance-only transfer, colour matching)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageCms

from nst.inputs.colors import (
    grey,
    luminance,
    match_color_statistics,
    match_luminance,
    rgb_to_yiq,
    with_chroma,
    yiq_to_rgb,
)
from nst.inputs.images import load_image, png_bytes
from tests.helpers.icc import ADOBE_RGB_D50, SRGB_D50, rgb_profile, to_srgb

ADOBE_GAMMA = 563 / 256  # Adobe RGB (1998): 2.2 as a u8.8 number
COLOURS = np.array([[200, 50, 50], [30, 180, 90], [128, 128, 128], [255, 255, 255]], np.uint8)


def _blocks(colours: np.ndarray, side: int = 16) -> np.ndarray:
    """One side x side block per colour, in a row (large enough for JPEG's 8x8 blocks)."""
    return np.repeat(np.repeat(colours[None], side, axis=0), side, axis=1)


def _block_centres(image: np.ndarray, count: int, side: int = 16) -> np.ndarray:
    return image[side // 2, [side * k + side // 2 for k in range(count)]]


def test_adobe_rgb_png_is_converted_to_srgb(tmp_path):
    profile = rgb_profile(ADOBE_RGB_D50, ADOBE_GAMMA, "Adobe RGB (1998) lookalike")
    Image.fromarray(COLOURS[None]).save(tmp_path / "adobe.png", icc_profile=profile)
    image = load_image(tmp_path / "adobe.png")[0]
    np.testing.assert_allclose(image, to_srgb(COLOURS, ADOBE_RGB_D50, ADOBE_GAMMA), atol=1.5)
    assert image[0, 0] > 225  # Adobe's (200, 50, 50) is a more saturated red in sRGB


def test_linear_profile_jpeg_is_converted_to_srgb(tmp_path):
    profile = rgb_profile(SRGB_D50, 1.0, "linear sRGB")
    Image.fromarray(_blocks(COLOURS)).save(tmp_path / "lin.jpg", icc_profile=profile, quality=98)
    image = _block_centres(load_image(tmp_path / "lin.jpg"), len(COLOURS))
    np.testing.assert_allclose(image, to_srgb(COLOURS, SRGB_D50, 1.0), atol=4)
    assert image[2, 0] > 180  # linear mid grey 128 is sRGB 188, not 128


def test_transparent_image_with_a_profile_is_composited_then_converted(tmp_path):
    rgba = np.zeros((4, 8, 4), np.uint8)
    rgba[:, :4] = (128, 128, 128, 255)  # left: opaque grey; right: fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png", icc_profile=rgb_profile(SRGB_D50, 1.0))
    image = load_image(tmp_path / "t.png")
    np.testing.assert_allclose(image[0, 0], to_srgb([128] * 3, SRGB_D50, 1.0), atol=1.5)
    np.testing.assert_allclose(image[0, 7], [255, 255, 255], atol=1)


def test_an_srgb_profile_changes_nothing(tmp_path):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(COLOURS[None]).save(tmp_path / "s.png", icc_profile=srgb)
    np.testing.assert_allclose(load_image(tmp_path / "s.png")[0], COLOURS, atol=1)


def test_lab_tiff_is_converted_from_lab(tmp_path):
    Image.new("LAB", (4, 4), (255, 128, 128)).save(tmp_path / "white.tif")  # L 100, a 0, b 0
    np.testing.assert_allclose(load_image(tmp_path / "white.tif")[0, 0], [255, 255, 255], atol=2)
    Image.new("LAB", (4, 4), (128, 188, 128)).save(tmp_path / "red.tif")  # L 50, a +60
    red, green, blue = load_image(tmp_path / "red.tif")[0, 0]
    assert red > blue > green


def test_damaged_or_mismatched_profile_is_ignored_with_a_note(tmp_path):
    notes: list[str] = []
    Image.fromarray(COLOURS[None]).save(tmp_path / "bad.png", icc_profile=b"not a profile" * 20)
    np.testing.assert_array_equal(load_image(tmp_path / "bad.png", notes.append)[0], COLOURS)
    assert "damaged colour profile" in notes[-1]
    grey = np.full((4, 4), 90, np.uint8)
    rgb = rgb_profile(SRGB_D50, 1.0)  # an RGB profile on grey pixels: lcms cannot apply it
    Image.fromarray(grey).save(tmp_path / "grey.png", icc_profile=rgb)
    image = load_image(tmp_path / "grey.png", notes.append)
    assert image.shape == (4, 4, 3) and "does not fit" in notes[-1]


def test_float_tiff_in_0_1_is_scaled_not_black(tmp_path):
    Image.fromarray(np.full((4, 5), 0.5, np.float32)).save(tmp_path / "f.tif")
    np.testing.assert_allclose(load_image(tmp_path / "f.tif"), 127.5, atol=0.01)


def test_float_tiff_in_0_255_is_kept(tmp_path):
    Image.fromarray(np.full((4, 5), 100.0, np.float32)).save(tmp_path / "f255.tif")
    np.testing.assert_allclose(load_image(tmp_path / "f255.tif"), 100.0, atol=0.01)


def test_signed_32_bit_tiff_is_scaled_not_white(tmp_path):
    Image.fromarray(np.full((4, 5), 2**30, np.int32)).save(tmp_path / "i32.tif")
    np.testing.assert_allclose(load_image(tmp_path / "i32.tif"), 127.5, atol=0.01)


def _as_unsigned(path):
    """Rewrite a little-endian TIFF's SampleFormat tag (339) to 1, unsigned integers."""
    data = bytearray(path.read_bytes())
    start = struct.unpack("<I", data[4:8])[0]
    for entry in range(struct.unpack("<H", data[start : start + 2])[0]):
        at = start + 2 + 12 * entry
        if struct.unpack("<H", data[at : at + 2])[0] == 339:
            data[at + 8 : at + 10] = struct.pack("<H", 1)
    path.write_bytes(bytes(data))
    return path


def test_unsigned_32_bit_tiff_is_read_unsigned(tmp_path):
    values = np.full((4, 5), 2**31, np.uint32).view(np.int32)  # wraps negative when signed
    Image.fromarray(values).save(tmp_path / "u32.tif")
    np.testing.assert_allclose(load_image(_as_unsigned(tmp_path / "u32.tif")), 127.5, atol=0.01)


@pytest.mark.parametrize(("value", "expected"), [(200, 200.0), (300, 300 * 255 / 65535)])
def test_32_bit_tiff_with_small_values_uses_the_depth_that_holds_them(tmp_path, value, expected):
    Image.fromarray(np.full((3, 3), value, np.int32)).save(tmp_path / "small.tif")
    np.testing.assert_allclose(load_image(tmp_path / "small.tif"), expected, atol=0.01)


def test_written_pngs_are_tagged_srgb_and_keep_their_pixels():
    pixels = np.random.default_rng(0).uniform(0, 255, (6, 7, 3)).astype(np.float32)
    picture = Image.open(io.BytesIO(png_bytes(pixels)))
    profile = ImageCms.ImageCmsProfile(io.BytesIO(picture.info["icc_profile"]))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    np.testing.assert_array_equal(np.asarray(picture), np.clip(np.rint(pixels), 0, 255))


def test_run_outputs_are_written_as_srgb_pngs(tmp_path):
    from nst.output.outputs import write_png

    write_png(tmp_path / "final.png", np.full((4, 5, 3), 100.0, np.float32))
    with Image.open(tmp_path / "final.png") as picture:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(picture.info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(profile)


# --- keeping the photo's colours (nst.inputs.colors) ----------------------------------


def random_image(seed: int, low: float = 0, high: float = 255, shape=(12, 16, 3)) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape)


def test_yiq_round_trip_is_exact():
    image = random_image(0)
    np.testing.assert_allclose(yiq_to_rgb(rgb_to_yiq(image)), image, atol=1e-9)


def test_luminance_of_grey_is_the_grey_and_grey_has_no_chroma():
    value = np.full((4, 5), 77.0)
    image = grey(value)
    assert image.shape == (4, 5, 3) and image.dtype == np.float32
    np.testing.assert_allclose(luminance(image), value, atol=1e-4)
    np.testing.assert_allclose(rgb_to_yiq(image)[..., 1:], 0, atol=1e-4)


def test_luminance_weights_the_channels_as_ntsc():
    red, green, blue = (np.zeros((1, 1, 3)) for _ in range(3))
    red[..., 0], green[..., 1], blue[..., 2] = 100, 100, 100
    assert [luminance(c).item() for c in (red, green, blue)] == pytest.approx([29.9, 58.7, 11.4])


def test_with_chroma_has_the_colours_chroma_and_the_images_luminance():
    photo = random_image(1, 60, 200)  # mid-range colours: nothing leaves 0..255
    stylised = grey(luminance(random_image(2, 60, 200))) + random_image(3, -5, 5)
    result = with_chroma(stylised, photo)
    np.testing.assert_allclose(rgb_to_yiq(result)[..., 1:], rgb_to_yiq(photo)[..., 1:], atol=1e-9)
    np.testing.assert_allclose(luminance(result), luminance(stylised), atol=1e-9)
    assert not np.allclose(result, photo, atol=1)  # the luminance really is the stylised one


def test_with_chroma_of_its_own_luminance_gives_the_photo_back():
    photo = random_image(4)
    np.testing.assert_allclose(with_chroma(grey(luminance(photo)), photo), photo, atol=1e-3)


def test_match_luminance_takes_the_contents_mean_and_spread():
    style, content = random_image(5, 0, 80)[..., 0], random_image(6, 100, 250)[..., 0]
    matched = match_luminance(style, content)
    assert matched.mean() == pytest.approx(content.mean())
    assert matched.std() == pytest.approx(content.std())
    # a linear map: the order of the pixels is kept
    np.testing.assert_array_equal(np.argsort(matched, axis=None), np.argsort(style, axis=None))


def test_match_color_statistics_takes_the_contents_mean_and_covariance():
    rng = np.random.default_rng(7)
    content = random_image(8, 40, 220)
    # a style with correlated channels and another palette
    style = random_image(9, 0, 120) @ np.array([[1, 0.5, 0], [0, 1, 0.3], [0.2, 0, 1]])
    style += rng.uniform(0, 10, style.shape)
    matched = match_color_statistics(style, content)
    assert matched.shape == style.shape
    flat, target = matched.reshape(-1, 3), content.reshape(-1, 3)
    np.testing.assert_allclose(flat.mean(axis=0), target.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(
        np.cov(flat, rowvar=False), np.cov(target, rowvar=False), rtol=1e-6, atol=1e-6
    )


def test_match_color_statistics_of_a_grey_style_stays_finite():
    style = grey(random_image(10)[..., 0])  # all three channels equal: a singular covariance
    matched = match_color_statistics(style, random_image(11))
    assert np.isfinite(matched).all()
