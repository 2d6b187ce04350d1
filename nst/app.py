"""A run as the command line does it: checks first, then the optimisation into a run folder.

Every error ends in one line on stderr and an exit status (see EXIT_*; a traceback only with
--debug). Ctrl-C, SIGTERM and a diverging loss stop the loop between steps and still leave a
complete run folder: final.png, the full losses.csv and the plots.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nst.images import ImageError, upright_size
from nst.networks import WeightsError, check_weights_file
from nst.preflight import (
    ResourceError,
    available_memory,
    check_fits_network,
    check_memory,
    check_results_folder,
    output_bytes,
)
from nst.scales import scale_budgets
from nst.settings import WEIGHTS_CHOICES, ModelSettings, Settings, SettingsError, render
from nst.styles import Inputs, load_inputs, restore_colors

EXIT_OK = 0
EXIT_UNEXPECTED = 1  # a bug or an unforeseen case: --debug shows where
EXIT_BAD_INPUT = 2  # settings, images, weights, folder, memory: nothing was run
EXIT_DIVERGED = 3  # the loss became NaN/Inf: the run folder is complete up to there
EXIT_FAULT = 4  # the machine failed mid-run (disk full, out of memory): what was written stays
# Interrupted by a signal: 128 + its number, as shells report it (130 SIGINT, 143 SIGTERM).
INPUT_ERRORS = (SettingsError, ImageError, WeightsError, ResourceError)


@dataclass(frozen=True)
class Outcome:
    status: int  # the exit status
    run_dir: Path | None  # None when the run did not start


def say(text: str) -> None:
    print(f"nst: {text}", file=sys.stderr)


def guarded(action: Callable[[], int], debug: bool = False) -> int:
    """`action()`'s exit status; any exception becomes one line on stderr and a status."""
    try:
        return action()
    except INPUT_ERRORS as error:
        return _failed(error, EXIT_BAD_INPUT, f"error: {error}", debug)
    except KeyboardInterrupt as error:  # before the loop, or a second Ctrl-C during it
        text = "interrupted: stopped at once; files already written are complete"
        return _failed(error, 128 + signal.SIGINT, text, debug)
    except Exception as error:
        if _out_of_memory(error):
            text = f"error: out of memory ({_first_line(error)}): lower [image] max_size"
            return _failed(error, EXIT_FAULT, text, debug)
        text = (
            f"error: unexpected {type(error).__name__} in {_where(error)}: {_first_line(error)}"
            " (rerun with --debug for the traceback)"
        )
        return _failed(error, EXIT_UNEXPECTED, text, debug)


def _failed(error: BaseException, status: int, text: str, debug: bool) -> int:
    if debug:
        traceback.print_exception(error)
    say(text)
    return status


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0] or type(error).__name__


def _where(error: BaseException) -> str:
    """The innermost frame of nst's own code in the traceback: what failed, for a bug report."""
    root = Path(__file__).resolve().parents[1]
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if Path(frame.filename).resolve().is_relative_to(root)
    ]
    if not frames:
        return "a library"
    frame = frames[-1]
    return f"{frame.name} ({Path(frame.filename).resolve().relative_to(root)}:{frame.lineno})"


def _out_of_memory(error: Exception) -> bool:
    return isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError"


class StopOnSignal:
    """While active, SIGINT (Ctrl-C) and SIGTERM set a flag that the loop checks between steps;
    a second Ctrl-C quits at once. Signals can only be caught in the main thread."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signal: int | None = None  # the first signal received
        self._previous: dict = {}

    def requested(self) -> bool:
        return self.signal is not None

    def _handle(self, signum: int, frame) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: do not wait for the step
        self.signal = signum

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def native_stderr_silenced():
    """File descriptor 2 sent to /dev/null: TensorFlow's C++ start-up lines (oneDNN, absl)
    are written there directly and ignore TF_CPP_MIN_LOG_LEVEL. Python errors still raise."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def prepare_images(settings: Settings) -> Inputs:
    """The content and style images at the run's size, after every check that needs no
    TensorFlow: images, network depth, weights file, memory and the results folder."""
    paths, image, model = settings.paths, settings.image, settings.model
    inputs = load_inputs(paths, image, on_note=lambda text: say(f"note: {text}"))
    height, width = inputs.content.shape[:2]
    source = upright_size(paths.content_image)  # for an exact max_size in the advice
    check_fits_network(paths.content_image, width, height, model, source)
    if model.weights not in WEIGHTS_CHOICES:
        check_weights_file(model.network, model.weights)
    optimizer = settings.optimizer
    check_memory(model, width, height, image.max_size, available_memory(), optimizer.name)
    written = output_bytes(width, height, image, optimizer, settings.output.save_every)
    check_results_folder(paths.results_dir, written)
    return inputs


