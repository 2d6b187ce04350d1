"""When a scale is done: the stopping rule and the averaged iterate's bookkeeping (no
TensorFlow, so that the loop state can be checkpointed and tested as plain numbers).

The rule watches the best objective seen so far, one value per Adam step or L-BFGS
evaluation (a line-search trial that went uphill does not count as progress). A scale has
converged when that best value fell by less than `tolerance` of itself over the last
`window` steps: further steps would no longer visibly change the picture. The window must
lie after the first step that improved on the scale's start: at a finer scale Adam's first
steps can leave the picture worse than the enlarged one it started from for longer than a
window (every pixel moved by about the learning rate), and that is not a plateau.
"""

from __future__ import annotations

import dataclasses
import math

CONVERGED = "converged"  # why a scale ended: the stopping rule
BUDGET = "budget"  # its iteration budget was spent
ASKED = "asked"  # a stop was requested (Ctrl-C, SIGTERM, the web studio)
# An objective this small is 0 to float32 precision: its terms are relative errors, near 1
# at a scale's start, so a start this low is already the optimum and nothing will beat it.
OPTIMAL = 1e-9


@dataclasses.dataclass
class StoppingRule:
    """The relative-improvement test over a window of steps; its whole state is `best`."""

    window: int  # steps looked back over
    tolerance: float  # relative improvement below which the scale has converged; 0 = never
    best: list[float] = dataclasses.field(default_factory=list)  # best objective, per step

    def observe(self, total: float) -> bool:
        """Take one step's objective; True once the scale has converged."""
        previous = self.best[-1] if self.best else math.inf
        self.best.append(min(previous, total) if math.isfinite(total) else previous)
        return self.converged

    @property
    def converged(self) -> bool:
        """best[k − window] − best[k] ≤ tolerance · |best[k]| (relative improvement), where
        best[k − window] is already below the start best[0] (or the start is OPTIMAL)."""
        if self.tolerance <= 0 or len(self.best) <= self.window:
            return False
        now, before, start = self.best[-1], self.best[-1 - self.window], self.best[0]
        if not (math.isfinite(now) and math.isfinite(before)):
            return False
        if not (before < start or start <= OPTIMAL):  # still in the transient after the start
            return False
        return before - now <= self.tolerance * abs(now)  # <=: a flat 0 has converged too


@dataclasses.dataclass
class Averaging:
    """An exponential moving average of the iterates, bias-corrected: the result Adam keeps.

    averaged_k = d · averaged_{k−1} + (1 − d) · x_k from averaged_0 = 0; the picture is
    averaged_k / (1 − d^k), a weighted mean of x_1..x_k (d = 0: the last iterate).
    `updates` (k) is all of its state besides the averaged image itself.
    """

    decay: float  # d, 0 <= d < 1
    updates: int = 0

    def correction(self) -> float:
        """1 / (1 − d^k): what the running sum is multiplied by to be a mean (1 before any)."""
        return 1.0 / (1.0 - self.decay**self.updates) if self.updates else 1.0
