"""Colour maths for keeping the photo's colours (Gatys, Bethge, Hertzmann & Shechtman 2016,
"Preserving Color in Neural Artistic Style Transfer"), as pure NumPy functions.

Images are float arrays (height, width, 3), RGB 0..255. Nothing here clips unless it says
so: callers clip once, where an image becomes pixels again.
"""

from __future__ import annotations

import numpy as np

# NTSC YIQ (FCC 1953 coefficients): Y is the luminance, I and Q the chroma. The inverse is
# computed, not copied from a table, so that converting there and back is exact.
RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ]
)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
    """RGB -> YIQ per pixel; Y in the same 0..255 units as the RGB values."""
    return np.asarray(image, np.float64) @ RGB_TO_YIQ.T


def yiq_to_rgb(image: np.ndarray) -> np.ndarray:
    """YIQ -> RGB per pixel, the exact inverse of `rgb_to_yiq` (not clipped)."""
    return np.asarray(image, np.float64) @ YIQ_TO_RGB.T


def luminance(image: np.ndarray) -> np.ndarray:
    """The Y channel, (height, width), 0..255 for an RGB image 0..255."""
    return rgb_to_yiq(image)[..., 0]


def grey(luma: np.ndarray) -> np.ndarray:
    """A luminance map (height, width) as a grey RGB image, float32, clipped to 0..255."""
    return np.repeat(np.clip(luma, 0.0, 255.0)[..., None], 3, axis=2).astype(np.float32)


def match_luminance(style_luma: np.ndarray, content_luma: np.ndarray) -> np.ndarray:
    """The style luminance with the content's mean and standard deviation:
    L' = σ_c / σ_s · (L_s − μ_s) + μ_c (the paper's luminance matching, before transfer)."""
    spread = content_luma.std() / max(float(style_luma.std()), 1e-6)
    return (style_luma - style_luma.mean()) * spread + content_luma.mean()


def with_chroma(image: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """The luminance of `image` with the chroma (I, Q) of `colors`, as RGB, not clipped.

    The last step of luminance-only transfer: the stylised luminance, the photo's colours.
    """
    yiq = rgb_to_yiq(colors)
    yiq[..., 0] = luminance(image)
    return yiq_to_rgb(yiq)


def _sqrtm(covariance: np.ndarray, inverse: bool = False) -> np.ndarray:
    """The symmetric square root Σ^½ (or Σ^-½) of a covariance matrix, by eigendecomposition."""
    values, vectors = np.linalg.eigh(covariance)
    values = np.maximum(values, 1e-6)  # a flat or grey image has zero variance along some axis
    return (vectors * values ** (-0.5 if inverse else 0.5)) @ vectors.T


def match_color_statistics(style: np.ndarray, content: np.ndarray) -> np.ndarray:
    """`style` linearly recoloured, x' = A x + b, so that its RGB mean and covariance are the
    content's: A = Σ_c^½ Σ_s^-½, b = μ_c − A μ_s (the paper's colour transfer, in its
    Image Analogies variant: symmetric square roots). Not clipped."""
    s = np.asarray(style, np.float64).reshape(-1, 3)
    c = np.asarray(content, np.float64).reshape(-1, 3)
    a = _sqrtm(np.cov(c, rowvar=False)) @ _sqrtm(np.cov(s, rowvar=False), inverse=True)
    b = c.mean(axis=0) - a @ s.mean(axis=0)
    return (s @ a.T + b).reshape(np.shape(style))
