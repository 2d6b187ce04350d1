"""What a run asks of its process: a stop request the loop checks between steps (set by
signals on the command line, by a button in the web studio), and the network loaded with
TensorFlow's native start-up kept quiet."""

from __future__ import annotations

import signal
import threading

from nst.inputs.native import native_stderr_silenced  # TensorFlow's C++ start-up lines


class StopRequest:
    """Asked once, read between steps; `signal` says what asked (128 + it is the exit status)."""

    def __init__(self) -> None:
        self.signal: int | None = None  # the first signal received, or the one asked for

    def requested(self) -> bool:
        return self.signal is not None

    def ask(self, signum: int = signal.SIGINT) -> None:
        """Ask the run to stop as that signal would (the first ask counts)."""
        if self.signal is None:
            self.signal = signum


class InterruptedAgain(KeyboardInterrupt):
    """A second Ctrl-C during a run: it quit at once; the files in `run_dir` are complete."""

    def __init__(self, run_dir) -> None:
        super().__init__(f"interrupted again: {run_dir}")
        self.run_dir = run_dir


class StopOnSignal(StopRequest):
    """While active, SIGINT (Ctrl-C), SIGTERM and SIGHUP ask the run to stop; a second Ctrl-C quits
    at once. Signals can only be caught in the main thread: elsewhere this is a plain
    StopRequest."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: the terminal closed

    def __init__(self) -> None:
        super().__init__()
        self._previous: dict = {}

    def _handle(self, signum: int, frame) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: do not wait for the step
        self.ask(signum)

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def build_extractor(settings):
    """The feature network of these settings (nst.settings.Settings); TensorFlow loads here,
    seconds, with its native start-up lines kept off stderr."""
    with native_stderr_silenced():
        from nst.core.features import build_feature_extractor
    return build_feature_extractor(*network_key(settings))


def network_key(settings) -> tuple:
    """What the feature network of `build_extractor` depends on: runs with the same key can
    share one (a batch, the web studio)."""
    return settings.model, settings.image.seed, settings.optimizer.name
