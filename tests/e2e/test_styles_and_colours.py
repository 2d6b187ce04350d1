"""Several styles, style scale and colour preservation through main.py, at tiny size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nst.inputs.colors import rgb_to_yiq
from nst.inputs.images import fit_size, load_image, resize
from nst.settings import load_settings
from tests.helpers import make_image, only_run_dir, run_main, tiny_overrides

# a network cut after block 2: builds and traces fast, enough for wiring tests
FAST = {"model.content_layers": "block2_conv1", "model.style_layers": "block1_conv1, block2_conv1"}


@pytest.mark.slow
def test_two_blended_styles_scaled_with_the_photos_luminance_colours(tmp_path, image_pair):
    _, style = image_pair
    # a photo of moderate colours, so that few result pixels are clipped to 0 or 255
    content = tmp_path / "soft.png"
    soft = 60 + 0.5 * np.asarray(Image.open(make_image(content, seed=1)), np.float64)
    Image.fromarray(soft.astype(np.uint8)).save(content)
    second = make_image(tmp_path / "wide.png", 90, 40, seed=3)
    extra = {
        **FAST,
        "paths.style_image": f"{style}, {second}",
        "loss.style_blend_weights": "1, 3",
        "image.style_scale": "1.5",
        "image.preserve_colors": "luminance",
        "image.init": "style",
    }
    done = run_main(tiny_overrides(content, style, tmp_path / "r", **extra))
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(tmp_path / "r")
    assert run_dir.name.endswith("-soft-style+1")
    saved = load_settings(run_dir / "config.ini")
    assert saved.paths.style_image == (style, second)
    assert saved.loss.style_blend_weights == (0.25, 0.75)
    assert (saved.image.style_scale, saved.image.preserve_colors) == (1.5, "luminance")

    # the result has the photo's chroma (up to 8-bit rounding, where no channel was clipped)
    final = np.asarray(Image.open(run_dir / "final.png"), np.float64)
    photo = load_image(content)
    photo = resize(photo, *fit_size(photo.shape[1], photo.shape[0], 48))
    assert final.shape == photo.shape
    unclipped = ((final > 0) & (final < 255)).all(axis=2)
    assert unclipped.mean() > 0.8
    chroma_error = np.abs(rgb_to_yiq(final) - rgb_to_yiq(photo))[..., 1:][unclipped]
    assert chroma_error.max() < 1.0, chroma_error.max()
    # ... and not simply the photo: the luminance was optimised from the (grey) style image
    assert np.abs(rgb_to_yiq(final)[..., 0] - rgb_to_yiq(photo)[..., 0]).mean() > 5


@pytest.mark.slow
def test_histogram_colours_with_a_larger_style(tmp_path, image_pair):
    extra = {**FAST, "image.style_scale": "2", "image.preserve_colors": "histogram"}
    done = run_main(tiny_overrides(*image_pair, tmp_path / "r", **extra))
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(tmp_path / "r")
    assert Image.open(run_dir / "final.png").size == (48, 36)
    assert load_settings(run_dir / "config.ini").image.preserve_colors == "histogram"


def test_too_small_style_is_a_clear_error_before_any_run(tmp_path, image_pair):
    extra = {**FAST, "image.style_scale": "0.5"}
    done = run_main(tiny_overrides(*image_pair, tmp_path / "r", **extra))
    assert done.returncode == 2
    assert "style.png at [image] style_scale = 0.5 would be 24x18 px" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists()
