"""Fixtures for every test, and the markers' meaning at collection: `real_weights` tests skip
with a reason where ../shared/weights is absent. Helpers to import are in tests/helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import (
    CHECKOUT_RESULTS,
    VGG16_WEIGHTS,
    make_image,
    tree_state,
    written_since,
)


def pytest_collection_modifyitems(config, items):
    """Without the real VGG16 weights, the tests that need them skip and say why."""
    if VGG16_WEIGHTS.is_file():
        return
    absent = pytest.mark.skip(
        reason=f"real VGG16 weights not found at {VGG16_WEIGHTS} (../shared is absent)"
    )
    for item in items:
        if "real_weights" in item.keywords:
            item.add_marker(absent)


@pytest.fixture(autouse=True)
def checkout_results_untouched():
    """Tests write only to temporary folders: a test that creates or changes anything in the
    checkout's own results/ (the default results_dir) fails and names what it wrote."""
    before = tree_state(CHECKOUT_RESULTS)
    yield
    written = written_since(before, tree_state(CHECKOUT_RESULTS))
    assert not written, f"the test wrote into {CHECKOUT_RESULTS}: {written[:5]}"


@pytest.fixture
def image_pair(tmp_path: Path) -> tuple[Path, Path]:
    return make_image(tmp_path / "content.png", seed=1), make_image(tmp_path / "style.png", seed=2)


@pytest.fixture(scope="session")
def tiny_problem():
    """A random VGG16, two 40×32 images, the targets and the objective (built once)."""
    from nst.core.features import build_feature_extractor
    from nst.core.objective import build_terms, make_objective, signature
    from nst.settings import load_settings

    model = ("model.network=vgg16", "model.weights=random", "model.precision=float32")
    settings = load_settings(None, model)
    extractor = build_feature_extractor(settings.model)
    rng = np.random.default_rng(0)
    content, style = (rng.uniform(0, 255, (32, 40, 3)).astype(np.float32) for _ in range(2))
    targets = build_terms(extractor, content, (style,), settings.model, settings.loss)
    objective = make_objective(extractor, signature(targets))
    return settings, extractor, content, style, targets, objective
