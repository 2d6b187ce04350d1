"""Output for print: final.png in 8 or 16 bits, with the sRGB profile and its dpi, and its
size said; the 16-bit file keeps the float result's fractional levels."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from nst.core.records import Record
from nst.inputs.images import load_image, png_bytes, print_size, srgb_profile
from nst.output.outputs import PrintSpec, RunWriter
from nst.output.runfolder import FINAL
from nst.settings import SettingsError, load_settings

# Every 1/16 of a level from 0 to 255: 4,081 values an 8-bit file rounds to 256.
RAMP = np.repeat((np.arange(4081, dtype=np.float32) / 16).reshape(53, 77, 1), 3, axis=2)


def decoded(data: bytes) -> np.ndarray:
    """The PNG's samples as stored (uint8 or uint16), RGB."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return pixels[..., ::-1]


def test_16_bit_keeps_the_fractional_levels_of_the_float_result():
    data = png_bytes(RAMP, bit_depth=16)
    stored = decoded(data)
    assert stored.dtype == np.uint16
    back = stored / 257.0
    assert np.abs(back - RAMP).max() <= 0.5 / 257 + 1e-6
    assert len(np.unique(stored)) == 4081  # every level kept
    assert len(np.unique(decoded(png_bytes(RAMP)))) == 256  # where 8 bits keep 256


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_the_srgb_profile_and_the_dpi_are_embedded(bit_depth):
    with Image.open(io.BytesIO(png_bytes(RAMP, bit_depth, dpi=300))) as image:
        assert image.info["icc_profile"] == srgb_profile().tobytes()
        profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(profile)
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)


def test_nst_reads_its_own_16_bit_output_back(tmp_path):
    path = tmp_path / "deep.png"
    path.write_bytes(png_bytes(RAMP, bit_depth=16))
    assert np.abs(load_image(path) - RAMP).max() <= 1.0  # as 8 bits, within a level


def test_the_writer_makes_final_png_16_bit_and_the_iterates_8_bit(tmp_path):
    (tmp_path / "iterates").mkdir()
    (tmp_path / "plots").mkdir()
    writer = RunWriter(tmp_path, 1, PrintSpec(bit_depth=16, dpi=150))
    writer.add(Record(0, 1.0, 1.0, 0.0, 2.0, 0.1, image=RAMP))
    writer.finish("budget")
    assert decoded((tmp_path / FINAL).read_bytes()).dtype == np.uint16
    assert decoded((tmp_path / "iterates" / "iter_000000.png").read_bytes()).dtype == np.uint8
    assert writer.final_note == (
        "final.png: 16-bit sRGB, 77x53 px, at 150 dpi 1.3x0.9 cm (0.5x0.4 in)"
    )


def test_print_size():
    assert print_size(4096, 3072, 300) == ("4096x3072 px, at 300 dpi 34.7x26.0 cm (13.7x10.2 in)")


def test_bit_depth_is_8_or_16():
    assert load_settings(None).output.bit_depth == "8"
    assert load_settings(None, ("output.bit_depth=16",)).output.bit_depth == "16"
    with pytest.raises(SettingsError, match=r"\[output\] bit_depth.*8, 16"):
        load_settings(None, ("output.bit_depth=12",))
    with pytest.raises(SettingsError, match=r"\[output\] dpi"):
        load_settings(None, ("output.dpi=0",))
