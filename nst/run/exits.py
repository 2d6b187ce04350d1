"""Exit statuses, and every error as one line on stderr (a traceback only with --debug).

The same mapping serves every edge: the command line returns the status, the web studio and
batches record it beside the run.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shlex
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from nst.core.records import Record
from nst.inputs.images import ImageError, first_line
from nst.output.runfolder import CHECKPOINT, is_clip_run
from nst.run.preflight import ResourceError
from nst.settings import SettingsError
from nst.settings.networks import WeightsError

EXIT_OK = 0
EXIT_UNEXPECTED = 1  # a bug or an unforeseen case: --debug shows where
EXIT_BAD_INPUT = 2  # settings, images, weights, folder, memory: nothing was run
EXIT_DIVERGED = 3  # the loss became NaN/Inf: the run folder is complete up to there
EXIT_FAULT = 4  # the machine failed mid-run (disk full, out of memory): what was written stays
# Interrupted by a signal: 128 + its number, as shells report it (130 SIGINT, 143 SIGTERM).
INPUT_ERRORS = (SettingsError, ImageError, WeightsError, ResourceError)
# What a disk or filesystem does when it fails under a run that had checked it: full (space
# or inodes), over quota, read-only, an I/O error, a file too large.
WRITE_FAULTS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG)


def say(text: str) -> None:
    """`text` as one line on stderr, `nst: ` first (see write_line)."""
    write_line(sys.stderr, f"nst: {text}")


def tell(text: str) -> None:
    """`text` as one line on stdout, `nst: ` first: where a run's result is (see write_line)."""
    write_line(sys.stdout, f"nst: {text}")


def one_line(text: str) -> str:
    """`text` on one line: control characters (a newline in a folder's name) escaped as Python
    writes them (`\\n`), everything else as it is."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def write_line(stream, text: str) -> None:
    """`text` on one line of `stream`; characters its encoding cannot write (a non-ASCII
    folder under PYTHONIOENCODING=ascii or a C locale) escaped, never an error: a message
    must not fail a run whose files are all written."""
    line = one_line(text) + "\n"
    try:
        stream.write(line)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write(line.encode(encoding, "backslashreplace").decode(encoding))


def escape_unencodable(*streams) -> None:
    """Every later write to `streams` escapes what their encoding cannot write, as
    write_line does: print() anywhere (a library, the viewer's hint) cannot fail a run."""
    for stream in streams:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")


def run_position(last: Record, step: int, scales: int, budget: int) -> str:
    """Where a run stopped, numbered as its bar, losses.csv and plots number it: `step 57 of
    100` (one scale) or `step 228 (scale 2 of 3, its iteration 128 of 300)`."""
    if scales == 1:
        return f"step {step} of {budget}"
    its = f"its iteration {last.iteration} of {budget}"
    return f"step {step} (scale {last.scale} of {scales}, {its})"


def why_stopped(last: Record, step: int) -> str:
    """Why the run's last scale ended, its step the run's: 'converged at step 228', ..."""
    return f"converged at step {step}" if last.stopped == "converged" else last.why_stopped


def go_on_hint(run_dir: Path) -> str:
    """How to continue an interrupted run: a still picture's from its checkpoint (where its
    folder holds one), a clip's from its first missing frame (nst.run.video.Video)."""
    if not is_clip_run(run_dir) and not (Path(run_dir) / CHECKPOINT).is_file():
        return "nothing to resume (stopped before its first checkpoint): run it again"
    return f"to go on: python main.py --resume {shlex.quote(str(run_dir))}"


def interrupted_message(signum: int, position: str, step: int, run_dir: Path) -> str:
    """The line of a run stopped by a signal between steps: where, what is on disk, and how
    to go on (`position` from run_position)."""
    return (
        f"interrupted by {signal.Signals(signum).name} at {position}: final.png (step {step}), "
        f"losses.csv and the plots are in {run_dir}; {go_on_hint(run_dir)}"
    )


class RetracingFilter(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warnings: nst traces its step
    once per image size on purpose (a sweep, a batch, the studio's runs at several sizes),
    and the warning, meant for a programmer, reads to a user as a fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "tf.function retracing" not in record.getMessage()


def drop_retracing_warnings() -> None:
    """Install RetracingFilter on TensorFlow's logger (once; before or after TensorFlow
    loads: the logger is looked up by its name). Other TensorFlow warnings still show."""
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, RetracingFilter) for f in logger.filters):
        logger.addFilter(RetracingFilter())


def guarded(action: Callable[[], int], debug: bool = False) -> int:
    """`action()`'s exit status; any exception becomes one line on stderr and a status."""
    escape_unencodable(sys.stdout, sys.stderr)
    try:
        return action()
    except KeyboardInterrupt as error:  # before the loop, or a second Ctrl-C during it
        return _stopped_at_once(error, debug)
    except Exception as error:
        if debug:
            traceback.print_exception(error)
        interrupt = wrapped_interrupt(error)
        if interrupt is not None:
            return _stopped_at_once(interrupt, debug=False)
        status, text = describe(error)
        say(text)
        return status


def wrapped_interrupt(error: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C behind `error`, if a library turned it into its own error: Keras's
    `Lambda` layer, for one, re-raises anything from its shape inference (a Ctrl-C
    included) as NotImplementedError, so a Ctrl-C while the network is built would read
    as a fault."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _stopped_at_once(error: KeyboardInterrupt, debug: bool) -> int:
    if debug:
        traceback.print_exception(error)
    run_dir = getattr(error, "run_dir", None)  # a second Ctrl-C during a run names it
    where = f"the files already in {run_dir}" if run_dir else "files already written"
    hint = f"; {go_on_hint(run_dir)}" if run_dir else ""
    say(f"interrupted: stopped at once; {where} are complete{hint}")
    return 128 + signal.SIGINT


def describe(error: Exception) -> tuple[int, str]:
    """(exit status, the one line that says what went wrong) for an error a run raised."""
    if isinstance(error, INPUT_ERRORS):
        return EXIT_BAD_INPUT, f"error: {error}"
    if isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError":
        return EXIT_FAULT, f"error: out of memory ({first_line(error)}): lower [image] max_size"
    if isinstance(error, OSError) and error.errno in WRITE_FAULTS:
        return EXIT_FAULT, (
            f"error: cannot write {error.filename or 'a file'}: {error.strerror or error}; the "
            f"files already written are complete: free some space (or fix the folder) and run "
            f"again"
        )
    if _cannot_map(error):  # a library's load under a memory or address-space limit
        return EXIT_FAULT, (
            f"error: out of memory while loading a library ({first_line(error)}): free "
            f"memory, or raise the limit (ulimit -v, the container's memory)"
        )
    return EXIT_UNEXPECTED, (
        f"error: unexpected {type(error).__name__} in {_where(error)}: {first_line(error)}"
        " (rerun with --debug for the traceback)"
    )


def _cannot_map(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, (ImportError, OSError)) and (
        getattr(error, "errno", None) == errno.ENOMEM
        or "failed to map segment" in text
        or "cannot allocate memory" in text
    )


def _where(error: BaseException) -> str:
    """The innermost frame of nst's own code in the traceback: what failed, for a bug report."""
    root = Path(__file__).resolve().parents[2]
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if Path(frame.filename).resolve().is_relative_to(root)
    ]
    if not frames:
        return "a library"
    frame = frames[-1]
    return f"{frame.name} ({Path(frame.filename).resolve().relative_to(root)}:{frame.lineno})"
