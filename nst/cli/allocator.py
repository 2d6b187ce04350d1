"""A faster memory allocator for the run, picked up where installed.

TensorFlow on the CPU allocates and frees the activations of every step: tens of megabytes a
tensor at 512 px. glibc's malloc hands blocks that large to mmap and back to the kernel each
time, so every step pays page faults and zeroing (system time). tcmalloc keeps them for
reuse. It must be loaded before anything else, so `main.py` re-executes itself once with it
in LD_PRELOAD (see `preload_environment`). NST_NO_PRELOAD=1 turns this off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# Debian/Ubuntu's libtcmalloc-minimal4 (apt-get install libtcmalloc-minimal4), then others.
TCMALLOC_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib64/libtcmalloc_minimal.so.4",
    "/usr/lib/libtcmalloc_minimal.so.4",
)
OFF_SWITCH = "NST_NO_PRELOAD"  # set to 1: never preload
MARK = "NST_PRELOADED"  # set on the re-executed process, so it happens once
# TensorFlow's own pooling allocator for the CPU (best-fit with coalescing): it keeps the
# activation blocks for the next step instead of handing them back to the kernel, as
# tcmalloc does, with no install. Read once, when TensorFlow creates its CPU device.
BFC_VARIABLE = "TF_CPU_ALLOCATOR_USE_BFC"


def tensorflow_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables to set before TensorFlow loads: its pooling CPU allocator, unless the
    user chose otherwise (an existing value is kept; TF_CPU_ALLOCATOR_USE_BFC=false: off)."""
    if BFC_VARIABLE in environ:
        return {}
    return {BFC_VARIABLE: "true"}


def find_tcmalloc(candidates: tuple[str, ...] = TCMALLOC_CANDIDATES) -> str | None:
    """The first tcmalloc library found on this machine, or None."""
    return next((path for path in candidates if Path(path).is_file()), None)


def preload_environment(environ: Mapping[str, str], library: str | None) -> dict[str, str] | None:
    """The environment to re-execute with, or None: off, already done, or nothing to load."""
    off = environ.get(OFF_SWITCH, "").strip().lower() not in ("", "0", "false", "no")
    if off or MARK in environ or library is None:
        return None
    preloaded = environ.get("LD_PRELOAD", "")
    if Path(library).name in preloaded:
        return None
    return {
        **environ,
        "LD_PRELOAD": f"{library} {preloaded}".strip(),
        MARK: "1",
    }


def reexec_with_allocator(argv: list[str]) -> None:
    """Replace this process by itself with tcmalloc preloaded, when that applies; else return."""
    import sys

    environment = preload_environment(os.environ, find_tcmalloc())
    if environment is not None:
        os.execve(sys.executable, [sys.executable, *argv], environment)
