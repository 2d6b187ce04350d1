"""Odd but valid images load as upright RGB 0..255; several frames give the first, with a note."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nst.inputs.images import load_image, load_pair
from nst.run.preflight import check_fits_network
from nst.settings import load_settings
from tests.helpers import make_image
from tests.helpers.broken import png_16bit_rgb


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (20, 10), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)
    image = load_image(tmp_path / "cmyk.jpg")
    assert image.shape == (10, 20, 3)
    np.testing.assert_allclose(image[5, 10], [255, 0, 0], atol=3)  # no magenta, no yellow: red


def test_16_bit_rgb_png_keeps_its_colours(tmp_path):
    deep = np.random.default_rng(0).integers(0, 65536, (6, 8, 3)).astype(np.uint16)
    image = load_image(png_16bit_rgb(tmp_path / "deep.png", deep))
    np.testing.assert_allclose(image, deep / 257.0, atol=1.0)


@pytest.mark.parametrize("suffix", ["gif", "tif"])
def test_several_frames_give_the_first_and_a_note(tmp_path, suffix):
    frames = [Image.new("RGB", (16, 12), colour) for colour in ("red", "lime", "blue")]
    path = tmp_path / f"frames.{suffix}"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    notes: list[str] = []
    image = load_image(path, on_note=notes.append)
    np.testing.assert_allclose(image[6, 8], [255, 0, 0], atol=2)
    assert notes == [f"{path} has 3 frames; using the first"]


def test_one_frame_gives_no_note(tmp_path):
    notes: list[str] = []
    load_image(make_image(tmp_path / "one.png"), on_note=notes.append)
    assert notes == []


def test_palette_with_transparency_and_grey_alpha_and_bilevel(tmp_path):
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 255, 10, 20, 30])
    palette.putpixel((0, 0), 1)
    palette.save(tmp_path / "p.png", transparency=0)  # colour 0 (blue) is transparent
    image = load_image(tmp_path / "p.png")
    np.testing.assert_array_equal(image[0, 0], [10, 20, 30])
    np.testing.assert_array_equal(image[4, 4], [255, 255, 255])  # transparent: white
    Image.new("LA", (4, 4), (50, 0)).save(tmp_path / "la.png")
    np.testing.assert_array_equal(load_image(tmp_path / "la.png")[0, 0], [255, 255, 255])
    Image.new("1", (4, 4), 1).save(tmp_path / "bw.png")
    np.testing.assert_array_equal(load_image(tmp_path / "bw.png")[0, 0], [255, 255, 255])


def test_extreme_aspect_ratio_works_when_the_short_side_is_enough(tmp_path):
    """A 20:1 panorama at max_size 320 is 320x16: just enough for VGG's four poolings."""
    model = load_settings(None).model
    content = make_image(tmp_path / "pano.png", 400, 20)
    c, s = load_pair(content, make_image(tmp_path / "s.png", 30, 90), 320)
    assert c.shape == s.shape == (16, 320, 3)
    check_fits_network(content, 320, 16, model)  # no error


def test_a_tiny_image_is_scaled_up(tmp_path):
    c, _ = load_pair(make_image(tmp_path / "dot.png", 2, 1), make_image(tmp_path / "s.png"), 64)
    assert c.shape == (32, 64, 3)
