"""What an edge sees of a run as it goes: the command line draws a bar (nst.cli.progress), the web
studio sends events, a batch marks its item running. No TensorFlow, no IO of its own.

A run's plan is a list of parts, each a `nst.core.scales.Scale` (height, width, step budget): a
still picture's coarse-to-fine scales, smallest first, or a clip's frames, first to last.
`Record.scale` numbers the part a record belongs to, from 1 (for a clip: its frame).
"""

from __future__ import annotations

from pathlib import Path

from nst.core.records import Record
from nst.core.scales import Scale


class Watcher:
    """Told about a run between its steps; the run folder is already up to date. The base
    class ignores everything: a watcher overrides what it needs."""

    def started(self, run_dir: Path, plan: list[Scale]) -> None:
        """The run folder exists (a resumed run: it goes on); `plan` is every part of the run."""

    def recorded(self, record: Record) -> None:
        """One iteration done (its image, when it has one, is on disk)."""

    def ended(self) -> None:
        """The loop is over, however it ended (before the run's last line is said)."""


class Watchers(Watcher):
    """Several watchers as one, each told in the order given (a batch's state before the bar)."""

    def __init__(self, *watchers: Watcher) -> None:
        self.watchers = watchers

    def started(self, run_dir: Path, plan: list[Scale]) -> None:
        for watcher in self.watchers:
            watcher.started(run_dir, plan)

    def recorded(self, record: Record) -> None:
        for watcher in self.watchers:
            watcher.recorded(record)

    def ended(self) -> None:
        for watcher in self.watchers:
            watcher.ended()


def steps_before(plan: list[Scale], record: Record) -> int:
    """The steps of `plan` done when `record` arrives: every earlier part's budget and this
    part's iterations (a resumed run's first record is past the start)."""
    return sum(part.budget for part in plan[: record.scale - 1]) + record.iteration
