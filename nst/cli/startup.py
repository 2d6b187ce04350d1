"""What the command line does before anything slow is imported, and its output streams.

Standard library only: these run while NumPy, Pillow and TensorFlow are still to load
(seconds), so that a too-small address-space limit or a closed pipe never turns into a
traceback, a spin or a lost result. (main.py's first lines handle signals in that time.)
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys

from nst.run.memlimits import MIN_ADDRESS_SPACE_BYTES, address_space_limit

MB = 1024**2
EXIT_FAULT = 4  # as nst.run.exits.EXIT_FAULT (that module loads NumPy)
GONE = (errno.EPIPE, errno.EBADF, errno.ECONNRESET)  # the reader went away or never was


def address_space_problem() -> str | None:
    """Why no run can start under this process's address-space limit (`ulimit -v`), or None.
    Under a limit, OpenBLAS is kept to one thread: each thread reserves its own buffers at
    import, which a tight limit turns into a failed load (or a spin inside it)."""
    limit = address_space_limit()
    if limit is None:
        return None
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if limit >= MIN_ADDRESS_SPACE_BYTES:
        return None
    return (
        f"the address-space limit (ulimit -v) is {limit / MB:,.0f} MB; even the smallest run "
        f"maps about {MIN_ADDRESS_SPACE_BYTES / MB:,.0f} MB (TensorFlow reserves much more "
        f"than it uses): raise it (`ulimit -v unlimited`) or limit memory with a cgroup instead"
    )


class Forgiving(io.TextIOBase):
    """A text stream that goes quiet, instead of raising, once its reader has gone (a pipe to
    `head -1`, a closed terminal): the run's files matter more than its messages."""

    def __init__(self, stream) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        if self.stream is not None:
            try:
                self.stream.write(text)
            except OSError as error:
                self._gone(error)
        return len(text)

    def flush(self) -> None:
        if self.stream is not None:
            try:
                self.stream.flush()
            except OSError as error:
                self._gone(error)

    def _gone(self, error: OSError) -> None:
        if error.errno not in GONE:
            raise error
        with contextlib.suppress(OSError, ValueError):  # later writes of the fd go nowhere
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        self.stream = None

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def fileno(self) -> int:
        if self.stream is None:
            raise OSError(errno.EBADF, "stream closed by its reader")
        return self.stream.fileno()

    @property
    def encoding(self):
        return getattr(self.stream, "encoding", "utf-8")

    def __getattr__(self, name: str):  # anything else (buffer, errors, ...): the stream's
        if self.stream is None:
            raise AttributeError(name)
        return getattr(self.stream, name)


def forgiving_streams() -> None:
    """sys.stdout and sys.stderr made Forgiving (a closed one, None, stays silent)."""
    sys.stdout = Forgiving(sys.stdout)
    sys.stderr = Forgiving(sys.stderr)
