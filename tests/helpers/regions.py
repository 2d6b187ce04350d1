"""For the spatial-control tests: flat colours, a structured grey photo, and the picture a tiny
guided run (random shallow network, from the photo) ends with."""

from __future__ import annotations

import numpy as np
from PIL import Image

from nst.core.features import build_feature_extractor
from nst.core.optimize import stylize
from nst.inputs.styles import Inputs
from nst.settings import load_settings
from tests.helpers import loop_recipe

FAST = (
    "model.weights=random",
    "model.precision=float32",
    "model.content_layers=block2_conv1",
    "model.style_layers=block1_conv1, block2_conv1",
    "image.init=content",  # the halves move from the photo towards their colours
    "loss.tv_weight=0",
)


HEIGHT, WIDTH = 32, 48


RED, BLUE = (220.0, 40.0, 40.0), (40.0, 40.0, 220.0)


def flat(colour, height=HEIGHT, width=WIDTH) -> np.ndarray:
    return np.zeros((height, width, 3), np.float32) + np.array(colour, np.float32)


def photo(height=HEIGHT, width=WIDTH) -> np.ndarray:
    """A structured grey-ish photo (no colour of its own to speak of)."""
    y, x = np.mgrid[0:height, 0:width]
    waves = [128 + 60 * np.sin(0.3 * x + 0.2 * y + c) for c in range(3)]
    return np.stack(waves, axis=2).astype(np.float32)


def result(guidance, styles, optimizer: str, *overrides: str) -> np.ndarray:
    settings = load_settings(
        None,
        (
            *FAST,
            "loss.style_weight=100",
            "optimizer.iterations=20",
            f"optimizer.name={optimizer}",
            f"paths.style_image={', '.join(f's{k}.png' for k in range(len(styles)))}",
            *overrides,
        ),
    )
    extractor = build_feature_extractor(settings.model)
    inputs = Inputs(photo(), tuple(styles), photo(), guidance)
    return list(stylize(extractor, inputs, loop_recipe(settings)))[-1].image


def red_minus_blue(image: np.ndarray) -> np.ndarray:
    """How much redder than blue each pixel is."""
    return image[..., 0] - image[..., 2]


def save_mask(path, mask) -> str:
    """`mask` (0..1) written as a grey PNG at `path`; the path as text, for a setting."""
    Image.fromarray((255 * np.asarray(mask)).astype(np.uint8)).save(path)
    return str(path)
