"""One run's lifecycle, whatever it stylises: the input checks, the network, a new run folder
(or the run's own, resumed), its config.ini, stop handling (Ctrl-C, SIGTERM, SIGHUP or a stop
asked from elsewhere), the watcher, status.txt, the last line, and what comes after.

Every edge (the command line, a sweep, the web studio, batches) calls `run` or `resume`. A
still picture (nst.run.still) and a clip (nst.run.video) are `Kind`s: they bring only their
preparation, their loop body and their extras; which one a run is, its content_image says.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from nst.core.records import Outcome
from nst.output.runfolder import (
    CONFIG,
    create_run_dir,
    remove_empty_run_dir,
    remove_leftovers,
    write_bytes_atomic,
    write_status,
)
from nst.run.exits import drop_retracing_warnings, say, tell
from nst.run.process import InterruptedAgain, StopOnSignal, StopRequest, build_extractor
from nst.run.watchers import Watcher
from nst.settings import Settings, SettingsError, load_run_settings, render, run_tag


@dataclass(frozen=True)
class Run:
    """What a loop body gets: its folder, settings, network, stop request and watcher."""

    run_dir: Path
    settings: Settings
    extractor: object
    stop: StopRequest
    watcher: Watcher


class Kind(Protocol):
    """What a kind of run brings to the lifecycle (nst.run.still.Still, nst.run.video.Video)."""

    folders: tuple[str, ...]  # the run folder's subfolders, made with it

    def prepare(self, settings: Settings):
        """The inputs at the run's size, after every check that needs no TensorFlow; input
        errors (nst.run.exits.INPUT_ERRORS) are raised before anything is written."""

    def resume_point(self, run_dir: Path, settings: Settings):
        """Where an interrupted run in `run_dir` goes on from; raises where it cannot."""

    def body(self, run: Run, inputs, resume) -> Outcome:
        """The loop into `run.run_dir`, from `resume` (None: the start); tells `run.watcher`
        and leaves the folder finished, however the loop ended; its status and last line."""

    def after(self, run_dir: Path, settings: Settings) -> None:
        """Extras once the status is written (the animation); a failure there is a note."""


def kind_of(settings: Settings) -> Kind:
    """A clip (a video file or a folder of frames) or a still picture."""
    from nst.inputs.video_io import is_clip  # PyAV: imported once a run starts

    if is_clip(settings.paths.content_image):
        from nst.run.video import Video

        return Video()
    from nst.run.still import Still

    return Still()


def check(settings: Settings):
    """Every check a run of `settings` makes before TensorFlow loads; its prepared inputs."""
    return kind_of(settings).prepare(settings)


def run(
    settings: Settings,
    *,
    extractor=None,
    stop: StopRequest | None = None,
    watcher: Watcher | None = None,
) -> Outcome:
    """Check, build the network (or reuse `extractor`, built by `build_extractor` for the same
    nst.run.process.network_key), stylise into a new run folder; its status and folder. Errors
    before the folder exists are raised (nst.run.exits.describe says them). Without `stop`,
    Ctrl-C, SIGTERM and SIGHUP stop the loop (in the main thread)."""
    kind = kind_of(settings)
    return _through(kind, settings, None, kind.prepare(settings), None, extractor, stop, watcher)


def resume(
    run_dir: Path,
    *,
    extractor=None,
    stop: StopRequest | None = None,
    watcher: Watcher | None = None,
) -> Outcome:
    """Go on with the interrupted run in `run_dir`, with its own config.ini, a still picture
    from its checkpoint, a clip from its first missing frame; the result is the uninterrupted
    run's. Errors before the loop starts (no such run, nothing to resume from, inputs gone)
    are raised, as `run` raises them."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise SettingsError(f"--resume {run_dir}: no {CONFIG} in it: give the folder of a run")
    settings = load_run_settings(run_dir / CONFIG)
    kind = kind_of(settings)
    point = kind.resume_point(run_dir, settings)
    inputs = kind.prepare(settings)
    return _through(kind, settings, run_dir, inputs, point, extractor, stop, watcher)


def new_run_dir(settings: Settings, folders: tuple[str, ...]) -> Path:
    """results/<YYYYmmdd-HHMMSS>-[<tag>-]<content>-<style>/ with `folders` and config.ini (the
    resolved settings); a folder whose config.ini cannot be written is removed again."""
    paths = settings.paths
    remove_leftovers(paths.results_dir)  # temporary files of runs that were killed
    run_dir = create_run_dir(
        paths.results_dir, paths.content_image, paths.style_image, run_tag(settings), folders
    )
    try:
        write_bytes_atomic(run_dir / CONFIG, render(settings).encode())
    except OSError:  # a disk that filled up since the check: no empty folder stays
        remove_empty_run_dir(run_dir)
        raise
    return run_dir


def _through(kind: Kind, settings, run_dir, inputs, point, extractor, stop, watcher) -> Outcome:
    """The network, the run folder (a new one where `run_dir` is None), the loop body while
    signals ask it to stop, status.txt and the run's last line (stdout when it succeeded);
    then the extras, once the signals are back to the caller's."""
    drop_retracing_warnings()  # every edge comes here: batch, web, video, sweeps, --resume
    extractor = extractor if extractor is not None else build_extractor(settings)
    with _stopping(stop) as stop:
        run_dir = run_dir or new_run_dir(settings, kind.folders)
        run = Run(run_dir, settings, extractor, stop, watcher or Watcher())
        try:
            outcome = kind.body(run, inputs, point)
        except KeyboardInterrupt as error:
            raise InterruptedAgain(run_dir) from error  # asked twice: quit at once
        write_status(run_dir, outcome.status, outcome.message)
        _last_line(outcome)  # while a signal only asks: none can cut the line off
    _pass_on_late_signal(stop, outcome)
    kind.after(run_dir, settings)
    return outcome


def _last_line(outcome: Outcome) -> None:
    """The run's last line, out of the process's buffers at once: a signal after it may end
    the process (os._exit in main.py's handler), which would drop a buffered line."""
    if outcome.status:
        say(outcome.message)
    else:
        tell(outcome.message)  # escaped where the terminal cannot write it (nst.run.exits)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()


def _pass_on_late_signal(stop: StopRequest, outcome: Outcome) -> None:
    """A signal that came once the loop had ended (the folder complete, the line not yet
    out) is handed to the caller's handler now that it is back: main.py's stops the process
    with its line and 128 + the signal, as at any other moment, instead of going on to the
    animation and the viewer as if nobody had asked."""
    late = isinstance(stop, StopOnSignal) and stop.signal is not None
    if late and outcome.status != 128 + stop.signal:
        signal.raise_signal(stop.signal)


def _stopping(stop: StopRequest | None):
    """`stop` as it is, or (None) a stop request set by signals while the run is on."""
    return StopOnSignal() if stop is None else contextlib.nullcontext(stop)
