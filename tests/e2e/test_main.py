"""main.py as a user runs it, at tiny size with random weights."""

from __future__ import annotations

import csv
import math

from PIL import Image

from nst.settings import load_settings
from tests.helpers import (
    LOSS_COLUMNS,
    only_run_dir,
    run_main,
    tiny_overrides,
)


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


def test_second_run_makes_a_second_folder(tmp_path, image_pair):
    results = tmp_path / "results"
    args = tiny_overrides(*image_pair, results, **{"optimizer.iterations": "1"})
    assert run_main(args).returncode == 0
    assert run_main(args).returncode == 0
    assert len([p for p in results.iterdir() if p.is_dir()]) == 2


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


def test_noise_and_style_init_run(tmp_path, image_pair):
    for init in ("noise", "style"):
        extra = {"image.init": init, "optimizer.iterations": "1"}
        done = run_main(tiny_overrides(*image_pair, tmp_path / init, **extra))
        assert done.returncode == 0, done.stderr
