"""The step over tiles (nst.core.tiles) equals the step on the whole picture: the same losses and
the same gradient to float rounding, at the tiles' borders too, and a whole tiled Adam scale
gives the same images."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from nst.core.features import build_feature_extractor
from nst.core.objective import Temporal, build_terms, make_objective, signature, tensors
from nst.core.optimize import Session, make_value_and_gradient, stylize
from nst.core.tilegrid import cores, reach, step_bytes, tile_side, window
from nst.core.tiles import TiledObjective
from nst.inputs.masks import Guidance
from nst.settings import SettingsError, load_settings
from tests.helpers import loop_inputs, loop_recipe

SHALLOW = ("model.content_layers=block3_conv1", "model.style_layers=block1_conv1,block2_conv1")
DRAW = tf.constant(0, tf.int64)


def settings_of(*overrides: str):
    base = ("model.network=vgg16", "model.weights=random", "model.precision=float32")
    return load_settings(None, (*base, *overrides))


def both(settings, height: int, width: int, side: int, temporal: bool = False, guidance=None):
    """(untiled Losses and gradient, tiled Losses and gradient, the TiledObjective, the point:
    image, term tensors and draw) at a random picture of height x width, cores `side` px."""
    extractor = build_feature_extractor(settings.model)
    rng = np.random.default_rng(height * width)
    content = rng.uniform(0, 255, (height, width, 3)).astype(np.float32)
    style = rng.uniform(0, 255, (40, 52, 3)).astype(np.float32)
    image = tf.constant(rng.uniform(0, 255, (1, height, width, 3)).astype(np.float32))
    carried = Temporal(content[::-1].copy(), np.ones((height, width), np.float32), 2.0)
    terms = build_terms(
        extractor, content, (style,), settings.model, settings.loss, guidance,
        carried if temporal else None,
    )  # fmt: skip
    whole = make_value_and_gradient(make_objective(extractor, signature(terms)))
    tiled = TiledObjective(extractor, signature(terms), settings.model, height, width, side)
    point = image, tensors(terms), DRAW
    return whole(image, tensors(terms)), tiled.value_and_gradient(*point), tiled, point


def assert_same(expected, got) -> None:
    (losses, gradient), (tiled_losses, tiled_gradient) = expected, got
    np.testing.assert_allclose(np.array(tiled_losses), np.array(losses), rtol=2e-5)
    scale = float(tf.reduce_max(tf.abs(gradient)))
    assert scale > 0
    difference = float(tf.reduce_max(tf.abs(tiled_gradient - gradient)))
    assert difference <= 2e-5 * scale, (difference, scale)


@pytest.mark.parametrize(
    ("overrides", "height", "width", "side"),
    [
        (("model.padding=reflect", *SHALLOW), 64, 96, 32),
        (("model.padding=reflect", *SHALLOW), 71, 83, 24),
        (("model.padding=zeros", *SHALLOW), 65, 97, 48),
        (("model.padding=zeros", "model.pooling=max", *SHALLOW), 77, 69, 32),
        (("model.padding=reflect_each", *SHALLOW), 71, 83, 24),
        (("model.padding=reflect_first", "model.pooling=max", *SHALLOW), 65, 97, 48),
        (("model.padding=reflect", "model.pooling=max"), 96, 81, 32),  # the default layers
        # two content layers: their relative errors averaged over tiles as on the whole
        (("model.content_layers=block2_conv2,block3_conv1", SHALLOW[1]), 64, 96, 32),
    ],
)
def test_tiled_step_equals_the_whole_pictures(overrides, height, width, side):
    settings = settings_of(*overrides, "loss.tv_weight=5")
    expected, got, tiled, _ = both(settings, height, width, side)
    assert len(tiled.windows) >= 4  # several tiles, some of them ragged
    assert_same(expected, got)


def test_content_weights_raised_in_a_face_are_tiled_as_on_the_whole_picture():
    """[loss] face_content: the content term weighs each position; a tile weighs its own."""
    from nst.inputs.masks import Guidance

    height, width = 72, 90
    y, x = np.mgrid[0:height, 0:width]
    face = np.exp(-(((y - 30) / 12.0) ** 2 + ((x - 50) / 10.0) ** 2)).astype(np.float32)
    everywhere = np.ones((height, width), np.float32)
    guidance = Guidance((everywhere,), None, content_weights=1 + 3 * face)
    settings = settings_of("model.padding=reflect", *SHALLOW)
    expected, got, tiled, _ = both(settings, height, width, 32, guidance=guidance)
    assert len(tiled.windows) >= 4
    assert_same(expected, got)
    unweighted, _, _, _ = both(settings, height, width, 32)
    assert float(expected[0].content) > float(unweighted[0].content)  # the weights count


def test_the_pixel_terms_and_the_losses_alone():
    """A video frame's pull and tv are on the whole picture; `losses` equals the objective's."""
    settings = settings_of(*SHALLOW, "loss.tv_weight=3")
    expected, got, tiled, point = both(settings, 70, 66, 32, temporal=True)
    assert_same(expected, got)
    np.testing.assert_allclose(np.array(tiled.losses(*point)), np.array(expected[0]), rtol=2e-5)


def test_a_portraits_guidance_over_tiles():
    """Regions of the picture, a region kept as the photo, content weights raised inside
    a face ([loss] face_content) and its blurred forms held ([loss] face_photo): the tiled
    step is still the whole picture's."""
    settings = settings_of(*SHALLOW, "loss.photo_weight=3", "loss.face_photo=40")
    height, width = 70, 90
    face = np.zeros((height, width), np.float32)
    face[10:40, 30:60] = 1.0
    guidance = Guidance((1 - face,), face * 0.5, None, None, 1 + 3 * face, face)
    expected, got, tiled, _ = both(settings, height, width, 24, guidance=guidance)
    assert tiled.kinds[0][1].weighted and len(tiled.windows) >= 4
    assert [name for name, _ in tiled.kinds] == ["content", "style", "tv", "photo", "face"]
    assert_same(expected, got)
    whole_targets, tiled_targets = targets_both_ways(settings, height, width, 24, guidance)
    assert_close(tiled_targets, whole_targets)


