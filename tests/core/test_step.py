"""L-BFGS, coarse-to-fine scales and the lean step (issue 5), at tiny size."""

from __future__ import annotations

import csv
import dataclasses
import math
import subprocess
import sys
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from nst.cli.allocator import MARK, OFF_SWITCH, find_tcmalloc, preload_environment
from nst.core.features import build_feature_extractor
from nst.core.objective import build_terms, make_objective, signature, tensors
from nst.core.optimize import (
    ScaleRun,
    lbfgs_records,
    make_step,
    make_value_and_gradient,
    stylize,
)
from nst.core.records import Diverged
from nst.core.scales import scale_budgets, scale_sizes
from nst.output.evolution import run_frames
from nst.settings import SettingsError, load_settings
from tests.helpers import (
    LOSS_COLUMNS,
    ROOT,
    loop_inputs,
    needs_vgg16,
    only_run_dir,
    pixels,
    pooled_extractor,
    real_vgg16_run,
    run_main,
    shallow_settings,
    tiny_overrides,
    with_save_every,
)


@pytest.fixture(scope="module")
def tiny_problem():
    """A random VGG16, two 40×32 images, the targets and the objective."""
    model = ("model.network=vgg16", "model.weights=random", "model.precision=float32")
    settings = load_settings(None, model)
    extractor = build_feature_extractor(settings.model)
    rng = np.random.default_rng(0)
    content, style = (rng.uniform(0, 255, (32, 40, 3)).astype(np.float32) for _ in range(2))
    targets = build_terms(extractor, content, (style,), settings.model, settings.loss)
    objective = make_objective(extractor, signature(targets))
    return settings, extractor, content, style, targets, objective


@pytest.mark.parametrize("name", ["lbfgs", "adam"])
def test_coarse_to_fine_run_writes_every_scale(tmp_path, image_pair, name):
    results = tmp_path / "results"
    extra = {
        "optimizer.name": name,
        "image.scales": "2",
        "optimizer.coarse_iterations": "3",
        "optimizer.iterations": "4",
    }
    done = run_main(tiny_overrides(*image_pair, results, **extra))
    assert done.returncode == 0, done.stderr
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


def scale_run(budget: int, save_every: int) -> ScaleRun:
    return ScaleRun(1, budget, save_every, clock=lambda: 0.0, stop_requested=lambda: False)


def test_scale_sizes_shrink_by_the_factor_down_to_a_floor():
    assert scale_sizes(384, 512, 1, 2.0) == [(384, 512)]
    assert scale_sizes(384, 512, 3, 2.0) == [(96, 128), (192, 256), (384, 512)]
    assert scale_sizes(48, 64, 3, 2.0) == [(32, 43), (32, 43), (48, 64)]  # never below 32 px


def test_iterations_per_scale():
    three = ("optimizer.coarse_iterations=50, 20", "image.scales=3")
    optimizer = load_settings(None, three).optimizer
    assert scale_budgets(optimizer, 3) == [50, 20, 300]
    one = load_settings(None, ("optimizer.coarse_iterations=7",)).optimizer
    assert scale_budgets(one, 3) == [7, 7, 300]
    with pytest.raises(SettingsError, match=r"\[optimizer\] coarse_iterations = '50, 20'"):
        load_settings(None, ("optimizer.coarse_iterations=50, 20", "image.scales=2"))


def test_no_retracing_across_steps(tiny_problem):
    _, _, content, _, targets, objective = tiny_problem
    generated = tf.Variable(content[None])
    adam = keras.optimizers.Adam(learning_rate=5.0)
    adam.build([generated])
    step = make_step(objective, adam)
    averaged = tf.Variable(tf.zeros_like(generated))
    for decay in (0.9, 0.5, 0.0, 0.9):  # a new average each step: an input, not a constant
        step((generated,), averaged, tensors(targets), tf.constant(decay))
    assert step.experimental_get_tracing_count() == 1
    value_and_gradient = make_value_and_gradient(objective)
    for shift in range(3):  # a new image each time, as L-BFGS hands over
        value_and_gradient(tf.constant(content[None] + shift), tensors(targets))
    assert value_and_gradient.experimental_get_tracing_count() == 1


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


@needs_vgg16
def test_lbfgs_lowers_the_objective_with_real_weights():
    records = real_vgg16_run(64, "optimizer.name=lbfgs", "optimizer.iterations=15", save_every=5)
    first, last = records[0], records[-1]
    assert len(records) == 16
    assert all(np.isfinite([r.content, r.style, r.total]).all() for r in records)
    assert last.total < 0.5 * first.total, (first.total, last.total)
    assert last.style < 0.5 * first.style


