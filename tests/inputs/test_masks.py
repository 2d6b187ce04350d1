"""Spatial control's masks (nst.inputs.masks, nst.core.losses' guided Grams, their settings)
against NumPy references; no network is built here."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from nst.core import losses
from nst.inputs.images import ImageError
from nst.inputs.masks import (
    Guidance,
    guidance_at,
    label_masks,
    layer_masks,
    load_guidance,
    pool_mask,
)
from nst.settings import SettingsError, load_settings
from nst.settings.networks import layer_shapes

STYLE_LAYERS = tuple(f"block{i}_conv1" for i in range(1, 6))


def block_means(mask: np.ndarray, poolings: int) -> np.ndarray:
    """Reference: after k 2x2 poolings, position (i, j) covers the 2^k x 2^k block at
    (i 2^k, j 2^k); its value is that block's mean (a mean of equal means)."""
    side = 2**poolings
    height, width = mask.shape[0] // side, mask.shape[1] // side
    out = np.zeros((height, width))
    for i in range(height):
        for j in range(width):
            out[i, j] = mask[i * side : (i + 1) * side, j * side : (j + 1) * side].mean()
    return out


@pytest.mark.parametrize("network", ["vgg16", "vgg19"])
@pytest.mark.parametrize("shape", [(37, 53), (64, 48), (33, 17)])
def test_layer_masks_are_the_mask_averaged_over_each_layers_receptive_blocks(network, shape):
    mask = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
    masks = layer_masks(mask, network, STYLE_LAYERS)
    sizes = {name: (h, w) for name, h, w, _ in layer_shapes(network, *shape)}
    for poolings, (name, layer_mask) in enumerate(zip(STYLE_LAYERS, masks, strict=True)):
        assert layer_mask.shape == sizes[name]  # the layer's own feature size
        np.testing.assert_allclose(layer_mask, block_means(mask, poolings), rtol=1e-5)


def test_layer_masks_keep_the_requested_order_and_repeats():
    mask = np.random.default_rng(1).uniform(size=(40, 40)).astype(np.float32)
    layers = ("block3_conv2", "block1_conv2", "block3_conv2")
    deep, shallow, again = layer_masks(mask, "vgg16", layers)
    assert deep.shape == (10, 10) and shallow.shape == (40, 40)
    np.testing.assert_array_equal(deep, again)
    np.testing.assert_array_equal(pool_mask(pool_mask(mask)), deep)


def test_layer_masks_match_the_feature_sizes_of_the_built_network():
    from nst.core.features import build_feature_extractor
    from nst.settings import ModelSettings

    layers = ("block1_conv1", "block2_conv1", "block3_conv1")
    model = ModelSettings(
        network="vgg16", weights="random", content_layers=("block2_conv1",), style_layers=layers
    )
    features = build_feature_extractor(model)(tf.zeros((1, 35, 50, 3)))
    masks = layer_masks(np.ones((35, 50), np.float32), "vgg16", layers)
    for name, mask in zip(layers, masks, strict=True):
        assert mask.shape == tuple(features[name].shape[1:3])


# --- guided Gram matrices -----------------------------------------------------------------


def np_guided(features: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Reference: G_r[i, j] = Σ_p m_r[p] F[i, p] F[j, p], from the paper's (T F)(T F)ᵀ, T = √m."""
    F = features[0].reshape(-1, features.shape[-1]).T.astype(np.float64)  # (N, M)
    grams = []
    for mask in masks:
        guided = F * np.sqrt(mask.reshape(-1).astype(np.float64))
        grams.append(guided @ guided.T)
    return np.stack(grams)


def test_guided_gram_matrices_match_numpy():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(1, 6, 9, 5)).astype(np.float32)
    masks = rng.uniform(size=(3, 6, 9)).astype(np.float32)
    got = losses.guided_gram_matrices(tf.constant(features), tf.constant(masks)).numpy()
    np.testing.assert_allclose(got, np_guided(features, masks), rtol=1e-5, atol=1e-5)


