"""Helpers shared by the test modules (no fixtures here: those live in tests/conftest.py):
paths, tiny generated images, tiny settings, a stand-in network, main.py runs, the real weights.
The generators of odd input files, fake run folders, ICC profiles and clips are submodules."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[2]  # tests/helpers/__init__.py: the checkout
SHARED = ROOT.parent / "shared"
VGG16_WEIGHTS = SHARED / "weights" / "vgg16_imagenet_notop.weights.h5"
SHARED_IMAGES = SHARED / "images"
CHECKOUT_RESULTS = ROOT / "results"  # config.ini's results_dir: no test may write there


def tree_state(folder: Path) -> dict[str, int]:
    """Every file and folder under `folder` with its modification time (empty if absent)."""
    state = {}
    for parent, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(parent, name)
            with contextlib.suppress(OSError):  # gone meanwhile: it is not there
                state[os.path.relpath(path, folder)] = os.stat(path).st_mtime_ns
    return state


def written_since(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """What is new or changed from one tree_state to the next."""
    return sorted(path for path, mtime in after.items() if before.get(path) != mtime)


def make_image(path: Path, width: int = 64, height: int = 48, seed: int = 0) -> Path:
    """A small smooth colour image with some structure, written to `path`."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phases = rng.uniform(0, 2 * np.pi, 3)
    freq = rng.uniform(0.05, 0.3, 3)
    channels = [127 + 120 * np.sin(freq[c] * (x + (c + 1) * y) + phases[c]) for c in range(3)]
    Image.fromarray(np.stack(channels, axis=2).astype(np.uint8)).save(path)
    return path


def tiny_overrides(content: Path, style: Path, results: Path, **extra: str) -> list[str]:
    """--set arguments for a fast run: random weights, 48 px, 4 iterations, no viewer; it
    starts from the photo without a smoothness term, which the features' tests assume (the
    defaults, noise and tv_weight 10, are run by tests that say so)."""
    values = {
        "image.init": "content",
        "loss.tv_weight": "0",
        "paths.content_image": str(content),
        "paths.style_image": str(style),
        "paths.results_dir": str(results),
        "model.weights": "random",
        "image.max_size": "48",
        "optimizer.iterations": "4",
        "output.save_every": "2",
        "output.show_viewer": "false",
        **extra,
    }
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


