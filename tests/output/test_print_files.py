"""The print file: final.tiff at 8 or 16 bits, and the content photo's own colour profile
carried through (the result converted from sRGB into it, the profile embedded)."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from nst.core.records import Record
from nst.inputs.images import load_image, srgb_profile, to_uint8, to_uint16
from nst.output.outputs import PrintSpec, RunWriter, print_profile, write_print
from nst.output.runfolder import FINAL, FINAL_TIFF
from tests.helpers.icc import ADOBE_RGB_D50, rgb_profile

RAMP = np.repeat((np.arange(4081, dtype=np.float32) / 16).reshape(53, 77, 1), 3, axis=2)
COLOURS = np.random.default_rng(3).uniform(0, 255, (24, 77, 3)).astype(np.float32)
PICTURE = np.concatenate([RAMP, COLOURS])  # greys at every 1/16 level, and random colours
ADOBE = rgb_profile(ADOBE_RGB_D50, 2.2, "Adobe RGB test")
ADOBE_GAMMA = round(2.2 * 256) / 256  # as the profile stores it (u8Fixed8)


def stored(path: Path) -> np.ndarray:
    """The file's samples as stored (uint8 or uint16), RGB."""
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]


def in_adobe(pixels: np.ndarray) -> np.ndarray:
    """The intended conversion, written from the standards: sRGB's curve, the sRGB profile's
    colorants and the Adobe profile's, as the profiles store them (s15Fixed16), its gamma."""
    s15 = lambda m: np.round(np.asarray(m) * 65536) / 65536  # noqa: E731
    srgb = srgb_profile().profile
    colorants = (srgb.red_colorant, srgb.green_colorant, srgb.blue_colorant)
    to_xyz = s15(np.array([xyz for xyz, _ in colorants]).T)
    v = np.asarray(pixels, np.float64) / 255.0
    linear = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    adobe = np.clip(linear @ (np.linalg.inv(s15(ADOBE_RGB_D50)) @ to_xyz).T, 0.0, 1.0)
    return adobe ** (1 / ADOBE_GAMMA) * 255.0


def written(tmp_path: Path, spec: PrintSpec, image: np.ndarray = PICTURE) -> Path:
    write_print(tmp_path, image, spec)
    return tmp_path / spec.name


@pytest.mark.parametrize("bits", [8, 16])
def test_a_tiff_holds_the_samples_the_srgb_profile_and_the_dpi(tmp_path, bits):
    path = written(tmp_path, PrintSpec("tiff", bits, 240.0))
    assert path.name == "final.tiff"
    expected = to_uint16(PICTURE) if bits == 16 else to_uint8(PICTURE)
    assert stored(path).dtype == expected.dtype
    np.testing.assert_array_equal(stored(path), expected)
    with Image.open(path) as image:
        assert image.info["icc_profile"] == srgb_profile().tobytes()
        assert image.info["dpi"] == pytest.approx((240, 240))


def test_a_tiff_run_also_writes_final_png_as_8_bit_srgb_for_viewing(tmp_path):
    written(tmp_path, PrintSpec("tiff", 16, 300.0, ADOBE))
    view = tmp_path / FINAL
    assert stored(view).dtype == np.uint8
    np.testing.assert_array_equal(stored(view), to_uint8(PICTURE))  # sRGB, not Adobe
    with Image.open(view) as image:
        assert image.info["icc_profile"] == srgb_profile().tobytes()


@pytest.mark.parametrize("file_format", ["tiff", "png"])
def test_16_bit_in_the_content_profile_is_the_intended_conversion(tmp_path, file_format):
    path = written(tmp_path, PrintSpec(file_format, 16, 300.0, ADOBE))
    samples = stored(path)
    assert samples.dtype == np.uint16
    assert np.abs(samples - in_adobe(PICTURE) * 257).max() <= 1.0  # 1 level in 65535
    with Image.open(path) as image:
        assert image.info["icc_profile"] == ADOBE


def test_8_bit_in_the_content_profile_is_within_a_level_of_it(tmp_path):
    samples = stored(written(tmp_path, PrintSpec("tiff", 8, 300.0, ADOBE))).astype(float)
    assert np.abs(samples - in_adobe(PICTURE)).max() <= 1.0
    # LittleCMS's own 8-bit transform (tables, so its own rounding) agrees within its error,
    # given the same 8-bit picture (near black, half a level in is several out)
    levels = to_uint8(PICTURE)
    path = written(tmp_path, PrintSpec("tiff", 8, 300.0, ADOBE), levels.astype(np.float32))
    samples = stored(path).astype(float)
    littlecms = ImageCms.profileToProfile(
        Image.fromarray(levels),
        srgb_profile(),
        ImageCms.ImageCmsProfile(io.BytesIO(ADOBE)),
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
    )
    difference = np.abs(samples - np.asarray(littlecms, float))
    assert difference.max() <= 2.0 and difference.mean() < 0.5


def test_a_reader_that_manages_colour_sees_the_srgb_result(tmp_path):
    """nst's own loader converts an embedded profile to sRGB (LittleCMS, 8-bit tables): the
    print file in Adobe RGB must come back as the sRGB picture it was made from. Its 8 bits
    lose a few levels in saturated colours (their sRGB is a small difference of large Adobe
    values), so the bulk of the picture is held to 2 levels."""
    path = written(tmp_path, PrintSpec("png", 16, 300.0, ADOBE))
    error = np.abs(load_image(path) - PICTURE)
    assert np.percentile(error, 99) <= 2.0 and error.mean() < 0.6
    assert np.abs(stored(path) / 257.0 - PICTURE).max() > 10  # and not by being sRGB itself


def test_the_content_photos_profile_is_the_one_asked_for(tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(to_uint8(COLOURS)).save(photo, icc_profile=ADOBE)
    assert print_profile(photo, "content") == (ADOBE, None)
    assert print_profile(photo, "srgb") == (None, None)


def test_a_content_photo_without_a_profile_gives_srgb_and_says_so(tmp_path):
    photo = tmp_path / "plain.jpg"
    Image.fromarray(to_uint8(COLOURS)).save(photo)
    profile, note = print_profile(photo, "content")
    assert profile is None
    assert note == "plain.jpg carries no colour profile: the print file is sRGB"


def test_a_profile_nst_cannot_convert_into_gives_srgb_and_says_so(tmp_path):
    photo = tmp_path / "lab.tif"
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    Image.fromarray(to_uint8(COLOURS)).save(photo, icc_profile=lab)
    profile, note = print_profile(photo, "content")
    assert profile is None
    assert "lab.tif's colour profile" in note and "the print file is sRGB" in note


def test_the_log_line_says_the_file_depth_profile_and_print_size(tmp_path):
    (tmp_path / "iterates").mkdir()
    (tmp_path / "plots").mkdir()
    writer = RunWriter(tmp_path, 1, PrintSpec("tiff", 16, 150.0, ADOBE))
    writer.add(Record(0, 1.0, 1.0, 0.0, 2.0, 0.1, image=PICTURE))
    writer.finish("budget")
    assert (tmp_path / FINAL_TIFF).is_file() and (tmp_path / FINAL).is_file()
    assert writer.final_note == (
        "final.tiff: 16-bit Adobe RGB test, 77x77 px, at 150 dpi 1.3x1.3 cm (0.5x0.5 in)"
    )
