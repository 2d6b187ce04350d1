"""Colour maths for keeping the photo's colours: conversions, luminance-only, colour matching."""

from __future__ import annotations

import numpy as np
import pytest

from nst.inputs.colors import (
    grey,
    luminance,
    match_color_statistics,
    match_luminance,
    rgb_to_yiq,
    with_chroma,
    yiq_to_rgb,
)


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
