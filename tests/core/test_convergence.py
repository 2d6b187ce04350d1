"""The stopping rule, the averaged Adam iterate, automatic scales (tiny, seconds)."""

from __future__ import annotations

import numpy as np
import pytest

from nst.core.convergence import BUDGET, CONVERGED, Averaging, StoppingRule
from nst.core.optimize import stylize
from nst.core.scales import automatic_scales, run_plan
from nst.settings import load_settings
from tests.helpers import (
    call_main,
    loop_inputs,
    loop_recipe,
    only_run_dir,
    pixels,
    pooled_extractor,
    shallow_settings,
    tiny_overrides,
)


def test_rule_stops_on_a_plateau_and_not_while_improving():
    plateau = StoppingRule(window=3, tolerance=0.01)
    decisions = [plateau.observe(v) for v in (10.0, 5.0, 4.0, 3.99, 3.985, 3.984)]
    assert decisions == [False, False, False, False, False, True]
    falling = StoppingRule(window=3, tolerance=0.01)
    assert not any(falling.observe(100.0 * 0.9**k) for k in range(200))  # 10 % a step
    off = StoppingRule(window=3, tolerance=0.0)
    assert not any(off.observe(1.0) for _ in range(20))  # tolerance 0: the whole budget


def test_rule_does_not_stop_while_the_scale_is_worse_than_its_start():
    """At a finer scale Adam's first steps can leave the picture worse than the enlarged one
    it started from for longer than a window (at 2048 px: 21 steps, and the rule as it was
    then ended the scale with a speckled picture): the window counts from the first step
    below the start."""
    rule = StoppingRule(window=3, tolerance=0.01)
    totals = (1.0, 1.5, 1.4, 1.3, 1.2, 1.1, 1.05, 0.9, 0.8, 0.7, 0.69, 0.689, 0.6889, 0.688)
    decisions = [rule.observe(v) for v in totals]
    # the best stayed at the start, 1.0, over steps 0-3: without the condition, True at 3
    assert decisions.index(True) == 13  # 0.69 -> 0.688 over the window from step 10
    never = StoppingRule(window=3, tolerance=0.01)
    assert not any(never.observe(v) for v in (1.0, *[1.2] * 30))  # never below its start
    optimal = StoppingRule(window=3, tolerance=0.01)  # a start at 0: nothing to beat
    assert [optimal.observe(v) for v in (1e-16, 1e-14, 1e-12, 1e-10)] == [False] * 3 + [True]


def test_rule_ignores_uphill_trials_and_non_finite_values():
    rule = StoppingRule(window=2, tolerance=0.01)
    for value in (10.0, 20.0, float("nan"), 5.0):  # an L-BFGS line search overshooting
        rule.observe(value)
    assert rule.best == [10.0, 10.0, 10.0, 5.0]
    assert not rule.converged


def test_averaging_correction_makes_a_mean():
    averaging = Averaging(decay=0.9)
    total = 0.0
    for _ in range(5):  # a constant iterate x = 7: its average must be 7 from the first step
        total = 0.9 * total + 0.1 * 7.0
        averaging.updates += 1
        assert total * averaging.correction() == pytest.approx(7.0)


def loop(*overrides: str, content_seed: int = 1, **kwargs) -> list:
    recipe = loop_recipe(shallow_settings(*overrides), 1)
    inputs = loop_inputs(pixels(content_seed), pixels(2))
    return list(stylize(pooled_extractor(), inputs, recipe, **kwargs))


def test_adam_stops_a_converged_problem_before_its_budget():
    """Started at its optimum (the content image, no style term): nothing to improve."""
    overrides = ("optimizer.iterations=100", "optimizer.window=5", "loss.style_weight=0")
    overrides += ("loss.tv_weight=0",)  # no smoothness term either: nothing pulls away
    records = loop(*overrides, "image.init=content")
    assert len(records) < 100 and records[-1].stopped == CONVERGED
    assert records[-1].why_stopped == f"converged at step {records[-1].iteration}"
    assert records[-1].image is not None and records[-1].iteration == 6