def test_guided_style_loss_matches_numpy_and_is_the_plain_loss_for_a_full_mask():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(1, 6, 9, 5)).astype(np.float32)
    masks = np.stack([np.ones((6, 9)), rng.uniform(size=(6, 9))]).astype(np.float32)
    targets = rng.normal(size=(2, 5, 5)).astype(np.float32)
    got = losses.guided_style_layer_loss(
        tf.constant(features), tf.constant(masks), tf.constant(targets)
    ).numpy()
    positions = masks.sum(axis=(1, 2))[:, None, None]
    expected = (((np_guided(features, masks) - targets) / (2 * 5 * positions)) ** 2).sum((1, 2))
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    plain = losses.style_layer_loss(tf.constant(features), tf.constant(targets[0])).numpy()
    assert got[0] == pytest.approx(plain, rel=1e-5)


def test_complementary_masks_split_the_gram_matrix():
    rng = np.random.default_rng(4)
    features = tf.constant(rng.normal(size=(1, 8, 8, 3)).astype(np.float32))
    left = np.zeros((8, 8), np.float32)
    left[:, :4] = 1
    left[:, 4] = 0.3  # a soft edge: the weights still sum to 1 at every position
    grams = losses.guided_gram_matrices(features, tf.constant(np.stack([left, 1 - left])))
    whole = losses.gram_matrix(features)
    np.testing.assert_allclose(tf.reduce_sum(grams, 0).numpy(), whole.numpy(), rtol=1e-5)


# --- colour-label images ------------------------------------------------------------------


def test_label_masks_assign_each_pixel_its_nearest_listed_colour(tmp_path):
    doodle = np.zeros((10, 20, 3))
    doodle[:, :10] = (135, 206, 235)
    doodle[:, 10:] = (128, 128, 128)
    doodle[:, 10] = (130, 170, 185)  # an anti-aliased edge column: 5 % of the pixels, near both
    doodle[0, 0] = (140, 200, 230)  # JPEG noise
    masks = label_masks(doodle, ("#87ceeb", "#808080"), tmp_path / "d.png")
    assert masks.shape == (2, 10, 20)
    np.testing.assert_array_equal(masks.sum(0), 1)
    assert masks[0, :, :10].all() and not masks[0, :, 11:].any()


def test_a_colour_with_no_style_and_a_style_colour_missing_are_errors(tmp_path):
    doodle = np.zeros((10, 20, 3))
    doodle[:, :10] = (135, 206, 235)
    with pytest.raises(ImageError, match=r"colour #000000 covers 50.0% .* has no style"):
        label_masks(doodle, ("#87ceeb",), tmp_path / "d.png")
    with pytest.raises(ImageError, match="colour #ff0000 is nowhere"):
        label_masks(doodle, ("#87ceeb", "#000000", "#ff0000"), tmp_path / "d.png")


# --- loading from settings ----------------------------------------------------------------


def save(path, array) -> str:
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return str(path)


def settings_for(tmp_path, *overrides, styles=("a.png", "b.png")):
    for name in styles:
        save(tmp_path / name, np.full((8, 8, 3), 100))
    style_image = ", ".join(str(tmp_path / name) for name in styles)
    return load_settings(None, (f"paths.style_image={style_image}", *overrides))


