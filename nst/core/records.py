"""What the optimisation reports, one record per iteration; no TensorFlow, so every reader
(files, plots, viewer, web, batch) can name it cheaply."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from nst.core import lbfgs


class Losses(NamedTuple):
    content: float  # the paper's L_content (unweighted)
    style: float  # the paper's L_style = Σ w_l E_l (unweighted)
    tv: float  # total variation, see losses.tv_loss
    total: float  # the objective actually minimised (see optimize.Targets)


LOSS_NAMES = Losses._fields


@dataclass(frozen=True)
class Record:
    """One iteration of one scale: its losses, and the image when an iterate is due."""

    iteration: int
    content: float
    style: float
    tv: float
    total: float
    elapsed_s: float  # since the start of `stylize`, targets and tracing included
    image: np.ndarray | None = None  # float32 (height, width, 3) pixels 0..255, when due
    scale: int = 1  # coarse-to-fine: 1 is the smallest size, [image] scales the full size
    # on the last record of a scale, why it ended: nst.core.convergence CONVERGED, BUDGET or ASKED
    stopped: str = ""
    tiles: int = 1  # the tiles its scale steps over (nst.core.tiles); 1: the whole picture

    @classmethod
    def of(
        cls, iteration: int, losses, elapsed_s: float, image=None, scale: int = 1, stopped=""
    ) -> Record:
        """A record from losses in LOSS_NAMES order (a Losses or any 4 numbers)."""
        return cls(iteration, *map(float, Losses(*losses)), elapsed_s, image, scale, stopped)

    @property
    def why_stopped(self) -> str:
        """'converged at step k', 'budget' or 'stop asked' for a scale's last record, else ''."""
        words = {"converged": f"converged at step {self.iteration}", "asked": "stop asked"}
        return words.get(self.stopped, self.stopped)

    @property
    def losses(self) -> Losses:
        return Losses(self.content, self.style, self.tv, self.total)


class Diverged(ArithmeticError):
    """The objective or its gradient stopped being finite; the image was left as it was."""

    def __init__(self, record: Record):
        super().__init__(f"non-finite loss at iteration {record.iteration}")
        self.record = record  # its image: the last finite one, from before the failed step


@dataclass(frozen=True)
class Outcome:
    """How a run ended, for its edge (the command line, a sweep, the web studio, batches)."""

    status: int  # the exit status (nst.run.exits)
    run_dir: Path | None  # None when the run did not start
    message: str = ""  # the line said at the end: where the result is, or why it stopped


class StepCount:
    """The run's step of each record, one numbering for the bar, the log, losses.csv and the
    plots: iterations counted on across coarse-to-fine scales. Each scale restarts its own
    iterations at 0, from the previous scale's result, so its record i is step
    (the previous scales' last iterations summed) + i."""

    def __init__(self) -> None:
        self.offset = 0  # the steps of the scales before the current one
        self.previous: Record | None = None

    def add(self, record: Record) -> int:
        """`record`'s step; records come in the run's order (a resumed run: from its first)."""
        if self.previous is not None and record.scale != self.previous.scale:
            self.offset += self.previous.iteration
        self.previous = record
        return self.offset + record.iteration


def run_steps(records: list[Record]) -> list[int]:
    """The run's step of each of `records` (see StepCount), in order."""
    count = StepCount()
    return [count.add(record) for record in records]


@dataclass(frozen=True)
class LoopState:
    """The loop at record `iteration` of scale `scale`: what continuing from there needs."""

    scale: int  # 1 is the smallest scale
    iteration: int  # the record this state is the start of (Adam: updates done at this scale)
    image: np.ndarray  # the optimiser's own float32 (height, width, 3) image, 0..255
    optimizer_variables: tuple[np.ndarray, ...]  # Keras Adam's variables, in order; () L-BFGS
    elapsed_s: float  # the run's clock at this state
    averaged: np.ndarray | None = None  # Adam: running average of the iterates (unscaled)
    averaging_updates: int = 0  # Adam: its count (nst.core.convergence.Averaging)
    best: tuple[float, ...] = ()  # the stopping rule's history (nst.core.convergence.StoppingRule)
    lbfgs: lbfgs.State | None = None  # L-BFGS: its whole state (nst.core.lbfgs)
    anchor: np.ndarray | None = None  # finest_scale = shallow: the scale's start (nst.core.finest)