def test_adam_does_not_stop_a_problem_still_improving():
    overrides = ("optimizer.iterations=40", "optimizer.window=5", "optimizer.tolerance=0.001")
    records = loop(*overrides, "optimizer.learning_rate=0.5", "image.init=noise")
    totals = [r.total for r in records]
    assert totals[-1] < 0.9 * totals[0]  # still falling at the end: the budget ends it
    assert len(records) == 41 and records[-1].stopped == BUDGET


def test_lbfgs_stops_a_converged_problem_before_its_budget():
    records = loop(
        "optimizer.name=lbfgs",
        "optimizer.iterations=100",
        "optimizer.window=5",
        "loss.style_weight=0",
        "image.init=content",
    )
    assert len(records) < 20 and records[-1].stopped == CONVERGED


@pytest.mark.parametrize("average", ["0", "0.9"])
def test_averaged_adam_is_deterministic_under_a_seed(average):
    overrides = ("optimizer.iterations=12", f"optimizer.average={average}", "image.init=noise")
    first, second = loop(*overrides), loop(*overrides)
    for a, b in zip(first, second, strict=True):
        assert a.losses == b.losses
        np.testing.assert_array_equal(a.image, b.image)
    other = loop(*overrides, "image.seed=1")
    assert other[-1].total != first[-1].total


def test_average_is_the_mean_of_the_last_iterates():
    """The averaged picture is smoother in time: closer to the iterates' mean than the last
    iterate is, and the same as the last iterate with average = 0."""
    overrides = ("optimizer.iterations=12", "image.init=noise", "optimizer.tolerance=0")
    plain = loop(*overrides, "optimizer.average=0")
    averaged = loop(*overrides, "optimizer.average=0.5")
    iterates = [r.image for r in plain[1:-1]]  # after 1..11 updates; the last is the 12th
    weights = 0.5 ** np.arange(12)[::-1]  # the 12 iterates, newest weighted 1
    mean = sum(w * x for w, x in zip(weights, [*iterates, plain[-1].image], strict=True))
    np.testing.assert_allclose(averaged[-1].image, mean / weights.sum(), atol=1e-2)


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [(48, 64, 1), (192, 256, 1), (256, 256, 1), (384, 512, 2), (341, 512, 2), (768, 1024, 3),
     (1536, 2048, 4), (512, 40, 1)],
)  # fmt: skip
def test_automatic_scales_start_near_128_to_256_px(height, width, expected):
    assert automatic_scales(height, width, 2.0) == expected
    image = load_settings(None, ("image.scales=auto",)).image
    plan = run_plan(height, width, image, load_settings(None).optimizer)
    assert len(plan) == expected and plan[-1][:2] == (height, width)
    if expected > 1:
        assert 128 <= min(plan[0].height, plan[0].width) <= 256


@pytest.mark.slow
def test_the_run_says_why_it_stopped(tmp_path, image_pair, capsys):
    results = tmp_path / "results"
    extra = {"optimizer.iterations": "40", "optimizer.window": "2", "optimizer.tolerance": "1"}
    status, out, err = call_main(capsys, tiny_overrides(*image_pair, results, **extra))
    assert status == 0, err
    run_dir = only_run_dir(results)
    assert f"nst: result in {run_dir} (converged at step" in out
    assert "scale 1/1 (48x36): converged at step" in err + out  # the bar's line
    _, out, _ = call_main(capsys, tiny_overrides(*image_pair, tmp_path / "other"))
    assert "(budget," in out


def test_the_default_picture_starts_from_seeded_noise_and_is_coarse_to_fine():
    """The defaults retuned at 512 px (bench/results/speed.md): the photo blended with seeded noise,
    a smoothness term, two sizes at 512×384."""
    first, again = loop("optimizer.iterations=3"), loop("optimizer.iterations=3")
    assert first[0].content > 0 and first[0].tv > 0  # not the photo itself; tv counted
    np.testing.assert_array_equal(first[-1].image, again[-1].image)  # seeded
    defaults = load_settings(None)
    plan = run_plan(384, 512, defaults.image, defaults.optimizer)
    assert [scale[:2] for scale in plan] == [(192, 256), (384, 512)]
