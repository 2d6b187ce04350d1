"""A clip's run (Ruder, Dosovitskiy & Brox, *Artistic style transfer for videos*, GCPR 2016),
as the run lifecycle (nst.run.pipeline) plugs it in: every frame of a clip stylised by the one
loop, `nst.core.optimize.stylize`, each pulled towards the previous result carried along the
source's optical flow (nst.inputs.flow).

The network, the traced step and the style targets are built once for the whole clip; each
frame brings its content targets, its start and its temporal term as inputs of the step.
The run folder gets the frames one by one as they finish, so an interrupted run keeps them
and `python main.py --resume <run>` goes on at the first missing frame (`Video`).
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

from nst.core.convergence import ASKED
from nst.core.recipe import Recipe
from nst.core.records import Diverged, Outcome, Record
from nst.core.scales import Scale
from nst.inputs.flow import frame_warp, temporal_error, warp
from nst.inputs.images import to_uint8
from nst.inputs.masks import regions_wanted
from nst.inputs.styles import Inputs, load_styles, prepare_colors, restore_colors
from nst.inputs.video_io import Clip, load_clip, write_video
from nst.output.outputs import write_png
from nst.output.runfolder import (
    COMPARE,
    FRAMES,
    FRAMES_CSV,
    LOSSES_CSV,
    PLOTS,
    VIDEO,
    frame_path,
    write_bytes_atomic,
)
from nst.run.exits import EXIT_DIVERGED, EXIT_OK, go_on_hint, say
from nst.run.preflight import (
    available_memory,
    check_fits_network,
    check_results_folder,
    check_run_memory,
    step_budget,
)
from nst.settings import WEIGHTS_CHOICES, OutputSettings, Settings, SettingsError
from nst.settings.networks import check_weights_file

PRINT_KEYS = ("format", "bit_depth", "profile", "dpi")  # [output]'s, for a still's print file
FRAME_COLUMNS = ("frame", "iterations", "content", "style", "tv", "total", "temporal", "seconds")


class Frame(NamedTuple):
    """One finished frame, as logged in frames.csv."""

    frame: int  # from 1
    iterations: int
    content: float
    style: float
    tv: float
    total: float
    temporal: float  # nst.inputs.flow.temporal_error against the previous result (0 for the first)
    seconds: float


@dataclass(frozen=True)
class VideoInputs:
    clip: Clip  # the source frames at the run's size
    styles: tuple  # the style images, prepared (colours) with the first frame


def prepare_video(settings: Settings) -> VideoInputs:
    """The clip and the style images at the run's size, after every check that needs no
    TensorFlow (as nst.run.still.prepare_images does for one image)."""
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
    frame = [Scale(height, width, settings.video.frame_iterations)]
    tiles = check_run_memory(settings, width, height, available_memory(), plan=frame)
    if tiles:
        say(f"note: {tiles}")
    # Every frame as PNG and twice in the videos (loosely compressed), plus logs and plots.
    check_results_folder(paths.results_dir, len(clip.frames) * width * height * 3 * 3 + 10**6)
    unused = print_settings_note(settings.output)
    if unused:
        say(f"note: {unused}")
    styles = load_styles(paths, image, (width, height), on_note=lambda t: say(f"note: {t}"))
    prepared = prepare_colors(clip.frames[0], list(styles), image.preserve_colors)
    return VideoInputs(clip, prepared.styles)


def print_settings_note(output: OutputSettings) -> str | None:
    """The line that says which of [output]'s print file settings (format, bit_depth,
    profile, dpi), set away from their defaults, a clip's run does not use; None if none is.
    A clip is not printed: its frames are kept as 8-bit sRGB PNGs, as its videos need them
    (8-bit H.264), and a resumed run starts again from the last one exactly."""
    defaults = OutputSettings()
    changed = [
        f"{key} = {value:g}" if isinstance(value, float) else f"{key} = {value}"
        for key in PRINT_KEYS
        if (value := getattr(output, key)) != getattr(defaults, key)
    ]
    if not changed:
        return None
    return (
        f"[output] {', '.join(changed)} shape a still's print file and are not used for a "
        f"video: its frames are written as 8-bit sRGB PNGs and its videos as 8-bit mp4"
    )


def frame_recipe(settings: Settings, index: int) -> Recipe:
    """What the loop does for frame `index` (from 0): its budget at one size, no iterates kept
    but the result."""
    video = settings.video
    iterations = video.first_frame_iterations if index == 0 else video.frame_iterations
    return Recipe.of(settings).with_budget(iterations)


def frame_inputs(frame: np.ndarray, styles: tuple, preserve_colors: str) -> Inputs:
    """What the loop sees of one source frame (the style images are the first frame's)."""
    content = prepare_colors(frame, list(styles), preserve_colors).content
    return Inputs(content, styles, frame)


def optimised_space(saved: np.ndarray, preserve_colors: str) -> np.ndarray:
    """A saved result as the loop sees images: grey luminance in luminance mode."""
    if preserve_colors != "luminance":
        return saved
    from nst.inputs.colors import grey, luminance

    return grey(luminance(saved))


def start_and_temporal(previous, source_previous, source, content, settings: Settings):
    """(start image or None, Temporal or None, Warp or None) of a frame after the first.

    `previous` is the previous result as saved (rounded to 8 bits, so that a resumed run
    starts from exactly what an uninterrupted one did)."""
    from nst.core.optimize import Temporal

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


def frame_plan(inputs: VideoInputs, settings: Settings) -> list[Scale]:
    """The clip's plan as a watcher sees it: one part per frame, at one size, with its budget."""
    height, width = inputs.clip.frames[0].shape[:2]
    first, later = settings.video.first_frame_iterations, settings.video.frame_iterations
    return [Scale(height, width, later if i else first) for i in range(len(inputs.clip.frames))]


@dataclass
class ClipRun:
    """A clip's run in progress: the lifecycle's part, the log and what the next frame needs."""

    run: object  # nst.run.pipeline.Run: folder, settings, network, stop request, watcher
    inputs: VideoInputs
    log: FrameLog
    session: object  # nst.core.optimize.Session: the network's traced step and style targets
    previous: np.ndarray | None = None  # the last finished result as saved (8-bit values)
    regions: object = None  # [loss] auto_regions: the last frame's FoundRegions (or None)
    memory_budget: int | None = None  # a step's bytes (nst.run.preflight.step_budget): more tiles


def stylize_frame(clip_run: ClipRun, index: int) -> list[Record] | None:
    """Frame `index` (from 0) through the loop, its records told to the watcher (numbered by
    frame) and its result written; the records, or None if a stop was asked before it
    finished. Raises Diverged like the loop."""
    from nst.core.optimize import stylize

    run, clip = clip_run.run, clip_run.inputs.clip
    mode = run.settings.image.preserve_colors
    inputs = frame_inputs(clip.frames[index], clip_run.inputs.styles, mode)
    start = temporal = carried_warp = None
    if index > 0 and clip_run.previous is not None:
        start, temporal, carried_warp = start_and_temporal(
            clip_run.previous,
            clip.frames[index - 1],
            clip.frames[index],
            inputs.content,
            run.settings,
        )
    if regions_wanted(run.settings.paths, run.settings.loss):
        inputs = with_regions(clip_run, index, inputs, carried_warp)
    records = stylize(
        clip_run.session.extractor,
        inputs,
        frame_recipe(run.settings, index),
        stop_requested=run.stop.requested,
        start=start,
        temporal=temporal,
        session=clip_run.session,
        memory_budget=clip_run.memory_budget,
    )
    kept, result = [], None
    for record in restore_colors(records, inputs.photo, mode):
        record = dataclasses.replace(record, scale=index + 1)
        if record.stopped and record.stopped != ASKED:  # the frame's result: on disk first
            result = to_uint8(record.image)
            write_png(frame_path(run.run_dir, index + 1), result)
        kept.append(record)
        run.watcher.recorded(record)
    if result is None:  # cut short: the frame is not finished
        return None
    _log_frame(clip_run, index, kept, result, carried_warp)
    return kept


def next_regions(regions, frames: list, index: int, people: bool, carried_warp=None):
    """Frame `index`'s regions ([loss] auto_regions; `people`: = people, else faces only):
    found in it, and after the first frame blended with the previous frame's `regions`
    carried along the flow (carry_regions), so they move with the picture and do not flicker
    or vanish where one frame's finder misses; None while nothing has been found."""
    from nst.inputs.portrait import carry_regions, find_regions

    found = find_regions(frames[index], people=people)
    if index == 0 or regions is None:
        return found
    flow = carried_warp or frame_warp(frames[index - 1], frames[index])
    return carry_regions(regions, found, flow.backward, flow.consistency)


def with_regions(clip_run: ClipRun, index: int, inputs: Inputs, carried_warp) -> Inputs:
    """The frame's inputs with its guidance from its regions (see next_regions); the one-line
    note where the first frame has no face. The first frame's regions are saved in the run
    folder as a still's are (region_*.png), for a user to see what was found."""
    from nst.inputs.masks import load_guidance
    from nst.inputs.portrait import not_found, save_regions

    settings = clip_run.run.settings
    people = settings.loss.auto_regions == "people"
    clip_run.regions = next_regions(
        clip_run.regions, clip_run.inputs.clip.frames, index, people, carried_warp
    )
    regions = clip_run.regions
    if regions is not None and index == 0:
        save_regions(regions, clip_run.run.run_dir)
    if regions is None and index == 0 and people:  # the default faces stays quiet
        say(f"note: {not_found('the first frame', people)}: running without regions")
    loss = (
        settings.loss
        if regions is not None
        else dataclasses.replace(settings.loss, auto_regions="off")
    )
    height, width = inputs.content.shape[:2]
    sizes = tuple((style.shape[1], style.shape[0]) for style in inputs.styles)
    guidance = load_guidance(settings.paths, loss, width, height, sizes, found=regions)
    return inputs._replace(guidance=guidance)


def regions_before(clip_run: ClipRun, done: int) -> None:
    """A resumed clip's regions as an uninterrupted run had them before frame `done`."""
    settings = clip_run.run.settings
    if not regions_wanted(settings.paths, settings.loss):
        return
    people = settings.loss.auto_regions == "people"
    for index in range(done):
        clip_run.regions = next_regions(
            clip_run.regions, clip_run.inputs.clip.frames, index, people
        )


def _log_frame(clip_run: ClipRun, index: int, kept: list[Record], result, carried_warp) -> None:
    """frames.csv and losses.csv with the finished frame; it becomes the next one's previous."""
    previous, clip_run.previous = clip_run.previous, result.astype(np.float32)
    error = 0.0
    if carried_warp is not None:
        error = temporal_error(clip_run.previous, previous, carried_warp)
    last = kept[-1]
    losses = (last.content, last.style, last.tv, last.total)
    clip_run.log.add_frame(Frame(index + 1, last.iteration, *losses, error, last.elapsed_s), kept)


def stylize_frames(clip_run: ClipRun, done: int) -> tuple[int, str]:
    """The frames from `done` on; (exit status, the line that says how it ended)."""
    run, total = clip_run.run, len(clip_run.inputs.clip.frames)
    for index in range(done, total):
        try:
            finished = stylize_frame(clip_run, index)
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
                f"{index} are in {run.run_dir}; {go_on_hint(run.run_dir)}"
            )
    return EXIT_OK, f"result in {run.run_dir}"


