"""The command line's progress bar: a watcher of a run (nst.watchers.Watcher) drawn with tqdm,
the same for a still picture and a clip."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from nst.records import Record
from nst.runfolder import is_clip_run
from nst.scales import Scale
from nst.watchers import Watcher, steps_before


class ProgressBar(Watcher):
    """One bar over every step of the plan (a still's scales, a clip's frames), with the
    latest losses; a still says why each scale ended, a clip which frame it is on."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None
        self.plan: list[Scale] = []
        self.clip = False
        self.placed = False  # the bar is at the first record's place in the plan

    def started(self, run_dir: Path, plan: list[Scale]) -> None:
        self.plan, self.clip = plan, is_clip_run(run_dir)
        total = sum(part.budget for part in plan)
        self.bar = tqdm(total=total, unit="step", dynamic_ncols=True)

    def recorded(self, record: Record) -> None:
        if not self.placed:  # a resumed run goes on from where it is (its rate: from there)
            self.bar.n = self.bar.last_print_n = self.bar.initial = steps_before(self.plan, record)
            self.placed = True
        else:
            self.bar.update(1 if record.iteration else 0)  # record 0 is the starting image
        losses = {"content": f"{record.content:.3g}", "style": f"{record.style:.3g}"}
        if self.clip:
            losses = {"frame": f"{record.scale}/{len(self.plan)}", **losses}
        self.bar.set_postfix(losses, refresh=False)
        self.bar.refresh()
        if record.stopped and not self.clip:  # a scale's last record: say why it ended
            self.bar.write(f"nst: scale {record.scale}: {record.why_stopped}")

    def ended(self) -> None:
        if self.bar is not None:
            self.bar.close()
