"""Pre-flight checks: layer shapes from data, the minimum image size, memory, the folder."""

from __future__ import annotations

import dataclasses
import errno
import re
import sys

import keras
import numpy as np
import pytest

from nst.core import lbfgs
from nst.core.records import LoopState
from nst.inputs.images import ImageError, fit_size
from nst.output import checkpoint, runfolder
from nst.output.outputs import PrintSpec, write_print
from nst.run.preflight import (
    MAX_SIZE_STEP,
    ResourceError,
    available_memory,
    check_fits_network,
    check_memory,
    check_results_folder,
    checkpoint_bytes,
    memory_needed,
    optimizer_bytes,
    output_bytes,
    print_bytes,
    step_budget,
)
from nst.settings import load_settings
from nst.settings.networks import PAPER_STYLE_LAYERS, layer_names, layer_shapes, min_input_side
from tests.helpers.icc import ADOBE_RGB_D50, rgb_profile

MB = 1024**2


@pytest.mark.parametrize("network", ["vgg16", "vgg19"])
def test_layer_shapes_are_the_networks(network):
    constructor = {"vgg16": keras.applications.VGG16, "vgg19": keras.applications.VGG19}[network]
    base = constructor(include_top=False, weights=None)
    every_layer = keras.Model(base.input, [layer.output for layer in base.layers[1:]])
    features = every_layer(np.zeros((1, 37, 50, 3), np.float32))
    expected = [
        (layer.name, *out.shape[1:]) for layer, out in zip(base.layers[1:], features, strict=True)
    ]
    assert list(layer_shapes(network, 37, 50)) == expected
    assert layer_shapes(network, 37, 50, upto="block2_conv1")[-1] == ("block2_conv1", 18, 25, 128)


# the paper's style layers, conv1_1 .. conv5_1 (the default leaves out block5_conv1)
FIVE_STYLE_LAYERS = "model.style_layers=" + ",".join(PAPER_STYLE_LAYERS)


def test_min_input_side_counts_the_poolings_before_the_deepest_layer():
    assert min_input_side("vgg19", ["block1_conv1"]) == 1
    assert min_input_side("vgg19", ["block1_conv1", "block2_conv1"]) == 2
    assert min_input_side("vgg19", ["block4_conv2", "block5_conv1"]) == 16
    assert min_input_side("vgg16", ["block5_conv3"]) == 16
    assert len(layer_names("vgg16")) == 18


def test_too_small_names_the_minimum_and_a_max_size_that_works(tmp_path):
    model = load_settings(None, (FIVE_STYLE_LAYERS,)).model  # cut at block5_conv1: 4 poolings
    # 100x10 may come from a 100x9.5 original (rounded), which needs 169 px to keep 16
    with pytest.raises(ImageError, match=r"at least 16 pixels.*max_size to at least 169"):
        check_fits_network(tmp_path / "x.png", 100, 10, model)
    check_fits_network(tmp_path / "x.png", 160, 16, model)
    shallow = load_settings(
        None, ("model.content_layers=block1_conv2", "model.style_layers=block1_conv1")
    ).model
    check_fits_network(tmp_path / "x.png", 100, 1, shallow)  # no pooling: any size


def test_memory_estimate_grows_with_pixels_and_depth():
    model = load_settings(None).model
    small, large = memory_needed(model, 256, 192), memory_needed(model, 1024, 768)
    assert 3 * (small - memory_needed(model, 1, 1)) < large - memory_needed(model, 1, 1)
    shallow = load_settings(
        None, ("model.content_layers=block1_conv2", "model.style_layers=block1_conv1")
    ).model
    assert memory_needed(shallow, 1024, 768) < large


