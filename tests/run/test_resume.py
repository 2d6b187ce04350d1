"""Resuming an interrupted run from its checkpoint: Adam continues the same updates and L-BFGS
the same evaluations (same final image to float tolerance); losses.csv has no gap and no
duplicate; `python main.py --resume` does it from the command line."""

from __future__ import annotations

import csv
import itertools
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst.core.optimize import stylize
from nst.core.pyramid import level_shapes
from nst.core.tilegrid import cores, step_bytes, tile_side
from nst.inputs.images import load_pair
from nst.output.checkpoint import read_checkpoint, to_bytes
from nst.output.runfolder import CHECKPOINT, FINAL, LOSSES_CSV
from nst.run.pipeline import run
from nst.run.process import StopRequest, build_extractor
from nst.run.watchers import Watcher
from tests.helpers import call_main, loop_inputs, loop_recipe, tiny_settings


def stopped_at(k: int):
    """A stop request the consumer sets once record k of the last scale arrives."""
    flag = {"stop": False}

    def consume(records, scales: int):
        for record in records:
            if record.scale == scales and record.iteration == k:
                flag["stop"] = True
            yield record

    return flag, consume


CASES = [
    ((), 1),
    (("image.scales=2", "optimizer.coarse_iterations=3"), 2),
    # the shallow finest scale keeps its anchor (the coarser result) in the checkpoint
    (("image.scales=2", "optimizer.coarse_iterations=3", "image.finest_scale=shallow"), 2),
    # interrupted during the learning rate's warm-up: the resumed steps keep its ramp
    (("image.scales=2", "optimizer.coarse_iterations=3", "optimizer.warmup_steps=8"), 2),
    # and through its annealing: the step size is a function of the step's index
    (
        (
            "image.scales=2",
            "optimizer.coarse_iterations=3",
            "optimizer.warmup_steps=2",
            "optimizer.anneal_to=0.1",
        ),
        2,
    ),
    # the finest pyramid level moving slower (a rate, no state of its own)
    (("image.pyramid_finest_rate=0.5",), 1),
    # the stopping rule's window spans the interruption: it must end at the same step
    (("optimizer.iterations=40", "optimizer.tolerance=0.05", "optimizer.window=3"), 1),
]


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
@pytest.mark.parametrize("extra, scales", CASES)
def test_resumed_from_its_state_ends_in_the_uninterrupted_image(tmp_path, optimizer, extra, scales):
    settings = tiny_settings(tmp_path, f"optimizer.name={optimizer}", *extra)
    content, style = load_pair(settings.paths.content_image, settings.paths.style_image[0], 40)
    inputs, extractor = loop_inputs(content, style), build_extractor(settings)
    whole = list(stylize(extractor, inputs, loop_recipe(settings)))
    if settings.optimizer.tolerance > 0.01:  # the case for the stopping rule: it must act
        assert whole[-1].stopped == "converged" and 8 < whole[-1].iteration < 40, whole[-1]

    states, (flag, consume) = [], stopped_at(3)
    first = list(
        consume(
            stylize(
                extractor,
                inputs,
                loop_recipe(settings),
                stop_requested=lambda: flag["stop"],
                on_state=states.append,
            ),
            scales,
        )
    )
    assert first[-1].iteration == 4 and states[-1].iteration == 4  # stopped before step 5
    assert (states[-1].anchor is not None) == ("image.finest_scale=shallow" in extra)
    if optimizer == "adam":
        # a pyramid's levels, then Adam's step, learning rate and two moments per level
        levels = len(level_shapes(*content.shape[:2], settings.image.pyramid_levels))
        assert len(states[-1].optimizer_variables) == levels + 2 + 2 * levels
    else:  # L-BFGS's own state, its curvature pairs included, through the checkpoint's bytes
        assert states[-1].lbfgs.evaluations == 4
        states[-1] = through_file(tmp_path, states[-1], optimizer)
    rest = list(stylize(extractor, inputs, loop_recipe(settings), resume=states[-1]))
    assert [r.iteration for r in rest] == list(range(4, whole[-1].iteration + 1))
    assert {r.scale for r in rest} == {scales}
    assert (rest[-1].stopped, whole[-1].stopped) == (whole[-1].stopped, whole[-1].stopped)
    np.testing.assert_allclose(rest[-1].image, whole[-1].image, atol=1e-3)
    np.testing.assert_allclose(rest[-1].total, whole[-1].total, rtol=1e-5)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_a_run_resumed_past_a_smaller_budget_ends_at_once(tmp_path, optimizer):
    """A run folder from before a budget shrank (a new default such as iterations_decay, or a
    smaller `iterations`) resumed past the new budget: its picture is the result, no endless
    loop waiting for the step count to equal the budget."""
    settings = tiny_settings(tmp_path, f"optimizer.name={optimizer}", "optimizer.iterations=8")
    content, style = load_pair(settings.paths.content_image, settings.paths.style_image[0], 40)
    inputs, extractor = loop_inputs(content, style), build_extractor(settings)
    states, (flag, consume) = [], stopped_at(5)
    run = stylize(
        extractor, inputs, loop_recipe(settings), stop_requested=lambda: flag["stop"],
        on_state=states.append,
    )  # fmt: skip
    list(consume(run, 1))
    assert states[-1].iteration == 6
    smaller = tiny_settings(tmp_path, f"optimizer.name={optimizer}", "optimizer.iterations=3")
    rest = list(
        itertools.islice(stylize(extractor, inputs, loop_recipe(smaller), resume=states[-1]), 5)
    )
    assert [(r.iteration, r.stopped) for r in rest] == [(6, "budget")]
    assert rest[-1].image is not None


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_a_tiled_run_resumed_at_a_step_ends_in_the_uninterrupted_image(tmp_path, optimizer):
    """A scale over tiles (a memory budget below the whole step's) interrupted between two
    steps, its state through the checkpoint file, resumed: the uninterrupted tiled run's image."""
    settings = tiny_settings(tmp_path, f"optimizer.name={optimizer}", "image.max_size=72")
    content, style = load_pair(settings.paths.content_image, settings.paths.style_image[0], 72)
    height, width = content.shape[:2]
    budget = step_bytes(settings.model, 40, 40)
    tiles = len(cores(height, width, tile_side(settings.model, height, width, budget)))
    assert tiles > 1
    inputs, extractor = loop_inputs(content, style), build_extractor(settings)

    def tiled(**kwargs):
        return stylize(extractor, inputs, loop_recipe(settings), memory_budget=budget, **kwargs)

    whole = list(tiled())
    assert {r.tiles for r in whole} == {tiles}
    states, (flag, consume) = [], stopped_at(3)
    list(consume(tiled(stop_requested=lambda: flag["stop"], on_state=states.append), 1))
    state = through_file(tmp_path, states[-1], optimizer)
    rest = list(tiled(resume=state))
    assert [r.iteration for r in rest] == list(range(4, whole[-1].iteration + 1))
    np.testing.assert_allclose(rest[-1].image, whole[-1].image, atol=1e-3)
    np.testing.assert_allclose(rest[-1].total, whole[-1].total, rtol=1e-5)


