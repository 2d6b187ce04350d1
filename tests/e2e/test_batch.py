"""Batches, sweeps and Ray clusters through python main.py --batch / --sweep, as a user runs them:
exit statuses, one-line errors, the grid's folders and sheets."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nst.batch.sweep import SHEET
from nst.settings import load_settings
from tests.helpers import SHALLOW_LAYERS, make_image, run_main, tiny_overrides
from tests.helpers.batch import TINY, read_index, rows


@pytest.mark.slow
def test_an_unreadable_image_fails_its_item_only(tmp_path):
    (tmp_path / "contents").mkdir()
    make_image(tmp_path / "contents" / "good.png", seed=1)
    (tmp_path / "contents" / "broken.png").write_bytes(b"not a png")
    style = make_image(tmp_path / "style.png", seed=2)
    sets = [
        f"paths.content_image={tmp_path / 'contents'}",
        f"paths.style_image={style}",
        f"paths.results_dir={tmp_path / 'results'}",
        *TINY,
    ]
    done = run_main(["--batch", "mine", *(a for s in sets for a in ("--set", s))])
    assert done.returncode == 2, done.stderr
    assert "nst: error: 1 of 2 items failed; see " in done.stderr
    table = rows(tmp_path / "results" / "batch-mine")
    assert [r["status"] for r in table] == ["failed", "done"]
    assert "broken.png" in table[0]["message"] and table[0]["message"].startswith("error: ")


def test_a_folder_without_images_is_one_line_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    done = run_main(
        [
            "--batch",
            "--set",
            f"paths.content_image={tmp_path / 'empty'}",
            "--set",
            "model.weights=random",
        ]
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("nst: error: [paths] content_image = ") and "no images there" in line


@pytest.mark.slow
def test_sweep_through_main_runs_the_grid_and_draws_the_sheet(tmp_path, image_pair):
    content, style = image_pair
    second = make_image(tmp_path / "second.png", 40, 40, seed=3)
    results = tmp_path / "results"
    args = tiny_overrides(
        content, style, results, **SHALLOW_LAYERS, **{"optimizer.iterations": "1"}
    )
    args += ["--sweep", "loss.style_weight=1e2,1e4"]
    args += ["--sweep", f"paths.style_image={style};{style},{second}"]
    done = run_main(args)
    assert done.returncode == 0, done.stderr
    (sweep_dir,) = results.iterdir()
    assert str(sweep_dir / SHEET) in done.stdout
    assert "viewer off" not in done.stdout  # a sweep run is no single run: no viewer line
    rows = read_index(sweep_dir)
    assert len(rows) == 4
    for row in rows:  # every run is a normal run folder with its own settings
        settings = load_settings(sweep_dir / row["run"] / "config.ini")
        assert settings.loss.style_weight == float(row["loss.style_weight"])
        assert len(settings.paths.style_image) == 1 + ("," in row["paths.style_image"])
        assert Image.open(sweep_dir / row["run"] / "final.png").size == (48, 36)
    assert rows[1]["run"].endswith("-content-style+1")
    sheet = np.asarray(Image.open(sweep_dir / SHEET))
    assert sheet.shape[0] > 2 * 128 and sheet.shape[1] > 2 * 128  # a 2 x 2 grid of cells