def test_memory_refusal_suggests_the_largest_size_that_fits():
    model = load_settings(None).model
    available = 1500 * MB
    check_memory(model, 512, 384, 512, available)  # fits: no error
    check_memory(model, 4096, 3072, 4096, None)  # unknown memory: no check
    with pytest.raises(ResourceError, match="max_size to") as error:
        check_memory(model, 4096, 3072, 4096, available)
    size = int(str(error.value).split("max_size to ")[1].split()[0])
    assert size % MAX_SIZE_STEP == 0
    width, height = size, size * 3 // 4
    assert memory_needed(model, width, height) <= available
    bigger = size + MAX_SIZE_STEP
    assert memory_needed(model, bigger, bigger * 3 // 4) > available


def test_lbfgs_needs_memory_for_its_float64_history():
    model = load_settings(None).model
    adam, lbfgs = (memory_needed(model, 2048, 1536, name) for name in ("adam", "lbfgs"))
    # 2048 × 1536 × 3 values, 34 float64 vectors of them (nst.core.lbfgs): ~2.6 GB more than Adam
    assert 2.4e9 < lbfgs - adam < 2.7e9
    with pytest.raises(ResourceError, match="max_size to"):
        check_memory(model, 2048, 1536, 2048, adam + 100 * MB, "lbfgs")
    check_memory(model, 2048, 1536, 2048, adam + 100 * MB, "adam")


def test_disk_estimate_counts_every_scales_iterates():
    one = load_settings(None, ("optimizer.iterations=100", "image.scales=1"))
    scales = ("image.scales=3", "optimizer.coarse_iterations=100")
    # iterations_decay = 1: the full size takes as many steps as in `one`
    three = load_settings(
        None, ("optimizer.iterations=100", *scales, "optimizer.iterations_decay=1")
    )
    output = dataclasses.replace(one.output, save_every=10)
    full = output_bytes(512, 384, one.image, one.optimizer, output)
    assert full > 13 * 512 * 384 * 3  # 11 iterates, the last one and final.png at least
    # the scales of 256×192 and 128×96 add their 12 iterates each (plus headers and log lines)
    more = output_bytes(512, 384, three.image, three.optimizer, output) - full
    assert more == pytest.approx(12 * (256 * 192 + 128 * 96) * 3, rel=0.1)


def test_disk_estimate_counts_the_print_file_as_output_asks():
    base = load_settings(None, ("optimizer.iterations=100", "image.scales=1"))
    png8 = output_bytes(512, 384, base.image, base.optimizer, base.output)

    def more(*overrides: str, profile_bytes: int = 0) -> int:
        settings = load_settings(None, ("optimizer.iterations=100", "image.scales=1", *overrides))
        output = settings.output
        return output_bytes(512, 384, base.image, base.optimizer, output, profile_bytes) - png8

    pixels = 512 * 384
    # 16 bits: 6 bytes a pixel in final.png instead of 3; the iterates stay 8-bit
    assert more("output.bit_depth=16") == pytest.approx(3 * pixels, rel=0.02)
    # a TIFF besides an 8-bit final.png: the TIFF's samples are added
    assert more("output.format=tiff") == pytest.approx(3 * pixels, rel=0.02)
    assert more("output.format=tiff", "output.bit_depth=16") == pytest.approx(6 * pixels, rel=0.02)
    # the content photo's own profile is embedded instead of sRGB's
    assert more("output.profile=content", profile_bytes=10**6) > 10**6 - 10**4


@pytest.mark.parametrize("file_format", ["png", "tiff"])
@pytest.mark.parametrize("bits", [8, 16])
def test_the_print_estimate_bounds_the_files_written(tmp_path, file_format, bits):
    """Noise does not compress: what write_print writes stays within print_bytes, and the
    estimate is not far above it."""
    noise = np.random.default_rng(5).uniform(0, 255, (96, 160, 3)).astype(np.float32)
    adobe = rgb_profile(ADOBE_RGB_D50, 2.2, "Adobe RGB test")
    settings = load_settings(None, (f"output.format={file_format}", f"output.bit_depth={bits}"))
    for profile in (None, adobe):
        folder = tmp_path / ("adobe" if profile else "srgb")
        folder.mkdir()
        write_print(folder, noise, PrintSpec(file_format, bits, 300.0, profile))
        size = sum(path.stat().st_size for path in folder.iterdir())
        bound = print_bytes(160, 96, settings.output, len(profile or b""))
        assert size <= bound < size + 64 * 1024


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_the_checkpoint_estimate_bounds_the_checkpoint(optimizer):
    shape, rng = (48, 64, 3), np.random.default_rng(6)
    picture = rng.uniform(0, 255, shape).astype(np.float32)
    if optimizer == "adam":  # the loop's own state, the image moved as a 5-level pyramid
        state = adam_state(picture)
    else:
        point = picture.ravel().astype(np.float64)
        pairs = (point,) * lbfgs.MEMORY
        full = dataclasses.replace(lbfgs.start(point), g=point, d=point, s=pairs, y=pairs)
        state = LoopState(1, 7, picture, (), 1.0, best=(1.0,) * 50, lbfgs=full)
    size = len(checkpoint.to_bytes(state, optimizer))
    assert size <= checkpoint_bytes(picture.size, optimizer) < 1.2 * size + 64 * 1024


def adam_state(picture: np.ndarray) -> LoopState:
    """The checkpoint's state of Adam's loop (nst.core.optimize.AdamLoop) on `picture`, its
    image a 5-level pyramid (the default parameterization), as a run makes it."""
    from nst.core.optimize import AdamLoop

    optimizer = load_settings(None, ()).optimizer
    rule = dataclasses.make_dataclass("Rule", [("best", list)])([1.0] * 50)
    return AdamLoop.start(picture, 5, optimizer, rule).checkpoint(1, 1.0)


def test_the_memory_estimate_counts_the_checkpoints_state():
    """The arrays Adam's checkpoint is made of (copies of its TensorFlow variables, built
    beside a step every save_every steps) and the two saved pictures (the record's and the
    writer's) are counted in what a run keeps beside a step."""
    picture = np.random.default_rng(7).uniform(0, 255, (48, 64, 3)).astype(np.float32)
    state = adam_state(picture)
    arrays = (state.image, state.averaged, *state.optimizer_variables)
    held = sum(np.asarray(a).nbytes for a in arrays)
    assert held > 5 * picture.nbytes  # image, average, levels, m and v: about 6 copies
    saved = 2 * picture.nbytes  # a saved record's picture and the writer's last one
    assert held + saved <= optimizer_bytes(picture.size, "adam") < 1.1 * held + saved
    settings = load_settings(None, ("image.memory_limit=2",))
    fixed = 2 * 1024**3 - step_budget(settings.model, settings.image, "adam", None, 64, 48)
    assert fixed >= held + saved  # the step's budget is what is left once they are counted


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/meminfo")
def test_available_memory_is_read_on_linux():
    available = available_memory()
    assert available is not None and 100 * MB < available < 2**50


def test_results_folder_is_created_and_probed_without_a_trace(tmp_path):
    results = tmp_path / "a" / "b"
    check_results_folder(results, 1000)
    assert results.is_dir() and list(results.iterdir()) == []
    with pytest.raises(ResourceError, match="may write up to"):
        check_results_folder(results, 2**62)


def test_atomic_write_that_fails_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "losses.csv"
    target.write_text("complete old log\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runfolder.os, "fsync", full)
    with pytest.raises(OSError) as error:
        runfolder.write_bytes_atomic(target, b"new")
    assert error.value.errno == errno.ENOSPC and error.value.filename == str(target)
    assert target.read_text() == "complete old log\n"
    assert [p.name for p in tmp_path.iterdir()] == ["losses.csv"]


def test_the_suggested_max_size_for_a_thin_image_is_accepted(tmp_path):
    """Followed, the advice works: for every thin original, the max_size the message names
    keeps 16 px on the short side, and the settings accept it."""
    model = load_settings(None).model
    for width in range(900, 3000, 37):
        for height in range(3, 60, 2):
            resized = fit_size(width, height, 512)
            try:
                check_fits_network(tmp_path / "x.png", *resized, model)
                continue
            except ImageError as error:
                advice = re.search(r"max_size to at least (\d+)", str(error))
            if advice is None:  # said to crop: only when rounding hid the true aspect
                assert min(resized) == 1, (width, height)
                continue
            size = int(advice[1])
            load_settings(None, (f"image.max_size={size}",))  # accepted
            check_fits_network(tmp_path / "x.png", *fit_size(width, height, size), model)


def test_with_the_source_size_the_suggestion_is_exact_and_works(tmp_path):
    model = load_settings(None, (FIVE_STYLE_LAYERS,)).model  # 16 px: four poolings
    for width, height in [(400, 10), (1048, 3), (1000, 15), (3000, 47), (20000, 20)]:
        with pytest.raises(ImageError) as caught:
            check_fits_network(
                tmp_path / "x.png", *fit_size(width, height, 48), model, (width, height)
            )
        advice = re.search(r"max_size to at least (\d+)", str(caught.value))
        if advice is None:  # crop: no accepted max_size keeps 16 px
            assert "crop it" in str(caught.value)
            assert min(fit_size(width, height, 8192)) < 16
            continue
        size = int(advice[1])
        load_settings(None, (f"image.max_size={size}",))
        assert min(fit_size(width, height, size)) >= 16 > min(fit_size(width, height, size - 1))


def test_memory_estimate_counts_each_regions_masked_features():
    from nst.run.preflight import GUIDED_COPIES, guided_values

    model = load_settings(None).model
    plain = memory_needed(model, 256, 192)
    two = memory_needed(model, 256, 192, regions=2)
    # block1_conv1 .. block4_conv1: 64 + 128/4 + 256/16 + 512/64 values a pixel
    assert guided_values(model, 256, 192) == 120 * 256 * 192
    assert two - plain == 2 * GUIDED_COPIES * 4 * 120 * 256 * 192
    assert memory_needed(model, 256, 192, regions=1) < two


def test_a_sliced_step_over_tiles_counts_its_sample_tables():
    """Beside a step over tiles the sliced loss keeps each style layer's sample (its grid, as
    nst.core.objective reads it) sorted and ranked, and per region weighed; while its targets
    are made, the style's features on its grid beside a tile's forward pass. A print's step
    budget leaves room for both, so it tiles finer, and where only the Gram loss's smallest
    tiles fit the sliced run is refused."""
    import tensorflow as tf

    from nst.core.losses import on_grid
    from nst.core.objective import sample_grid, style_grid
    from nst.core.tilegrid import (
        ACTIVATION_COPIES,
        DIRECTIONS,
        TABLE_COPIES,
        sliced_bytes,
        tile_side,
    )
    from nst.run.preflight import check_run_memory, tiled_memory_needed

    prints = ("model.network=vgg16", "image.max_size=4096", "image.memory_limit=9")
    sliced = load_settings(None, (*prints, "loss.style_loss=sliced"))
    gram = load_settings(None, (*prints, "loss.style_loss=gram"))
    model, height, width = sliced.model, 3072, 4096
    shapes = {n: (1, h, w, c) for n, h, w, c in layer_shapes("vgg16", height, width)}
    zeros = {n: np.broadcast_to(np.float32(0), shapes[n]) for n in model.style_layers}
    grids = style_grid(zeros, model.style_layers).values()  # views: no memory taken
    assert max(g.shape[0] * g.shape[1] for g in grids) <= 262144 < 3072 * 4096
    sample = 0  # the picture's sample at a step, as the step takes it
    for name, h, w, c in layer_shapes("vgg16", height, width):
        if name in model.style_layers:
            stride, offset = sample_grid(h, w, 0)
            positions = on_grid(tf.zeros((1, h, w, 1)), h, w, stride, offset).shape[1:3]
            sample += positions[0] * positions[1] * min(c, DIRECTIONS)
    tables, grid = sliced_bytes(model, height, width)
    assert grid == 4 * sum(g.size for g in grids)  # a style as large as the picture
    # and the style's sorted projections: 8 sets x 64 directions x 4096 quantiles a layer
    assert tables == 4 * (TABLE_COPIES * sample + len(model.style_layers) * 8 * 64 * 4096)
    assert sliced_bytes(model, height, width, regions=2).tables > tables  # masses, per region
    assert sliced_bytes(model, height, width, style_area=4).style_grid > grid

    budget = step_budget(model, sliced.image, "adam", None, width, height, "sliced")
    room = step_budget(model, gram.image, "adam", None, width, height)
    assert budget == min(room - tables, int(ACTIVATION_COPIES * (room - grid)))
    assert tile_side(model, height, width, budget) < tile_side(model, height, width, room)
    needed = tiled_memory_needed(model, width, height, "adam", 0, None, "sliced")
    assert needed == tiled_memory_needed(model, width, height) + max(tables, grid)
    available = tiled_memory_needed(model, width, height) + min(tables, grid) // 2
    assert check_run_memory(gram, width, height, available) is not None  # tiles, fits
    with pytest.raises(ResourceError, match="even over the smallest tiles") as refused:
        check_run_memory(sliced, width, height, available)
    assert "or set [loss] style_loss = gram (about" in str(refused.value)  # which would fit
    with pytest.raises(ResourceError) as refused:
        check_run_memory(sliced, width, height, tiled_memory_needed(model, width, height) // 2)
    assert "style_loss = gram" not in str(refused.value)  # which would not fit either


def test_a_sliced_step_that_fits_whole_is_not_tiled_for_its_tables():
    """The sliced loss makes its tables inside a whole step, at the Gram loss's peak
    (bench/results/memory.md): where the whole step fits, the tables kept beside tiles must
    not send it to tiles (a tiled step took twice as long at 1024x768)."""
    from nst.core.tilegrid import sliced_bytes, step_bytes, tile_side

    sliced = load_settings(None, ("model.network=vgg16", "loss.style_loss=sliced"))
    gram = load_settings(None, ("model.network=vgg16",))
    model, height, width = sliced.model, 768, 1024
    big = 64 * 1024**3
    beside = big - step_budget(model, gram.image, "adam", big, width, height)  # runtime, ...
    tables = sliced_bytes(model, height, width).tables
    whole = step_bytes(model, width, height)
    for room in (whole, whole + tables // 2):  # fits whole, but not with the tables beside
        budget = step_budget(model, sliced.image, "adam", beside + room, width, height, "sliced")
        assert budget == room
        assert tile_side(model, height, width, budget) is None
    room = whole - 1  # does not fit whole: the tiles' budget leaves room for the tables
    budget = step_budget(model, sliced.image, "adam", beside + room, width, height, "sliced")
    assert budget <= room - tables
    assert tile_side(model, height, width, budget) is not None


def test_small_tiles_of_a_large_picture_are_counted_at_the_floor():
    """Smaller tiles took no less memory below a size (a 4096x3072 run over 256 px tiles
    peaked above its estimate): a tile's step counts at least TILE_FLOOR_COPIES of the
    picture, so shrinking tiles stops saving memory there, and a picture that fits only with
    tiles below the floor is refused before it runs."""
    from nst.core.tilegrid import TILE_FLOOR_COPIES, picture_bytes, tiled_step_bytes

    model = load_settings(None, ("model.network=vgg16",)).model
    floor = 4 * TILE_FLOOR_COPIES * 3 * 3072 * 4096
    kept = picture_bytes(model, 3072, 4096)
    assert tiled_step_bytes(model, 3072, 4096, 64) == kept + floor
    assert tiled_step_bytes(model, 3072, 4096, 256) == kept + floor  # no less than 64's
    assert tiled_step_bytes(model, 3072, 4096, 1024) > kept + floor  # large tiles: their own
    assert tiled_step_bytes(model, 384, 512, 64) > picture_bytes(model, 384, 512) + floor // 64