def test_seams_the_gradient_at_the_tiles_borders_matches():
    """Around every border between two cores the gradient is the whole picture's; with a halo
    one grid step short of the network's reach it is not (so the halo is what makes it so)."""
    settings = settings_of(*SHALLOW, "model.padding=zeros")
    expected, got, tiled, point = both(settings, 96, 96, 32)
    gradient, tiled_gradient = expected[1].numpy()[0], got[1].numpy()[0]
    scale = np.abs(gradient).max()
    for b in (32, 64):  # the borders between cores, across rows and across columns
        for near in (np.s_[b - 3 : b + 3], np.s_[:, b - 3 : b + 3]):
            assert np.abs(gradient[near]).max() > 0.01 * scale  # the borders carry gradient
            assert np.abs(tiled_gradient[near] - gradient[near]).max() <= 2e-5 * scale, b
    grid, halo = reach(settings.model.network, settings.model.content_layers)
    tiled.windows = [(core, window(core, 96, 96, halo - grid, 0)) for core, _ in tiled.windows]
    _, cut = tiled.value_and_gradient(*point)
    assert np.abs(cut.numpy()[0] - gradient).max() > 1e-3 * scale


@pytest.mark.parametrize(
    ("finest_rate", "style_loss"), [(1.0, "gram"), (0.5, "gram"), (1.0, "sliced")]
)
def test_a_tiled_adam_scale_gives_the_untiled_images(finest_rate, style_loss):
    """Two scales, the finest over tiles (its step does not fit the budget, the coarse one
    does): the records' losses and images are the whole picture's, within float tolerance."""
    settings = settings_of(
        *SHALLOW,
        f"loss.style_loss={style_loss}",
        "image.scales=2",
        "optimizer.iterations=6",
        "optimizer.coarse_iterations=3",
        f"image.pyramid_finest_rate={finest_rate}",
    )
    rng = np.random.default_rng(3)
    content = rng.uniform(0, 255, (72, 88, 3)).astype(np.float32)
    style = rng.uniform(0, 255, (48, 48, 3)).astype(np.float32)
    recipe = loop_recipe(settings, 3)
    budget = step_bytes(settings.model, 60, 60)
    assert tile_side(settings.model, 36, 44, budget) is None  # the coarse scale: whole
    assert tile_side(settings.model, 72, 88, budget) is not None  # the finest: tiled
    runs = []
    for memory in (None, budget):
        extractor = build_feature_extractor(settings.model)
        runs.append(
            list(stylize(extractor, loop_inputs(content, style), recipe, memory_budget=memory))
        )
    whole, tiled = runs
    assert [r.iteration for r in tiled] == [r.iteration for r in whole]
    for a, b in zip(whole, tiled, strict=True):
        assert b.total == pytest.approx(a.total, rel=1e-4)
        if a.image is not None:
            assert np.abs(b.image - a.image).max() < 0.05  # pixels 0..255


