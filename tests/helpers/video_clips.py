"""Tiny synthetic clips for the video tests: a textured background panned sideways with a
bright square moving across it, optionally with a sine tone, written with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random colour texture, float32 0..255: DIS flow needs structure to follow."""
    noise = np.random.default_rng(seed).uniform(0, 255, (height, width, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2)
    return (smooth - smooth.min()) / (smooth.max() - smooth.min()) * 255


def clip_frames(count: int = 4, width: int = 64, height: int = 48, step: int = 2) -> list:
    """`count` uint8 frames: the texture panned by `step` px per frame, a square moving."""
    background = texture(height, width + step * count)
    frames = []
    for i in range(count):
        frame = background[:, step * (count - i) : step * (count - i) + width].copy()
        frame[10:26, 8 + 3 * i : 24 + 3 * i] = (250, 240, 40)
        frames.append(frame.astype(np.uint8))
    return frames


def write_clip(path: Path, frames: list, fps: int = 12, tone_hz: float | None = None) -> Path:
    """An H.264 mp4 of `frames`; with `tone_hz` a mono sine tone as long as the frames."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=44100, layout="mono") if tone_hz else None
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode())
        if audio is not None:
            t = np.arange(int(44100 * len(frames) / fps)) / 44100
            tone = (0.5 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)[None]
            for start in range(0, tone.shape[1], 1024):
                samples = np.ascontiguousarray(tone[:, start : start + 1024])
                chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                chunk.sample_rate = 44100
                container.mux(audio.encode(chunk))
            container.mux(audio.encode())
    return path


def write_folder(folder: Path, frames: list) -> Path:
    """frames as folder/frame_1.png, frame_2.png, ... (unpadded: sorted by number, not text)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / f"frame_{i}.png")
    return folder


def read_video(path: Path) -> tuple:
    """(frames as uint8 arrays, frame rate, audio samples of the first channel or None)."""
    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        sound = None
        if container.streams.audio:
            sound = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    return frames, rate, sound


def video_overrides(content: Path, style: Path, results: Path, **extra: str) -> list[str]:
    """--set arguments for a tiny video run: random weights, 48 px, 3 then 2 iterations."""
    values = {
        "paths.content_image": str(content),
        "paths.style_image": str(style),
        "paths.results_dir": str(results),
        "model.weights": "random",
        "image.max_size": "48",
        "video.first_frame_iterations": "3",
        "video.frame_iterations": "2",
        "output.show_viewer": "false",
        **extra,
    }
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


def only_run(results: Path) -> Path:
    (run_dir,) = results.iterdir()
    return run_dir


def frame_pixels(run_dir: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted((run_dir / "frames").glob("frame_*.png"))]
