"""Video in and out with PyAV (FFmpeg inside its wheel, H.264 by libx264): no system ffmpeg,
no TensorFlow.

A clip is a video file (any container and codec FFmpeg decodes, recognised by its content,
not its name) or a folder of numbered frames (`frame_0001.png`, `12.jpg`, ...: sorted by the
number in the name). Frames are float32 RGB arrays (height, width, 3), 0..255, like images.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from nst.inputs.images import ImageError, first_line, fit_size, load_image, resize

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
FOLDER_FPS = Fraction(25)  # a folder of frames has no frame rate of its own
VIDEO_CODEC = "libx264"
AUDIO_CODEC = "aac"
_NUMBER = re.compile(r"(\d+)")


class Clip(NamedTuple):
    frames: list  # float32 (height, width, 3) each, at the stylisation size
    fps: Fraction  # the source's frame rate (folders: FOLDER_FPS)
    start_s: float  # time of the first chosen frame in the source, for its audio
    audio: Path | None  # the file whose audio track goes with the frames, if it has one


def is_clip(path: Path) -> bool:
    """Whether `path` is a folder of frames or a video file (by content: an image file, which
    FFmpeg could also open, is not a clip)."""
    path = Path(path)
    if path.is_dir():
        return True
    if not path.is_file():
        return False
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return True  # even broken: it should fail as a video, not as an image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the image loader says what is wrong, once
            Image.open(path).close()
        return False
    except UnidentifiedImageError:
        pass  # not an image Pillow knows: perhaps a video
    except Exception:  # an image Pillow refuses (damaged, a decompression bomb): its message
        return False
    with contextlib.suppress(Exception), av.open(str(path)) as container:
        # FFmpeg also reads single pictures (SVG, image sequences) through its image demuxers:
        # those are images, which the image loader explains better.
        formats = container.format.name.split(",")
        pictures = any(name.endswith("_pipe") or name == "image2" for name in formats)
        return bool(container.streams.video) and not pictures
    return False


def frame_range(first: int, stop: int | None, count: int) -> range:
    """Frames `first` ≤ i < `stop` (None: to the end) of `count`."""
    return range(first, count if stop is None else min(stop, count))


def load_clip(path: Path, first: int, stop: int | None, max_size: int) -> Clip:
    """The chosen frames of a video or frame folder at `max_size`; ImageError if unusable."""
    path = Path(path)
    fitted = Fitted(max_size)
    if path.is_dir():
        frames = _folder_frames(path, first, stop, fitted)
        fps, start_s, audio = FOLDER_FPS, 0.0, None
    else:
        frames, fps, start_s, audio = _video_frames(path, first, stop, fitted)
    if not frames:
        what = "has no frames" if first == 0 else f"has no frames from frame {first} on"
        raise ImageError(f"video {path} {what}: check the file or [video] frames")
    return Clip(frames, fps, start_s, audio)


class Fitted:
    """Each frame at `max_size` as soon as it is decoded: a long clip at its source resolution
    in float32 would need many times the memory of the run itself."""

    def __init__(self, max_size: int) -> None:
        self.max_size, self.size = max_size, None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if self.size is None:  # the first frame decides, as every frame has its size
            self.size = fit_size(frame.shape[1], frame.shape[0], self.max_size)
        return resize(frame.astype(np.float32), *self.size)


def _folder_frames(folder: Path, first: int, stop: int | None, fitted: Fitted) -> list:
    files = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
        key=lambda p: [int(t) if t.isdigit() else t for t in _NUMBER.split(p.name)],
    )
    if not files:
        raise ImageError(
            f"folder {folder} holds no frames: give a video file, or a folder of numbered "
            f"images ({', '.join(IMAGE_SUFFIXES)})"
        )
    frames, shape = [], None
    for path in files[first:stop]:
        frame = load_image(path)
        shape = shape or frame.shape
        if frame.shape != shape:
            raise ImageError(
                f"frame {path} is {frame.shape[1]}x{frame.shape[0]} px, but the first frame "
                f"of {folder} is {shape[1]}x{shape[0]}: all frames of a clip must have one size"
            )
        frames.append(fitted(frame))
    return frames


def _video_frames(path: Path, first: int, stop: int | None, fitted: Fitted) -> tuple:
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ImageError(f"video {path} has no frames (no video stream in it)")
            stream = container.streams.video[0]
            _check_decoder(path, stream)
            fps = Fraction(stream.average_rate or stream.guessed_rate or FOLDER_FPS)
            frames, start_s = [], 0.0
            for index, frame in enumerate(container.decode(stream)):
                if stop is not None and index >= stop:
                    break
                if index >= first:
                    start_s = start_s if frames else float(frame.time or index / fps)
                    frames.append(fitted(frame.to_ndarray(format="rgb24")))
            audio = path if container.streams.audio else None
    except ImageError:
        raise
    except (av.FFmpegError, OSError, ValueError) as error:
        raise ImageError(
            f"cannot read video {path}: {_what_failed(error)}; the file is damaged, incomplete "
            f"or not a video: export or download it again (or give a folder of frames)"
        ) from None
    return frames, fps, start_s, audio


def _check_decoder(path: Path, stream) -> None:
    """An unknown codec: FFmpeg opens the container but has no decoder for the stream."""
    if stream.codec_context is None:
        raise ImageError(
            f"video {path} uses a codec this FFmpeg (PyAV's) cannot decode: convert it to "
            f"H.264 mp4, or export its frames as PNG into a folder"
        )


def _what_failed(error: BaseException) -> str:
    if isinstance(error, av.FFmpegError) and error.strerror:
        return error.strerror  # without the errno and the file name, which the message has
    return first_line(error)


def _even(frame: np.ndarray) -> np.ndarray:
    """H.264 in yuv420p needs even sides: the last row/column repeated where one is odd."""
    height, width = frame.shape[:2]
    return np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def write_video(path: Path, frames, fps: Fraction, audio: Path | None, start_s: float) -> None:
    """H.264 mp4 at `path` (via a temporary name) of uint8 RGB `frames`; the audio of `audio`
    from `start_s` on for as long as the frames last, re-encoded as AAC."""
    path = Path(path)
    frames = [_even(f) for f in frames]
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        with contextlib.ExitStack() as stack:
            container = stack.enter_context(av.open(str(tmp), "w", format="mp4"))
            stream = container.add_stream(VIDEO_CODEC, rate=fps)
            stream.height, stream.width = frames[0].shape[:2]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "18"}
            # Every stream must exist before the first packet is written (the mp4 header).
            source = stack.enter_context(av.open(str(audio))) if audio is not None else None
            sound = _audio_stream(container, source) if source is not None else None
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
            if sound is not None:
                _copy_audio(container, source, sound, start_s, len(frames) / fps)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _audio_stream(container, source):
    rate = source.streams.audio[0].codec_context.sample_rate or 44100
    return container.add_stream(AUDIO_CODEC, rate=rate, layout="stereo")


def _copy_audio(container, source, out, start_s: float, duration_s: float) -> None:
    """The source's first audio track from `start_s` for `duration_s`, re-encoded into `out`."""
    resampler = av.AudioResampler(
        format="fltp", layout="stereo", rate=out.codec_context.sample_rate
    )
    for frame in source.decode(source.streams.audio[0]):
        if frame.time is not None and frame.time < start_s:
            continue
        if frame.time is not None and frame.time >= start_s + float(duration_s):
            break
        for resampled in resampler.resample(frame):
            resampled.pts = None  # the encoder numbers the samples from 0
            container.mux(out.encode(resampled))
    container.mux(out.encode())
