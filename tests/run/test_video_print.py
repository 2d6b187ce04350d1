"""A video run says, in one line before it starts, that [output]'s print file settings are
not used for a clip (its frames are 8-bit sRGB PNGs, its videos 8-bit mp4)."""

from __future__ import annotations

from nst.run.video import prepare_video, print_settings_note
from nst.settings import load_settings
from tests.helpers import make_image
from tests.helpers.video_clips import clip_frames, write_clip


def test_print_settings_left_as_they_come_say_nothing():
    assert print_settings_note(load_settings(None).output) is None
    busy = load_settings(None, ("output.save_every=3", "output.animation=false"))
    assert print_settings_note(busy.output) is None  # not print settings


def test_each_print_setting_changed_is_named_with_its_value():
    settings = load_settings(
        None,
        ("output.bit_depth=16", "output.format=tiff", "output.profile=content", "output.dpi=240"),
    )
    note = print_settings_note(settings.output)
    assert note.startswith(
        "[output] format = tiff, bit_depth = 16, profile = content, dpi = 240 shape a still's "
        "print file and are not used for a video"
    )
    assert "8-bit sRGB PNGs" in note
    only_depth = print_settings_note(load_settings(None, ("output.bit_depth=16",)).output)
    assert only_depth.startswith("[output] bit_depth = 16 shape")


def test_a_video_run_with_print_settings_says_so_once_and_goes_on(tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.mp4", clip_frames(2))
    style = make_image(tmp_path / "style.png", seed=2)
    base = (
        f"paths.content_image={clip}",
        f"paths.style_image={style}",
        f"paths.results_dir={tmp_path / 'results'}",
        "model.weights=random",
        "image.max_size=48",
    )
    prepare_video(load_settings(None, (*base, "output.bit_depth=16", "output.format=tiff")))
    lines = capsys.readouterr().err.splitlines()
    notes = [line for line in lines if "[output]" in line]
    assert notes == [
        "nst: note: [output] format = tiff, bit_depth = 16 shape a still's print file and are "
        "not used for a video: its frames are written as 8-bit sRGB PNGs and its videos as "
        "8-bit mp4"
    ]
    prepare_video(load_settings(None, base))
    assert "[output]" not in capsys.readouterr().err
