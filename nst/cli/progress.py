"""The command line's progress bar: a watcher of a run (nst.run.watchers.Watcher) drawn with tqdm,
the same for a still picture and a clip.

What it shows is decided by `Progress` (plain numbers, tested without a terminal): one bar
over every part of the plan (a still's scales, a clip's frames), numbered by the run's step
as losses.csv, the plots and the last line number it (nst.core.records.StepCount); its total is
the most steps the run can still take, and shrinks to the steps taken when the stopping rule
ends a part early, so a finished run's bar is full. The time left is an upper bound: each
part's steps still allowed, at the seconds per step measured so far (per pixel, for the
larger scales to come).
"""

from __future__ import annotations

import csv
from pathlib import Path

from tqdm import tqdm

from nst.core.convergence import ASKED, BUDGET, CONVERGED
from nst.core.records import Record, StepCount
from nst.core.scales import Scale
from nst.output.runfolder import LOSSES_CSV, is_clip_run
from nst.run.watchers import Watcher

ENDED = (CONVERGED, BUDGET)  # a scale that ends so is done; a stop asked leaves it unfinished
BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| step {n}/{total} [{elapsed}{postfix}]"


class Progress:
    """Where a run stands among the parts of its plan (a still's scales, smallest first, or
    a clip's frames: `part` names them), record by record."""

    def __init__(self, plan: list[Scale], part: str = "scale") -> None:
        self.plan, self.part = plan, part
        self.count = StepCount()
        self.step = 0
        self.last: Record | None = None
        self.ended: dict[int, int] = {}  # scale -> its last iteration, once it is done
        self.rate: dict[int, tuple[float, int]] = {}  # scale -> (elapsed_s, iteration) at step 1
        self.seconds_per_pixel_step: float | None = None

    def seed(self, earlier: list[Record], first: Record) -> None:
        """A resumed run: the records before its first, `first` (losses.csv's rows), so that
        the bar goes on from the step where the run stopped instead of 0; an earlier part
        the log does not show counts at its budget."""
        logged = {record.scale for record in earlier}
        unlogged = [
            Record(self.plan[k - 1].budget, 0, 0, 0, 0, 0, scale=k)
            for k in range(1, first.scale)
            if k not in logged
        ]
        for record in sorted([*earlier, *unlogged], key=lambda r: (r.scale, r.iteration)):
            self.count.add(record)
            if self.last is not None and record.scale != self.last.scale:
                self.ended[self.last.scale] = self.last.iteration
            self.last = record

    def add(self, record: Record) -> None:
        if self.last is not None and record.scale > self.last.scale:
            self.ended.setdefault(self.last.scale, self.last.iteration)
        self.step = self.count.add(record)
        self.last = record
        if record.stopped in ENDED:
            self.ended[record.scale] = record.iteration
        self._time(record)

    def _time(self, record: Record) -> None:
        """The seconds per step and pixel, from the steps of the current scale after its
        first (which includes computing its targets and tracing the step)."""
        start = self.rate.setdefault(record.scale, (record.elapsed_s, record.iteration))
        steps = record.iteration - start[1]
        if steps >= 1:
            scale = self.plan[record.scale - 1]
            pixels = scale.height * scale.width
            self.seconds_per_pixel_step = (record.elapsed_s - start[0]) / steps / pixels

    @property
    def total(self) -> int:
        """The most steps the run takes: each scale's last iteration once it ended, else its
        budget (the stopping rule can only end it sooner)."""
        return sum(self.ended.get(k, scale.budget) for k, scale in enumerate(self.plan, 1))

    def seconds_left(self) -> float | None:
        """At most this many seconds to go (None until a step was timed)."""
        if self.seconds_per_pixel_step is None or self.last is None:
            return None
        left = 0.0
        for k, scale in enumerate(self.plan, 1):
            if k in self.ended or k < self.last.scale:
                continue
            steps = scale.budget - (self.last.iteration if k == self.last.scale else 0)
            left += steps * scale.height * scale.width * self.seconds_per_pixel_step
        return left

    def where(self) -> str:
        """`scale 2/3 256x192` (a clip: `frame 5/120 256x192`): the part the run is on and its
        size (ASCII, any terminal); `scale 3/3 4096x3072 in 12 tiles` where it steps over
        tiles (nst.core.tiles)."""
        number = self.last.scale if self.last is not None else 1
        scale = self.plan[number - 1]
        size = f"{scale.width}x{scale.height}{tiles(self.last)}"
        return f"{self.part} {number}/{len(self.plan)} {size}"

    def scale_line(self, record: Record) -> str:
        """The line said when a scale ends: why, at which step (and its own iteration)."""
        scale = self.plan[record.scale - 1]
        why = {CONVERGED: "converged", BUDGET: "budget spent", ASKED: "stop asked"}
        reason = why.get(record.stopped, record.stopped)
        return (
            f"scale {record.scale}/{len(self.plan)} ({scale.width}x{scale.height}"
            f"{tiles(record)}): {reason} "
            f"at step {self.step} (its iteration {record.iteration} of {scale.budget})"
        )


