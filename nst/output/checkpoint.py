"""A run's checkpoint: where its optimiser stood, so an interrupted run continues exactly.

The loop (nst.core.optimize) hands its state to `on_state` whenever an iterate is due and when it
stops; the edge keeps the latest and writes it, atomically, beside that iterate (`Keeper`).
`python main.py --resume RUN` (nst.run.pipeline.resume) reads it back. What is kept:

- Adam: the optimiser's own iterate and every variable of Keras's Adam (step count, learning
  rate, first and second moments), the averaged iterate and its count, and the stopping
  rule's history: resuming continues the very same sequence of updates.
- L-BFGS (ours, nst.core.lbfgs): its whole state, the accepted point, its objective and
  gradient, the search direction, the m correction pairs, the line search's step and bracket
  and the counts, with the accepted image and the stopping rule's history: resuming
  evaluates the very same points, inside a line search too.

No TensorFlow here: the state is NumPy arrays.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np

from nst.core import lbfgs
from nst.core.records import LoopState, Record
from nst.output.runfolder import CHECKPOINT, LOSSES_CSV, write_atomic
from nst.settings import SettingsError

FORMAT = 2  # bumped when the file's contents change meaning (2: our L-BFGS's state)


def to_bytes(state: LoopState, optimizer: str) -> bytes:
    """The checkpoint file's contents: an .npz of the arrays and a JSON header."""
    buffer = io.BytesIO()
    write_to(buffer, state, optimizer)
    return buffer.getvalue()


def write_to(file, state: LoopState, optimizer: str) -> None:
    """Write the checkpoint (to_bytes) into the open binary `file`, array by array: NumPy
    streams each in chunks, so no second copy of the state is made (at 4096x3072 the state
    is about 6 float32 copies of the picture, 0.9 GB; a bytes copy of it was a GB more)."""
    header = {
        "format": FORMAT,
        "optimizer": optimizer,
        "scale": state.scale,
        "iteration": state.iteration,
        "elapsed_s": state.elapsed_s,
        "variables": len(state.optimizer_variables),
        "averaging_updates": state.averaging_updates,
    }
    arrays = {f"variable_{i}": v for i, v in enumerate(state.optimizer_variables)}
    if state.averaged is not None:
        arrays["averaged"] = state.averaged
    arrays["best"] = np.array(state.best, np.float64)
    if state.anchor is not None:
        arrays["anchor"] = state.anchor
    if state.lbfgs is not None:
        arrays.update({f"lbfgs_{k}": v for k, v in lbfgs.to_arrays(state.lbfgs).items()})
    np.savez(file, header=np.array(json.dumps(header)), image=state.image, **arrays)


def read_checkpoint(run_dir: Path, optimizer: str) -> LoopState:
    """The state saved in `run_dir`; a SettingsError that says why when there is none."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise SettingsError(
            f"--resume {run_dir}: no {CHECKPOINT} there: the run finished (its checkpoint is "
            f"removed then), or it is not a run folder"
        )
    try:
        with np.load(path) as data:
            header = json.loads(str(data["header"]))
            variables = tuple(data[f"variable_{i}"] for i in range(header["variables"]))
            image, best = data["image"], tuple(float(b) for b in data["best"])
            averaged = data["averaged"] if "averaged" in data else None
            _check_format(path, header, optimizer)
            search = _lbfgs_state(data) if "lbfgs_pairs" in data else None
            anchor = data["anchor"] if "anchor" in data else None
    except SettingsError:
        raise
    except (OSError, ValueError, KeyError) as error:
        raise SettingsError(f"--resume: cannot read {path}: {error}") from None
    return LoopState(
        header["scale"],
        header["iteration"],
        image,
        variables,
        float(header["elapsed_s"]),
        averaged,
        header["averaging_updates"],
        best,
        search,
        anchor,
    )


def _lbfgs_state(data) -> lbfgs.State:
    """L-BFGS's state from the checkpoint's arrays named lbfgs_*."""
    prefix = "lbfgs_"
    return lbfgs.from_arrays({k[len(prefix) :]: data[k] for k in data if k.startswith(prefix)})


def _check_format(path: Path, header: dict, optimizer: str) -> None:
    """A SettingsError unless the checkpoint is of this format and for this optimizer."""
    if header["format"] != FORMAT:
        raise SettingsError(
            f"--resume: {path} was written by an older nst (checkpoint format "
            f"{header['format']}, this one reads format {FORMAT}): it cannot be resumed; run "
            f"it again from the start"
        )
    if header["optimizer"] != optimizer:
        raise SettingsError(
            f"--resume: {path} is for optimizer {header['optimizer']} (format "
            f"{header['format']}); the run's config.ini says {optimizer} (format {FORMAT})"
        )


def records_before(run_dir: Path, state: LoopState) -> list[Record]:
    """The rows of the run's losses.csv that come before `state` (the resumed loop writes the
    rest again: no gap, no duplicate)."""
    path = Path(run_dir) / LOSSES_CSV
    if not path.is_file():
        return []
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    records = [
        Record.of(
            int(row["iteration"]),
            (float(row[name]) for name in ("content", "style", "tv", "total")),
            float(row["elapsed_s"]),
            scale=int(row["scale"]),
        )
        for row in rows
    ]
    return [r for r in records if (r.scale, r.iteration) < (state.scale, state.iteration)]


class Keeper:
    """Holds the loop's latest state (`keep`, given to the loop as `on_state`) and writes it
    into the run folder with each saved iterate (`write`); `discard` once the run is done.
    A written state is let go: between two checkpoints its arrays (several copies of the
    picture) would only add to the run's peak memory."""

    def __init__(self, run_dir: Path, optimizer: str):
        self.path = Path(run_dir) / CHECKPOINT
        self.optimizer = optimizer
        self.latest: LoopState | None = None  # kept and not yet written

    def keep(self, state: LoopState) -> None:
        self.latest = state

    def write(self) -> None:
        if self.latest is not None:
            state, self.latest = self.latest, None
            write_atomic(self.path, lambda file: write_to(file, state, self.optimizer))

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
