"""Several style images, their scale and the photo's colours: settings, inputs, targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from nst.core.features import build_feature_extractor
from nst.core.losses import blend_grams, gram_matrix, style_layer_loss
from nst.core.objective import build_terms, named
from nst.core.optimize import stylize
from nst.core.records import Record
from nst.inputs.colors import luminance, rgb_to_yiq
from nst.inputs.images import ImageError, load_image
from nst.inputs.styles import load_inputs, restore_colors, style_size
from nst.output.runfolder import create_run_dir
from nst.settings import Settings, SettingsError, load_settings, render
from tests.helpers import loop_inputs, loop_recipe, make_image

LAYERS = "model.style_layers=block1_conv1, block2_conv1"


# --- settings -----------------------------------------------------------------------------


def test_one_style_path_still_works_and_is_a_one_item_list():
    settings = load_settings(None, ("paths.style_image=a.jpg",))
    assert settings.paths.style_image == (Path.cwd() / "a.jpg",)
    assert settings.loss.style_blend_weights == (1.0,)
    assert Settings().paths.style_image == (Path("data/style.png"),)


def test_several_styles_with_blend_weights_normalised(tmp_path):
    settings = load_settings(
        None, ("paths.style_image=a.jpg, /x/b.jpg", "loss.style_blend_weights=1, 3")
    )
    assert settings.paths.style_image == (Path.cwd() / "a.jpg", Path("/x/b.jpg"))
    assert settings.loss.style_blend_weights == pytest.approx((0.25, 0.75))
    config = tmp_path / "c.ini"
    config.write_text(render(settings))
    assert load_settings(config) == settings  # the list round-trips through config.ini


def test_empty_blend_weights_are_equal():
    settings = load_settings(None, ("paths.style_image=a.jpg,b.jpg,c.jpg",))
    assert settings.loss.style_blend_weights == pytest.approx((1 / 3,) * 3)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            ("paths.style_image=a.jpg,b.jpg", "loss.style_blend_weights=1"),
            "[loss] style_blend_weights = '1': expected 2 weights, one per style image "
            "(a.jpg, b.jpg), or empty for equal weights",
        ),
        (("loss.style_blend_weights=0",), "[loss] style_blend_weights: expected at least one"),
        (("loss.style_blend_weights=-1",), "style_blend_weights = '-1': expected a number >= 0"),
        (("paths.style_image=a.jpg,,b.jpg",), "[paths] style_image = 'a.jpg,,b.jpg': expected"),
        (("image.style_scale=0",), "[image] style_scale = '0': expected stretch or a number > 0"),
        (("image.style_scale=big",), "style_scale = 'big': expected stretch or a number > 0"),
        (("image.style_scale=5",), "style_scale = '5': expected stretch or a number > 0 and <= 4"),
        (
            ("image.preserve_colors=yes",),
            "[image] preserve_colors = 'yes': expected one of none, luminance, histogram",
        ),
    ],
)
def test_bad_artistic_values_are_named(overrides, expected):
    with pytest.raises(SettingsError) as error:
        load_settings(None, overrides)
    assert expected in str(error.value)


def test_style_scale_parses_stretch_and_numbers():
    assert Settings().image.style_scale is None  # the paper's behaviour by default
    assert load_settings(None, ("image.style_scale=Stretch",)).image.style_scale is None
    assert load_settings(None, ("image.style_scale=0.5",)).image.style_scale == 0.5


def test_run_folder_names_the_first_style_and_counts_the_others(tmp_path):
    run = create_run_dir(tmp_path, Path("photo.jpg"), (Path("a/starry.jpg"), Path("b.png")))
    assert run.name.endswith("-photo-starry+1")
    assert create_run_dir(tmp_path, Path("p.jpg"), (Path("s.jpg"),)).name.endswith("-p-s")


# --- sizes and inputs ---------------------------------------------------------------------


def test_style_size_stretches_or_keeps_the_aspect():
    assert style_size((300, 100), (64, 48), None) == (64, 48)  # stretched, as in the paper
    assert style_size((300, 100), (64, 48), 1.0) == (64, 21)  # aspect kept, longer side 64
    assert style_size((100, 300), (64, 48), 0.5) == (11, 32)
    assert style_size((100, 100), (64, 48), 2.0) == (128, 128)


def test_load_inputs_scales_each_style_and_refuses_a_too_small_one(tmp_path):
    content = make_image(tmp_path / "c.png", 80, 60, seed=1)
    wide = make_image(tmp_path / "wide.png", 90, 30, seed=2)
    square = make_image(tmp_path / "sq.png", 40, 40, seed=3)
    overrides = (f"paths.content_image={content}", f"paths.style_image={wide},{square}")
    settings = load_settings(None, (*overrides, "image.max_size=64", "image.style_scale=1.5"))
    inputs = load_inputs(settings.paths, settings.image)
    assert inputs.content.shape == (48, 64, 3)
    assert [s.shape for s in inputs.styles] == [(32, 96, 3), (96, 96, 3)]
    stretched = load_settings(None, (*overrides, "image.max_size=64"))
    assert {s.shape for s in load_inputs(stretched.paths, stretched.image).styles} == {(48, 64, 3)}
    small = load_settings(None, (*overrides, "image.max_size=64", "image.style_scale=0.5"))
    with pytest.raises(ImageError, match=r"wide.png at \[image\] style_scale = 0.5 would be 32x11"):
        load_inputs(small.paths, small.image)


def test_luminance_inputs_are_grey_and_histogram_styles_take_the_photos_colours(tmp_path):
    content = make_image(tmp_path / "c.png", 64, 48, seed=1)
    style = make_image(tmp_path / "s.png", 64, 48, seed=2)
    base = (f"paths.content_image={content}", f"paths.style_image={style}", "image.max_size=64")
    photo = load_image(content)

    settings = load_settings(None, (*base, "image.preserve_colors=luminance"))
    inputs = load_inputs(settings.paths, settings.image)
    np.testing.assert_array_equal(inputs.photo, photo)
    for image in (inputs.content, *inputs.styles):
        np.testing.assert_allclose(rgb_to_yiq(image)[..., 1:], 0, atol=1e-3)  # grey
    style_luma = luminance(inputs.styles[0])  # matched to the photo's (before clipping)
    assert style_luma.mean() == pytest.approx(luminance(photo).mean(), abs=3)

    settings = load_settings(None, (*base, "image.preserve_colors=histogram"))
    recoloured = load_inputs(settings.paths, settings.image).styles[0].reshape(-1, 3)
    original = load_image(style).reshape(-1, 3)
    photo_mean = photo.reshape(-1, 3).mean(axis=0)
    # clipping to 0..255 moves the statistics a little, but far less than the original's gap
    gap = np.abs(original.mean(axis=0) - photo_mean).max()
    assert np.abs(recoloured.mean(axis=0) - photo_mean).max() < max(0.2 * gap, 2)


def test_restore_colors_gives_saved_images_the_photos_chroma():
    photo = np.random.default_rng(0).uniform(60, 200, (8, 10, 3)).astype(np.float32)
    generated = np.repeat(photo.mean(axis=2, keepdims=True), 3, axis=2) + 5
    records = [Record(0, 1, 1, 0, 1, 0.0, generated), Record(1, 1, 1, 0, 1, 0.1, None)]
    restored = list(restore_colors(records, photo, "luminance"))
    assert restored[1].image is None and restored[0].content == 1
    np.testing.assert_allclose(
        rgb_to_yiq(restored[0].image)[..., 1:], rgb_to_yiq(photo)[..., 1:], atol=1e-3
    )
    assert next(restore_colors(records, photo, "none")).image is generated


# --- blended targets ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def extractor():
    model = load_settings(
        None, ("model.weights=random", "model.content_layers=block2_conv1", LAYERS)
    )
    return build_feature_extractor(model.model)


def pixels(seed: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (height, width, 3)).astype(np.float32)


def test_blend_weights_blend_the_style_grams_as_the_formula_says(extractor):
    settings = load_settings(
        None,
        (LAYERS, "model.content_layers=block2_conv1", "loss.style_blend_weights=1, 3",
         "paths.style_image=a.png, b.png"),
    )  # fmt: skip
    content, first, second = pixels(0, 40, 48), pixels(1, 40, 48), pixels(2, 64, 32)
    terms = build_terms(extractor, content, (first, second), settings.model, settings.loss)
    targets = named(terms, "style").inputs
    generated = extractor(tf.constant(content[None]))
    for name, a, at_zero in zip(
        settings.model.style_layers, targets.grams, targets.at_zero, strict=True
    ):
        f1, f2 = extractor(first[None])[name], extractor(second[None])[name]
        m, m1, m2 = (f.shape[1] * f.shape[2] for f in (generated[name], f1, f2))
        # A = Σ_s b_s (M / M_s) G_s, with b = (0.25, 0.75)
        expected = 0.25 * (m / m1) * gram_matrix(f1) + 0.75 * (m / m2) * gram_matrix(f2)
        np.testing.assert_allclose(a.numpy()[0], expected.numpy(), rtol=1e-5)  # one region
        # the per-layer normaliser E_l(0) is taken from the blended target, at the generated size
        zero = style_layer_loss(tf.zeros_like(generated[name]), expected)
        assert float(at_zero[0]) == pytest.approx(float(zero), rel=1e-5)


def test_one_weight_of_zero_leaves_only_the_other_style(extractor):
    content, first, second = pixels(0, 40, 48), pixels(1, 40, 48), pixels(2, 40, 48)
    overrides = (LAYERS, "model.content_layers=block2_conv1", "paths.style_image=a.png,b.png")
    blended = load_settings(None, (*overrides, "loss.style_blend_weights=0, 1"))
    alone = load_settings(None, (LAYERS, "model.content_layers=block2_conv1"))
    both = style_grams(extractor, content, (first, second), blended)
    only = style_grams(extractor, content, (second,), alone)
    for a, b in zip(both, only, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    # and a blend differs from either style
    half = load_settings(None, (*overrides, "loss.style_blend_weights=1, 1"))
    mixed = style_grams(extractor, content, (first, second), half)
    assert not np.allclose(mixed[0].numpy(), only[0].numpy(), rtol=1e-2)


def style_grams(extractor, content, styles, settings) -> tuple:
    """The Gram targets A_l of the style term, per style layer."""
    terms = build_terms(extractor, content, styles, settings.model, settings.loss)
    return named(terms, "style").inputs.grams


def test_blend_grams_rescales_by_positions():
    grams = [tf.ones((2, 2)), 2 * tf.ones((2, 2))]
    blended = blend_grams(grams, (0.5, 0.5), [100.0, 50.0, 400.0])
    np.testing.assert_allclose(blended.numpy(), 0.5 * 2 * 1 + 0.5 * 0.25 * 2)


def test_stylize_runs_with_styles_of_other_sizes_and_init_style(extractor):
    settings = load_settings(
        None,
        (LAYERS, "model.content_layers=block2_conv1", "paths.style_image=a.png,b.png",
         "image.init=style", "optimizer.iterations=2"),
    )  # fmt: skip
    content = pixels(0, 36, 48)
    records = list(
        stylize(
            extractor,
            loop_inputs(content, pixels(1, 72, 72), pixels(2, 32, 40)),
            loop_recipe(settings, 1),
        )
    )
    assert [r.image.shape for r in records] == [content.shape] * 3
    assert all(np.isfinite(r.total) for r in records)