def test_lbfgs_over_tiles_evaluates_the_same_points():
    settings = settings_of(*SHALLOW, "optimizer.name=lbfgs", "optimizer.iterations=5")
    settings = dataclasses.replace(settings, image=dataclasses.replace(settings.image, scales=1))
    rng = np.random.default_rng(4)
    content = rng.uniform(0, 255, (64, 72, 3)).astype(np.float32)
    style = rng.uniform(0, 255, (48, 48, 3)).astype(np.float32)
    budget = step_bytes(settings.model, 50, 50)
    assert tile_side(settings.model, 64, 72, budget) is not None
    recipe, runs = loop_recipe(settings), []
    for memory in (None, budget):
        extractor = build_feature_extractor(settings.model)
        runs.append(
            list(stylize(extractor, loop_inputs(content, style), recipe, memory_budget=memory))
        )
    for a, b in zip(*runs, strict=True):
        assert b.total == pytest.approx(a.total, rel=1e-4)


def sliced_both(settings, height, width, side, draw, guidance=None):
    """(untiled Losses and gradient at `draw`, tiled ones, the TiledObjective), as `both`."""
    extractor = build_feature_extractor(settings.model)
    rng = np.random.default_rng(height + width)
    content = rng.uniform(0, 255, (height, width, 3)).astype(np.float32)
    style = rng.uniform(0, 255, (40, 52, 3)).astype(np.float32)
    image = tf.constant(rng.uniform(0, 255, (1, height, width, 3)).astype(np.float32))
    terms = build_terms(extractor, content, (style,), settings.model, settings.loss, guidance)
    objective = make_objective(extractor, signature(terms))
    draw = tf.constant(draw, tf.int64)
    with tf.GradientTape() as tape:
        tape.watch(image)
        losses = objective(image, tensors(terms), draw)
    expected = losses, tape.gradient(losses.total, image)
    tiled = TiledObjective(extractor, signature(terms), settings.model, height, width, side)
    got = tiled.value_and_gradient(image, tensors(terms), draw)
    np.testing.assert_allclose(
        np.array(tiled.losses(image, tensors(terms), draw)), np.array(losses), rtol=2e-5
    )
    return expected, got, tiled


@pytest.mark.parametrize(
    ("height", "width", "side", "most", "draw"),
    [
        (64, 96, 32, 65536, 0),  # every position in the sample
        (71, 83, 24, 400, 3),  # conv1_1 on a grid of stride 4, its offset (0, 3)
        (77, 69, 32, 150, 14),  # stride 6 at conv1_1, 3 at conv2_1; ragged tiles
    ],
)
def test_sliced_style_over_tiles_equals_the_whole_pictures(
    monkeypatch, height, width, side, most, draw
):
    """The sliced loss over tiles: each tile's positions on the step's sample grid gathered,
    ranked once, then each tile's share of the value and the gradient: the whole picture's."""
    monkeypatch.setattr("nst.core.objective.SAMPLE_POSITIONS", most)
    settings = settings_of("loss.style_loss=sliced", "loss.tv_weight=2", *SHALLOW)
    expected, got, tiled = sliced_both(settings, height, width, side, draw)
    assert len(tiled.windows) >= 4
    assert_same(expected, got)


