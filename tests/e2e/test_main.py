"""main.py as a user runs it, at tiny size with random weights."""

from __future__ import annotations

import csv
import math
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from nst.output.runfolder import ANIMATION, FINAL
from nst.settings import load_settings
from tests.helpers import (
    LOSS_COLUMNS,
    make_image,
    no_run_folder,
    only_run_dir,
    run_main,
    tiny_overrides,
)
from tests.helpers.broken import good_pair, truncated


@pytest.mark.slow
def test_a_run_writes_every_output(tmp_path, image_pair):
    results = tmp_path / "results"
    done = run_main(tiny_overrides(*image_pair, results, **{"optimizer.iterations": "5"}))
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(results)
    assert str(run_dir) in done.stdout  # the folder is printed at the end
    assert run_dir.name.endswith("-content-style")

    iterates = sorted(p.name for p in (run_dir / "iterates").iterdir())
    # every save_every=2 iterations, always with iteration 0 and the last one (5)
    assert iterates == [f"iter_{i:06d}.png" for i in (0, 2, 4, 5)]
    final = Image.open(run_dir / "final.png")
    assert final.size == (48, 36) and final.mode == "RGB"
    first = Image.open(run_dir / "iterates" / "iter_000000.png")
    assert first.size == final.size

    with open(run_dir / "losses.csv", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == LOSS_COLUMNS
    assert [int(r[0]) for r in rows[1:]] == list(range(6))
    assert all(math.isfinite(float(v)) for r in rows[1:] for v in r)
    elapsed = [float(r[5]) for r in rows[1:]]
    assert elapsed == sorted(elapsed)

    for name in ("content_loss", "style_loss", "total_loss", "losses"):
        plot = Image.open(run_dir / "plots" / f"{name}.png")
        assert plot.size[0] > 300

    # the saved settings are complete and reproduce the run's settings
    saved = load_settings(run_dir / "config.ini")
    assert saved.optimizer.iterations == 5
    assert saved.image.max_size == 48
    assert saved.paths.content_image == image_pair[0]
    assert not list(run_dir.rglob(".*.tmp"))  # no temporary files left behind


@pytest.mark.slow
def test_second_run_makes_a_second_folder(tmp_path, image_pair):
    results = tmp_path / "results"
    args = tiny_overrides(*image_pair, results, **{"optimizer.iterations": "1"})
    assert run_main(args).returncode == 0
    assert run_main(args).returncode == 0
    assert len([p for p in results.iterdir() if p.is_dir()]) == 2


@pytest.mark.slow
def test_run_from_a_saved_config_reproduces_it(tmp_path, image_pair):
    results = tmp_path / "results"
    assert run_main(tiny_overrides(*image_pair, results)).returncode == 0
    first = only_run_dir(results)
    again = run_main(["--config", str(first / "config.ini")])
    assert again.returncode == 0, again.stderr
    second = next(p for p in results.iterdir() if p.is_dir() and p != first)
    with open(first / "losses.csv") as a, open(second / "losses.csv") as b:
        losses_a = [r.split(",")[1:5] for r in a.read().splitlines()]
        losses_b = [r.split(",")[1:5] for r in b.read().splitlines()]
    assert losses_a == losses_b  # same seed, same settings: the same numbers


def test_bad_setting_is_one_line_exit_2_no_traceback(tmp_path, image_pair):
    done = run_main(tiny_overrides(*image_pair, tmp_path / "r", **{"loss.style_weight": "lots"}))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "[loss] style_weight = 'lots'" in done.stderr
    assert not (tmp_path / "r").exists()  # nothing made for a run that cannot start


def test_missing_image_is_exit_2(tmp_path, image_pair):
    done = run_main(tiny_overrides(tmp_path / "nope.jpg", image_pair[1], tmp_path / "r"))
    assert done.returncode == 2
    assert "nope.jpg does not exist" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_noise_and_style_init_run(tmp_path, image_pair):
    for init in ("noise", "style"):
        extra = {"image.init": init, "optimizer.iterations": "1"}
        done = run_main(tiny_overrides(*image_pair, tmp_path / init, **extra))
        assert done.returncode == 0, done.stderr


def test_bad_image_through_the_real_command_line(tmp_path):
    """As a user sees it: a separate process, exit status 2, exactly one line on stderr (the
    image is checked before TensorFlow loads, so there is no start-up chatter either)."""
    _, style = good_pair(tmp_path)
    cut = truncated(tmp_path / "cut.jpg", "JPEG")
    done = run_main(tiny_overrides(cut, style, tmp_path / "r"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("nst: error: ")
    assert "cut.jpg" in done.stderr and "truncated" in done.stderr
    assert done.stdout == ""


@pytest.mark.slow
def test_imagenet_offline_says_what_to_fetch_and_the_alternatives(tmp_path, image_pair):
    """No network: Keras' download of the ImageNet weights fails (simulated with a proxy that
    refuses connections, so the test cannot hang nor download 58 MB where there is a network)."""
    keras_home = tmp_path / "keras_home"
    keras_home.mkdir()
    env = {**os.environ, "KERAS_HOME": str(keras_home), "no_proxy": "", "NO_PROXY": ""}
    env |= {name: "http://127.0.0.1:9" for name in ("https_proxy", "HTTPS_PROXY")}
    args = tiny_overrides(*image_pair, tmp_path / "r", **{"model.weights": "imagenet"})
    done = run_main([*args, "--set", "model.network=vgg16"], env=env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("nst: error:"))
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in line
    assert str(keras_home / "models") in line
    assert "storage.googleapis.com" in line
    assert "weights = random" in line and "[model] weights to the path" in line
    assert no_run_folder(tmp_path / "r")


@pytest.mark.slow
def test_a_complete_run_under_an_ascii_terminal_in_an_odd_folder_exits_0(tmp_path):
    """PYTHONIOENCODING=ascii, a results folder with é and a newline: status 0, one line
    per message; and 16-bit output keeps the float result's finer levels."""
    content = make_image(tmp_path / "content.png", seed=1)
    style = make_image(tmp_path / "style.png", seed=2)
    results = tmp_path / "ré\nsults"
    args = tiny_overrides(content, style, results, **{"output.bit_depth": "16"})
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = run_main(args, env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "UnicodeEncodeError" not in done.stderr
    result = [line for line in done.stdout.splitlines() if line.startswith("nst: result in")]
    assert len(result) == 1 and "r\\xe9\\nsults" in result[0], done.stdout
    assert all(line.startswith("nst: ") for line in done.stdout.splitlines()), done.stdout
    assert "nst: final.png: 16-bit sRGB, 48x36 px, at 300 dpi" in done.stdout
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    final = cv2.imread(str(run_dir / FINAL), cv2.IMREAD_UNCHANGED)
    assert final.dtype == np.uint16 and final.shape == (36, 48, 3)
    assert np.count_nonzero(final % 257) > final.size // 2  # not 8-bit levels scaled up


def headless_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="headless detection is for Linux and the BSDs")
def test_headless_run_writes_the_animation_and_says_why_there_is_no_window(tmp_path, image_pair):
    args = tiny_overrides(*image_pair, tmp_path, **{"output.show_viewer": "true"})
    done = run_main(args, env=headless_env())
    assert done.returncode == 0, done.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    with Image.open(run_dir / ANIMATION) as gif:
        assert gif.n_frames == len(list((run_dir / "iterates").iterdir()))
    notes = [line for line in done.stdout.splitlines() if "viewer" in line]
    assert len(notes) == 2, done.stdout
    assert "no display" in notes[0]
    assert f"python -m nst.cli.viewer {run_dir}" in notes[1]
