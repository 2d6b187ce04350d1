"""Flicker of video mode against independent frames, on a real clip with the real VGG16.

python -m bench.video [--size 256] [--frames 8] [--first 300] [--later 100] [--out DIR]

Makes a clip in a temporary folder (never in the repository): a slow pan over
../shared/images/tubingen.jpg with a red disc moving across it, `--frames` frames at 12 fps.
Stylises it in Starry Night's style three ways, each through `nst.run.pipeline.run` (the same
code `python main.py` runs) with the same budget per frame:

- video: [video] defaults (temporal term, init = prev_warped);
- independent: temporal_weight = 0 and init = content (Gatys per frame, same budget);
- content init: the temporal term but init = content (what prev_warped saves).

Prints per mode the temporal error (Ruder et al.; mean over frames 2..n of
(1/D) Σ c (x_t − w(x_{t−1}))², pixels 0..1, c the consistency of the source's flow: the
`temporal` column of frames.csv), the mean per-frame style loss, and seconds per frame.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VGG16 = SHARED / "weights" / "vgg16_imagenet_notop.weights.h5"
MODES = {
    "video": (),
    "independent": ("video.temporal_weight=0", "video.init=content"),
    "content init": ("video.init=content",),
    "temporal 100": ("video.temporal_weight=100",),
    "temporal 1000": ("video.temporal_weight=1000",),
}


def pan_frames(frames: int, size: int) -> list[np.ndarray]:
    """A pan over Tübingen (2 px per frame) with a red disc moving right and down."""
    photo = Image.open(SHARED / "images" / "tubingen.jpg").convert("RGB")
    scale = (size + 4 * frames) / photo.width
    photo = photo.resize((size + 4 * frames, round(photo.height * scale)), Image.LANCZOS)
    height = min(photo.height, round(size * 0.75))
    shots = []
    for i in range(frames):
        shot = photo.crop((2 * i, 0, 2 * i + size, height))
        draw = ImageDraw.Draw(shot)
        x, y, r = size // 4 + 6 * i, height // 3 + 3 * i, size // 12
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(220, 30, 30), outline=(20, 20, 20))
        shots.append(np.asarray(shot))
    return shots


def run_mode(clip: Path, results: Path, args, extra: tuple) -> dict:
    from nst.run.pipeline import run
    from nst.run.process import build_extractor
    from nst.settings import load_settings

    settings = load_settings(
        None,
        (
            f"paths.content_image={clip}",
            f"paths.style_image={SHARED / 'images' / 'starry_night.jpg'}",
            f"paths.results_dir={results}",
            "model.network=vgg16",
            f"model.weights={VGG16}",
            f"image.max_size={args.size}",
            f"video.first_frame_iterations={args.first}",
            f"video.frame_iterations={args.later}",
            "video.compare=false",
            *extra,
        ),
    )
    extractor = build_extractor(settings)
    started = time.perf_counter()
    outcome = run(settings, extractor=extractor)
    seconds = time.perf_counter() - started
    with open(outcome.run_dir / "frames.csv") as file:
        rows = list(csv.DictReader(file))
    return {
        "temporal": statistics.mean(float(r["temporal"]) for r in rows[1:]),
        "style": statistics.mean(float(r["style"]) for r in rows),
        "style_later": statistics.mean(float(r["style"]) for r in rows[1:]),
        "seconds_per_frame": seconds / len(rows),
        "run_dir": outcome.run_dir,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--first", type=int, default=300, help="steps for the first frame")
    parser.add_argument("--later", type=int, default=100, help="steps for each later frame")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--out", type=Path, help="keep the run folders here (default: temp)")
    args = parser.parse_args(argv)
    from fractions import Fraction

    from nst.inputs.video_io import write_video

    with tempfile.TemporaryDirectory() as temp:
        clip = Path(temp) / "tubingen_pan.mp4"
        write_video(clip, pan_frames(args.frames, args.size + 64), Fraction(12), None, 0.0)
        results = args.out or Path(temp) / "results"
        table = {m: run_mode(clip, results, args, MODES[m]) for m in args.modes.split(",")}
    print(f"clip: pan over tubingen.jpg with a moving disc, {args.frames} frames, {args.size} px")
    print(f"budget: {args.first} steps for frame 1, {args.later} for each later frame")
    print("| mode | temporal error | style loss (all / frames 2..n) | s per frame |")
    print("| --- | --- | --- | --- |")
    for mode, row in table.items():
        print(
            f"| {mode} | {row['temporal']:.3g} | {row['style']:.4g} / {row['style_later']:.4g} "
            f"| {row['seconds_per_frame']:.1f} |"
        )


if __name__ == "__main__":
    main()
