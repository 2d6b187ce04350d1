"""The tiled step with its tiles on Ray workers (nst.batch.raytiles) equals the single-process
tiled step (nst.core.tiles): the same losses and gradient to float rounding, and the same
Adam step through nst.core.optimize's tiled step."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst.core.features import build_feature_extractor
from nst.core.objective import build_terms, signature, tensors
from nst.core.optimize import Session
from nst.settings import load_settings

ray = pytest.importorskip("ray")

SHALLOW = ("model.content_layers=block3_conv1", "model.style_layers=block1_conv1,block2_conv1")
DRAW = tf.constant(0, tf.int64)


@pytest.fixture(scope="module")
def local_ray():
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    except Exception as error:  # no Ray here (sandbox, no shared memory): nothing to test
        pytest.skip(f"a local Ray does not start: {error}")
    yield ray
    ray.shutdown()


def scale(height: int, width: int, *overrides: str):
    """(settings, extractor, terms, image) of a random picture and style, tiny random VGG."""
    base = ("model.network=vgg16", "model.weights=random", "model.precision=float32")
    settings = load_settings(None, (*base, *SHALLOW, "loss.tv_weight=5", *overrides))
    extractor = build_feature_extractor(settings.model)
    rng = np.random.default_rng(7)
    content = rng.uniform(0, 255, (height, width, 3)).astype(np.float32)
    style = rng.uniform(0, 255, (40, 52, 3)).astype(np.float32)
    terms = build_terms(extractor, content, (style,), settings.model, settings.loss)
    image = tf.constant(rng.uniform(0, 255, (1, height, width, 3)).astype(np.float32))
    return settings, extractor, terms, image


@pytest.mark.slow
@pytest.mark.parametrize("padding", ["reflect", "zeros"])
def test_ray_tiled_step_equals_the_single_process_one(local_ray, padding):
    from nst.batch.raytiles import RayTiles

    height, width, side = 71, 97, 32
    settings, extractor, terms, image = scale(height, width, f"model.padding={padding}")
    session = Session(extractor)
    single = session.tiled(terms, (height, width, 3), settings.model, side)
    key = (settings.model, settings.image.seed, settings.optimizer.name)
    spread = RayTiles(
        local_ray, extractor, key, signature(terms), (height, width), side, tensors(terms), 2
    )
    try:
        assert len(spread.windows) >= 6 and len(spread.runs) == 2  # ragged tiles, two workers
        losses, gradient = single.value_and_gradient(image, tensors(terms), DRAW)
        got_losses, got_gradient = spread.value_and_gradient(image, tensors(terms), DRAW)
        np.testing.assert_allclose(np.array(got_losses), np.array(losses), rtol=2e-5)
        largest = float(tf.reduce_max(tf.abs(gradient)))
        assert largest > 0
        assert float(tf.reduce_max(tf.abs(got_gradient - gradient))) <= 2e-5 * largest
        np.testing.assert_allclose(
            np.array(spread.losses(image, tensors(terms), DRAW)), np.array(losses), rtol=2e-5
        )
        # an Adam step of a run's loop (nst.core.optimize) over the workers: the same image
        start = image[0].numpy()
        images = []
        for tiled in (single, spread):
            state, step = session.adam(terms, start, 1, settings.optimizer, None, tiled)
            step(state.pyramid, state.averaged, tensors(terms), tf.constant(0.0), tf.constant(1.0))
            images.append(state.iterate()[0].numpy())
        np.testing.assert_allclose(images[1], images[0], atol=1e-3)
        assert np.abs(images[0] - start).max() > 0.1  # the step moved the picture
    finally:
        spread.close()


def test_the_tiles_are_shared_in_contiguous_runs_of_about_equal_work():
    from nst.batch.raytiles import partition

    square = [(None, (0, 0, 100, 100))] * 6
    assert partition(square, 2) == [[0, 1, 2], [3, 4, 5]]
    assert partition(square, 4) == [[0], [1, 2], [3], [4, 5]]
    ragged = [(None, (0, 0, 100, 100))] * 2 + [(None, (0, 0, 100, 10))] * 2
    assert partition(ragged, 2) == [[0], [1, 2, 3]]
    assert partition(square[:1], 3) == [[0]]  # no worker without a tile
