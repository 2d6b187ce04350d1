"""For the portrait tests: Grace Hopper's face (matplotlib's sample photo) pasted on a smooth
background, settings with auto_regions for such a picture, and the skip where OpenCV ships no
Haar cascades."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image

from nst.inputs import portrait
from nst.settings import load_settings


def has_cascades() -> bool:
    folder = Path(getattr(getattr(cv2, "data", None), "haarcascades", "") or "/nonexistent")
    return (folder / portrait.FRONTAL).is_file()


needs_cascades = pytest.mark.skipif(
    not has_cascades(),
    reason=f"OpenCV {cv2.__version__} ships no Haar cascades: pip install 'opencv-python>=4.9,<5'",
)


def hopper_face(width: int) -> np.ndarray:
    """The face of matplotlib's Grace Hopper photo (brows to chin, cheek to cheek), `width`
    pixels wide, RGB uint8."""
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    photo = np.asarray(Image.open(path).convert("RGB"))
    crop = photo[130:335, 150:370]  # the face in the 512 x 600 photo
    height = round(width * crop.shape[0] / crop.shape[1])
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)


def background(width: int, height: int) -> np.ndarray:
    """A smooth, colourful picture with no one in it, RGB float 0..255."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack(
        [100 + 60 * np.sin(x / 9), 140 + 50 * np.cos(y / 7), 90 + 40 * np.sin((x + y) / 11)], -1
    )


def picture_with_face(left: int, top: int, size: int = 56, shape=(160, 120)) -> np.ndarray:
    """A background with the face pasted, its top left corner at (left, top), `size` wide."""
    picture = background(*shape)
    face = hopper_face(size)
    picture[top : top + face.shape[0], left : left + face.shape[1]] = face
    return picture


def save(path: Path, array) -> str:
    Image.fromarray(np.clip(np.asarray(array), 0, 255).astype(np.uint8)).save(path)
    return str(path)


def settings_for(tmp_path: Path, content: np.ndarray, *overrides: str, styles=("a.png",)):
    for name in styles:
        save(tmp_path / name, np.full((8, 8, 3), 100))
    style_image = ", ".join(str(tmp_path / name) for name in styles)
    return load_settings(
        None,
        (
            f"paths.content_image={save(tmp_path / 'content.png', content)}",
            f"paths.style_image={style_image}",
            "loss.auto_regions=true",
            *overrides,
        ),
    )


STEP = 6  # the face moves this many pixels right per frame


LEFT, TOP = 20, 30  # where it starts; its middle is 28, 26 px further


def moving_face(count: int) -> list[np.ndarray]:
    """`count` frames of the face moving STEP pixels right per frame from (LEFT, TOP)."""
    return [picture_with_face(LEFT + STEP * k, TOP) for k in range(count)]
