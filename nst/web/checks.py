"""What the studio can tell before a run starts, so that the page shows it next to Start: the
network's weights (a file that is missing or of the other network; ImageNet weights that are
neither on this machine nor downloadable). No TensorFlow here: the checks read files and
try one connection.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from nst.settings.networks import WEIGHTS_FILE, WEIGHTS_ORIGIN, WeightsError, check_weights_file

CONNECT_TIMEOUT_S = 3.0  # the page waits for this check: an unreachable host must not hang it
REMEMBER_S = 60.0  # a network that answered (or did not) is not asked again for this long


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights (as nst.core.features.keras_cache_dir)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


class WeightsCheck:
    """weights_problem(network, weights): None, or what will stop a run, in one sentence."""

    def __init__(self, connect=socket.create_connection) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self._reached: dict[str, tuple[float, str | None]] = {}

    def __call__(self, network: str, weights: str) -> str | None:
        if weights == "random":
            return None
        if weights != "imagenet":
            try:
                check_weights_file(network, weights)
            except WeightsError as error:
                return str(error)
            return None
        file = WEIGHTS_FILE.format(network=network)
        if (keras_cache_dir() / file).is_file():
            return None
        url = WEIGHTS_ORIGIN.format(network=network, file=file)
        unreachable = self._unreachable(urlsplit(url).hostname or "")
        if unreachable is None:
            return None
        return (
            f"the ImageNet {network} weights are not on the server and cannot be downloaded "
            f"({unreachable}): put {file} into the server's Keras folder "
            f"(~/.keras/models), or start the studio with --set model.weights=PATH, or choose "
            f"weights = random for a trial run (no artistic result)"
        )

    def _unreachable(self, host: str) -> str | None:
        """Why `host` cannot be reached on port 443, or None; remembered a while."""
        with self._lock:
            when, why = self._reached.get(host, (-REMEMBER_S, None))
            if time.monotonic() - when < REMEMBER_S:
                return why
            try:
                self._connect((host, 443), timeout=CONNECT_TIMEOUT_S).close()
                why = None
            except OSError as error:
                why = f"{host}: {error.strerror or type(error).__name__}"
            self._reached[host] = (time.monotonic(), why)
            return why
