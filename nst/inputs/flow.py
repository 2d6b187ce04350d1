"""Optical flow between video frames and where it can be trusted (Ruder, Dosovitskiy & Brox,
*Artistic style transfer for videos*, GCPR 2016), with OpenCV's DIS flow; no TensorFlow.

A flow is a float32 array (height, width, 2) of (dx, dy) in pixels: `flow(a, b)[y, x]` is
where the pixel (x, y) of frame `a` moved to in frame `b`. Frames are float32 RGB 0..255.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

# Ruder et al.'s thresholds: forward and backward flow disagree (|ŵ + w̃|² above
# 0.01 (|ŵ|² + |w̃|²) + 0.5), or the flow's gradient is large (motion boundary).
DISAGREEMENT_RELATIVE = 0.01
DISAGREEMENT_ABSOLUTE = 0.5
BOUNDARY_RELATIVE = 0.01
BOUNDARY_ABSOLUTE = 0.002


class Warp(NamedTuple):
    """How frame t is made of frame t−1: the flow back to t−1 and its consistency weights."""

    backward: np.ndarray  # flow(frame t, frame t−1), (height, width, 2)
    consistency: np.ndarray  # c per pixel of frame t, float32 0 or 1, (height, width)


def _grey(frame: np.ndarray) -> np.ndarray:
    rgb = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def optical_flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """DIS flow (OpenCV, preset MEDIUM) from `source` to `target`, same-size RGB frames."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(_grey(source), _grey(target), None).astype(np.float32)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` sampled at x + flow(x) (bilinear, border replicated): with flow(t, t−1), frame
    t−1 carried over to frame t."""
    height, width = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(
        image,
        xs + flow[..., 0],
        ys + flow[..., 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def consistency_weights(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """c(x) of frame t, 1 where the flow from t back to t−1 is trusted, else 0 (float32).

    `forward` is flow(t−1, t), `backward` flow(t, t−1). Zero where (Ruder et al.) the
    forward flow at the source point does not undo the backward flow (disocclusion), on
    motion boundaries, and where the source point lies outside frame t−1 (new content
    entering at a border, which no check on the flow itself can see).
    """
    forward_there = warp(forward, backward)  # w̃(x) = w(x + ŵ(x))
    disagreement = np.sum(np.square(forward_there + backward), axis=2)
    size = np.sum(np.square(forward_there), axis=2) + np.sum(np.square(backward), axis=2)
    occluded = disagreement > DISAGREEMENT_RELATIVE * size + DISAGREEMENT_ABSOLUTE
    gradient = sum(
        np.square(np.gradient(backward[..., c], axis=axis)) for c in (0, 1) for axis in (0, 1)
    )
    boundary = gradient > BOUNDARY_RELATIVE * np.sum(np.square(backward), axis=2) + (
        BOUNDARY_ABSOLUTE
    )
    return ((~occluded) & (~boundary) & _lands_inside(backward)).astype(np.float32)


def _lands_inside(flow: np.ndarray) -> np.ndarray:
    """Whether x + flow(x) is inside the frame, per pixel."""
    height, width = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(width), np.arange(height))
    x, y = xs + flow[..., 0], ys + flow[..., 1]
    return (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)


def frame_warp(previous: np.ndarray, current: np.ndarray) -> Warp:
    """The flow from `current` back to `previous` (source frames) and its consistency weights."""
    backward = optical_flow(current, previous)
    forward = optical_flow(previous, current)
    return Warp(backward, consistency_weights(forward, backward))


def temporal_error(current: np.ndarray, previous: np.ndarray, frame: Warp) -> float:
    """(1/D) Σ c (x − w(x_prev))², pixels scaled to 0..1, D = pixels × channels: how much
    stylised frame t departs from stylised frame t−1 carried along the source's flow."""
    carried = warp(previous, frame.backward)
    difference = np.square((current - carried) / 255.0) * frame.consistency[..., None]
    return float(np.mean(difference))
