"""Coarse to fine: the sizes of the scales, the iterations each gets, and a run that writes
every scale's iterates and losses (in-process through main.main)."""

from __future__ import annotations

import csv
import math

import pytest

from nst.core.scales import scale_budgets, scale_sizes
from nst.output.evolution import run_frames
from nst.settings import SettingsError, load_settings
from tests.helpers import (
    LOSS_COLUMNS,
    call_main,
    only_run_dir,
    tiny_overrides,
)


def test_scale_sizes_shrink_by_the_factor_down_to_a_floor():
    assert scale_sizes(384, 512, 1, 2.0) == [(384, 512)]
    assert scale_sizes(384, 512, 3, 2.0) == [(96, 128), (192, 256), (384, 512)]
    assert scale_sizes(48, 64, 3, 2.0) == [(32, 43), (32, 43), (48, 64)]  # never below 32 px


def test_iterations_per_scale():
    three = ("optimizer.coarse_iterations=50, 20", "image.scales=3", "optimizer.iterations=120")
    optimizer = load_settings(None, (*three, "optimizer.iterations_decay=1")).optimizer
    assert scale_budgets(optimizer, 3) == [50, 20, 120]
    one = load_settings(None, ("optimizer.coarse_iterations=7",)).optimizer
    assert scale_budgets(one, 2) == [7, one.iterations]  # the full size: iterations
    with pytest.raises(SettingsError, match=r"\[optimizer\] coarse_iterations = '50, 20'"):
        load_settings(None, ("optimizer.coarse_iterations=50, 20", "image.scales=2"))


def test_each_scale_beyond_the_second_takes_fewer_steps():
    decayed = ("optimizer.iterations=100", "optimizer.iterations_decay=0.5")
    optimizer = load_settings(None, (*decayed, "optimizer.coarse_iterations=40")).optimizer
    assert [scale_budgets(optimizer, n)[-1] for n in (1, 2, 3, 4, 5)] == [100, 100, 50, 25, 12]
    # a smaller scale beyond the second shrinks as the full size would in its place
    assert scale_budgets(optimizer, 4) == [40, 40, 20, 25]
    assert scale_budgets(optimizer, 5) == [40, 40, 20, 10, 12]
    given = ("optimizer.coarse_iterations=50, 20, 16", "optimizer.iterations_decay=0.5")
    assert scale_budgets(load_settings(None, given).optimizer, 4) == [50, 20, 8, 25]
    tiny = load_settings(None, ("optimizer.iterations=1", "optimizer.iterations_decay=0.1"))
    assert scale_budgets(tiny.optimizer, 6)[-1] == 1  # never below one step
    with pytest.raises(SettingsError, match=r"\[optimizer\] iterations_decay = '0'"):
        load_settings(None, ("optimizer.iterations_decay=0",))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lbfgs", "adam"])
def test_coarse_to_fine_run_writes_every_scale(tmp_path, image_pair, name, capsys):
    results = tmp_path / "results"
    extra = {
        "optimizer.name": name,
        "image.scales": "2",
        "optimizer.coarse_iterations": "3",
        "optimizer.iterations": "4",
    }
    status, _, err = call_main(capsys, tiny_overrides(*image_pair, results, **extra))
    assert status == 0, err
    run_dir = only_run_dir(results)
    iterates = sorted(p.name for p in (run_dir / "iterates").iterdir())
    # the smaller scale's iterates carry its number; the full size keeps the plain names
    assert iterates == [
        *(f"iter_{i:06d}.png" for i in (0, 2, 4)),
        *(f"scale1_iter_{i:06d}.png" for i in (0, 2, 3)),
    ]
    with open(run_dir / "losses.csv", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == LOSS_COLUMNS
    scale = rows[0].index("scale")
    labels = [(int(r[scale]), int(r[0])) for r in rows[1:]]
    assert labels == [(1, i) for i in range(4)] + [(2, i) for i in range(5)]
    assert all(math.isfinite(float(v)) for r in rows[1:] for v in r)
    elapsed = [float(r[5]) for r in rows[1:]]
    assert elapsed == sorted(elapsed)
    assert (run_dir / "final.png").is_file() and (run_dir / "plots" / "losses.png").is_file()
    # the viewer shows the full-size iterates, each with its full-size losses
    frames = run_frames(run_dir)
    assert [f.iteration for f in frames] == [0, 2, 4]
    assert all(f.losses["scale"] == 2 for f in frames)
