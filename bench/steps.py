"""Step-cost workers: ours and the tutorial's step, each timed in its own process.

A worker prints one JSON line: seconds per step (median), CPU seconds per step (user,
system), peak RSS. Each runs in a fresh process so that the allocator (LD_PRELOAD) and the
memory high-water mark belong to it alone.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import numpy as np


def test_images(size: int, images_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Tübingen and Starry Night at `size` where present, else two generated images."""
    from nst.inputs.images import load_pair, resize

    if images_dir and (images_dir / "tubingen.jpg").is_file():
        return load_pair(images_dir / "tubingen.jpg", images_dir / "starry_night.jpg", size)
    rng = np.random.default_rng(0)
    height = round(size * 0.75)
    y, x = np.mgrid[0:height, 0:size].astype(np.float32)
    images = []
    for _ in range(2):
        phase = rng.uniform(0, 6, 3)
        images.append(
            np.stack([127 + 120 * np.sin(0.05 * (x + c * y) + phase[c]) for c in range(3)], 2)
        )
    return tuple(resize(image.astype(np.float32), size, height) for image in images)


def our_step(size: int, network: str, weights: str, images_dir: Path | None, precision: str):
    """A callable doing one step of our default Adam loop (losses fetched, as the loop does)."""
    import keras
    import tensorflow as tf

    from nst.core.features import build_feature_extractor
    from nst.core.objective import build_terms, make_objective, signature, tensors
    from nst.core.optimize import make_step
    from nst.settings import load_settings

    model = (f"model.network={network}", f"model.weights={weights}")
    settings = load_settings(None, (*model, f"model.precision={precision}"))
    extractor = build_feature_extractor(settings.model)
    content, style = test_images(size, images_dir)
    terms = build_terms(extractor, content, (style,), settings.model, settings.loss)
    objective, targets = make_objective(extractor, signature(terms)), tensors(terms)
    generated = tf.Variable(content[None])
    o = settings.optimizer
    adam = keras.optimizers.Adam(o.learning_rate, o.beta_1, o.beta_2, o.epsilon)
    adam.build([generated])
    step = make_step(objective, adam)
    averaged = tf.Variable(tf.zeros_like(generated))
    average = tf.constant(o.average, tf.float32)

    def one_step():
        return tf.nest.map_structure(
            lambda t: t.numpy(), step((generated,), averaged, targets, average, tf.constant(1.0))
        )

    return one_step, extractor


def tutorial_step(size: int, weights: str, images_dir: Path | None):
    """A callable doing one step of the TF tutorial (VGG19), as its loop does (no fetch)."""
    from bench.tutorial import make_tutorial_step, tutorial_extractor

    extract = tutorial_extractor(None if weights == "random" else weights)
    content, style = test_images(size, images_dir)
    train_step, image = make_tutorial_step(extract, content, style)
    return lambda: train_step(image), None


def run_worker(
    which: str, size: int, steps: int, network: str, weights: str, images_dir, precision: str
):
    """Time `steps` steps after two warm-up steps; print the JSON line."""
    if which == "ours":
        step, _ = our_step(size, network, weights, images_dir, precision)
    else:
        step, _ = tutorial_step(size, weights, images_dir)
    step()
    step()  # traced and warm: buffers allocated once
    times = []
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "step_s": float(np.median(times)),
                "user_s": (after.ru_utime - before.ru_utime) / steps,
                "sys_s": (after.ru_stime - before.ru_stime) / steps,
                "page_faults": (after.ru_minflt - before.ru_minflt) / steps,
                "peak_rss_mb": after.ru_maxrss / 1024,
            }
        ),
        flush=True,
    )