def tiles(record: Record | None) -> str:
    """` in 12 tiles` for a record of a scale stepping over tiles, else ''."""
    return f" in {record.tiles} tiles" if record is not None and record.tiles > 1 else ""


def at_most(seconds: float | None) -> str:
    """`at most 3:05 left` (h:mm:ss from an hour); `time left unknown` before any timing."""
    if seconds is None:
        return "time left unknown"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    text = f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
    return f"at most {text} left"


def earlier_records(run_dir: Path, first: Record) -> list[Record]:
    """losses.csv's rows before `first` (a resumed run's first record), as records of their
    iteration and scale (a clip's log: its frame) only: what the bar needs to count on."""
    try:
        with open(Path(run_dir) / LOSSES_CSV, newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    earlier = []
    for row in rows:
        try:
            part = int(row["scale"] if "scale" in row else row["frame"])
            record = Record(int(row["iteration"]), 0, 0, 0, 0, 0, scale=part)
        except (KeyError, TypeError, ValueError):
            continue
        if (record.scale, record.iteration) < (first.scale, first.iteration):
            earlier.append(record)
    return earlier


class ProgressBar(Watcher):
    """One bar over every step of the plan (a still's scales, a clip's frames), the part it
    is on, the time left at most, and the latest losses; a still's line as each scale ends."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None
        self.progress: Progress | None = None
        self.run_dir: Path | None = None
        self.clip = False

    def started(self, run_dir: Path, plan: list[Scale]) -> None:
        self.run_dir, self.clip = Path(run_dir), is_clip_run(run_dir)
        self.progress = Progress(plan, "frame" if self.clip else "scale")
        if not (self.run_dir / LOSSES_CSV).is_file():  # a new run: its bar at once, at 0
            self._draw()
        # a resumed run's bar is first drawn with its first record, at its step

    def _draw(self) -> None:
        total, step = self.progress.total, self.progress.step
        self.bar = tqdm(
            total=total, initial=step, unit="step", dynamic_ncols=True, bar_format=BAR_FORMAT
        )

    def recorded(self, record: Record) -> None:
        progress = self.progress
        if progress.last is None and (record.scale, record.iteration) > (1, 0):  # resumed
            progress.seed(earlier_records(self.run_dir, record), record)
        progress.add(record)
        if self.bar is None:
            self._draw()
        self.bar.total = progress.total
        self.bar.n = progress.step
        self.bar.set_description_str(progress.where(), refresh=False)
        postfix = f"{at_most(progress.seconds_left())}, content={record.content:.3g}, "
        self.bar.set_postfix_str(postfix + f"style={record.style:.3g}", refresh=False)
        self.bar.refresh()
        if record.stopped and not self.clip:  # a scale's last record: say why it ended
            self.bar.write(f"nst: {progress.scale_line(record)}")

    def ended(self) -> None:
        if self.bar is not None:
            self.bar.close()
