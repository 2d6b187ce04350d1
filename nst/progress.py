"""The command line's progress bar: a watcher of a run (nst.app.Watcher) drawn with tqdm."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from nst.app import Watcher
from nst.records import Record
from nst.scales import Scale


class ProgressBar(Watcher):
    """One bar over every scale's iterations, with the latest losses."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def started(self, run_dir: Path, plan: list[Scale]) -> None:
        total = sum(scale.budget for scale in plan)
        self.bar = tqdm(total=total, unit="step", dynamic_ncols=True)

    def recorded(self, record: Record) -> None:
        self.bar.set_postfix(content=f"{record.content:.3g}", style=f"{record.style:.3g}")
        self.bar.update(1 if record.iteration else 0)  # record 0 is the starting image
        if record.stopped:  # a scale's last record: say why it ended
            self.bar.write(f"nst: scale {record.scale}: {record.why_stopped}")

    def ended(self) -> None:
        if self.bar is not None:
            self.bar.close()
