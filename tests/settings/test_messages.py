"""Messages that help: config files as editors save them, --config naming things that are not
files, keys in [DEFAULT], and echoed values kept to one short line."""

from __future__ import annotations

import os

import pytest

from nst.settings import SettingsError, load_settings


def _error(path=None, overrides=()) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(path, tuple(overrides))
    return str(caught.value)


def test_config_with_a_utf8_byte_order_mark_is_read(tmp_path):
    config = tmp_path / "notepad.ini"
    config.write_bytes(b"\xef\xbb\xbf[loss]\r\nstyle_weight = 30\r\n")
    assert load_settings(config).loss.style_weight == 30


def test_config_that_is_not_utf8_names_the_byte(tmp_path):
    config = tmp_path / "latin1.ini"
    config.write_bytes(b"[paths]\ncontent_image = caf\xe9.jpg\n")
    assert "byte 27 is not UTF-8 text" in _error(config)


def test_config_fifo_is_called_a_pipe_not_missing(tmp_path):
    os.mkfifo(tmp_path / "settings.ini")
    text = _error(tmp_path / "settings.ini")
    assert "is a pipe" in text and "does not exist" not in text


def test_config_device_is_called_a_device(tmp_path):
    assert "is a terminal or device" in _error("/dev/null")


def test_config_symlink_loop_is_called_a_loop(tmp_path):
    (tmp_path / "a.ini").symlink_to(tmp_path / "b.ini")
    (tmp_path / "b.ini").symlink_to(tmp_path / "a.ini")
    text = _error(tmp_path / "a.ini")
    assert "symbolic link loop" in text and "does not exist" not in text


def test_config_under_a_file_is_named_so(tmp_path):
    (tmp_path / "file").write_text("x")
    assert "a part of its path is a file" in _error(tmp_path / "file" / "config.ini")


def test_config_missing_still_says_so(tmp_path):
    assert "does not exist" in _error(tmp_path / "nope.ini")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_config_says_permission_denied(tmp_path):
    config = tmp_path / "locked.ini"
    config.write_text("[loss]\n")
    config.chmod(0)
    assert "Permission denied" in _error(config)


def test_keys_in_default_are_blamed_on_default_and_placed(tmp_path):
    config = tmp_path / "d.ini"
    config.write_text("[DEFAULT]\nstyle_weight = 3\n[paths]\n")
    text = _error(config)
    assert "[DEFAULT] 'style_weight'" in text and "move it under [loss]" in text
    assert "[paths]" not in text
    config.write_text("[DEFAULT]\nbogus = 3\n")
    assert "no section of nst has this key" in _error(config)


def test_a_huge_value_is_cut_in_the_message():
    text = _error(overrides=[f"loss.style_weight={'9x' * 500_000}"])
    assert len(text) < 300 and "1,000,000 characters" in text and "expected a number" in text


def test_a_multiline_value_is_escaped_on_one_line(tmp_path):
    config = tmp_path / "m.ini"
    config.write_text("[optimizer]\niterations = 10\n  20\n")
    text = _error(config)
    assert "\n" not in text and "'10\\n20'" in text


@pytest.mark.parametrize(
    "override",
    ["loss.x" + "y" * 5000 + "=1", "l" * 5000 + ".k=1", "no-equals-" + "z" * 5000],
)
def test_huge_names_are_cut_too(override):
    text = _error(overrides=[override])
    assert len(text) < 400 and "\n" not in text


@pytest.mark.parametrize("key", ["paths.content_image", "model.weights", "paths.content_mask"])
def test_a_tilde_user_that_does_not_exist_is_a_bad_value_not_a_crash(key):
    text = _error(overrides=[f"{key}=~nst_no_such_user/picture.png"])
    section, name = key.split(".")
    assert f"[{section}] {name} = '~nst_no_such_user/picture.png'" in text, text
    assert "~nst_no_such_user: no such user's home folder" in text, text
