"""Images in and out: load with Pillow, resize, and turn float arrays back into pixels.

In memory an image is a float32 array (height, width, 3), RGB, values 0..255: the input
contract of the feature extractor, which applies the network's own preprocessing itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps


class ImageError(ValueError):
    """An image that cannot be used; the message names the file and the problem."""


def load_image(path: Path) -> np.ndarray:
    """The image at `path` upright (EXIF orientation applied), RGB, float32 0..255."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not an image" if path.is_dir() else "does not exist"
        raise ImageError(f"image {path} {what}")
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            return _to_rgb(image)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(f"cannot read image {path}: {error}") from None


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grey: scale, don't clip
        grey = np.asarray(image, dtype=np.float32)
        grey *= 255.0 / (65535.0 if image.mode.startswith("I;16") or grey.max() > 255 else 255.0)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")  # transparent areas become white, not black
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return np.asarray(image.convert("RGB"), dtype=np.float32)


def fit_size(width: int, height: int, max_size: int) -> tuple[int, int]:
    """(width, height) scaled so that the longer side is `max_size`, aspect kept."""
    scale = max_size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`image` resized to (width, height) with a high-quality (Lanczos) filter."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    channels = [
        Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32)).resize(
            (width, height), Image.Resampling.LANCZOS
        )
        for c in range(image.shape[2])
    ]
    return np.clip(np.stack([np.asarray(c) for c in channels], axis=2), 0.0, 255.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float 0..255 pixels -> uint8, rounded and clipped to valid pixels."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def load_pair(content_path: Path, style_path: Path, max_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The content image with its longer side `max_size`, and the style image resized to the
    content's width and height (stretched, as in the paper)."""
    content = load_image(content_path)
    width, height = fit_size(content.shape[1], content.shape[0], max_size)
    style = load_image(style_path)
    return resize(content, width, height), resize(style, width, height)