@pytest.mark.parametrize("most", [300, 262144])  # strides 5 and 3 at conv1_1, conv2_1; or 1
def test_sliced_regions_over_tiles_equal_the_whole_pictures(monkeypatch, most):
    """Two styles in two regions with the sliced loss: each position weighs its region's mask
    in the sample and in the sums, over tiles as on the whole picture."""
    monkeypatch.setattr("nst.core.objective.SAMPLE_POSITIONS", most)
    settings = settings_of("loss.style_loss=sliced", *SHALLOW)
    height, width = 66, 90
    left = np.zeros((height, width), np.float32)
    left[:, : width // 2] = 1.0
    extractor = build_feature_extractor(settings.model)
    rng = np.random.default_rng(8)
    content = rng.uniform(0, 255, (height, width, 3)).astype(np.float32)
    styles = tuple(rng.uniform(0, 255, (40, 52, 3)).astype(np.float32) for _ in range(2))
    image = tf.constant(rng.uniform(0, 255, (1, height, width, 3)).astype(np.float32))
    guidance = Guidance((left, 1 - left), None)
    terms = build_terms(extractor, content, styles, settings.model, settings.loss, guidance)
    objective = make_objective(extractor, signature(terms))
    draw = tf.constant(5, tf.int64)
    with tf.GradientTape() as tape:
        tape.watch(image)
        losses = objective(image, tensors(terms), draw)
    expected = losses, tape.gradient(losses.total, image)
    regions = next(t for t in terms if t.name == "style").inputs.regions
    assert regions.masks[0].shape[0] == 2  # two regions, each its own style
    tiled = TiledObjective(extractor, signature(terms), settings.model, height, width, 24)
    assert len(tiled.windows) >= 4
    assert_same(expected, tiled.value_and_gradient(image, tensors(terms), draw))


def test_tile_side_fits_the_budget_and_the_cores_partition_the_picture():
    model = settings_of().model
    assert tile_side(model, 512, 384, step_bytes(model, 384, 512)) is None
    assert tile_side(model, 512, 384, None) is None
    grid, halo = reach(model.network, (*model.content_layers, *model.style_layers))
    budget = step_bytes(model, 256, 256)
    side = tile_side(model, 1000, 700, budget)
    assert side % grid == 0 and side > grid
    assert step_bytes(model, side + 2 * halo, side + 2 * halo) <= budget
    covered = np.zeros((1000, 700), int)
    for top, bottom, left, right in cores(1000, 700, side):
        covered[top:bottom, left:right] += 1
    assert (covered == 1).all()


@pytest.mark.parametrize(("text", "value"), [("auto", None), ("4", 4.0), ("1.5", 1.5)])
def test_memory_limit_setting(text, value):
    assert load_settings(None, (f"image.memory_limit={text}",)).image.memory_limit == value


def test_a_bad_memory_limit_names_the_key():
    with pytest.raises(SettingsError, match="memory_limit"):
        load_settings(None, ("image.memory_limit=0.1",))


def test_the_step_budget_is_the_limit_less_what_every_run_takes():
    from nst.run.preflight import step_budget

    auto = settings_of()
    fixed = 8 * 1024**3 - step_budget(auto.model, auto.image, "adam", 8 * 1024**3)
    assert 0 < fixed < 2 * 1024**3  # the runtime and the weights
    assert step_budget(auto.model, auto.image, "adam", None) is None  # unknown: no limit
    limited = settings_of("image.memory_limit=3")
    assert step_budget(limited.model, limited.image, "adam", 64 * 1024**3) == 3 * 1024**3 - fixed
    assert step_budget(limited.model, limited.image, "lbfgs", None) < 3 * 1024**3 - fixed


def assert_close(got, expected, rtol: float = 2e-5) -> None:
    """Every tensor of two nested structures equal to float rounding, relative to its largest
    value (a sum over tiles adds in another order)."""
    for a, b in zip(tf.nest.flatten(got), tf.nest.flatten(expected), strict=True):
        if b is None:  # no masks
            assert a is None
            continue
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape
        scale = max(np.abs(b).max(), 1e-30)
        assert np.abs(a - b).max() <= rtol * scale, (np.abs(a - b).max(), scale)


def targets_both_ways(settings, height: int, width: int, side: int, guidance=None, styles=None):
    """(whole targets, tiled targets): the term tensors of build_terms on a random picture of
    height x width, the content image and the style images' forward passes whole, and over
    tiles of `side` px cores."""
    extractor = build_feature_extractor(settings.model)
    rng = np.random.default_rng(height + width)
    content = rng.uniform(0, 255, (height, width, 3)).astype(np.float32)
    styles = styles or (rng.uniform(0, 255, (57, 75, 3)).astype(np.float32),)
    model, loss = settings.model, settings.loss
    return [
        tensors(build_terms(extractor, content, styles, model, loss, guidance, side=tile))
        for tile in (None, side)
    ]


@pytest.mark.parametrize("most", [200, 262144])  # the style sampled on a grid, or whole
def test_tiled_sliced_targets_equal_the_whole_ones(monkeypatch, most):
    """The sliced loss's style quantiles from the style's forward pass over tiles, of which
    only the sample grid is kept: the whole pass's, with a painting mask too."""
    monkeypatch.setattr("nst.core.objective.SAMPLE_POSITIONS", most)
    settings = settings_of("loss.style_loss=sliced", "model.padding=reflect", *SHALLOW)
    whole, tiled = targets_both_ways(settings, 71, 83, 24)
    assert_close(tiled, whole)
    style = np.random.default_rng(2).uniform(0, 255, (57, 75, 3)).astype(np.float32)
    painted = np.zeros((57, 75), np.float32)
    painted[:, 30:] = 1.0
    guidance = Guidance((np.ones((71, 83), np.float32),), None, painting_masks=(painted,))
    whole, tiled = targets_both_ways(settings, 71, 83, 24, guidance, (style,))
    assert_close(tiled, whole)


@pytest.mark.parametrize(
    ("overrides", "height", "width", "side"),
    [
        (("model.padding=reflect", *SHALLOW), 71, 83, 24),
        (("model.padding=zeros", *SHALLOW), 65, 97, 48),
        (("model.padding=reflect", "model.pooling=max"), 96, 81, 32),  # the default layers
        (("model.padding=zeros",), 67, 73, 16),  # the default layers, the smallest cores
        (("model.padding=reflect_each",), 67, 73, 16),
    ],
)
def test_tiled_targets_equal_the_whole_ones(overrides, height, width, side):
    """The content image's features and the style image's Gram targets computed over tiles
    (the style image is larger than a tile too): the same tensors, E(0) included."""
    whole, tiled = targets_both_ways(settings_of(*overrides), height, width, side)
    assert_close(tiled, whole)


def test_tiled_targets_with_regions_and_a_painting_mask():
    """Spatial control: two regions of the picture, two styles, each style image with a mask
    of its own (its statistics over part of the painting)."""
    settings = settings_of(*SHALLOW)
    blend = dataclasses.replace(settings.loss, style_blend_weights=(1 / 3, 2 / 3))
    settings = dataclasses.replace(settings, loss=blend)
    height, width = 70, 90
    left = np.zeros((height, width), np.float32)
    left[:, : width // 3] = 1.0
    rng = np.random.default_rng(7)
    styles = tuple(rng.uniform(0, 255, (s, s + 9, 3)).astype(np.float32) for s in (61, 50))
    painting = tuple(rng.uniform(0, 1, s.shape[:2]).astype(np.float32) for s in styles)
    guidance = Guidance((left, 1 - left), None, painting)
    whole, tiled = targets_both_ways(settings, height, width, 24, guidance, styles)
    assert_close(tiled, whole)


def test_a_tiled_scale_never_runs_the_network_on_the_whole_picture(monkeypatch):
    """With a budget that tiles the scale, the content image's forward pass (its targets) is
    over tiles as well: the extractor itself is never called on the picture's size."""
    settings = settings_of(*SHALLOW, "image.scales=1", "optimizer.iterations=2")
    rng = np.random.default_rng(5)
    content = rng.uniform(0, 255, (72, 88, 3)).astype(np.float32)
    style = rng.uniform(0, 255, (80, 96, 3)).astype(np.float32)
    extractor = build_feature_extractor(settings.model)
    seen = []
    original = extractor.call

    def call(inputs, *args, **kwargs):
        seen.append(tuple(inputs.shape[1:3]))
        return original(inputs, *args, **kwargs)

    monkeypatch.setattr(extractor, "call", call)
    inputs, recipe = loop_inputs(content, style), loop_recipe(settings)
    assert all(r.tiles == 1 for r in stylize(extractor, inputs, recipe))
    assert (72, 88) in seen and (80, 96) in seen  # whole: seen (so the spy sees)
    seen.clear()
    budget = step_bytes(settings.model, 50, 50)
    records = list(stylize(extractor, inputs, recipe, memory_budget=budget))
    assert records[-1].tiles == len(cores(72, 88, tile_side(settings.model, 72, 88, budget)))
    assert all(r.tiles > 1 for r in records)
    assert (72, 88) not in seen and (80, 96) not in seen


def test_a_tiled_clip_frame_equals_the_untiled_one():
    """A video's later frame (its start, its pull towards the previous result, the clip's
    shared session) over tiles: the same records as on the whole frame."""
    from nst.run.video import frame_recipe

    settings = settings_of(*SHALLOW, "video.frame_iterations=4")
    rng = np.random.default_rng(11)
    frame = rng.uniform(0, 255, (64, 80, 3)).astype(np.float32)
    style = rng.uniform(0, 255, (48, 48, 3)).astype(np.float32)
    previous = rng.uniform(0, 255, (64, 80, 3)).astype(np.float32)
    carried = Temporal(previous, rng.uniform(0, 1, (64, 80)).astype(np.float32), 5.0)
    budget = step_bytes(settings.model, 48, 48)
    assert tile_side(settings.model, 64, 80, budget) is not None
    runs = []
    for memory in (None, budget):
        session = Session(build_feature_extractor(settings.model))
        records = stylize(
            session.extractor, loop_inputs(frame, style), frame_recipe(settings, 1),
            start=previous, temporal=carried, session=session, memory_budget=memory,
        )  # fmt: skip
        runs.append(list(records))
    whole, tiled = runs
    assert {r.tiles for r in tiled} == {
        len(cores(64, 80, tile_side(settings.model, 64, 80, budget)))
    }
    for a, b in zip(whole, tiled, strict=True):
        assert b.total == pytest.approx(a.total, rel=1e-4)
    assert np.abs(tiled[-1].image - whole[-1].image).max() < 0.05


def test_the_bar_and_its_lines_say_a_scale_runs_in_tiles(tmp_path, capsys):
    from nst.cli.progress import Progress, ProgressBar
    from nst.core.records import Record
    from nst.core.scales import Scale

    plan = [Scale(48, 64, 3), Scale(96, 128, 3)]
    records = [Record(i, 1, 1, 0, 2, i, scale=1, stopped="budget" * (i == 3)) for i in range(4)]
    records += [
        Record(i, 1, 1, 0, 2, 4 + i, scale=2, stopped="budget" * (i == 3), tiles=6)
        for i in range(4)
    ]
    progress = Progress(plan)
    progress.add(records[0])
    assert progress.where() == "scale 1/2 64x48"  # whole: nothing said
    progress.add(records[5])
    assert progress.where() == "scale 2/2 128x96 in 6 tiles"
    bar = ProgressBar()
    bar.started(tmp_path, plan)
    for record in records:
        bar.recorded(record)
    bar.ended()
    shown = capsys.readouterr()
    assert "scale 2/2 128x96 in 6 tiles" in shown.err
    assert "nst: scale 2/2 (128x96 in 6 tiles): budget spent" in shown.out
    assert "nst: scale 1/2 (64x48): budget spent" in shown.out


def test_preflight_lets_a_run_over_tiles_go_and_says_in_how_many():
    """Too large for a whole step but not for tiles: no refusal, and the note names each
    tiled scale and its tiles, for either style loss (the sliced one's finer: its tables)."""
    from nst.core.scales import run_plan
    from nst.run.preflight import check_run_memory, memory_needed, step_budget

    settings = settings_of("image.max_size=2048", "image.scales=2")
    model = settings.model
    available = memory_needed(model, 2048, 1536) * 2 // 3  # the coarse scale fits whole
    note = check_run_memory(settings, 2048, 1536, available)
    plan = run_plan(1536, 2048, settings.image, settings.optimizer)
    budget = step_budget(model, settings.image, "adam", available, 2048, 1536)
    count = len(cores(1536, 2048, tile_side(model, 1536, 2048, budget)))
    assert count > 1 and len(plan) == 2
    assert f"scale 2/2 (2048x1536) will run in {count} tiles of " in note
    assert "scale 1/2" not in note  # the coarse scale fits whole
    assert tile_side(model, 768, 1024, budget) is None  # (so it does)
    sliced = settings_of("image.max_size=2048", "image.scales=2", "loss.style_loss=sliced")
    # the sliced loss's tables are kept beside its step: smaller tiles
    budget = step_budget(model, sliced.image, "adam", available, 2048, 1536, "sliced")
    side = tile_side(model, 1536, 2048, budget)
    assert side < tile_side(
        model, 1536, 2048, step_budget(model, settings.image, "adam", available, 2048, 1536)
    )
    finer = len(cores(1536, 2048, side))
    sliced_note = check_run_memory(sliced, 2048, 1536, available)
    assert f"scale 2/2 (2048x1536) will run in {finer} tiles of {side} px" in sliced_note
    assert check_run_memory(settings, 512, 384, available) is None  # fits whole: no note


def test_a_coarser_scale_gets_the_budget_of_its_own_size():
    """A 4096x3072 print within memory_limit = 9: the full size must tile, but the 1024x768
    scale keeps less beside its step, steps whole, and the note names only the full size."""
    from nst.run.preflight import check_run_memory, step_budgets

    settings = settings_of(
        "image.max_size=4096", "image.memory_limit=9", "image.scales=3", "image.scale_factor=4",
        "loss.style_loss=gram",  # no sliced tables: mixed needs about 9.5 GB here
    )  # fmt: skip
    model = settings.model
    budgets = step_budgets(settings, 64 * 1024**3)
    assert tile_side(model, 3072, 4096, budgets(3072, 4096)) is not None
    assert tile_side(model, 768, 1024, budgets(3072, 4096)) is not None  # the full size's
    assert tile_side(model, 768, 1024, budgets(768, 1024)) is None  # its own
    note = check_run_memory(settings, 4096, 3072, 64 * 1024**3)
    assert "scale 3/3 (4096x3072) will run in" in note and "scale 2/3" not in note


def test_stylize_asks_the_budget_of_each_scale_size():
    settings = settings_of(
        *SHALLOW, "image.scales=2", "optimizer.iterations=2", "optimizer.coarse_iterations=2"
    )
    rng = np.random.default_rng(6)
    content = rng.uniform(0, 255, (72, 88, 3)).astype(np.float32)
    style = rng.uniform(0, 255, (64, 64, 3)).astype(np.float32)
    small = step_bytes(settings.model, 40, 40)
    asked = []

    def budgets(height: int, width: int):
        asked.append((height, width))
        return None if height < 72 else small  # the coarse scale: no limit

    extractor = build_feature_extractor(settings.model)
    records = list(
        stylize(
            extractor, loop_inputs(content, style), loop_recipe(settings), memory_budget=budgets
        )
    )
    assert asked == [(36, 44), (72, 88)]
    assert {r.tiles for r in records if r.scale == 1} == {1}
    assert {r.tiles for r in records if r.scale == 2} == {
        len(cores(72, 88, tile_side(settings.model, 72, 88, small)))
    }
    assert {r.tiles for r in records if r.scale == 2} != {1}


def test_preflight_refuses_what_even_the_smallest_tiles_do_not_fit():
    from nst.run.preflight import MB, ResourceError, check_run_memory, tiled_memory_needed

    settings = settings_of("image.max_size=4096")
    loss = ("adam", 0, None, settings.loss.style_loss)  # the default's: mixed, with its tables
    least = tiled_memory_needed(settings.model, 4096, 3072, *loss)
    with pytest.raises(ResourceError, match=r"even over the smallest tiles \(\d+ px\)") as refused:
        check_run_memory(settings, 4096, 3072, least - 100 * MB)
    size = int(str(refused.value).split("max_size to ")[1].split()[0])
    assert tiled_memory_needed(settings.model, size, size * 3 // 4, *loss) <= least - 100 * MB
    assert check_run_memory(settings, 4096, 3072, least + 100 * MB)  # tiles fit: a note
    bound = settings_of("image.max_size=4096", f"image.memory_limit={least / 1024**3 - 0.2:.2f}")
    with pytest.raises(ResourceError, match=r"allowed by \[image\] memory_limit"):
        check_run_memory(bound, 4096, 3072, 64 * 1024**3)


@pytest.mark.parametrize("draw", [0, 3])
def test_mixed_style_over_tiles_equals_the_whole_pictures(draw):
    """[loss] style_loss = mixed at the default layers: a Gram term (blocks 1-2) and a sliced
    one (blocks 3-5) in one step over tiles, the Gram slopes and the sliced tables each
    answered to its own term: the whole picture's value and gradient."""
    settings = settings_of("loss.style_loss=mixed", "loss.tv_weight=2", "model.padding=reflect")
    expected, got, tiled = sliced_both(settings, 96, 81, 32, draw)
    assert len(tiled.windows) >= 4
    assert [type(k).__name__ for _, k in tiled.kinds if _ == "style"] == [
        "GramStyle",
        "SlicedStyle",
    ]
    assert_same(expected, got)
