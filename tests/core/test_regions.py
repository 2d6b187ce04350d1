"""Spatial control end to end, at tiny size with a random network: a style per region, a
region kept as the photo, and bad masks refused before the network is built."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import main as cli
from nst.core.features import build_feature_extractor
from nst.inputs.masks import Guidance, gaussian_blur
from nst.settings import load_settings
from tests.helpers import make_image, tiny_overrides
from tests.helpers.regions import (
    BLUE,
    FAST,
    HEIGHT,
    RED,
    WIDTH,
    flat,
    photo,
    red_minus_blue,
    result,
    save_mask,
)

LOSSES = [("adam", "gram"), ("lbfgs", "gram"), ("adam", "sliced")]


@pytest.mark.parametrize(("optimizer", "style_loss"), LOSSES)
def test_a_left_and_a_right_style_paint_each_half_its_own_colour(optimizer, style_loss):
    left = np.zeros((HEIGHT, WIDTH), np.float32)
    left[:, : WIDTH // 2] = 1
    loss = f"loss.style_loss={style_loss}"
    image = result(Guidance((left, 1 - left), None), (flat(RED), flat(BLUE)), optimizer, loss)
    moved = red_minus_blue(image) - red_minus_blue(photo())
    half = WIDTH // 2
    # the left half turns red, the right half blue, far beyond the photo's own variation
    split = moved[:, : half - 4].mean() - moved[:, half + 4 :].mean()
    assert split > 40 and moved[:, half + 4 :].mean() < -20
    # Both styles together, without masks: nothing sends red to the left. A Gram matrix has
    # no positions, so the blend may come out in patches of either colour (our L-BFGS makes
    # columns, measured 51 levels apart on average left to right, against 359 with masks;
    # Adam 0.4 against 179), but no split like the masks' one.
    blend = red_minus_blue(result(None, (flat(RED), flat(BLUE)), optimizer, loss))
    assert abs(blend[:, : half - 4].mean() - blend[:, half + 4 :].mean()) < split / 4


@pytest.mark.parametrize(("optimizer", "style_loss"), LOSSES)
def test_the_content_mask_keeps_its_region_the_photo_while_the_rest_is_painted(
    optimizer, style_loss
):
    box = np.zeros((HEIGHT, WIDTH), np.float32)
    box[8:24, 12:36] = 1
    guidance = Guidance((1 - box,), gaussian_blur(box, 0.5))
    image = result(guidance, (flat(RED),), optimizer, f"loss.style_loss={style_loss}")
    difference = np.abs(image - photo()).mean(axis=2)
    assert difference[box > 0].mean() <= 8  # of 255
    assert difference[box == 0].mean() > 20


@pytest.mark.slow
@pytest.mark.parametrize(("optimizer", "style_loss"), LOSSES)
def test_a_style_image_mask_chooses_which_part_of_the_painting_supplies_the_style(
    optimizer, style_loss
):
    painting = flat(RED)
    painting[:, WIDTH // 2 :] = BLUE  # half red, half blue
    red_half = np.zeros((HEIGHT, WIDTH), np.float32)
    red_half[:, : WIDTH // 2] = 1
    start = red_minus_blue(photo()).mean()

    def moved(mask) -> float:
        guidance = None if mask is None else Guidance((), None, (mask,))
        picture = result(guidance, (painting,), optimizer, f"loss.style_loss={style_loss}")
        return red_minus_blue(picture).mean() - start

    towards_red, towards_blue, whole = moved(red_half), moved(1 - red_half), moved(None)
    assert towards_red > 30 and towards_blue < -30  # the mask's half of the painting counts
    assert towards_blue + 20 < whole < towards_red - 20  # the whole painting: both colours


def bad_mask_cases(folder):
    black = save_mask(folder / "black.png", np.zeros((8, 8)))
    white = save_mask(folder / "white.png", np.ones((8, 8)))
    (folder / "notes.png").write_text("this is a text file, not a picture of anything at all\n")
    doodle = np.zeros((10, 10, 3), np.uint8)
    doodle[:, 5:] = (255, 0, 0)
    Image.fromarray(doodle).save(folder / "doodle.png")
    return {
        "missing": ([f"paths.style_masks={folder / 'nope.png'}"], "nope.png does not exist"),
        "not an image": ([f"paths.style_masks={folder / 'notes.png'}"], "a text file"),
        "all black": ([f"paths.style_masks={black}"], "black.png is all black"),
        "wrong count": ([f"paths.style_masks={white}, {white}"], "2 masks for 1 style image"),
        "colour with no style": (
            [f"paths.regions={folder / 'doodle.png'}", "loss.region_styles=#000000: style.png"],
            "colour #ff0000 covers 50.0% of the image but has no style",
        ),
        "style image mask missing": (
            [f"paths.style_image_masks={folder / 'nope.png'}"],
            "nope.png does not exist",
        ),
        "style image mask not an image": (
            [f"paths.style_image_masks={folder / 'notes.png'}"],
            "a text file",
        ),
        "style image mask all black": (
            [f"paths.style_image_masks={black}"],
            ("[paths] style_image_masks (for style.png): ", "black.png is all black"),
        ),
        "style image masks wrong count": (
            [f"paths.style_image_masks={white}, {white}"],
            "style_image_masks: 2 masks for 1 style image",
        ),
        "content mask covers all": (
            [f"paths.content_mask={white}"],
            "no region left outside the photo region",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "not an image",
        "all black",
        "wrong count",
        "colour with no style",
        "content mask covers all",
        "style image mask missing",
        "style image mask not an image",
        "style image mask all black",
        "style image masks wrong count",
    ],
)
def test_bad_masks_are_one_line_exit_2_before_the_network_is_built(
    case, tmp_path, capsys, monkeypatch
):
    def no_network(*args, **kwargs):
        raise AssertionError("the network was built before the masks were checked")

    monkeypatch.setattr("nst.core.features.build_feature_extractor", no_network)
    content = make_image(tmp_path / "content.png", seed=1)
    style = make_image(tmp_path / "style.png", seed=2)
    overrides, says = bad_mask_cases(tmp_path)[case]
    args = tiny_overrides(content, style, tmp_path / "r")
    status = cli.main([*args, *(arg for o in overrides for arg in ("--set", o))])
    err = capsys.readouterr().err
    assert status == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("nst: error:"), err
    for part in says if isinstance(says, tuple) else (says,):
        assert part in lines[0], lines[0]
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_each_region_targets_its_own_style_rescaled_to_the_regions_positions():
    from nst.core.losses import gram_matrix
    from nst.core.objective import build_terms, named

    settings = load_settings(None, (*FAST, "paths.style_image=a.png, b.png"))
    extractor = build_feature_extractor(settings.model)
    third = np.zeros((HEIGHT, WIDTH), np.float32)
    third[:, : WIDTH // 3] = 1
    styles = (photo(40, 40) + 30, photo(24, 64))  # sizes of their own
    terms = build_terms(
        extractor,
        photo(),
        styles,
        settings.model,
        settings.loss,
        Guidance((third, 1 - third), None),
    )
    targets = named(terms, "style").inputs
    # each region weighs as one style on the whole picture, whatever its area (a third here)
    np.testing.assert_allclose(targets.regions.weights.numpy(), [1, 1], rtol=1e-6)
    for k, name in enumerate(settings.model.style_layers):
        masks = targets.regions.masks[k].numpy()
        for r, style in enumerate(styles):
            features = extractor(style[None])[name]
            positions = features.shape[1] * features.shape[2]
            expected = masks[r].sum() / positions * gram_matrix(features).numpy()
            np.testing.assert_allclose(targets.grams[k][r].numpy(), expected, rtol=1e-4)


def test_a_photo_region_alone_with_two_styles_keeps_their_blend_outside_it():
    from nst.core.losses import blend_grams, gram_matrix
    from nst.core.objective import build_terms, named

    settings = load_settings(
        None, (*FAST, "paths.style_image=a.png, b.png", "loss.style_blend_weights=3, 1")
    )
    extractor = build_feature_extractor(settings.model)
    box = np.zeros((HEIGHT, WIDTH), np.float32)
    box[8:24, 12:36] = 1
    styles = (photo(40, 40) + 30, photo(24, 64))
    terms = build_terms(
        extractor, photo(), styles, settings.model, settings.loss, Guidance((1 - box,), box)
    )
    targets = named(terms, "style").inputs
    assert targets.regions.weights.numpy().tolist() == [1.0]
    for k, name in enumerate(settings.model.style_layers):
        mass = float(targets.regions.masks[k].numpy().sum())
        features = [extractor(s[None])[name] for s in styles]
        positions = [float(f.shape[1] * f.shape[2]) for f in features]
        grams = [gram_matrix(f) for f in features]
        expected = blend_grams(grams, (0.75, 0.25), [mass, *positions]).numpy()
        np.testing.assert_allclose(targets.grams[k][0].numpy(), expected, rtol=1e-4)
