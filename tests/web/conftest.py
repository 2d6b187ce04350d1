"""The studio under test (in-process, tiny runs, a 200 kB upload limit) and its Flask client."""

from __future__ import annotations

from pathlib import Path

import pytest

from nst.web.server import StudioConfig, create_app
from tests.helpers.web import tiny


@pytest.fixture
def studio(tmp_path: Path):
    app = create_app(StudioConfig(None, tiny(tmp_path), max_upload_bytes=200_000))
    yield app
    app.extensions["nst"]["worker"].close(timeout=120)


@pytest.fixture
def client(studio):
    return studio.test_client()
