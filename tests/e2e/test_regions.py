"""Spatial control through python main.py, as a user runs it: regions with two styles, coarse to
fine, style scale and L-BFGS; a content mask with luminance-only transfer; regions found in the
photo (auto_regions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import make_image, only_run_dir, run_main, tiny_overrides
from tests.helpers.portrait import (
    background,
    needs_cascades,
    picture_with_face,
    save,
)
from tests.helpers.regions import BLUE, FAST, RED, flat, red_minus_blue, save_mask


@pytest.mark.slow
def test_regions_through_main_with_two_styles_coarse_to_fine_style_scale_and_lbfgs(tmp_path):
    """Features at once, as a user runs it: the halves still take their own styles."""
    content = make_image(tmp_path / "photo.png", 64, 48, seed=1)
    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    Image.fromarray(flat(RED, 20, 20).astype(np.uint8)).save(red)
    Image.fromarray(flat(BLUE, 20, 20).astype(np.uint8)).save(blue)
    doodle = np.zeros((12, 16, 3), np.uint8)  # a small doodle: resized to the content
    doodle[:, :8] = (255, 255, 0)
    doodle[:, 8:] = (0, 128, 0)
    Image.fromarray(doodle).save(tmp_path / "doodle.png")
    extra = {
        **dict(item.split("=", 1) for item in FAST),
        "paths.style_image": f"{red}, {blue}",
        "paths.regions": str(tmp_path / "doodle.png"),
        "loss.region_styles": "#ffff00: red.png, #008000: blue.png",
        "loss.style_weight": "100",
        "image.scales": "2",
        "image.max_size": "64",
        "optimizer.coarse_iterations": "6",
        "optimizer.iterations": "10",
        "optimizer.name": "lbfgs",
        "image.style_scale": "0.5",
    }
    done = run_main(tiny_overrides(content, red, tmp_path / "r", **extra))
    assert done.returncode == 0, done.stderr
    final = np.asarray(Image.open(only_run_dir(tmp_path / "r") / "final.png"), np.float32)
    start = np.asarray(Image.open(content), np.float32)
    moved = red_minus_blue(final) - red_minus_blue(start)
    assert moved[:, :28].mean() > 30 + moved[:, 36:].mean()


@pytest.mark.slow
def test_a_content_mask_through_main_with_luminance_only_transfer(tmp_path):
    content = make_image(tmp_path / "photo.png", 64, 48, seed=1)
    style = make_image(tmp_path / "style.png", 64, 48, seed=5)
    box = np.zeros((48, 64))
    box[12:36, 16:48] = 1
    extra = {
        **dict(item.split("=", 1) for item in FAST),
        "paths.content_mask": save_mask(tmp_path / "box.png", box),
        "loss.style_weight": "100",
        "image.max_size": "64",
        "image.preserve_colors": "luminance",
        "optimizer.iterations": "20",
    }
    done = run_main(tiny_overrides(content, style, tmp_path / "r", **extra))
    assert done.returncode == 0, done.stderr
    final = np.asarray(Image.open(only_run_dir(tmp_path / "r") / "final.png"), np.float32)
    difference = np.abs(final - np.asarray(Image.open(content), np.float32)).mean(axis=2)
    assert difference[box > 0].mean() <= 8
    assert difference[box == 0].mean() > 3 * difference[box > 0].mean()


@pytest.mark.slow
@needs_cascades
@pytest.mark.parametrize(
    ("with_face", "mode"), [(True, "true"), (False, "true"), (True, "faces"), (False, "faces")]
)
def test_a_run_through_main_with_auto_regions(tmp_path, with_face, mode):
    picture = picture_with_face(50, 30) if with_face else background(160, 120)
    content = Path(save(tmp_path / "content.png", picture))
    style = Path(save(tmp_path / "style.png", background(64, 64)[::-1]))
    extra = {"image.max_size": "160", "loss.auto_regions": mode, "output.animation": "false"}
    result = run_main(tiny_overrides(content, style, tmp_path / "out", **extra))
    assert result.returncode == 0, result.stderr[-2000:]
    notes = [line for line in result.stderr.splitlines() if "auto_regions" in line]
    if not with_face and mode == "faces":
        assert notes == []  # the default says nothing where there is no face
    else:
        assert len(notes) == 1
        assert ("1 face" if with_face else "no person or face found in content.png") in notes[0]
    (final,) = (tmp_path / "out").glob("*/final.png")
    # what was found is in the run folder, at the run's size, for a user to see and edit
    saved = {path.name: path for path in final.parent.glob("region_*.png")}
    if not with_face:
        assert saved == {}
        return
    assert {"region_background.png", "region_face.png"} <= set(saved)
    assert ("region_person.png" in saved) == (mode == "true")  # faces: no people looked for
    for path in saved.values():
        assert Image.open(path).size == Image.open(final).size
    face = np.asarray(Image.open(saved["region_face.png"]), np.float32) / 255
    assert 0 < face.mean() < 0.5 and face.max() == 1.0
