"""Native libraries' own lines kept off the terminal (TensorFlow's C++ start-up, TensorFlow
Lite's delegate): they write to file descriptor 2 directly and ignore Python's logging."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    """File descriptor 2 sent to /dev/null while the block runs. Python errors still raise."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
