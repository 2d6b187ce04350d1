"""Exit statuses, and every error as one line on stderr (a traceback only with --debug).

The same mapping serves every edge: the command line returns the status, the web studio and
batches record it beside the run.
"""

from __future__ import annotations

import errno
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from nst.images import ImageError, first_line
from nst.networks import WeightsError
from nst.preflight import ResourceError
from nst.settings import SettingsError

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
    print(f"nst: {text}", file=sys.stderr)


def guarded(action: Callable[[], int], debug: bool = False) -> int:
    """`action()`'s exit status; any exception becomes one line on stderr and a status."""
    try:
        return action()
    except KeyboardInterrupt as error:  # before the loop, or a second Ctrl-C during it
        if debug:
            traceback.print_exception(error)
        run_dir = getattr(error, "run_dir", None)  # a second Ctrl-C during a run names it
        where = f"the files already in {run_dir}" if run_dir else "files already written"
        say(f"interrupted: stopped at once; {where} are complete")
        return 128 + signal.SIGINT
    except Exception as error:
        status, text = describe(error)
        if debug:
            traceback.print_exception(error)
        say(text)
        return status


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