def test_a_stop_during_a_tiled_step_is_honoured_at_the_next_tile(tmp_path):
    """Asked while step 1 runs over its tiles, the run ends without finishing that step: its
    last record is iteration 1 (one update), where an untiled run would finish step 1 first;
    resumed from there it ends in the uninterrupted image."""
    settings = tiny_settings(tmp_path, "image.max_size=72")
    content, style = load_pair(settings.paths.content_image, settings.paths.style_image[0], 72)
    budget = step_bytes(settings.model, 40, 40)
    inputs, extractor = loop_inputs(content, style), build_extractor(settings)

    def tiled(**kwargs):
        return stylize(extractor, inputs, loop_recipe(settings), memory_budget=budget, **kwargs)

    asked = {"armed": False, "calls": 0}

    def stop_requested() -> bool:  # false at the top of step 1, true at its first tiles
        asked["calls"] += asked["armed"]
        return asked["calls"] >= 2

    states, records = [], []
    for record in tiled(stop_requested=stop_requested, on_state=states.append):
        records.append(record)
        asked["armed"] = True
    assert [r.iteration for r in records] == [0, 1] and records[-1].stopped == "asked"
    assert states[-1].iteration == 1
    rest = list(tiled(resume=through_file(tmp_path, states[-1], "adam")))
    whole = list(tiled())
    np.testing.assert_allclose(rest[-1].image, whole[-1].image, atol=1e-3)


