"""Shared test helpers: tiny generated images, the real weights (where present), main.py runs."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
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


@pytest.fixture(autouse=True)
def checkout_results_untouched():
    """Tests write only to temporary folders: a test that creates or changes anything in the
    checkout's own results/ (the default results_dir) fails and names what it wrote."""
    before = tree_state(CHECKOUT_RESULTS)
    yield
    written = written_since(before, tree_state(CHECKOUT_RESULTS))
    assert not written, f"the test wrote into {CHECKOUT_RESULTS}: {written[:5]}"


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


@pytest.fixture
def image_pair(tmp_path: Path) -> tuple[Path, Path]:
    return make_image(tmp_path / "content.png", seed=1), make_image(tmp_path / "style.png", seed=2)


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


needs_vgg16 = pytest.mark.skipif(
    not VGG16_WEIGHTS.is_file(),
    reason=f"real VGG16 weights not found at {VGG16_WEIGHTS} (../shared is absent)",
)


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
