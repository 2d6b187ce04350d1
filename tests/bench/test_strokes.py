"""bench.strokes measures stroke size as a share of the picture: a pattern drawn at the same
share at two sizes scores the same, finer strokes score smaller."""

import numpy as np
import pytest

from bench.strokes import characteristic_wavelength, correlation_length, octave_energy


def stripes(width: int, height: int, cycles: float) -> np.ndarray:
    x = np.arange(width) / width
    return np.tile(128 + 100 * np.sin(2 * np.pi * cycles * x), (height, 1))


def blotches(width: int, height: int, sigma: float, seed: int = 0) -> np.ndarray:
    """Noise smoothed with a Gaussian of `sigma` pixels: strokes about sigma across."""
    noise = np.random.default_rng(seed).standard_normal((height, width))
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    blur = np.exp(-2 * (np.pi * sigma) ** 2 * (fx**2 + fy**2))
    return np.real(np.fft.ifft2(np.fft.fft2(noise) * blur))


def test_stripes_are_found_at_their_share_of_the_width():
    picture = stripes(96, 64, cycles=24)  # a wavelength of 1/24 of the width
    assert characteristic_wavelength(picture) == pytest.approx(1 / 24, rel=0.1)
    energy = octave_energy(picture)
    assert np.argmax(energy) == 1 and energy[1] > 0.9  # the 16–32 cycles per width octave


def test_a_crop_is_measured_in_shares_of_the_whole_picture():
    picture = stripes(192, 64, cycles=48)  # 1/48 of the picture width
    crop = picture[:, 48:144]  # half the width: 24 cycles across the crop
    assert characteristic_wavelength(crop, picture_width=192) == pytest.approx(1 / 48, rel=0.1)
    assert characteristic_wavelength(crop) == pytest.approx(1 / 24, rel=0.1)


def test_the_same_share_at_twice_the_size_scores_the_same():
    small, large = blotches(64, 48, sigma=1.5), blotches(128, 96, sigma=3.0, seed=1)
    assert correlation_length(large) == pytest.approx(correlation_length(small), rel=0.25)
    assert characteristic_wavelength(large) == pytest.approx(
        characteristic_wavelength(small), rel=0.25
    )


def test_finer_strokes_score_smaller_and_move_energy_up_the_octaves():
    coarse, fine = blotches(96, 72, sigma=3.0), blotches(96, 72, sigma=1.0)
    assert correlation_length(fine) < correlation_length(coarse)
    assert characteristic_wavelength(fine) < characteristic_wavelength(coarse)
    # at 96 px the finest octave with energy is 32–64 cycles per width
    assert sum(octave_energy(fine)[2:]) > sum(octave_energy(coarse)[2:])
