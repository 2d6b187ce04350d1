"""[output] format and profile: defined once, read from config.ini and --set, bad values
named with what is allowed."""

from __future__ import annotations

import pytest

from nst.settings import SettingsError, load_settings, render


def test_the_print_file_is_an_srgb_png_unless_asked():
    output = load_settings(None).output
    assert (output.format, output.profile) == ("png", "srgb")


def test_tiff_and_the_content_profile_from_a_config_file(tmp_path):
    config = tmp_path / "config.ini"
    config.write_text("[output]\nformat = tiff\nprofile = content\nbit_depth = 16\n")
    output = load_settings(config).output
    assert (output.format, output.profile, output.bit_depth) == ("tiff", "content", "16")
    assert "format = tiff" in render(load_settings(config))  # a run folder's config keeps it


@pytest.mark.parametrize(
    ("assignment", "allowed"),
    [("output.format=jpeg", "png, tiff"), ("output.profile=adobe", "srgb, content")],
)
def test_a_bad_value_names_section_key_value_and_choices(assignment, allowed):
    key, value = assignment.removeprefix("output.").split("=")
    with pytest.raises(SettingsError) as error:
        load_settings(None, (assignment,))
    message = str(error.value)
    assert f"[output] {key}" in message and repr(value) in message and allowed in message
