"""Jobs that failed before they had a run folder (a missing weights file, an image deleted
since it was queued): nothing in the results folder says they happened, so a small JSON file
beside the queue keeps them, and the page lists them after more runs and after a restart of
the studio, until the user dismisses them. No TensorFlow.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from nst.output.runfolder import write_bytes_atomic

FAILED_FILE = "failed.json"
MAX_FAILED = 50  # kept at most, newest; a job queue that fails all day does not grow the file


@dataclass(frozen=True)
class Failure:
    """What the page shows of a failed job: its id, why, and what it was to paint."""

    id: str
    message: str
    content: str  # file names only, as the page shows them
    styles: tuple[str, ...]
    kind: str = "still"  # still | clip


class FailedJobs:
    """The failures on disk (`folder`/failed.json, written whole and atomically); `folder`
    None keeps nothing."""

    def __init__(self, folder: Path | None) -> None:
        self.path = None if folder is None else Path(folder) / FAILED_FILE

    def load(self) -> list[Failure]:
        """The kept failures, oldest first; an unreadable file keeps none (and says so)."""
        if self.path is None or not self.path.is_file() or self.path.is_symlink():
            return []
        try:
            records = json.loads(self.path.read_text(encoding="utf-8"))
            return [_failure(record) for record in records][-MAX_FAILED:]
        except (OSError, ValueError, TypeError, KeyError) as error:
            print(
                f"nst: note: {self.path.name} not read ({error}): earlier failures not shown",
                file=sys.stderr,
            )
            return []

    def save(self, failures: list[Failure]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        records = [asdict(failure) for failure in failures[-MAX_FAILED:]]
        write_bytes_atomic(self.path, json.dumps(records, indent=1).encode())


def _failure(record: dict) -> Failure:
    styles = record["styles"]
    if not isinstance(styles, list) or not all(isinstance(s, str) for s in styles):
        raise TypeError("styles: expected a list of names")
    fields = ("id", "message", "content", "kind")
    if not all(isinstance(record.get(name, ""), str) for name in fields):
        raise TypeError("expected text")
    return Failure(
        record["id"],
        record["message"],
        record["content"],
        tuple(styles),
        record.get("kind", "still"),
    )
