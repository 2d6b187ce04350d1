"""Run folder names say what differs from the defaults: short, safe in a file name, only what
changes the picture."""

from __future__ import annotations

import re
from pathlib import Path

from nst.output.runfolder import create_run_dir
from nst.settings import TAG_LENGTH, load_settings, run_tag


def test_the_defaults_give_no_tag():
    assert run_tag(load_settings(None)) == ""


def test_the_tag_names_what_differs_and_changes_the_picture():
    settings = load_settings(
        None, ("loss.style_weight=30", "image.max_size=256", "output.save_every=3")
    )
    assert run_tag(settings) == "style_weight=30_max_size=256"  # save_every: same picture


def test_the_tag_is_short_and_safe_in_a_file_name():
    settings = load_settings(
        None,
        (
            "model.weights=/some where/my weights.h5",
            "optimizer.name=lbfgs",
            "model.style_layers=block1_conv1, block2_conv1",
            "image.preserve_colors=luminance",
            "loss.tv_weight=0.001",
            "image.init=style",
        ),
    )
    tag = run_tag(settings)
    assert len(tag) <= TAG_LENGTH
    # safe in file names and URLs, and no comma: a path in it stays usable in a path list
    assert re.fullmatch(r"[A-Za-z0-9_.=+-]+", tag), tag
    assert tag.startswith("tv_weight=0.001_init=style_")  # [loss] first, then [image] ...
    assert "/" not in tag and "my" not in tag  # a weights path is not spelled out
    shown, rest = re.fullmatch(r"(.*)\+(\d+)", tag).groups()  # the rest counted, not dropped
    assert shown.count("=") + int(rest) == 6  # layer weights follow the layers: not named


def test_the_run_folder_carries_the_tag(tmp_path):
    run = create_run_dir(tmp_path, Path("photo.jpg"), (Path("starry.jpg"),), "style_weight=30")
    assert re.fullmatch(r"\d{8}-\d{6}-style_weight=30-photo-starry", run.name), run.name
    bare = create_run_dir(tmp_path, Path("photo.jpg"), (Path("starry.jpg"),))
    assert re.fullmatch(r"\d{8}-\d{6}-photo-starry", bare.name), bare.name
