"""Loading and resizing images: orientation, colour modes, sizes, pixel round trip."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nst.inputs.images import ImageError, fit_size, load_image, load_pair, resize, to_uint8
from tests.helpers import make_image


def test_load_gives_rgb_float_pixels(tmp_path):
    path = make_image(tmp_path / "a.png", 40, 30)
    image = load_image(path)
    assert image.shape == (30, 40, 3)
    assert image.dtype == np.float32
    np.testing.assert_array_equal(image, np.asarray(Image.open(path), np.float32))


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    Image.fromarray(pixels).save(tmp_path / "r.jpg", exif=exif, quality=95)
    image = load_image(tmp_path / "r.jpg")
    assert image.shape == (40, 20, 3)  # upright: portrait
    assert image[:20].mean() > 200 > 50 > image[20:].mean()  # white half now on top


def test_grayscale_and_palette_become_rgb(tmp_path):
    Image.fromarray(np.full((10, 12), 80, np.uint8), mode="L").save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_image(tmp_path / "g.png")[0, 0], [80, 80, 80])
    Image.new("RGB", (12, 10), (10, 200, 30)).convert("P", palette=Image.Palette.ADAPTIVE).save(
        tmp_path / "p.png"
    )
    np.testing.assert_array_equal(load_image(tmp_path / "p.png")[0, 0], [10, 200, 30])


def test_transparent_areas_become_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (255, 0, 0, 255)  # left opaque red, right fully transparent black
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    image = load_image(tmp_path / "t.png")
    np.testing.assert_array_equal(image[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(image[0, 7], [255, 255, 255])


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.full((6, 6), 32768, np.uint16)).save(tmp_path / "16.png")
    assert load_image(tmp_path / "16.png")[0, 0, 0] == pytest.approx(127.5, abs=0.5)


def test_missing_and_folder_and_garbage_are_image_errors(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "none.jpg")
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)
    (tmp_path / "text.jpg").write_text("hello")
    with pytest.raises(ImageError, match=r"text\.jpg is a text file, not an image"):
        load_image(tmp_path / "text.jpg")


@pytest.mark.parametrize(
    "size, max_size, expected",
    [((1024, 768), 512, (512, 384)), ((300, 600), 96, (48, 96)), ((40, 30), 80, (80, 60))],
)
def test_fit_size_scales_the_longer_side(size, max_size, expected):
    assert fit_size(*size, max_size) == expected


def test_pair_style_is_resized_to_content(tmp_path):
    content = make_image(tmp_path / "c.png", 100, 50)
    style = make_image(tmp_path / "s.png", 30, 90)
    c, s = load_pair(content, style, 64)
    assert c.shape == s.shape == (32, 64, 3)


def test_resize_keeps_values_in_range():
    rng = np.random.default_rng(0)
    image = rng.choice([0.0, 255.0], size=(20, 20, 3)).astype(np.float32)
    out = resize(image, 37, 41)  # Lanczos overshoots at hard edges: must be clipped
    assert out.shape == (41, 37, 3)
    assert out.min() >= 0 and out.max() <= 255


def test_to_uint8_rounds_and_clips():
    out = to_uint8(np.array([[[-3.0, 127.6, 300.0]]], np.float32))
    np.testing.assert_array_equal(out, [[[0, 128, 255]]])
