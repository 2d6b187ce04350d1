"""Loss plots of a run (matplotlib, drawn off-screen).

Readable at a glance: a loss that falls by a decade or more gets a log axis (its early fall
would flatten the rest on a linear one), coarse-to-fine scale changes are marked and named,
and the title says why the run ended.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display
import matplotlib.pyplot as plt
from matplotlib.transforms import offset_copy

from nst.core.records import Record, run_steps
from nst.output.runfolder import write_bytes_atomic

PLOTTED = {
    "content": "content loss (paper's ½ Σ (F − P)²)",
    "style": "style loss (paper's Σ w_l E_l)",
    "total": "total (objective minimised)",
}
# Why a run ended, as the run says it (a plain string: a new reason shows as written).
STOP_REASONS = {
    "budget": "stopped: iteration budget spent",
    "converged": "stopped: converged",
    "interrupted": "stopped: interrupted",
    "diverged": "stopped: diverged (not finite)",
}
FALL_FOR_LOG = 10.0  # a loss whose start is this many times its lowest value gets a log axis
SCALE_LINE = {"color": "0.45", "linestyle": "--", "linewidth": 1}


def log_points(steps: list[int], values: list[float]) -> list[tuple[int, float]]:
    """The points a log axis can show: positive and finite, and without a first point more
    than a decade under all the others (the content loss of a start from the content photo:
    0, or rounding noise, which would add empty decades)."""
    points = [(s, v) for s, v in zip(steps, values, strict=True) if v > 0 and math.isfinite(v)]
    if len(points) > 2 and points[0][1] * FALL_FOR_LOG < min(v for _, v in points[1:]):
        points = points[1:]
    return points


def falls(values: list[float]) -> bool:
    """Whether a loss falls by at least FALL_FOR_LOG from its start (as log_points keeps it)."""
    kept = [v for _, v in log_points(list(range(len(values))), values)]
    return len(kept) > 1 and kept[0] >= FALL_FOR_LOG * min(kept)


def scale_starts(records: list[Record], steps: list[int]) -> list[tuple[int, int]]:
    """(step, scale) where each coarse-to-fine scale begins, the first one included."""
    starts, previous = [], None
    for record, step in zip(records, steps, strict=True):
        if record.scale != previous:
            starts.append((step, record.scale))
            previous = record.scale
    return starts


def steps_so_far(records: list[Record]) -> list[int]:
    """The x axis: the run's steps (nst.core.records.StepCount), as the bar, the log and
    losses.csv's `step` column number them."""
    return run_steps(records)


def title_of(label: str, stop_reason: str | None) -> str:
    """The plot's title: what it shows, and why the run ended where that is known."""
    if not stop_reason:
        return label
    return f"{label}\n{STOP_REASONS.get(stop_reason, f'stopped: {stop_reason}')}"


def draw_loss(ax, records: list[Record], name: str, sizes: dict | None = None) -> None:
    """One loss against the iteration on `ax`: log axis if it falls, scale changes marked."""
    steps = steps_so_far(records)
    draw_series(ax, steps, [getattr(r, name) for r in records])
    starts = scale_starts(records, steps)
    ax.set_xlabel("step (counted on across scales)" if len(starts) > 1 else "step")
    ax.set_ylabel(name)
    ax.grid(True, which="both", alpha=0.3)
    _mark_scales(ax, starts, sizes or {})


def draw_series(ax, steps: list[int], values: list[float]) -> None:
    """values against steps on `ax`: on a log axis (zeros and a near-zero start left out) if
    they fall by FALL_FOR_LOG or more, else linear."""
    if falls(values):
        ax.plot(*zip(*log_points(steps, values), strict=True))
        ax.set_yscale("log")
    else:
        ax.plot(steps, values)


def _mark_scales(ax, starts: list[tuple[int, int]], sizes: dict) -> None:
    """A dashed line where each finer scale begins, and every scale's name (and size) at the
    top of its stretch; nothing with a single scale."""
    if len(starts) < 2:
        return
    for step, scale in starts:
        if step > 0:
            ax.axvline(step, **SCALE_LINE)
        size = sizes.get(scale)
        text = f"scale {scale}" + (f"\n{size[1]}×{size[0]}" if size else "")
        # x in data units (3 points right of the line), y in axes units: the label stays at
        # the top on any y scale; a light box keeps it legible over the curve.
        where = offset_copy(ax.get_xaxis_transform(), fig=ax.figure, x=3, units="points")
        box = {"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1}
        ax.text(step, 0.98, text, transform=where, va="top", fontsize=8, bbox=box)


def plot_losses(
    records: list[Record],
    plots_dir: Path,
    stop_reason: str | None = None,
    sizes: dict[int, tuple[int, int]] | None = None,
) -> None:
    """content_loss.png, style_loss.png, total_loss.png and losses.png (all three) in plots_dir.

    `stop_reason` (budget, converged, interrupted, diverged) goes in the titles; `sizes` maps
    a scale to its (height, width) for the scale labels."""
    for name, label in PLOTTED.items():
        fig, ax = plt.subplots(figsize=(6, 4))
        draw_loss(ax, records, name, sizes)
        ax.set_title(title_of(label, stop_reason), fontsize=10)
        fig.tight_layout()
        _save(fig, Path(plots_dir) / f"{name}_loss.png")
    fig = losses_figure(records, stop_reason, sizes)
    _save(fig, Path(plots_dir) / "losses.png")


def losses_figure(records: list[Record], stop_reason: str | None = None, sizes=None):
    """The three losses side by side in one figure (losses.png)."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, (name, label) in zip(axes, PLOTTED.items(), strict=True):
        draw_loss(ax, records, name, sizes)
        ax.set_title(label, fontsize=10)
    fig.suptitle(title_of("losses per step", stop_reason).replace("\n", ": "))
    fig.tight_layout()
    return fig


def plot_frames(frames: list, plots_dir: Path) -> None:
    """A video run's frame_losses.png (each frame's final content, style and total) and
    temporal_loss.png (nst.inputs.flow.temporal_error against the previous frame) in plots_dir;
    `frames` are nst.run.video.Frame rows."""
    numbers = [f.frame for f in frames]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, (name, label) in zip(axes, PLOTTED.items(), strict=True):
        draw_series(ax, numbers, [getattr(f, name) for f in frames])
        ax.set_ylabel(name)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xlabel("frame")
        ax.set_title(label)
    fig.suptitle("final losses per frame")
    fig.tight_layout()
    _save(fig, Path(plots_dir) / "frame_losses.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    draw_series(ax, numbers[1:], [f.temporal for f in frames[1:]])
    ax.set_ylabel("temporal")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlabel("frame")
    ax.set_title("temporal error vs the previous frame, warped")
    fig.tight_layout()
    _save(fig, Path(plots_dir) / "temporal_loss.png")


def _save(fig, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
