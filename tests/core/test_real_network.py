"""With the real ImageNet VGG16 from ../shared/weights: style transfer really happens."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import needs_vgg16, real_vgg16_run


@pytest.mark.slow
@needs_vgg16
def test_short_real_run_lowers_style_loss_and_keeps_content():
    records = real_vgg16_run(96, "optimizer.iterations=40")
    first, last = records[0], records[-1]
    assert all(np.isfinite([r.content, r.style, r.total]).all() for r in records)
    # the objective goes down, and so does the paper's style loss, substantially
    assert last.total < 0.5 * first.total
    assert last.style < 0.5 * first.style, (first.style, last.style)
    # content stays bounded: the result stays clearly nearer the photo's content features than
    # the painting itself is (at 96 px deep features move a lot: measured ratio ~0.78)
    painting = real_vgg16_run(96, "optimizer.iterations=1", "image.init=style")[0]
    assert last.content < 0.9 * painting.content, (last.content, painting.content)
    # and the picture really changed
    change = np.abs(last.image - first.image).mean()
    assert change > 5.0, change