def through_file(tmp_path: Path, state, optimizer: str):
    """`state` written as a checkpoint file and read back."""
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    (folder / CHECKPOINT).write_bytes(to_bytes(state, optimizer))
    return read_checkpoint(folder, optimizer)


class StopAt(Watcher):
    """Asks the run to stop as SIGTERM would once record `k` is written."""

    def __init__(self, stop: StopRequest, k: int):
        self.stop, self.k = stop, k

    def recorded(self, record) -> None:
        if record.iteration == self.k:
            self.stop.ask(signal.SIGTERM)


def logged(run_dir: Path) -> list[list[str]]:
    with open(run_dir / LOSSES_CSV, newline="") as file:
        return list(csv.reader(file))[1:]


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(int)


def interrupted_run(settings, k: int) -> Path:
    stop = StopRequest()
    outcome = run(settings, stop=stop, watcher=StopAt(stop, k))
    assert outcome.status == 128 + signal.SIGTERM
    assert (outcome.run_dir / CHECKPOINT).is_file()
    return outcome.run_dir


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_main_resume_after_sigterm_gives_the_uninterrupted_run(tmp_path, optimizer, capsys):
    settings = tiny_settings(tmp_path, f"optimizer.name={optimizer}")
    whole = run(settings, stop=StopRequest()).run_dir
    assert not (whole / CHECKPOINT).exists()  # a finished run keeps no checkpoint

    run_dir = interrupted_run(settings, 3)
    assert [int(row[0]) for row in logged(run_dir)] == [0, 1, 2, 3, 4]
    status, _, err = call_main(capsys, ["--resume", str(run_dir)])
    assert status == 0, err

    rows = logged(run_dir)
    assert [int(row[0]) for row in rows] == list(range(9))  # no gap, no duplicate
    assert [float(row[4]) for row in rows] == pytest.approx(
        [float(row[4]) for row in logged(whole)], rel=1e-4
    )
    assert np.abs(pixels(run_dir / FINAL) - pixels(whole / FINAL)).max() <= 1
    assert not (run_dir / CHECKPOINT).exists()


def test_an_old_format_checkpoint_is_refused_with_one_line(tmp_path, capsys):
    settings = tiny_settings(tmp_path, "optimizer.name=lbfgs")
    run_dir = interrupted_run(settings, 1)
    with np.load(run_dir / CHECKPOINT) as data:
        arrays = {key: data[key] for key in data}
    arrays["header"] = np.array(str(arrays["header"]).replace('"format": 2', '"format": 1'))
    np.savez(run_dir / CHECKPOINT, **arrays)
    status, _, err = call_main(capsys, ["--resume", str(run_dir)])
    assert status == 2
    assert err.strip().splitlines() == [
        f"nst: error: --resume: {run_dir / CHECKPOINT} was written by an older nst (checkpoint "
        f"format 1, this one reads format 2): it cannot be resumed; run it again from the start"
    ]


def test_resume_without_a_checkpoint_is_one_line_exit_2(tmp_path, capsys):
    status, _, err = call_main(capsys, ["--resume", str(tmp_path)])
    assert status == 2
    assert err.strip().splitlines() == [
        f"nst: error: --resume {tmp_path}: no config.ini in it: give the folder of a run"
    ]
