"""Loss plots of a run (matplotlib, drawn off-screen)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display
import matplotlib.pyplot as plt

from nst.records import Record
from nst.runfolder import write_bytes_atomic

PLOTTED = {
    "content": "content loss (paper's ½ Σ (F − P)²)",
    "style": "style loss (paper's Σ w_l E_l)",
    "total": "total (objective minimised)",
}


def _spans_decades(values: list[float]) -> bool:
    positive = [v for v in values if v > 0]
    return len(positive) > 1 and max(positive) / min(positive) > 100


def _draw(ax, iterations: list[int], values: list[float], label: str) -> None:
    if _spans_decades(values):
        # Log scale cannot show zeros (content starts at 0 from a content copy): leave them out.
        points = [(i, v) for i, v in zip(iterations, values, strict=True) if v > 0]
        ax.plot(*zip(*points, strict=True), label=label)
        ax.set_yscale("log")
    else:
        ax.plot(iterations, values, label=label)
    ax.set_xlabel("iteration")
    ax.grid(True, which="both", alpha=0.3)


def steps_so_far(records: list[Record]) -> list[int]:
    """The x axis: iterations counted on across coarse-to-fine scales (each restarts at 0)."""
    steps, offset, previous = [], 0, None
    for r in records:
        if previous is not None and r.scale != previous.scale:
            offset += previous.iteration  # a scale's start is the previous scale's result
        steps.append(offset + r.iteration)
        previous = r
    return steps


def plot_losses(records: list[Record], plots_dir: Path) -> None:
    """content_loss.png, style_loss.png, total_loss.png and losses.png (all three) in plots_dir."""
    iterations = steps_so_far(records)
    series = {name: [getattr(r, name) for r in records] for name in PLOTTED}
    for name, label in PLOTTED.items():
        fig, ax = plt.subplots(figsize=(6, 4))
        _draw(ax, iterations, series[name], label)
        ax.set_ylabel(name)
        ax.set_title(label)
        fig.tight_layout()
        _save(fig, Path(plots_dir) / f"{name}_loss.png")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, (name, label) in zip(axes, PLOTTED.items(), strict=True):
        _draw(ax, iterations, series[name], label)
        ax.set_ylabel(name)
        ax.set_title(label)
    fig.suptitle("losses per iteration")
    fig.tight_layout()
    _save(fig, Path(plots_dir) / "losses.png")


def plot_frames(frames: list, plots_dir: Path) -> None:
    """A video run's frame_losses.png (each frame's final content, style and total) and
    temporal_loss.png (nst.flow.temporal_error against the previous frame) in plots_dir;
    `frames` are nst.video.Frame rows."""
    numbers = [f.frame for f in frames]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, (name, label) in zip(axes, PLOTTED.items(), strict=True):
        _draw(ax, numbers, [getattr(f, name) for f in frames], label)
        ax.set_xlabel("frame")
        ax.set_title(label)
    fig.suptitle("final losses per frame")
    fig.tight_layout()
    _save(fig, Path(plots_dir) / "frame_losses.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    _draw(ax, numbers[1:], [f.temporal for f in frames[1:]], "temporal")
    ax.set_xlabel("frame")
    ax.set_title("temporal error vs the previous frame, warped")
    fig.tight_layout()
    _save(fig, Path(plots_dir) / "temporal_loss.png")


def _save(fig, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