def halves(tmp_path, width=30, height=20):
    left = np.zeros((height, width))
    left[:, : width // 2] = 255
    return save(tmp_path / "left.png", left), save(tmp_path / "right.png", 255 - left)


def test_style_masks_of_any_size_are_resized_to_the_content(tmp_path):
    left, right = halves(tmp_path)
    settings = settings_for(tmp_path, f"paths.style_masks={left}, {right}")
    guidance = load_guidance(settings.paths, settings.loss, 60, 40)
    a, b = guidance.style_masks
    assert a.shape == (40, 60) and guidance.photo_mask is None
    assert a[:, :28].min() > 0.99 and a[:, 32:].max() < 0.01
    np.testing.assert_allclose(a + b, 1, atol=1e-5)
    smaller = guidance_at(guidance, 20, 30)
    assert smaller.style_masks[0].shape == (20, 30)


def test_no_mask_settings_give_no_guidance(tmp_path):
    settings = settings_for(tmp_path)
    assert load_guidance(settings.paths, settings.loss, 60, 40) is None


def test_regions_with_a_photo_region_and_a_content_mask(tmp_path):
    doodle = np.zeros((40, 60, 3))
    doodle[:20] = (135, 206, 235)  # sky
    doodle[20:, :30] = (128, 128, 128)  # town, left
    doodle[20:, 30:] = (255, 0, 0)  # town, right: stays the photo
    corner = np.zeros((40, 60))
    corner[:5, :5] = 255
    settings = settings_for(
        tmp_path,
        f"paths.regions={save(tmp_path / 'doodle.png', doodle)}",
        "loss.region_styles=#87CEEB: a.png, #808080: b.png, #ff0000: photo",
        f"paths.content_mask={save(tmp_path / 'corner.png', corner)}",
    )
    guidance = load_guidance(settings.paths, settings.loss, 60, 40)
    sky, town = guidance.style_masks
    photo = guidance.photo_mask
    assert photo[30, 50] > 0.99 and photo[2, 2] > 0.5 and photo[30, 10] < 0.01
    assert 0.05 < photo[30, 30] < 0.95  # a soft edge, no seam
    np.testing.assert_allclose((sky + town)[5:, :25], 1, atol=1e-4)  # styled but the photo
    np.testing.assert_allclose((sky + town)[:5, :5], 0, atol=1e-4)
    assert (sky + town)[30, 30:].max() < 1e-4  # the photo region has no style
    assert sky[10, 40] > 0.99 and town[30, 10] > 0.99 and sky[2, 2] < 0.5


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (None, "does not exist"),
        ("text", "a text file, not an image"),
        ("black", "is all black"),
    ],
)
def test_bad_mask_files_are_image_errors(tmp_path, mask, message):
    path = tmp_path / "mask.png"
    if mask == "text":
        path.write_text("not an image at all, just some words in a file\n")
    elif mask == "black":
        save(path, np.zeros((10, 10)))
    settings = settings_for(tmp_path, f"paths.style_masks={path}", styles=("a.png",))
    with pytest.raises(ImageError, match=message):
        load_guidance(settings.paths, settings.loss, 30, 20)


def test_a_style_covered_by_the_photo_region_is_an_error(tmp_path):
    left, right = halves(tmp_path)
    settings = settings_for(
        tmp_path, f"paths.style_masks={left}, {right}", f"paths.content_mask={right}"
    )
    with pytest.raises(ImageError, match=r"b\.png has no region left outside the photo region"):
        load_guidance(settings.paths, settings.loss, 30, 20)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("paths.style_masks=m.png",), r"1 masks for 2 style images"),
        (("paths.regions=d.png",), r"\[paths\] regions is set but \[loss\] region_styles"),
        (("loss.region_styles=#ffffff: a.png",), r"\[loss\] region_styles is set but"),
        (
            ("paths.regions=d.png", "loss.region_styles=#ffffff: a.png, #000000: c.png"),
            "'c.png' is not one of",
        ),
        (("paths.regions=d.png", "loss.region_styles=#ffffff: a.png"), "no region to style .*b"),
        (("paths.regions=d.png", "loss.region_styles=white: a.png"), "'#rrggbb: style image'"),
        (
            ("paths.regions=d.png", "loss.region_styles=#ffffff: a.png, #FFFFFF: b.png"),
            "each colour once",
        ),
        (
            ("paths.regions=d.png", "paths.style_masks=m.png, n.png", "loss.region_styles="),
            "set one",
        ),
    ],
)
def test_inconsistent_mask_settings_are_settings_errors(tmp_path, overrides, message):
    with pytest.raises(SettingsError, match=message):
        settings_for(tmp_path, *overrides)