def network_settings(settings: Settings) -> ModelSettings:
    """[model] as the network is built: `precision = auto` means float32 for L-BFGS, whose
    line search compares objective values that bfloat16's rounding noise drowns (measured:
    it stalled after 17 evaluations at style_weight 1, where float32 kept descending)."""
    model = settings.model
    if settings.optimizer.name == "lbfgs" and model.precision == "auto":
        return dataclasses.replace(model, precision="float32")
    return model


def run(settings: Settings) -> Outcome:
    """Check, build the network, optimise into a new run folder; the exit status and folder."""
    inputs = prepare_images(settings)
    with native_stderr_silenced():  # TensorFlow loads here: seconds
        from nst.features import build_feature_extractor
    from nst.outputs import create_run_dir, write_bytes_atomic

    extractor = build_feature_extractor(network_settings(settings), settings.image.seed)
    with StopOnSignal() as stop:
        paths = settings.paths
        run_dir = create_run_dir(paths.results_dir, paths.content_image, paths.style_image)
        write_bytes_atomic(run_dir / "config.ini", render(settings).encode())
        status = optimise_into(run_dir, extractor, inputs, settings, stop)
    return Outcome(status, run_dir)


def optimise_into(
    run_dir: Path, extractor, inputs: Inputs, settings: Settings, stop: StopOnSignal
) -> int:
    """The loop, its records written to `run_dir`; however it ends, the folder is finished."""
    from nst.optimize import stylize
    from nst.outputs import RunWriter

    writer = RunWriter(run_dir, settings.image.scales)
    optimizer = settings.optimizer
    records = stylize(
        extractor,
        inputs.content,
        inputs.styles,
        settings.model,
        settings.loss,
        optimizer,
        settings.image,
        settings.output.save_every,
        stop_requested=stop.requested,
    )
    records = restore_colors(records, inputs.photo, settings.image.preserve_colors)
    try:
        steps = sum(scale_budgets(optimizer, settings.image.scales))  # coarse-to-fine: all
        diverged = _follow(records, writer, steps)
        writer.finish()
    except OSError as error:
        _finish_quietly(writer)
        if not _inside(error.filename, run_dir):
            raise
        say(
            f"error: cannot write {error.filename}: {error.strerror}. The run stopped at "
            f"iteration {writer.records[-1].iteration if writer.records else 0}; the files "
            f"already in {run_dir} are complete. Free some space (or fix the folder) and run "
            f"again."
        )
        return EXIT_FAULT
    except KeyboardInterrupt:
        raise  # asked twice: quit at once, without writing more
    except BaseException:
        _finish_quietly(writer)  # keep the work done so far, then report the error itself
        raise
    last = writer.records[-1].iteration
    if diverged:
        say(diverged_message(writer.records[-1], optimizer.learning_rate, run_dir))
        return EXIT_DIVERGED
    if stop.signal is not None:
        say(
            f"interrupted by {signal.Signals(stop.signal).name} at iteration {last} of "
            f"{optimizer.iterations}: final.png (iteration {last}), losses.csv and the plots "
            f"are in {run_dir}"
        )
        return 128 + stop.signal
    print(f"nst: result in {run_dir}")
    return EXIT_OK


def _follow(records, writer, iterations: int) -> bool:
    """Write each record and show progress; True if the loop stopped on a non-finite step."""
    from tqdm import tqdm

    from nst.optimize import Diverged

    try:
        with tqdm(total=iterations, unit="step", dynamic_ncols=True) as bar:
            for record in records:
                writer.add(record)
                bar.set_postfix(content=f"{record.content:.3g}", style=f"{record.style:.3g}")
                bar.update(1 if record.iteration else 0)  # record 0 is the starting image
    except Diverged:
        return True  # its record, with the last finite image, is already written
    return False


def diverged_message(record, learning_rate: float, run_dir: Path) -> str:
    """What went wrong at which iteration, and what to change."""
    bad = [f"{name} = {value:g}" for name, value in _losses(record) if not math.isfinite(value)]
    what = ", ".join(bad) if bad else "the gradient or the update"
    if bad and record.iteration == 0:
        fix = (
            "the losses of the starting image are not finite: lower [loss] content_weight, "
            "style_weight or tv_weight"
        )
    else:
        fix = (
            f"lower [optimizer] learning_rate (now {learning_rate:g}, try {learning_rate / 10:g})"
            " or the [loss] weights"
        )
    return (
        f"error: the optimisation diverged at iteration {record.iteration} ({what} is not "
        f"finite) and was stopped; {fix}. final.png is the last finite image (iteration "
        f"{record.iteration}); losses.csv and the plots are in {run_dir}"
    )


def _losses(record) -> list[tuple[str, float]]:
    return [(name, getattr(record, name)) for name in ("content", "style", "tv", "total")]


def _inside(filename, folder: Path) -> bool:
    return filename is not None and Path(filename).resolve().is_relative_to(folder.resolve())


def _finish_quietly(writer) -> None:
    """Best effort to complete the run folder after a failure; a second error is dropped."""
    with contextlib.suppress(Exception):
        writer.finish()
