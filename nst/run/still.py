"""A still picture, as the run lifecycle (nst.run.pipeline) plugs it in: its preparation (the
content and style images, after every check that needs no TensorFlow), its loop body (the
regions [loss] auto_regions found, as region_*.png; the optimisation into iterates/,
final.png, losses.csv and the plots, the checkpoint kept while unfinished) and, once the run
has its status, evolution.gif.

Ctrl-C, SIGTERM, a stop asked from elsewhere and a diverging loss stop the loop between steps
and still leave a complete run folder: final.png, the full losses.csv and the plots.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import cv2

from nst.core.recipe import Recipe
from nst.core.records import Diverged, Outcome, Record, run_steps
from nst.core.scales import run_plan
from nst.inputs.images import embedded_profile, upright_size
from nst.inputs.masks import load_guidance
from nst.inputs.portrait import save_regions
from nst.inputs.styles import Inputs, load_inputs, restore_colors
from nst.output.checkpoint import Keeper, LoopState, read_checkpoint, records_before
from nst.output.evolution import export_animation
from nst.output.outputs import PrintSpec, RunWriter, print_profile
from nst.output.runfolder import ANIMATION, ITERATES, PLOTS
from nst.run.exits import (
    EXIT_DIVERGED,
    EXIT_FAULT,
    EXIT_OK,
    drop_retracing_warnings,
    interrupted_message,
    run_position,
    say,
    tell,
    why_stopped,
)
from nst.run.preflight import (
    available_memory,
    check_fits_network,
    check_results_folder,
    check_run_memory,
    output_bytes,
    region_count,
    step_budgets,
)
from nst.run.watchers import Watcher
from nst.settings import WEIGHTS_CHOICES, OptimizerSettings, Settings
from nst.settings.networks import check_weights_file

SAFE_EPSILON = 1e-12  # below this, Adam's epsilon no longer bounds its step in float32
FOLDERS = (ITERATES, PLOTS)  # a still run folder's subfolders


def prepare_images(settings: Settings) -> Inputs:
    """The content and style images at the run's size, after every check that needs no
    TensorFlow: images, network depth, weights file, memory and the results folder."""
    paths, image, model = settings.paths, settings.image, settings.model
    inputs = load_inputs(paths, image, on_note=lambda text: say(f"note: {text}"))
    height, width = inputs.content.shape[:2]
    styles = tuple((style.shape[1], style.shape[0]) for style in inputs.styles)
    guidance = load_guidance(paths, settings.loss, width, height, styles)
    inputs = inputs._replace(guidance=guidance)
    source = upright_size(paths.content_image)  # for an exact max_size in the advice
    check_fits_network(paths.content_image, width, height, model, source)
    if model.weights not in WEIGHTS_CHOICES:
        check_weights_file(model.network, model.weights)
    optimizer = settings.optimizer
    available = available_memory()
    tiles = check_run_memory(settings, width, height, available, styles, region_count(guidance))
    if tiles:
        say(f"note: {tiles}")
    output = settings.output
    profile = embedded_profile(paths.content_image) if output.profile == "content" else None
    written = output_bytes(width, height, image, optimizer, output, len(profile or b""))
    check_results_folder(paths.results_dir, written)
    return inputs


def resume_point(run_dir: Path, settings: Settings) -> tuple[LoopState, list[Record]]:
    """The checkpoint to go on from and the logged records before it; a SettingsError that
    says why where there is none (the run finished, or it is not a run folder)."""
    state = read_checkpoint(run_dir, settings.optimizer.name)
    return state, records_before(run_dir, state)


def optimize_into(
    run_dir: Path,
    extractor,
    inputs: Inputs,
    settings: Settings,
    stop,
    watcher: Watcher,
    resume: tuple[LoopState, list[Record]] | None = None,
) -> Outcome:
    """The loop, its records written to `run_dir`; however it ends, the folder is finished.
    The optimiser's state is kept in the folder until the run completes (nst.output.checkpoint);
    `resume` (a state and the records before it) continues from there. `stop` is a
    nst.run.process.StopRequest."""
    from nst.core.optimize import stylize  # TensorFlow: loaded by now

    drop_retracing_warnings()  # also where a caller comes here without nst.run.pipeline
    height, width = inputs.content.shape[:2]
    plan = run_plan(height, width, settings.image, settings.optimizer)
    writer = RunWriter(run_dir, len(plan), print_spec(settings))
    keeper = Keeper(run_dir, settings.optimizer.name)
    state, writer.records = resume if resume is not None else (None, [])
    watcher.started(run_dir, plan)
    records = stylize(
        extractor,
        inputs,
        Recipe.of(settings),
        stop_requested=stop.requested,
        resume=state,
        on_state=keeper.keep,
        memory_budget=step_budgets(settings, available_memory(), region_count(inputs.guidance)),
    )
    records = restore_colors(records, inputs.photo, settings.image.preserve_colors)
    try:
        diverged = _follow(records, writer, watcher, keeper)
        writer.finish(stop_reason(diverged, stop, writer.records[-1] if writer.records else None))
        if writer.final_note:
            tell(writer.final_note)  # its size in pixels and at its dpi, for print
    except OSError as error:
        _finish_quietly(writer)
        if not _inside(error.filename, run_dir):
            raise
        last = writer.records[-1].iteration if writer.records else 0
        return Outcome(
            EXIT_FAULT,
            run_dir,
            f"error: cannot write {error.filename}: {error.strerror}. The run stopped at "
            f"iteration {last}; the files already in {run_dir} are complete. Free some space "
            f"(or fix the folder) and run again.",
        )
    except KeyboardInterrupt:
        raise  # asked twice: quit at once, write no more (nst.run.pipeline says where)
    except BaseException:
        _finish_quietly(writer)  # keep the work done so far, then report the error itself
        raise
    where = (run_steps(writer.records)[-1], len(plan), plan[writer.records[-1].scale - 1].budget)
    return _ending(writer.records[-1], diverged, stop, settings, run_dir, keeper, where)


def _ending(last: Record, diverged: bool, stop, settings, run_dir, keeper, where) -> Outcome:
    """The run's status and last line (nst.run.pipeline says it), once its folder is finished;
    `where` is the last record's (run step, number of scales, its scale's budget)."""
    if diverged:
        return Outcome(EXIT_DIVERGED, run_dir, diverged_message(last, settings.optimizer, run_dir))
    step = where[0]
    if stop.signal is not None:
        text = interrupted_message(stop.signal, run_position(last, *where), step, run_dir)
        return Outcome(128 + stop.signal, run_dir, text)
    keeper.discard()  # done: nothing left to resume
    text = f"result in {run_dir} ({why_stopped(last, step) or 'budget'}, {last.elapsed_s:.0f} s)"
    return Outcome(EXIT_OK, run_dir, text)


def print_spec(settings: Settings) -> PrintSpec:
    """How the print file is written ([output]); a note where the content photo's own colour
    profile was asked for and cannot be carried."""
    output = settings.output
    profile, note = print_profile(settings.paths.content_image, output.profile)
    if note:
        tell(note)
    return PrintSpec(output.format, int(output.bit_depth), output.dpi, profile)


def stop_reason(diverged: bool, stop, last: Record | None = None) -> str:
    """Why the loop ended, in the words the plots use (nst.output.plots.STOP_REASONS): diverged,
    interrupted, or as the last record says (converged, budget)."""
    if diverged:
        return "diverged"
    if stop.signal is not None:
        return "interrupted"
    return (last.stopped if last is not None else "") or "budget"


def _follow(records, writer: RunWriter, watcher: Watcher, keeper: Keeper) -> bool:
    """Write each record (and the checkpoint with each image) and tell the watcher; True if
    the loop stopped on a non-finite step."""
    try:
        for record in records:
            writer.add(record)
            if record.image is not None:
                keeper.write()
            watcher.recorded(record)
    except Diverged:
        return True  # its record, with the last finite image, is already written
    finally:
        watcher.ended()
    return False


def diverged_message(record: Record, optimizer: OptimizerSettings, run_dir: Path) -> str:
    """What went wrong at which iteration, and what to change."""
    bad = [f"{n} = {v:g}" for n, v in record.losses._asdict().items() if not math.isfinite(v)]
    what = ", ".join(bad) if bad else "the gradient or the update"
    rate, epsilon = optimizer.learning_rate, optimizer.epsilon
    if bad and record.iteration == 0:
        fix = (
            "the losses of the starting image are not finite: lower [loss] content_weight, "
            "style_weight or tv_weight"
        )
    elif optimizer.name == "adam" and epsilon < SAFE_EPSILON:
        # Adam divides by sqrt(v) + epsilon: where a gradient is ~0, v underflows in float32
        # and a tiny epsilon makes the step huge (or 0/0), whatever the learning rate.
        fix = (
            f"raise [optimizer] epsilon (now {epsilon:g}, try {SAFE_EPSILON:g} or the default "
            f"1e-08): a smaller learning_rate does not help here"
        )
    else:
        fix = (
            f"lower [optimizer] learning_rate (now {rate:g}, try {rate / 10:g}) or the [loss] "
            f"weights"
        )
    return (
        f"error: the optimisation diverged at iteration {record.iteration} ({what} is not "
        f"finite) and was stopped; {fix}. final.png is the last finite image (iteration "
        f"{record.iteration}); losses.csv and the plots are in {run_dir}"
    )


def write_found_regions(run_dir: Path, inputs: Inputs) -> None:
    """region_*.png beside config.ini: what [loss] auto_regions found (nst.inputs.portrait), for a
    user to see, edit and give back as masks. Not the picture itself: a failure is a note."""
    guidance = inputs.guidance
    if guidance is None or guidance.found is None:
        return
    try:
        save_regions(guidance.found, run_dir)
    except OSError as error:
        say(f"note: the found regions were not saved: {error.strerror}: {error.filename}")


def write_animation(run_dir: Path) -> None:
    """evolution.gif, once every other output is on disk; a failure is a note, not an error."""
    try:
        export_animation(run_dir, on_note=lambda text: say(f"note: {text}"))
    except (OSError, ValueError, cv2.error) as error:  # the run's own files are all there
        print(f"nst: {ANIMATION} not written: {error}")


def _inside(filename, folder: Path) -> bool:
    return filename is not None and Path(filename).resolve().is_relative_to(folder.resolve())


def _finish_quietly(writer: RunWriter) -> None:
    """Best effort to complete the run folder after a failure; a second error is dropped."""
    with contextlib.suppress(Exception):
        writer.finish()


class Still:
    """A still picture as a kind of run (see nst.run.pipeline.Kind)."""

    folders = FOLDERS
    prepare = staticmethod(prepare_images)
    resume_point = staticmethod(resume_point)

    @staticmethod
    def body(run, inputs: Inputs, resume) -> Outcome:
        """The loop into `run.run_dir` (a nst.run.pipeline.Run), from `resume` where given; a new
        run folder first gets the regions found in the content photo."""
        if resume is None:  # a resumed run has them from its start
            write_found_regions(run.run_dir, inputs)
        return optimize_into(
            run.run_dir, run.extractor, inputs, run.settings, run.stop, run.watcher, resume
        )

    @staticmethod
    def after(run_dir: Path, settings: Settings) -> None:
        if settings.output.animation:
            write_animation(run_dir)