def run_main(
    args: list[str], cwd: Path = ROOT, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python main.py ARGS` in a subprocess, as a user runs it (env: its environment)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def call_main(capsys, args: list[str]) -> tuple[int, str, str]:
    """`main.main(ARGS)` in this process, as the command line calls it: (status, stdout,
    stderr). For tests where the real process (a signal, a closed pipe) is not the point."""
    import main

    capsys.readouterr()  # only what this call prints
    status = main.main(args)
    out, err = capsys.readouterr()
    return status, out, err


# Tests that need the real VGG16 weights (../shared/weights): marked, and skipped with a reason
# where the file is absent (conftest.py's collection hook does the skipping).
needs_vgg16 = pytest.mark.real_weights


def loop_recipe(settings, save_every: int | None = None):
    """What `stylize` reads of `settings`, with save_every (how often a record carries its
    image) changed where given."""
    from nst.core.recipe import Recipe

    recipe = Recipe.of(settings)
    return recipe if save_every is None else dataclasses.replace(recipe, save_every=save_every)


def loop_inputs(content: np.ndarray, *styles: np.ndarray):
    """What `stylize` optimises: the content image as the photo, the style images as given."""
    from nst.inputs.styles import Inputs

    return Inputs(content, tuple(styles), content)


def real_vgg16_run(size: int, *overrides: str, save_every: int | None = None) -> list:
    """The records of a run on the real VGG16: Tübingen in Starry Night's style at `size` px,
    the network built as `main.py` builds it (see nst.run.process.build_extractor), from the
    photo and without tv unless `overrides` say otherwise (what these tests were written for)."""
    from nst.core.optimize import stylize
    from nst.inputs.images import load_pair
    from nst.run.process import build_extractor
    from nst.settings import load_settings

    settings = load_settings(
        None,
        (
            "model.network=vgg16",
            f"model.weights={VGG16_WEIGHTS}",
            "image.init=content",
            "loss.tv_weight=0",
            *overrides,
        ),
    )
    content, style = load_pair(
        SHARED_IMAGES / "tubingen.jpg", SHARED_IMAGES / "starry_night.jpg", size
    )
    recipe = loop_recipe(settings, save_every or settings.optimizer.iterations)
    return list(stylize(build_extractor(settings), loop_inputs(content, style), recipe))


# --- runs and their folders ----------------------------------------------------------------

LOSS_COLUMNS = ["iteration", "content", "style", "tv", "total", "elapsed_s", "scale", "step"]

# Two shallow layers of the random VGG16: a run through the whole lifecycle in a second.
SHALLOW_LAYERS = {
    "model.content_layers": "block2_conv1",
    "model.style_layers": "block1_conv1, block2_conv1",
}
SHALLOW = tuple(f"{key}={value}" for key, value in SHALLOW_LAYERS.items())  # as overrides


def only_run_dir(results: Path) -> Path:
    """The one run folder under `results` (fails if there are none or several)."""
    runs = [p for p in results.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def no_run_folder(results: Path) -> bool:
    return not results.is_dir() or not any(p.is_dir() for p in results.iterdir())


PLOTS = ("content_loss", "style_loss", "total_loss", "losses")


def logged_iterations(run_dir: Path) -> list[int]:
    with open(run_dir / "losses.csv", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0][0] == "iteration"
    return [int(row[0]) for row in rows[1:]]


def assert_complete(run_dir: Path) -> int:
    """Every file of a finished run; final.png is the last logged iteration's image."""
    assert (run_dir / "config.ini").is_file()
    iterations = logged_iterations(run_dir)
    assert iterations == list(range(len(iterations)))  # no row lost
    last = iterations[-1]
    final = np.asarray(Image.open(run_dir / "final.png"))
    saved = np.asarray(Image.open(run_dir / "iterates" / f"iter_{last:06d}.png"))
    np.testing.assert_array_equal(final, saved)
    for name in PLOTS:
        assert Image.open(run_dir / "plots" / f"{name}.png").size[0] > 300
    assert not list(run_dir.rglob(".*.tmp"))
    return last


def tiny_settings(tmp_path: Path, *extra: str):
    """Settings for an in-process run of the whole lifecycle: a generated pair under
    `tmp_path`, random shallow network, 40 px, 8 iterations each saved, one scale, the whole
    budget, from the photo without tv (as tiny_overrides), no viewer, no animation."""
    from nst.settings import load_settings

    content = make_image(tmp_path / "content.png", seed=1)
    style = make_image(tmp_path / "style.png", seed=2)
    return load_settings(
        None,
        (
            f"paths.content_image={content}",
            f"paths.style_image={style}",
            f"paths.results_dir={tmp_path / 'results'}",
            "model.weights=random",
            "image.max_size=40",
            "optimizer.iterations=8",
            "output.save_every=1",
            "output.show_viewer=false",
            "output.animation=false",
            "image.init=content",
            "loss.tv_weight=0",
            "image.scales=1",
            "optimizer.tolerance=0",  # the whole budget, but where a test sets a rule
            *SHALLOW,
            *extra,
        ),
    )


# --- the loop on a stand-in network ------------------------------------------------------

LOOP_LAYERS = {"model.content_layers": "block1_conv2", "model.style_layers": "block1_conv1"}


def shallow_settings(*overrides: str):
    """Settings for `stylize` on `pooled_extractor`'s two layers."""
    from nst.settings import load_settings

    shallow = (f"{key}={value}" for key, value in LOOP_LAYERS.items())
    return load_settings(None, ("model.weights=random", *shallow, *overrides))


def pooled_extractor(poison_after_calls: int | None = None):
    """A stand-in for the network (2x2 average pooling), that returns NaN features from the
    given call on: the loop must not be able to tell it from a diverging real network."""
    import tensorflow as tf

    calls = tf.Variable(0)

    def extractor(image):
        calls.assign_add(1)
        features = tf.nn.avg_pool2d(image, 2, 2, "VALID")
        if poison_after_calls is not None:
            features *= tf.where(calls > poison_after_calls, np.nan, 1.0)
        return {"block1_conv1": features, "block1_conv2": features}

    return extractor


def pixels(seed: int) -> np.ndarray:
    """A 16x16 random picture for the stand-in network."""
    return np.random.default_rng(seed).uniform(0, 255, (16, 16, 3)).astype(np.float32)
