"""`python main.py --resume RUN`: an interrupted run continued in its own folder, from its
checkpoint (nst.checkpoint), with the settings of its config.ini.

The resumed loop starts at the checkpoint's record: losses.csv keeps the rows before it and
gets the rest (no gap, no duplicate); iterates after it are written again. With Adam and
with L-BFGS (its whole state, curvature pairs and line search included, is in the
checkpoint) the result is the uninterrupted run's, to float tolerance (see nst.checkpoint).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from nst.checkpoint import read_checkpoint, records_before
from nst.runfolder import CONFIG, write_status
from nst.settings import SettingsError, load_settings


def resume_run(run_dir: Path, *, extractor=None, stop=None, watcher=None):
    """Continue the run in `run_dir`; its Outcome (nst.app). Errors before the loop starts
    (no such run, no checkpoint, inputs gone) are raised, as nst.app.run raises them."""
    from nst.app import Watcher, build_extractor, optimize_into, prepare_images, write_animation
    from nst.process import StopOnSignal

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise SettingsError(f"--resume {run_dir}: no {CONFIG} in it: give the folder of a run")
    settings = load_settings(run_dir / CONFIG)
    state = read_checkpoint(run_dir, settings.optimizer.name)
    before = records_before(run_dir, state)
    inputs = prepare_images(settings)
    extractor = extractor if extractor is not None else build_extractor(settings)
    with StopOnSignal() if stop is None else contextlib.nullcontext(stop) as stop:
        outcome = optimize_into(
            run_dir, extractor, inputs, settings, stop, watcher or Watcher(), (state, before)
        )
        write_status(run_dir, outcome.status, outcome.message)
    if settings.output.animation:
        write_animation(run_dir)
    return outcome
