"""Our L-BFGS (nst.core.lbfgs) on NumPy problems against SciPy's L-BFGS-B: the same minimum in a
box, the bounds kept, deterministic, and a state saved anywhere continues identically; and the
loop's L-BFGS records: evaluations counted, stops and non-finite values, real-weights descent."""

from __future__ import annotations

import dataclasses
import io
import threading

import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import Bounds, minimize

from nst.core import lbfgs
from nst.core.optimize import (
    ScaleRun,
    lbfgs_records,
    stylize,
)
from nst.core.records import Diverged
from nst.output.checkpoint import LoopState, read_checkpoint, to_bytes
from nst.output.runfolder import CHECKPOINT
from tests.helpers import (
    loop_inputs,
    loop_recipe,
    needs_vgg16,
    pixels,
    pooled_extractor,
    real_vgg16_run,
    shallow_settings,
)


def quadratic(n: int = 20, seed: int = 0):
    """½ xᵀQx − bᵀx, Q positive definite, its minimum partly outside the box [-1, 2]."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    q, b = a @ a.T + np.eye(n), 30 * rng.normal(size=n)
    return lambda x: (0.5 * x @ q @ x - b @ x, q @ x - b)


def rosenbrock(x: np.ndarray):
    """Σ 100 (x_i+1 − x_i²)² + (1 − x_i)² and its gradient."""
    f = np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    g = np.zeros_like(x)
    g[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return f, g


def run(function, state: lbfgs.State, evaluations: int, points: list | None = None):
    """Ask and tell up to `evaluations` times; the last state."""
    for _ in range(evaluations):
        if state.done:
            break
        x = lbfgs.ask(state)
        if points is not None:
            points.append(x)
        state = lbfgs.tell(state, *function(x))
    return state


def scipy(function, x0: np.ndarray, lower: float, upper: float):
    options = {"maxfun": 3000, "maxiter": 3000, "ftol": 0, "gtol": 0}
    bounds = Bounds(lower, upper)
    return minimize(function, x0, jac=True, method="L-BFGS-B", bounds=bounds, options=options)


PROBLEMS = {
    "quadratic in [-1, 2]": (quadratic(), np.zeros(20), -1.0, 2.0),
    "Rosenbrock in [-2, 0.5]": (rosenbrock, np.full(10, -1.0), -2.0, 0.5),
    "Rosenbrock, bounds far": (rosenbrock, np.full(10, -1.2), -5.0, 5.0),
}


@pytest.mark.parametrize("name", PROBLEMS)
def test_reaches_scipys_minimum_inside_the_bounds(name):
    function, x0, lower, upper = PROBLEMS[name]
    points: list = []
    state = run(function, lbfgs.start(x0, lower, upper), 3000, points)
    theirs = scipy(function, x0, lower, upper)
    assert state.done  # it ends on its own: no step lowers the objective
    np.testing.assert_allclose(state.x, theirs.x, atol=1e-5)
    assert state.f <= theirs.fun + 1e-9 * abs(theirs.fun)
    assert all(lower <= p.min() and p.max() <= upper for p in points)
    if name != "Rosenbrock, bounds far":  # the box matters: some variables end on it
        assert np.isin(state.x, (lower, upper)).any()


def test_deterministic_and_the_objective_never_rises():
    function, x0, lower, upper = PROBLEMS["Rosenbrock in [-2, 0.5]"]
    first, second = ([], [])
    a = run(function, lbfgs.start(x0, lower, upper), 60, first)
    b = run(function, lbfgs.start(x0, lower, upper), 60, second)
    assert np.array_equal(np.array(first), np.array(second)) and a.f == b.f
    accepted = [lbfgs.start(x0, lower, upper)]
    for _ in range(60):
        accepted.append(run(function, accepted[-1], 1))
    values = [s.f for s in accepted[1:]]
    assert values == sorted(values, reverse=True)  # accepted points only go down


def through_checkpoint(state: lbfgs.State, tmp_path) -> lbfgs.State:
    """`state` in a checkpoint file's bytes and back."""
    loop = LoopState(1, state.evaluations, np.zeros((2, 2, 3), np.float32), (), 0.0, lbfgs=state)
    (tmp_path / CHECKPOINT).write_bytes(to_bytes(loop, "lbfgs"))
    return read_checkpoint(tmp_path, "lbfgs").lbfgs


@pytest.mark.parametrize("stop", [0, 1, 7, 23])  # before the start, in the first search, later
def test_a_state_through_the_checkpoint_bytes_continues_identically(tmp_path, stop):
    function, x0, lower, upper = PROBLEMS["Rosenbrock in [-2, 0.5]"]
    whole: list = []
    run(function, lbfgs.start(x0, lower, upper), 40, whole)
    points: list = []
    halfway = run(function, lbfgs.start(x0, lower, upper), stop, points)
    restored = through_checkpoint(halfway, tmp_path)
    assert (restored.evaluations, restored.phase) == (halfway.evaluations, halfway.phase)
    run(function, restored, 40 - stop, points)
    assert np.array_equal(np.array(points), np.array(whole))


