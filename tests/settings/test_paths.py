"""Paths in settings are normalised: in the saved config.ini, and relative to the config file
that names them."""

from __future__ import annotations

from nst.settings import load_settings, render
from tests.helpers.broken import good_pair


def test_saved_paths_are_normalised(tmp_path):
    (tmp_path / "main").mkdir()
    content, style = good_pair(tmp_path / "shared")
    roundabout = tmp_path / "main" / ".." / "shared"
    settings = load_settings(
        None,
        (
            f"paths.content_image={roundabout / content.name}",
            f"paths.style_image={roundabout / style.name}, ./{style}",
            f"paths.results_dir={tmp_path}/main/./results/",
            f"model.weights={roundabout}/w.h5",
        ),
    )
    text = render(settings)
    assert "/../" not in text and "/./" not in text, text
    assert settings.paths.content_image == content
    assert settings.model.weights == str(tmp_path / "shared" / "w.h5")


def test_config_paths_relative_to_the_file_are_normalised(tmp_path):
    (tmp_path / "main").mkdir()
    config = tmp_path / "main" / "my.ini"
    config.write_text("[paths]\ncontent_image = ../shared/content.png\n")
    settings = load_settings(config)
    assert settings.paths.content_image == tmp_path / "shared" / "content.png"


# --- run folder names --------------------------------------------------------------------


# --- a run in-process: the stop reason, a second Ctrl-C ----------------------------------


# --- evolution.gif ------------------------------------------------------------------------
