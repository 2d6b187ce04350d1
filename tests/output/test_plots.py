"""The loss plots: a log axis for losses that fall, no empty decades from iteration 0's zero
content, coarse-to-fine scale changes marked and named, the stop reason in the title.
Checked on the matplotlib objects, not on pixels."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from nst.core.records import Record
from nst.output.outputs import RunWriter
from nst.output.plots import draw_loss, falls, losses_figure, plot_losses, title_of


def records_of(content, style, total=None, scales=None) -> list[Record]:
    """Records with these losses; `scales` gives each record's scale (iterations restart)."""
    total = total if total is not None else [c + s for c, s in zip(content, style, strict=True)]
    scales = scales or [1] * len(content)
    records, iteration, previous = [], 0, scales[0]
    for c, s, t, scale in zip(content, style, total, scales, strict=True):
        iteration = 0 if scale != previous else iteration
        records.append(Record(iteration, c, s, 0.0, t, 0.0, None, scale))
        iteration, previous = iteration + 1, scale
    return records


def axes_for(records, name, sizes=None):
    fig, ax = plt.subplots()
    draw_loss(ax, records, name, sizes)
    return fig, ax


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# The style loss the issue saw: a 90x fall, flat after step 50; linear hid everything after it.
STYLE_90X = [0.09 * (1 / 90) ** min(1.0, i / 50) for i in range(300)]
# Content from a start at the content photo: 0 at iteration 0, a peak near 25, back a little.
CONTENT_FROM_PHOTO = [0.0] + [8.7e4 * min(1, i / 25) - 100 * max(0, i - 25) for i in range(1, 300)]


def test_a_loss_that_falls_90x_gets_a_log_axis():
    assert falls(STYLE_90X)
    _, ax = axes_for(records_of(CONTENT_FROM_PHOTO, STYLE_90X), "style")
    assert ax.get_yscale() == "log"


def test_a_loss_that_rises_from_zero_stays_linear_with_its_zero():
    assert not falls(CONTENT_FROM_PHOTO)
    _, ax = axes_for(records_of(CONTENT_FROM_PHOTO, STYLE_90X), "content")
    assert ax.get_yscale() == "linear"
    assert ax.lines[0].get_ydata()[0] == 0.0  # iteration 0 is shown, at 0


def test_a_flat_loss_stays_linear():
    flat = [1.0 + 0.01 * np.sin(i) for i in range(50)]
    assert not falls(flat)
    _, ax = axes_for(records_of(flat, flat), "style")
    assert ax.get_yscale() == "linear"


def test_iteration_0_rounding_noise_adds_no_empty_decades_to_a_log_axis():
    """L-BFGS: the content loss of the start is 1e-4 (rounding), then 1e5 falling to 1e3."""
    content = [1e-4] + [1e5 * 0.98**i for i in range(1, 250)]
    assert falls(content)
    fig, ax = axes_for(records_of(content, STYLE_90X[:250]), "content")
    assert ax.get_yscale() == "log"
    shown = ax.lines[0].get_ydata()
    assert min(shown) > 100 and 0 not in ax.lines[0].get_xdata()  # iteration 0 left out
    fig.canvas.draw()
    low, high = ax.get_ylim()
    assert np.log10(high / low) < 4, (low, high)  # about the data's 2.3 decades, not 9


def test_zeros_never_reach_a_log_axis():
    style = [0.0, *STYLE_90X[1:]]
    _, ax = axes_for(records_of(CONTENT_FROM_PHOTO, style), "style")
    assert ax.get_yscale() == "log" and min(ax.lines[0].get_ydata()) > 0


def two_scale_records() -> list[Record]:
    """75 steps at the coarse scale, then 50 at the full size; the style loss jumps up there."""
    style = [0.05 * 0.97**i for i in range(76)] + [0.03 * 0.97**i for i in range(51)]
    content = [float(i) for i in range(76)] + [float(i) for i in range(51)]
    return records_of(content, style, scales=[1] * 76 + [2] * 51)


def test_scale_boundaries_are_marked_and_labelled():
    records = two_scale_records()
    _, ax = axes_for(records, "style", sizes={1: (192, 256), 2: (384, 512)})
    vertical = [line for line in ax.lines if len(set(line.get_xdata())) == 1]
    assert [line.get_xdata()[0] for line in vertical] == [75]  # the coarse result's step
    labels = {text.get_text().strip(): text.get_position()[0] for text in ax.texts}
    assert labels == {"scale 1\n256×192": 0, "scale 2\n512×384": 75}
    assert "across scales" in ax.get_xlabel()


def test_one_scale_has_no_scale_marks():
    _, ax = axes_for(records_of(CONTENT_FROM_PHOTO, STYLE_90X), "style", sizes={1: (48, 64)})
    assert len(ax.lines) == 1 and not ax.texts
    assert ax.get_xlabel() == "step"


@pytest.mark.parametrize(
    "reason, words",
    [
        ("budget", "iteration budget spent"),
        ("converged", "converged"),
        ("interrupted", "interrupted"),
        ("diverged", "diverged"),
        ("a new reason", "a new reason"),
    ],
)
def test_the_stop_reason_is_in_the_title(reason, words):
    assert words in title_of("style loss", reason)
    fig = losses_figure(records_of(CONTENT_FROM_PHOTO, STYLE_90X), reason)
    assert words in fig._suptitle.get_text()


def test_no_reason_no_claim():
    assert title_of("style loss", None) == "style loss"


def test_the_run_writer_passes_the_reason_and_the_scale_sizes(tmp_path, monkeypatch):
    """RunWriter.finish(reason) draws the four plots with the reason and each scale's size."""
    seen = {}
    monkeypatch.setattr(
        "nst.output.plots.title_of",
        lambda label, reason: seen.setdefault("reason", reason) or label,
    )
    (tmp_path / "iterates").mkdir()
    (tmp_path / "plots").mkdir()
    writer = RunWriter(tmp_path, scales=2)
    for record in two_scale_records():
        shape = (24, 32, 3) if record.scale == 1 else (48, 64, 3)
        writer.add(Record(**{**record.__dict__, "image": np.zeros(shape, np.float32)}))
    writer.finish("interrupted")
    assert seen["reason"] == "interrupted"
    assert writer.sizes == {1: (24, 32), 2: (48, 64)}
    for name in ("content_loss", "style_loss", "total_loss", "losses"):
        assert Image.open(tmp_path / "plots" / f"{name}.png").size[0] > 300


def test_plot_losses_writes_every_plot(tmp_path):
    plot_losses(two_scale_records(), tmp_path, "budget", {1: (24, 32), 2: (48, 64)})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "content_loss.png",
        "losses.png",
        "style_loss.png",
        "total_loss.png",
    ]