def test_round_trip_keeps_every_field(tmp_path):
    function, x0, lower, upper = PROBLEMS["quadratic in [-1, 2]"]
    state = run(function, lbfgs.start(x0, lower, upper), 15)
    assert state.s and state.phase == lbfgs.SEARCH
    restored = through_checkpoint(state, tmp_path)
    for field in dataclasses.fields(lbfgs.State):
        mine, theirs = getattr(state, field.name), getattr(restored, field.name)
        if field.name in ("s", "y"):
            assert len(mine) == len(theirs)
            assert all(np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True))
        elif isinstance(mine, np.ndarray):
            assert np.array_equal(mine, theirs) and theirs.dtype == np.float64
        else:
            assert mine == theirs and type(mine) is type(theirs), field.name


def test_asking_a_done_state_is_an_error():
    state = lbfgs.start(np.zeros(3), 0.0, 1.0)
    state = lbfgs.tell(state, 0.0, np.ones(3))  # at the lower bound, the gradient points out
    assert state.done
    with pytest.raises(ValueError, match="done"):
        lbfgs.ask(state)


def test_to_arrays_is_plain_arrays():
    state = run(PROBLEMS["quadratic in [-1, 2]"][0], lbfgs.start(np.zeros(20), -1, 2), 9)
    buffer = io.BytesIO()
    np.savez(buffer, **lbfgs.to_arrays(state))  # no pickled objects
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as data:
        assert lbfgs.from_arrays(data).evaluations == 9


# --- the loop's L-BFGS (nst.core.optimize.lbfgs_records) on a random or stand-in network ---


def scale_run(budget: int, save_every: int) -> ScaleRun:
    return ScaleRun(1, budget, save_every, clock=lambda: 0.0, stop_requested=lambda: False)


def test_lbfgs_counts_evaluations_and_keeps_pixels_valid(tiny_problem):
    _, _, content, _, targets, objective = tiny_problem
    records = list(
        lbfgs_records(objective, tf.function(objective), targets, content, scale_run(6, 1))
    )
    assert [r.iteration for r in records] == list(range(7))  # 6 evaluations and the result
    assert all(r.image is not None for r in records)  # save_every = 1
    assert all(r.image.min() >= 0 and r.image.max() <= 255 for r in records)
    assert records[-1].total < records[0].total


def test_closing_lbfgs_early_ends_it_in_this_thread(tiny_problem):
    _, _, content, _, targets, objective = tiny_problem
    threads = threading.active_count()
    records = lbfgs_records(objective, tf.function(objective), targets, content, scale_run(50, 10))
    assert next(records).iteration == 0
    assert next(records).iteration == 1
    assert threading.active_count() == threads  # no worker thread: the loop is the generator
    records.close()
    with pytest.raises(StopIteration):
        next(records)


def test_lbfgs_stop_request_ends_with_an_image():
    settings = shallow_settings("optimizer.name=lbfgs", "optimizer.iterations=20")
    records: list = []
    loop = stylize(
        pooled_extractor(), loop_inputs(pixels(1), pixels(2)), loop_recipe(settings, 50),
        stop_requested=lambda: len(records) == 3,
    )  # fmt: skip
    records.extend(loop)
    assert [r.iteration for r in records] == [0, 1, 2, 3]
    assert records[-1].image is not None and np.isfinite(records[-1].total)
    assert records[-1].stopped == "asked"


def test_lbfgs_non_finite_evaluation_keeps_the_last_accepted_image_and_raises():
    settings = shallow_settings("optimizer.name=lbfgs", "optimizer.iterations=20")
    records: list = []
    loop = stylize(
        pooled_extractor(poison_after_calls=5), loop_inputs(pixels(1), pixels(2)),
        loop_recipe(settings, 50),
    )  # fmt: skip
    with pytest.raises(Diverged) as diverged:
        for record in loop:
            records.append(record)
    assert diverged.value.record is records[-1]
    assert not np.isfinite(records[-1].total)
    image = records[-1].image
    assert image is not None and np.isfinite(image).all() and image.shape == (16, 16, 3)


@pytest.mark.slow
@needs_vgg16
def test_lbfgs_lowers_the_objective_with_real_weights():
    records = real_vgg16_run(64, "optimizer.name=lbfgs", "optimizer.iterations=15", save_every=5)
    first, last = records[0], records[-1]
    assert len(records) == 16
    assert all(np.isfinite([r.content, r.style, r.total]).all() for r in records)
    assert last.total < 0.5 * first.total, (first.total, last.total)
    assert last.style < 0.5 * first.style


@pytest.mark.slow
@needs_vgg16
def test_lbfgs_keeps_descending_at_a_small_style_weight():
    """At style_weight 1 the objective is small (< 1): L-BFGS must neither stop on SciPy's
    tolerances nor stall in bfloat16 noise (at 128 px it did, after 17 evaluations)."""
    overrides = ("optimizer.name=lbfgs", "optimizer.iterations=30", "loss.style_weight=1")
    overrides += ("optimizer.tolerance=0",)  # the whole budget, whatever the stopping rule
    records = real_vgg16_run(128, *overrides)
    first, last = records[0], records[-1]
    assert len(records) == 31  # the whole budget was spent
    assert first.total < 1.5
    assert last.total < 0.8 * first.total, (first.total, last.total)
    assert last.style < 0.8 * first.style, (first.style, last.style)
