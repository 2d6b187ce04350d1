"""The checkpoint is written without a second copy of the optimiser's state in memory, and the
keeper lets the state go once it is on disk (a print's state is about a GB: bench/results/
memory_run.md)."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np

from nst.core.records import LoopState
from nst.output.checkpoint import Keeper, read_checkpoint
from nst.output.runfolder import CHECKPOINT


def state_of(height: int = 256, width: int = 256) -> LoopState:
    """An Adam state of six float32 pictures (image, average, levels and moments)."""
    rng = np.random.default_rng(height)
    picture = lambda: rng.uniform(0, 255, (height, width, 3)).astype(np.float32)  # noqa: E731
    variables = (np.array(7, np.int64), np.array(0.01, np.float32), *(picture() for _ in range(4)))
    return LoopState(2, 7, picture(), variables, 3.0, picture(), 6, (1.0, 0.5))


def test_the_keeper_writes_the_state_streamed_and_lets_it_go(tmp_path):
    state = state_of()
    size = sum(a.nbytes for a in (state.image, state.averaged, *state.optimizer_variables))
    copies = [a.copy() for a in (state.image, state.averaged, *state.optimizer_variables)]
    image = weakref.ref(state.image)
    keeper = Keeper(tmp_path, "adam")
    keeper.keep(state)
    del state
    tracemalloc.start()
    keeper.write()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < size / 3  # a bytes copy of the file would be at least `size`
    gc.collect()
    assert image() is None  # written: the keeper holds no copy of the picture any more
    back = read_checkpoint(tmp_path, "adam")
    assert back.iteration == 7 and back.averaging_updates == 6 and back.best == (1.0, 0.5)
    arrays = (back.image, back.averaged, *back.optimizer_variables)
    for got, want in zip(arrays, copies, strict=True):
        np.testing.assert_array_equal(got, want)
    written = (tmp_path / CHECKPOINT).stat().st_mtime_ns
    keeper.write()  # nothing new kept: the file stays as it is
    assert (tmp_path / CHECKPOINT).stat().st_mtime_ns == written
