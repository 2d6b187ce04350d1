"""A run's evolution: its saved iterates with their losses, captioned, and its animation.

Shared by the viewer window and `evolution.gif`. Reads a run folder through
`nst.output.runfolder` only: no window, no TensorFlow. Frames are RGB uint8 arrays.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from nst.output.runfolder import (
    ANIMATION,
    FRAMES,
    FRAMES_CSV,
    ITERATES,
    LOSSES_CSV,
    iteration_of,
    write_bytes_atomic,
)

SHOWN_LOSSES = ("content", "style", "total")
MIN_LONG_SIDE = 400  # small results are enlarged to this, so they and their caption are legible
# The animation stays small: at most this many frames, a loop of about this long (the held
# result included), this many pixels: about 2 MB for a 512 px run of 31 iterates (measured
# 1.2 MB for 16 real ones; 1.8 MB at the earlier 400 px).
ANIMATION_MAX_FRAMES = 50
ANIMATION_SECONDS = 4.0
ANIMATION_FRAME_MS = (40, 250)  # shortest and longest time a frame is shown
ANIMATION_HOLD_LAST_MS = 1500  # the result stays a moment before the loop starts again
ANIMATION_BOX = (320, 320)

_FONT = cv2.FONT_HERSHEY_SIMPLEX  # built into OpenCV: needs no font files
_FONT_SCALES = (0.55, 0.35)  # largest and smallest caption text
_PAD = 8
_CAPTION_BACKGROUND = (32, 32, 32)
_CAPTION_TEXT = (240, 240, 240)


class RunError(ValueError):
    """A folder that is not a run with saved iterates; the message says what is missing."""


@dataclass(frozen=True)
class Frame:
    iteration: int  # a video run's frame number
    path: Path
    losses: dict[str, float]  # this iteration's row of losses.csv; empty where it has none
    unit: str = "iteration"  # what `iteration` counts: "frame" for a video run


def read_losses(path: Path, key: str = "iteration") -> dict[int, dict[str, float]]:
    """losses.csv -> {iteration (the `key` column): {column: value}}; a missing file or bad
    rows give no entries."""
    try:
        with open(path, newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    losses = {}
    for row in rows:
        try:
            iteration = int(row.pop(key))
            losses[iteration] = {name: float(value) for name, value in row.items()}
        except (KeyError, TypeError, ValueError):
            continue  # a row cut short by an interrupted run: the iterate still shows
    return losses


def run_frames(run_dir: Path, on_note: Callable[[str], None] | None = None) -> list[Frame]:
    """The run's saved iterates in iteration order, each with its losses. A damaged iterate
    (a disk that filled up, a copy cut short) is left out, with a note through `on_note`."""
    run_dir = Path(run_dir)
    folder = run_dir / ITERATES
    if not folder.is_dir() and (run_dir / FRAMES).is_dir():
        return video_frames(run_dir)
    if not folder.is_dir():
        raise RunError(f"{run_dir} is not a run folder: it has no {ITERATES}/ folder")
    found = sorted((iteration_of(p), p) for p in folder.iterdir() if iteration_of(p) is not None)
    if not found:
        raise RunError(f"{folder} holds no saved iterates (iter_NNNNNN.png)")
    damaged = {path: why for _, path in found if (why := damage(path)) is not None}
    for path, why in damaged.items():
        if on_note is not None:
            on_note(f"skipping {path}: {why}")
    found = [(iteration, path) for iteration, path in found if path not in damaged]
    if not found:
        raise RunError(f"{folder}: every saved iterate is damaged; nothing to show")
    losses = read_losses(run_dir / LOSSES_CSV)
    return [Frame(iteration, path, losses.get(iteration, {})) for iteration, path in found]


POSITION_NAME = "picture"  # the viewer's trackbar is named so: one numbering for both


def position_label(position: int, count: int) -> str:
    """Where a frame is among `count` saved pictures (iterates, or a video's frames), numbered
    as the viewer's trackbar shows its value (Qt: `value/maximum`, from 0): `picture 0/30` for
    the first of 31."""
    return f"{POSITION_NAME} {position}/{count - 1}"


def damage(path: Path) -> str | None:
    """Why the image file at `path` cannot be shown (damaged, truncated, not an image), or
    None. Checks every chunk's checksum without decoding (fast: a run has hundreds)."""
    try:
        with Image.open(path) as image:
            image.verify()
    except Exception as error:  # Pillow raises many kinds for a damaged file
        text = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"damaged or not an image ({text[:120]})"
    return None


def video_frames(run_dir: Path) -> list[Frame]:
    """A video run's finished frames in order, each with its final losses (frames.csv)."""
    found = sorted((run_dir / FRAMES).glob("frame_*.png"))
    if not found:
        raise RunError(f"{run_dir / FRAMES} holds no finished frames (frame_NNNNNN.png)")
    losses = read_losses(run_dir / FRAMES_CSV, key="frame")
    numbers = [int(p.stem.removeprefix("frame_")) for p in found]
    return [Frame(n, p, losses.get(n, {}), "frame") for n, p in zip(numbers, found, strict=True)]


def caption(frames: list[Frame], position: int) -> tuple[str, str]:
    """The two overlay lines of the frame at `position`: its iteration (the primary label) and
    its place as the trackbar counts it, then its losses."""
    frame = frames[position]
    where = (
        f"{frame_name(frame)} / {frame_number(frames[-1])}   "
        f"({position_label(position, len(frames))})"
    )
    shown = [f"{name} {frame.losses[name]:.3g}" for name in SHOWN_LOSSES if name in frame.losses]
    return where, "   ".join(shown) or "losses: not in losses.csv"


def frame_number(frame: Frame) -> int:
    """The frame's number: the run's step (losses.csv's `step`, counted on across scales as
    the bar, the log and the plots count it) where the log has it, else its iteration."""
    step = frame.losses.get("step")
    return int(step) if step is not None and frame.unit == "iteration" else frame.iteration


def frame_name(frame: Frame) -> str:
    """`step 228`, `iteration 12` (a log without steps) or `frame 3` (a video)."""
    unit = "step" if "step" in frame.losses and frame.unit == "iteration" else frame.unit
    return f"{unit} {frame_number(frame)}"


def fit_scale(width: int, height: int, box: tuple[int, int], min_long_side: int) -> float:
    """The scale that fits width x height in box (aspect kept), enlarging small images to
    min_long_side on their longer side where the box allows."""
    fit = min(box[0] / width, box[1] / height)
    return min(fit, max(1.0, min_long_side / max(width, height)))


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def load_rgb(path: Path, fit: tuple[int, int] | None = None) -> np.ndarray:
    """The image at `path` as RGB uint8 (a 16-bit final.png too); with `fit` (width, height),
    a large one is first reduced by the largest whole factor that keeps it at least that
    size (a box filter, fast), so a print-sized result is never held at full size."""
    with Image.open(path) as image:
        factor = min(image.width // fit[0], image.height // fit[1]) if fit else 1
        picture = image.reduce(factor) if factor >= 2 else image
        return np.asarray(picture.convert("RGB"))


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of the image at `path`, from its header (nothing decoded)."""
    with Image.open(path) as image:
        return image.size


@dataclass(frozen=True)
class Layout:
    """How a run's frames are drawn; one for all its frames, so the picture never jumps."""

    image_size: tuple[int, int]  # (width, height) the iterates are scaled to
    font_scale: float  # of the caption text
    width: int  # of the whole frame: the image's, or the caption's where that is wider


def layout(
    image_size: tuple[int, int], captions: list[tuple[str, ...]], box: tuple[int, int]
) -> Layout:
    """Images fitted in `box` (small ones enlarged to MIN_LONG_SIDE there), and the largest
    caption text at which every line of every caption fits under them."""
    scale = fit_scale(*image_size, box, MIN_LONG_SIDE)
    width, height = scaled_size(*image_size, scale)
    lines = [line for lines in captions for line in lines]
    largest, smallest = _FONT_SCALES
    widest = max(_text_width(line, largest) for line in lines)
    font_scale = max(smallest, min(largest, largest * (width - 2 * _PAD) / max(widest, 1)))
    text_width = max(_text_width(line, font_scale) for line in lines) + 2 * _PAD
    return Layout((width, height), font_scale, max(width, text_width))


def _text_width(line: str, font_scale: float) -> int:
    return cv2.getTextSize(line, _FONT, font_scale, 1)[0][0]


def render_frame(image: np.ndarray, lines: tuple[str, ...], layout: Layout) -> np.ndarray:
    """The image at the layout's size, above a dark band with the caption `lines`.

    The image sits at the top-left corner, centred only where the caption is wider.
    """
    width, height = layout.image_size
    if (width, height) != (image.shape[1], image.shape[0]):
        shrink = width < image.shape[1]
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        image = cv2.resize(image, (width, height), interpolation=interpolation)
    (_, text_height), baseline = cv2.getTextSize("Ag", _FONT, layout.font_scale, 1)
    line_height = text_height + baseline + _PAD // 2
    band = len(lines) * line_height + _PAD
    canvas = np.full((height + band, layout.width, 3), _CAPTION_BACKGROUND, np.uint8)
    left = (layout.width - width) // 2
    canvas[:height, left : left + width] = image
    for i, line in enumerate(lines):
        origin = (_PAD, height + (i + 1) * line_height)
        cv2.putText(canvas, line, origin, _FONT, layout.font_scale, _CAPTION_TEXT, 1, cv2.LINE_AA)
    return canvas


# --- the animation --------------------------------------------------------------------------


def animation_positions(count: int, max_frames: int = ANIMATION_MAX_FRAMES) -> list[int]:
    """Up to max_frames of `count` positions, evenly spread, always with the first and last."""
    if count <= max_frames:
        return list(range(count))
    step = (count - 1) / (max_frames - 1)
    return sorted({round(i * step) for i in range(max_frames)})


def frame_duration_ms(count: int) -> int:
    """How long each frame shows, so that `count` frames, the last held ANIMATION_HOLD_LAST_MS,
    loop in about ANIMATION_SECONDS; a multiple of 10 ms, as GIF stores it."""
    shortest, longest = ANIMATION_FRAME_MS
    share = (1000 * ANIMATION_SECONDS - ANIMATION_HOLD_LAST_MS) / max(count - 1, 1)
    return 10 * round(min(longest, max(shortest, share)) / 10)


def animation_gif(frames: list[Frame]) -> bytes:
    """A looping GIF of (a sample of) the frames, each with its iteration number on it."""
    chosen = [frames[i] for i in animation_positions(len(frames))]
    labels = [(f"{frame_name(frame)} / {frame_number(frames[-1])}",) for frame in chosen]
    frame_layout = layout(image_size(chosen[0].path), labels, ANIMATION_BOX)
    fit = frame_layout.image_size
    pictures = [
        Image.fromarray(render_frame(load_rgb(frame.path, fit), label, frame_layout))
        for frame, label in zip(chosen, labels, strict=True)
    ]
    palette = shared_palette(pictures)
    pictures = [picture.quantize(palette=palette, dither=Image.Dither.NONE) for picture in pictures]
    durations = [frame_duration_ms(len(pictures))] * len(pictures)
    durations[-1] = ANIMATION_HOLD_LAST_MS
    buffer = io.BytesIO()
    pictures[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=durations,
        loop=0,
    )
    return buffer.getvalue()


def shared_palette(pictures: list[Image.Image]) -> Image.Image:
    """One 256-colour palette made from every other pixel of all the frames.

    GIF frames hold 256 colours. One palette for all keeps colours steady from frame to frame,
    and mapping to it without dithering is quick and compresses better than Pillow's
    per-frame palettes.
    Pixels are skipped, not averaged, so the caption's light text keeps its colour.
    """
    sample = np.concatenate([np.asarray(picture)[::2, ::2] for picture in pictures])
    return Image.fromarray(np.ascontiguousarray(sample)).quantize(256)


def export_animation(run_dir: Path, on_note: Callable[[str], None] | None = None) -> Path:
    """Write run_dir/evolution.gif from the saved iterates (atomically); return its path.
    Damaged iterates are left out, each with a note through `on_note`."""
    path = Path(run_dir) / ANIMATION
    write_bytes_atomic(path, animation_gif(run_frames(run_dir, on_note)))
    return path