def test_allocator_preload_environment(tmp_path):
    library = str(tmp_path / "libtcmalloc_minimal.so.4")
    env = preload_environment({"LD_PRELOAD": "libother.so"}, library)
    assert env["LD_PRELOAD"] == f"{library} libother.so" and env[MARK] == "1"
    assert preload_environment({}, None) is None  # not installed: run as is
    assert preload_environment({MARK: "1"}, library) is None  # re-executed once only
    assert preload_environment({OFF_SWITCH: "1"}, library) is None  # the off switch
    assert preload_environment({"LD_PRELOAD": library}, library) is None
    (tmp_path / "libtcmalloc_minimal.so.4").write_bytes(b"")
    assert find_tcmalloc(("/nonexistent/lib.so", library)) == library


def test_bfloat16_features_are_float32_and_close(tiny_problem):
    settings, extractor, content, *_ = tiny_problem
    fast = build_feature_extractor(dataclasses.replace(settings.model, precision="bfloat16"))
    exact = extractor(tf.constant(content[None]))
    rough = fast(tf.constant(content[None]))
    for name, features in exact.items():
        assert rough[name].dtype == tf.float32
        error = tf.norm(rough[name] - features) / tf.norm(features)
        assert error < 0.05, (name, float(error))


@needs_vgg16
def test_bfloat16_run_starts_at_zero_content_loss():
    """The content target is the content image's features as the loop computes them: in
    bfloat16, eager and graph execution round differently (measured with eagerly computed
    targets: a content loss of 0.11 at iteration 0 at 48 px, 2.6 at 256 px). With random
    weights the two paths happen to agree, hence the real network."""
    overrides = ("model.precision=bfloat16", "optimizer.iterations=1")
    first = real_vgg16_run(48, *overrides, save_every=1)[0]
    assert first.iteration == 0 and first.content == 0.0, first.content


def test_bench_quick_prints_its_table(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],  # not the checkout
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("|")]
    sections = {line.split("|")[1].strip() for line in table[2:]}
    assert sections == {"machine", "step cost", "user", "FLOPs", "memory", "quality"}
    assert any("ratio" in line for line in table)


def test_lbfgs_stop_request_ends_with_an_image():
    settings = shallow_settings("optimizer.name=lbfgs", "optimizer.iterations=20")
    records: list = []
    loop = stylize(
        pooled_extractor(), loop_inputs(pixels(1), pixels(2)), with_save_every(settings, 50),
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
        with_save_every(settings, 50),
    )  # fmt: skip
    with pytest.raises(Diverged) as diverged:
        for record in loop:
            records.append(record)
    assert diverged.value.record is records[-1]
    assert not np.isfinite(records[-1].total)
    image = records[-1].image
    assert image is not None and np.isfinite(image).all() and image.shape == (16, 16, 3)


def test_auto_precision_is_float32_for_lbfgs():
    """L-BFGS's line search needs exact objective values: auto never picks bfloat16 for it."""
    from nst.core.features import compute_dtype, native_bfloat16

    assert compute_dtype("auto", "lbfgs") == "float32"
    assert compute_dtype("bfloat16", "lbfgs") == "bfloat16"  # asked for explicitly: kept
    native = "bfloat16" if native_bfloat16() else "float32"
    assert compute_dtype("auto", "adam") == native  # Adam: bfloat16 where the CPU has it


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


@needs_vgg16
def test_default_adam_reaches_in_a_fifth_of_the_steps_what_the_tutorial_optimiser_does(
    tmp_path,
):
    """Issue 5's time-to-quality target, counted in steps at 64 px (the benchmark times it at
    512): the tutorial's optimiser (Adam 0.02 / 0.99 / 0.1 on a 0..1 image) runs 250 steps on
    our default objective; our default Adam must reach its style loss, with a content loss at
    most 10 % above its, within 50 steps, judged in float32 as the benchmark judges."""
    from bench.quality import make_judge, reference_run, time_to_bar
    from nst.inputs.images import load_pair
    from nst.run.process import build_extractor
    from tests.helpers import SHARED_IMAGES, VGG16_WEIGHTS

    network = ("model.network=vgg16", f"model.weights={VGG16_WEIGHTS}")
    float32 = load_settings(None, (*network, "model.precision=float32"))
    judge_net = build_feature_extractor(float32.model)
    content, style = load_pair(
        SHARED_IMAGES / "tubingen.jpg", SHARED_IMAGES / "starry_night.jpg", 64
    )
    bar = reference_run(judge_net, content, style, float32.model, float32.loss, 250, tmp_path)
    judge = make_judge(judge_net, content, style, float32.model, float32.loss)
    # the same start as the reference run, and the whole budget: optimiser against optimiser
    start = ("image.init=content", "optimizer.tolerance=0")
    ours = load_settings(None, (*network, "optimizer.iterations=50", *start))
    ours = with_save_every(ours, 1)
    records = stylize(build_extractor(ours), loop_inputs(content, style), ours)
    seconds, record, _ = time_to_bar(records, judge, bar, full_scale=1)
    assert seconds is not None, (bar, judge(record.image))  # measured: reached at step 30
