"""A video run (Ruder, Dosovitskiy & Brox, *Artistic style transfer for videos*, GCPR 2016):
every frame of a clip stylised by the one loop, `nst.optimize.stylize`, each pulled towards
the previous result carried along the source's optical flow (nst.flow).

The network, the traced step and the style targets are built once for the whole clip; each
frame brings its content targets, its start and its temporal term as inputs of the step.
The run folder gets the frames one by one as they finish, so an interrupted run keeps them
and `python main.py --resume <run>` goes on at the first missing frame (see `resume`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from nst.convergence import ASKED
from nst.exits import EXIT_DIVERGED, EXIT_OK, say
from nst.flow import frame_warp, temporal_error, warp
from nst.images import ImageError, to_uint8
from nst.networks import check_weights_file
from nst.outputs import write_png
from nst.preflight import available_memory, check_fits_network, check_memory, check_results_folder
from nst.process import StopOnSignal, build_extractor
from nst.records import Diverged, Outcome, Record
from nst.runfolder import (
    COMPARE,
    CONFIG,
    FRAMES_CSV,
    LOSSES_CSV,
    PLOTS,
    VIDEO,
    frame_path,
    make_unique_dir,
    write_bytes_atomic,
)
from nst.settings import WEIGHTS_CHOICES, Settings, SettingsError, load_settings, render
from nst.styles import Inputs, load_styles, prepare_colors, restore_colors
from nst.video_io import Clip, is_clip, load_clip, write_video

FRAME_COLUMNS = ("frame", "iterations", "content", "style", "tv", "total", "temporal", "seconds")


class Frame(NamedTuple):
    """One finished frame, as logged in frames.csv."""

    frame: int  # from 1
    iterations: int
    content: float
    style: float
    tv: float
    total: float
    temporal: float  # nst.flow.temporal_error against the previous result (0 for the first)
    seconds: float


@dataclass(frozen=True)
class VideoInputs:
    clip: Clip  # the source frames at the run's size
    styles: tuple  # the style images, prepared (colours) with the first frame


def prepare_video(settings: Settings) -> VideoInputs:
    """The clip and the style images at the run's size, after every check that needs no
    TensorFlow (as nst.app.prepare_images does for one image)."""
    paths, image, model, video = settings.paths, settings.image, settings.model, settings.video
    if image.scales not in (None, 1):  # auto (None) means one size for a video
        raise SettingsError(
            f"[image] scales = {image.scales}: a video run optimises each frame at one size; "
            f"set scales = 1 or auto"
        )
    if settings.optimizer.name != "adam":
        raise SettingsError(
            f"[optimizer] name = {settings.optimizer.name}: a video run uses adam (one traced "
            f"step serves every frame); set name = adam"
        )
    clip = load_clip(paths.content_image, *video.frames, image.max_size)
    height, width = clip.frames[0].shape[:2]
    check_fits_network(paths.content_image, width, height, model)
    if model.weights not in WEIGHTS_CHOICES:
        check_weights_file(model.network, model.weights)
    check_memory(model, width, height, image.max_size, available_memory(), "adam")
    # Every frame as PNG and twice in the videos (loosely compressed), plus logs and plots.
    check_results_folder(paths.results_dir, len(clip.frames) * width * height * 3 * 3 + 10**6)
    styles = load_styles(paths, image, (width, height), on_note=lambda t: say(f"note: {t}"))
    prepared = prepare_colors(clip.frames[0], list(styles), image.preserve_colors)
    return VideoInputs(clip, prepared.styles)


def frame_settings(settings: Settings, index: int) -> Settings:
    """The settings of frame `index` (from 0): its budget, and no iterates but the result."""
    video = settings.video
    iterations = video.first_frame_iterations if index == 0 else video.frame_iterations
    optimizer = dataclasses.replace(settings.optimizer, iterations=iterations)
    output = dataclasses.replace(settings.output, save_every=iterations)
    image = dataclasses.replace(settings.image, scales=1)  # auto: one size per frame
    return dataclasses.replace(settings, optimizer=optimizer, output=output, image=image)


def frame_inputs(frame: np.ndarray, styles: tuple, preserve_colors: str) -> Inputs:
    """What the loop sees of one source frame (the style images are the first frame's)."""
    content = prepare_colors(frame, list(styles), preserve_colors).content
    return Inputs(content, styles, frame)


def optimised_space(saved: np.ndarray, preserve_colors: str) -> np.ndarray:
    """A saved result as the loop sees images: grey luminance in luminance mode."""
    if preserve_colors != "luminance":
        return saved
    from nst.colors import grey, luminance

    return grey(luminance(saved))


def start_and_temporal(previous, source_previous, source, content, settings: Settings):
    """(start image or None, Temporal or None, Warp or None) of a frame after the first.

    `previous` is the previous result as saved (rounded to 8 bits, so that a resumed run
    starts from exactly what an uninterrupted one did)."""
    from nst.optimize import Temporal

    video = settings.video
    carried_warp = frame_warp(source_previous, source)
    mode = settings.image.preserve_colors
    carried = warp(optimised_space(previous, mode), carried_warp.backward)
    start = {"prev_warped": carried, "prev": optimised_space(previous, mode), "content": content}
    temporal = Temporal(carried, carried_warp.consistency, video.temporal_weight)
    return start[video.init].astype(np.float32), temporal, carried_warp


class FrameLog:
    """The records of every frame (losses.csv, with a frame column) and one row per finished
    frame (frames.csv); rewritten after each frame, so an interruption loses nothing."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.rows: list[tuple[int, Record]] = []  # (frame from 1, record without image)
        self.frames: list[Frame] = []

    def add_frame(self, frame: Frame, records: list[Record]) -> None:
        self.rows += [(frame.frame, dataclasses.replace(r, image=None)) for r in records]
        self.frames.append(frame)
        self.write()

    def write(self) -> None:
        losses = io.StringIO()
        out = csv.writer(losses, lineterminator="\n")
        out.writerow(("frame", "iteration", "content", "style", "tv", "total", "elapsed_s"))
        for index, r in self.rows:
            numbers = (r.content, r.style, r.tv, r.total, r.elapsed_s)
            out.writerow((index, r.iteration, *(f"{v:.9g}" for v in numbers)))
        write_bytes_atomic(self.run_dir / LOSSES_CSV, losses.getvalue().encode())
        frames = io.StringIO()
        out = csv.writer(frames, lineterminator="\n")
        out.writerow(FRAME_COLUMNS)
        for f in self.frames:
            out.writerow((f.frame, f.iterations, *(f"{v:.9g}" for v in f[2:])))
        write_bytes_atomic(self.run_dir / FRAMES_CSV, frames.getvalue().encode())

    def read(self, finished: int) -> None:
        """The log of the first `finished` frames, from a run folder being resumed."""
        with contextlib.suppress(FileNotFoundError):
            with open(self.run_dir / LOSSES_CSV, newline="") as file:
                for row in csv.DictReader(file):
                    if int(row["frame"]) <= finished:
                        losses = [float(row[n]) for n in ("content", "style", "tv", "total")]
                        record = Record.of(int(row["iteration"]), losses, float(row["elapsed_s"]))
                        self.rows.append((int(row["frame"]), record))
            with open(self.run_dir / FRAMES_CSV, newline="") as file:
                for row in csv.DictReader(file):
                    if int(row["frame"]) <= finished:
                        values = [float(row[c]) for c in FRAME_COLUMNS[2:]]
                        counts = int(row["frame"]), int(row["iterations"])
                        self.frames.append(Frame(*counts, *values))


def finished_frames(run_dir: Path) -> int:
    """How many frames from the first on are on disk (each written atomically)."""
    count = 0
    while frame_path(run_dir, count + 1).is_file():
        count += 1
    return count


def load_frame(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float32)


class FrameBar:
    """One bar over the frames, with ETA, and the current frame's iteration and losses."""

    def __init__(self, total: int, done: int):
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, unit="frame", dynamic_ncols=True)

    def step(self, frame: int, record: Record, budget: int) -> None:
        self.bar.set_postfix_str(
            f"frame {frame} it {record.iteration}/{budget} style {record.style:.3g}", refresh=True
        )

    def frame_done(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


@dataclass
class VideoRun:
    """A video run in progress: its folder, log and what the next frame needs."""

    run_dir: Path
    settings: Settings
    inputs: VideoInputs
    log: FrameLog
    session: object  # nst.optimize.Session: the network's traced step and style targets
    stop: object  # nst.process.StopRequest
    previous: np.ndarray | None = None  # the last finished result as saved (8-bit values)


def stylize_frame(run: VideoRun, index: int, bar: FrameBar) -> list[Record] | None:
    """Frame `index` (from 0) through the loop; its records, the last with the result, or
    None if a stop was asked before it finished. Raises Diverged like the loop."""
    from nst.optimize import stylize

    settings, clip = run.settings, run.inputs.clip
    mode = settings.image.preserve_colors
    inputs = frame_inputs(clip.frames[index], run.inputs.styles, mode)
    start = temporal = carried_warp = None
    if index > 0 and run.previous is not None:
        start, temporal, carried_warp = start_and_temporal(
            run.previous, clip.frames[index - 1], clip.frames[index], inputs.content, settings
        )
    this = frame_settings(settings, index)
    records = stylize(
        run.session.extractor,
        inputs,
        this,
        stop_requested=run.stop.requested,
        start=start,
        temporal=temporal,
        session=run.session,
    )
    kept = []
    for record in restore_colors(records, inputs.photo, mode):
        kept.append(record)
        bar.step(index + 1, record, this.optimizer.iterations)
    if kept[-1].stopped == ASKED:  # cut short: the frame is not finished
        return None
    result = to_uint8(kept[-1].image)
    write_png(frame_path(run.run_dir, index + 1), result)
    previous, run.previous = run.previous, result.astype(np.float32)
    error = 0.0 if carried_warp is None else temporal_error(run.previous, previous, carried_warp)
    last = kept[-1]
    losses = (last.content, last.style, last.tv, last.total)
    run.log.add_frame(Frame(index + 1, last.iteration, *losses, error, last.elapsed_s), kept)
    return kept


def run_video(settings: Settings, *, extractor=None, stop=None, resume_dir: Path | None = None):
    """A video run into a new run folder (or on in `resume_dir`); its Outcome."""

    inputs = prepare_video(settings)  # every check first, before TensorFlow loads
    extractor = extractor if extractor is not None else build_extractor(settings)
    from nst.optimize import Session

    with StopOnSignal() if stop is None else contextlib.nullcontext(stop) as stop:
        run_dir = resume_dir or new_video_dir(settings)
        write_bytes_atomic(run_dir / CONFIG, render(settings).encode())
        run = VideoRun(run_dir, settings, inputs, FrameLog(run_dir), Session(extractor), stop)
        done = finished_frames(run_dir)
        run.log.read(done)
        if done:
            run.previous = load_frame(frame_path(run_dir, done))
        status, text = stylize_frames(run, done)
    finish_video(run)
    say(text) if status else print(f"nst: {text}")
    return Outcome(status, run_dir, text)


def new_video_dir(settings: Settings) -> Path:
    """results/<YYYYmmdd-HHMMSS>-<clip>-<style>/ with frames/ and plots/."""
    paths = settings.paths
    style = Path(paths.style_image[0]).stem
    style += f"+{len(paths.style_image) - 1}" if len(paths.style_image) > 1 else ""
    name = f"{Path(paths.content_image).stem}-{style}"
    run_dir = make_unique_dir(paths.results_dir, "".join(c if c.isalnum() else "_" for c in name))
    frame_path(run_dir, 1).parent.mkdir()
    (run_dir / PLOTS).mkdir()
    return run_dir


def stylize_frames(run: VideoRun, done: int) -> tuple[int, str]:
    """The frames from `done` on; (exit status, the line that says how it ended)."""
    total = len(run.inputs.clip.frames)
    bar = FrameBar(total, done)
    try:
        for index in range(done, total):
            try:
                finished = stylize_frame(run, index, bar)
            except Diverged as error:
                return EXIT_DIVERGED, (
                    f"error: the optimisation diverged at frame {index + 1}, iteration "
                    f"{error.record.iteration}; frames 1 to {index} are in {run.run_dir}: lower "
                    f"[optimizer] learning_rate or [video] temporal_weight"
                )
            if finished is None:
                name = signal.Signals(run.stop.signal).name
                return 128 + run.stop.signal, (
                    f"interrupted by {name} in frame {index + 1} of {total}: frames 1 to "
                    f"{index} are in {run.run_dir}; go on with: python main.py --resume "
                    f"{run.run_dir}"
                )
            bar.frame_done()
    finally:
        bar.close()
    return EXIT_OK, f"result in {run.run_dir}"


def finish_video(run: VideoRun) -> None:
    """video.mp4 (and compare.mp4) of the finished frames, and the per-frame plots."""
    count = finished_frames(run.run_dir)
    if count == 0:
        return
    clip, video = run.inputs.clip, run.settings.video
    frames = [to_uint8(load_frame(frame_path(run.run_dir, i + 1))) for i in range(count)]
    fps = clip.fps if video.fps is None else video.fps
    from fractions import Fraction

    fps = Fraction(fps).limit_denominator(1001)
    write_video(run.run_dir / VIDEO, frames, fps, clip.audio, clip.start_s)
    if video.compare:
        sources = clip.frames[:count]
        pairs = [
            np.concatenate([to_uint8(s), f], axis=1) for s, f in zip(sources, frames, strict=True)
        ]
        write_video(run.run_dir / COMPARE, pairs, fps, clip.audio, clip.start_s)
    from nst.plots import plot_frames

    plot_frames(run.log.frames, run.run_dir / PLOTS)


def resume(run_dir: Path, *, stop=None):
    """Go on with an interrupted video run in `run_dir`, with its own config.ini; the frames
    come out as an uninterrupted run's would (each starts from the previous one as saved)."""
    run_dir = Path(run_dir)
    config = run_dir / CONFIG
    if not config.is_file():
        raise SettingsError(f"--resume {run_dir}: no {CONFIG} in it: give the folder of a run")
    settings = load_settings(config)
    if not is_clip(settings.paths.content_image):
        raise ImageError(
            f"--resume {run_dir}: its content_image {settings.paths.content_image} is not a "
            f"video or a folder of frames; only video runs can be resumed"
        )
    return run_video(settings, stop=stop, resume_dir=run_dir)
