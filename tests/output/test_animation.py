"""evolution.gif: a loop of about four seconds, small even for a 512 px run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nst.core.records import Record
from nst.output import evolution
from nst.output.runfolder import create_run_dir


@pytest.mark.parametrize("count", [20, 31, 50])  # (fewer: each frame at most 250 ms)
def test_the_animation_loops_in_about_four_seconds(count):
    loop_ms = (count - 1) * evolution.frame_duration_ms(count) + evolution.ANIMATION_HOLD_LAST_MS
    assert abs(loop_ms - 1000 * evolution.ANIMATION_SECONDS) <= 300, loop_ms
    assert evolution.frame_duration_ms(count) % 10 == 0  # GIF keeps hundredths of a second


def test_the_animation_of_a_512_px_run_is_small(tmp_path):
    """31 noisy 512 px iterates (the default run's): frames at most ANIMATION_BOX, the loop
    about 4 s; measured 2.3 MB here for such noise, real runs compress better."""
    from PIL import Image, ImageSequence

    from nst.output.outputs import RunWriter

    run = create_run_dir(tmp_path, Path("c.png"), (Path("s.png"),))
    writer = RunWriter(run)
    rng = np.random.default_rng(0)
    for i in range(0, 301, 10):
        image = rng.uniform(0, 255, (8, 8, 3)).repeat(64, 0).repeat(64, 1)[:341]  # 512 x 341
        writer.add(Record(i, 1.0, 1.0, 0.0, 2.0, 0.0, image.astype(np.float32)))
    with Image.open(evolution.export_animation(run)) as gif:
        durations = [frame.info["duration"] for frame in ImageSequence.Iterator(gif)]
        assert max(gif.size) <= max(evolution.ANIMATION_BOX)
    assert len(durations) == 31 and 3500 <= sum(durations) <= 4500, sum(durations)