def finish_video(clip_run: ClipRun) -> None:
    """video.mp4 (and compare.mp4) of the finished frames, and the per-frame plots."""
    run_dir = clip_run.run.run_dir
    count = finished_frames(run_dir)
    if count == 0:
        return
    clip, video = clip_run.inputs.clip, clip_run.run.settings.video
    frames = [to_uint8(load_frame(frame_path(run_dir, i + 1))) for i in range(count)]
    fps = clip.fps if video.fps is None else video.fps
    from fractions import Fraction

    fps = Fraction(fps).limit_denominator(1001)
    write_video(run_dir / VIDEO, frames, fps, clip.audio, clip.start_s)
    if video.compare:
        sources = clip.frames[:count]
        pairs = [
            np.concatenate([to_uint8(s), f], axis=1) for s, f in zip(sources, frames, strict=True)
        ]
        write_video(run_dir / COMPARE, pairs, fps, clip.audio, clip.start_s)
    from nst.output.plots import plot_frames

    plot_frames(clip_run.log.frames, run_dir / PLOTS)


class Video:
    """A clip (a video file or a folder of frames) as a kind of run (see nst.run.pipeline.Kind):
    resumed at its first missing frame; its frames come out as an uninterrupted run's would
    (each starts from the previous one as saved)."""

    folders = (FRAMES, PLOTS)
    prepare = staticmethod(prepare_video)

    @staticmethod
    def resume_point(run_dir: Path, settings: Settings) -> int:
        """How many frames are finished (from the first on)."""
        return finished_frames(run_dir)

    @staticmethod
    def body(run, inputs: VideoInputs, done: int | None) -> Outcome:
        """The frames from `done` (None: the first) on, then video.mp4, compare.mp4 and the
        plots of the finished ones, however the loop ended."""
        from nst.core.optimize import Session

        clip_run = ClipRun(run, inputs, FrameLog(run.run_dir), Session(run.extractor))
        height, width = inputs.clip.frames[0].shape[:2]
        settings = run.settings  # one budget for the clip: its frames share the traced tiles
        clip_run.memory_budget = step_budget(
            settings.model, settings.image, "adam", available_memory(), width, height,
            settings.loss.style_loss,
        )  # fmt: skip
        done = done or 0
        clip_run.log.read(done)
        if done:
            clip_run.previous = load_frame(frame_path(run.run_dir, done))
            regions_before(clip_run, done)
        run.watcher.started(run.run_dir, frame_plan(inputs, run.settings))
        try:
            status, text = stylize_frames(clip_run, done)
        finally:
            run.watcher.ended()
        finish_video(clip_run)
        return Outcome(status, run.run_dir, text)

    @staticmethod
    def after(run_dir: Path, settings: Settings) -> None:
        """Nothing: the videos are written with the frames (before the status)."""