def test_region_styles_name_style_images_by_path_too_and_render_back(tmp_path):
    from nst.settings import render

    target = tmp_path / "b.png"
    settings = settings_for(
        tmp_path, "paths.regions=d.png", f"loss.region_styles=#ffffff: a.png, #000000: {target}"
    )
    assert dict(settings.loss.region_styles) == {
        "#ffffff": str(tmp_path / "a.png"),
        "#000000": str(target),
    }
    (tmp_path / "saved.ini").write_text(render(settings))
    assert load_settings(tmp_path / "saved.ini") == settings


def test_guidance_is_a_plain_record():
    guidance = Guidance((np.ones((2, 2), np.float32),), None)
    assert guidance.photo_mask is None and len(guidance.style_masks) == 1


# --- the style images' own masks ----------------------------------------------------------


def test_painting_grams_are_the_style_side_guided_gram_normalised_by_the_masks_mass():
    from nst.core.features import build_feature_extractor
    from nst.core.guided import painting_grams
    from nst.settings import ModelSettings

    layers = ("block1_conv1", "block2_conv1", "block3_conv1")
    model = ModelSettings(
        network="vgg16", weights="random", content_layers=("block2_conv1",), style_layers=layers
    )
    extractor = build_feature_extractor(model)
    rng = np.random.default_rng(5)
    style = rng.uniform(0, 255, size=(20, 28, 3)).astype(np.float32)
    mask = np.zeros((10, 14), np.float32)  # a mask of its own size: resized to the style's
    mask[:, :5] = 1
    mask[:, 5] = 0.5
    (guided,), (plain,) = (
        painting_grams(extractor, (style,), masks, "vgg16", layers) for masks in ((mask,), None)
    )
    features = extractor(tf.constant(style[None]))
    from nst.inputs.masks import resize_mask

    per_layer = layer_masks(resize_mask(mask, 28, 20), "vgg16", layers)
    for name, layer_mask, (gram, mass), (whole, positions) in zip(
        layers, per_layer, guided, plain, strict=True
    ):
        f = features[name].numpy()
        np.testing.assert_allclose(gram.numpy(), np_guided(f, layer_mask[None])[0], rtol=1e-4)
        assert mass == pytest.approx(layer_mask.sum(), rel=1e-6) and 0 < mass < positions
        assert positions == f.shape[1] * f.shape[2]
        np.testing.assert_allclose(
            whole.numpy(), np_guided(f, np.ones((1, *f.shape[1:3])))[0], rtol=1e-4
        )
        # the left third differs from the whole: the mask chose which statistics count
        assert np.abs(gram.numpy() / mass - whole.numpy() / positions).max() > 1e-3


def test_style_image_masks_are_loaded_at_each_style_images_size(tmp_path):
    left, right = halves(tmp_path)
    settings = settings_for(tmp_path, f"paths.style_image_masks={left}, {right}")
    guidance = load_guidance(settings.paths, settings.loss, 60, 40, ((30, 20), (16, 12)))
    assert guidance.style_masks == () and guidance.photo_mask is None  # the blend everywhere
    a, b = guidance.painting_masks
    assert a.shape == (20, 30) and b.shape == (12, 16)
    assert a[:, :14].min() > 0.99 and a[:, 16:].max() < 0.01 and b[:, 9:].min() > 0.99
    placed = settings_for(
        tmp_path, f"paths.style_masks={left}, {right}", f"paths.style_image_masks={right}, {left}"
    )
    both = load_guidance(placed.paths, placed.loss, 60, 40, ((30, 20), (30, 20)))
    assert (
        len(both.style_masks) == 2
        and guidance_at(both, 20, 30).painting_masks is both.painting_masks
    )
    with pytest.raises(SettingsError, match=r"style_image_masks: 1 masks for 2 style images"):
        settings_for(tmp_path, f"paths.style_image_masks={left}")
    black = save(tmp_path / "black.png", np.zeros((10, 10)))
    settings = settings_for(tmp_path, f"paths.style_image_masks={left}, {black}")
    with pytest.raises(
        ImageError, match=r"style_image_masks \(for b\.png\): .*black\.png is all black"
    ):
        load_guidance(settings.paths, settings.loss, 60, 40, ((30, 20), (30, 20)))
