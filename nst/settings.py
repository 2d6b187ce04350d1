"""config.ini -> frozen, typed settings, parsed once.

Each section is a frozen dataclass; each field carries its default, a one-line doc (written
into config.ini) and a `Kind` that parses and checks the text. `render` writes settings back
as a commented config.ini: the shipped file is `render(Settings())`, and every run saves
`render(resolved settings)` beside its outputs.
"""

from __future__ import annotations

import configparser
import dataclasses
import difflib
import errno
import math
import os
import re
import stat
from dataclasses import dataclass, field, fields
from pathlib import Path

from nst.networks import MIN_SIDE, NETWORKS, conv_layer_names

WEIGHTS_CHOICES = ("imagenet", "random")  # or a path to a Keras weights file
POOLING_CHOICES = ("max", "avg")
PADDING_CHOICES = ("reflect", "zeros")
PRECISION_CHOICES = ("auto", "float32", "bfloat16")
INIT_CHOICES = ("content", "noise", "style")
OPTIMIZER_CHOICES = ("adam", "lbfgs")
PRESERVE_COLORS_CHOICES = ("none", "luminance", "histogram")
STYLE_LOSS_CHOICES = ("gram", "sliced")
PARAMETERIZATION_CHOICES = ("pixels", "pyramid")
ENGINE_CHOICES = ("local", "ray")
VIDEO_INIT_CHOICES = ("prev_warped", "prev", "content")
SOURCE = "source"  # [video] fps: the source's frame rate
STRETCH = "stretch"  # [image] style_scale: the style image takes the content's shape
PHOTO = "photo"  # [loss] region_styles: this region stays the photo
FOUND_REGIONS = ("background", "person", "face")  # [loss] auto_regions finds these
MAX_SIDE = 8192  # the largest [image] max_size: beyond it no CPU has the memory
FLOAT32_MAX = 3.4028234663852886e38
BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True}
BOOL_WORDS |= {"false": False, "no": False, "off": False, "0": False}


class SettingsError(ValueError):
    """A bad config file or value; the message names the place, the value and what is allowed."""


# --- kinds of value: each parses text and says what it allows ------------------------------


@dataclass(frozen=True)
class Number:
    type: type  # int or float
    min: float | None = None
    max: float | None = None
    min_open: bool = False  # True: value must be > min, not >= min

    def parse(self, text: str):
        try:
            value = self.type(text)
        except ValueError:
            raise ValueError(self.allowed()) from None
        if not math.isfinite(value):
            raise ValueError(self.allowed())
        if self.type is float and abs(value) > FLOAT32_MAX:  # TensorFlow computes in float32
            raise ValueError(f"{self.allowed()}, at most {FLOAT32_MAX:.3g} (float32)")
        too_low = self.min is not None and (
            value <= self.min if self.min_open else value < self.min
        )
        too_high = self.max is not None and value > self.max
        if too_low or too_high:
            raise ValueError(self.allowed())
        return value

    def allowed(self) -> str:
        what = "an integer" if self.type is int else "a number"
        bounds = []
        if self.min is not None:
            bounds.append(f"{'>' if self.min_open else '>='} {self.min:g}")
        if self.max is not None:
            bounds.append(f"<= {self.max:g}")
        return what + (" " + " and ".join(bounds) if bounds else "")

    def format(self, value) -> str:
        return f"{value:.10g}" if self.type is float else str(value)


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]

    def parse(self, text: str) -> str:
        if text.lower() not in self.choices:
            raise ValueError(self.allowed())
        return text.lower()

    def allowed(self) -> str:
        return "one of " + ", ".join(self.choices)

    def format(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class Flag:
    def parse(self, text: str) -> bool:
        if text.lower() not in BOOL_WORDS:
            raise ValueError(self.allowed())
        return BOOL_WORDS[text.lower()]

    def allowed(self) -> str:
        return "true or false"

    def format(self, value: bool) -> str:
        return "true" if value else "false"


@dataclass(frozen=True)
class FilePath:
    def parse(self, text: str) -> Path:
        if not text:
            raise ValueError(self.allowed())
        return Path(text).expanduser()

    def allowed(self) -> str:
        return "a file or folder path"

    def format(self, value: Path) -> str:
        return str(value)


@dataclass(frozen=True)
class Weights:
    def parse(self, text: str) -> str:
        if not text:
            raise ValueError(self.allowed())
        return text.lower() if text.lower() in WEIGHTS_CHOICES else str(Path(text).expanduser())

    def allowed(self) -> str:
        return " or ".join(WEIGHTS_CHOICES) + " or the path of a Keras weights file"

    def format(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class Text:
    """Free text, possibly empty (its meaning is checked where it is used)."""

    def parse(self, text: str) -> str:
        return text.strip()

    def allowed(self) -> str:
        return "any text"

    def format(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class NumberOr:
    """A number, or one word that stands for a special case and parses to None."""

    number: Number
    word: str

    def parse(self, text: str) -> float | None:
        if text.lower() == self.word:
            return None
        try:
            return self.number.parse(text)
        except ValueError:
            raise ValueError(self.allowed()) from None

    def allowed(self) -> str:
        return f"{self.word} or {self.number.allowed()}"

    def format(self, value: float | None) -> str:
        return self.word if value is None else self.number.format(value)


@dataclass(frozen=True)
class ListOf:
    item: Number | Choice | FilePath | None = None  # None: names (non-empty words)
    allow_empty: bool = False

    def parse(self, text: str) -> tuple:
        parts = [part.strip() for part in text.split(",")] if text.strip() else []
        if (not parts and not self.allow_empty) or any(not part for part in parts):
            raise ValueError(self.allowed())
        return tuple(self.item.parse(part) if self.item else part for part in parts)

    def allowed(self) -> str:
        item = self.item.allowed() if self.item else "names"
        return f"a comma-separated list of {item}" + (" (or empty)" if self.allow_empty else "")

    def format(self, value: tuple) -> str:
        return ", ".join(self.item.format(v) if self.item else v for v in value)


@dataclass(frozen=True)
class FrameRange:
    """`first:stop` (frames first <= i < stop, counted from 0; either may be left out), or
    empty for all frames; parses to (first, stop or None)."""

    def parse(self, text: str) -> tuple[int, int | None]:
        if not text.strip():
            return (0, None)
        first, colon, stop = text.partition(":")
        try:
            first = int(first) if first.strip() else 0
            stop = int(stop) if stop.strip() else None
        except ValueError:
            raise ValueError(self.allowed()) from None
        if not colon or first < 0 or (stop is not None and stop <= first):
            raise ValueError(self.allowed())
        return (first, stop)

    def allowed(self) -> str:
        return "first:stop (frames first <= i < stop from 0, e.g. 0:120, 10: or :50), or empty"

    def format(self, value: tuple[int, int | None]) -> str:
        first, stop = value
        return "" if (first, stop) == (0, None) else f"{first}:{'' if stop is None else stop}"


@dataclass(frozen=True)
class OptionalPath:
    """A path, or empty for none."""

    def parse(self, text: str) -> Path | None:
        return Path(text).expanduser() if text else None

    def allowed(self) -> str:
        return "a file path, or empty for none"

    def format(self, value: Path | None) -> str:
        return "" if value is None else str(value)


@dataclass(frozen=True)
class RegionStyles:
    """'#rrggbb: style image, ...': each colour of a colour-label image to a style image (its
    file name or path, one of [paths] style_image) or to `photo`; with `names`, each of those
    named regions instead of a colour."""

    names: tuple[str, ...] = ()

    def parse(self, text: str) -> tuple[tuple[str, str], ...]:
        pairs = []
        for part in [p.strip() for p in text.split(",")] if text.strip() else []:
            colour, colon, target = (t.strip() for t in part.partition(":"))
            label = colour.lower() in self.names or (
                not self.names and re.fullmatch(r"#[0-9a-fA-F]{6}", colour)
            )
            if not colon or not target or not label:
                raise ValueError(self.allowed())
            pairs.append((colour.lower(), target))
        if len({colour for colour, _ in pairs}) != len(pairs):
            raise ValueError(self.allowed() + ", each colour once")
        return tuple(pairs)

    def allowed(self) -> str:
        label = " | ".join(self.names) if self.names else "#rrggbb"
        return (
            f"a comma-separated list of '{label}: style image' (a file name or path from "
            f"[paths] style_image, or {PHOTO}), or empty"
        )

    def format(self, value: tuple[tuple[str, str], ...]) -> str:
        return ", ".join(f"{colour}: {target}" for colour, target in value)


def setting(default, kind, doc: str):
    """A settings field: its single default, how its text is parsed, and its config.ini comment."""
    return field(default=default, metadata={"kind": kind, "doc": doc})


# --- the sections -------------------------------------------------------------------------


@dataclass(frozen=True)
class PathsSettings:
    content_image: Path = setting(
        Path("data/content.png"),
        FilePath(),
        "photo whose content is kept; --batch: a folder or glob, one item per image",
    )
    style_image: tuple[Path, ...] = setting(
        (Path("data/style.png"),),
        ListOf(FilePath()),
        "image whose style is painted; several: comma-separated, blended (see [loss]); "
        "--batch: one folder or glob, one item per image",
    )
    results_dir: Path = setting(Path("results"), FilePath(), "each run makes a new folder in here")
    style_masks: tuple[Path, ...] = setting(
        (),
        ListOf(FilePath(), allow_empty=True),
        "one mask per style image (white: that style, grey: partly, any size); empty: none",
    )
    style_image_masks: tuple[Path, ...] = setting(
        (),
        ListOf(FilePath(), allow_empty=True),
        "one mask per style image: the part of that painting whose style counts (white; grey: "
        "partly; any size); empty: each whole painting",
    )
    regions: Path | None = setting(
        None,
        OptionalPath(),
        "colour-label image, each flat colour a region (see [loss] region_styles); empty: none",
    )
    content_mask: Path | None = setting(
        None, OptionalPath(), "mask (white) of where the result stays the photo; empty: none"
    )


@dataclass(frozen=True)
class ModelSettings:
    network: str = setting("vgg19", Choice(NETWORKS), "feature network: vgg19 | vgg16")
    weights: str = setting(
        "imagenet",
        Weights(),
        "imagenet (Keras downloads ~80 MB once) | random (no download, no art) | path",
    )
    pooling: str = setting(
        "avg",
        Choice(POOLING_CHOICES),
        "avg (Gatys et al.; same weights) | max (as trained)",
    )
    padding: str = setting(
        "reflect",
        Choice(PADDING_CHOICES),
        "the picture's border: reflect (mirrored 16 px past each edge, the features cropped "
        "back: no lines or blobs along the borders) | zeros (the network's own, the paper's)",
    )
    precision: str = setting(
        "auto",
        Choice(PRECISION_CHOICES),
        "network arithmetic: auto (bfloat16 for Adam on CPUs with native bf16, else "
        "float32) | float32 | bfloat16",
    )
    content_layers: tuple[str, ...] = setting(
        ("block4_conv2",),
        ListOf(),
        "layers whose features are the content (Keras names)",
    )
    style_layers: tuple[str, ...] = setting(
        tuple(f"block{i}_conv1" for i in range(1, 6)),
        ListOf(),
        "layers whose Gram matrices are the style",
    )
    style_layer_weights: tuple[float, ...] = setting(
        (),
        ListOf(Number(float, min=0), allow_empty=True),
        "one weight per style layer, normalised to sum 1; empty: equal weights",
    )


@dataclass(frozen=True)
class LossSettings:
    content_weight: float = setting(
        1.0, Number(float, min=0), "alpha: weight of the content term (relative error)"
    )
    style_weight: float = setting(
        10.0, Number(float, min=0), "beta: weight of the style term (relative error)"
    )
    style_loss: str = setting(
        "gram",
        Choice(STYLE_LOSS_CHOICES),
        "gram (the paper's Gram matrices) | sliced (whole feature distributions, sliced "
        "Wasserstein, Heitz et al. 2021; no masks)",
    )
    tv_weight: float = setting(
        10.0,
        Number(float, min=0),
        "weight of total variation (smoothness: fewer specks of colour); 0 = off. tv is a "
        "mean over pixels (0..1) of squared neighbour differences, about 0.01-0.05 for a "
        "picture, against an objective near 1: values from about 1 to 100 matter, 1e-4 "
        "does nothing",
    )
    style_blend_weights: tuple[float, ...] = setting(
        (),
        ListOf(Number(float, min=0), allow_empty=True),
        "one weight per style image, normalised to sum 1; empty: equal weights",
    )
    region_styles: tuple[tuple[str, str], ...] = setting(
        (),
        RegionStyles(),
        "with [paths] regions: '#rrggbb: style image' per colour (style file name or photo)",
    )
    photo_weight: float = setting(
        1e4,
        Number(float, min=0),
        "pull towards the photo inside the photo region (mean squared pixel difference, 0..1)",
    )
    auto_regions: bool = setting(
        False,
        Flag(),
        "find regions in the content photo: background, person, face (nst.portrait: OpenCV 4's "
        "face detector, GrabCut); a hand [paths] content_mask wins",
    )
    auto_region_styles: tuple[tuple[str, str], ...] = setting(
        (),
        RegionStyles(FOUND_REGIONS),
        "with auto_regions: 'background | person | face: style image or photo' (face: its "
        "person's if not given); empty: the styles everywhere",
    )
    face_style: float = setting(
        0.25,
        Number(float, min=0, max=1),
        "with auto_regions, where the face has no style of its own: the share of the style's "
        "force inside the faces (0: as the photo's content, 1: styled like the rest)",
    )


@dataclass(frozen=True)
class OptimizerSettings:
    name: str = setting(
        "adam",
        Choice(OPTIMIZER_CHOICES),
        "adam | lbfgs (our projected L-BFGS in 0..255, resumable; iterations count evaluations)",
    )
    learning_rate: float = setting(
        5.0,
        Number(float, min=0, min_open=True),
        "Adam step size, in pixel units (0..255)",
    )
    iterations: int = setting(
        300, Number(int, min=1), "number of optimisation steps (at the full size)"
    )
    coarse_iterations: tuple[int, ...] = setting(
        (100,),
        ListOf(Number(int, min=1)),
        "with [image] scales > 1: steps at each smaller scale, smallest first (one value: all)",
    )
    tolerance: float = setting(
        0.02,
        Number(float, min=0),
        "stop a scale once the objective fell by less than this fraction of itself over the "
        "last `window` steps (iterations is then the maximum); 0 = always spend iterations",
    )
    window: int = setting(
        20, Number(int, min=1), "steps the stopping rule looks back over (see tolerance)"
    )
    average: float = setting(
        0.9,
        Number(float, min=0, max=0.999),
        "Adam: the result is a moving average of the iterates with this decay (0.9: about "
        "the last 10 steps), which removes the last steps' jitter; 0 = the last iterate",
    )
    beta_1: float = setting(0.9, Number(float, min=0, max=0.999999), "Adam's beta_1")
    beta_2: float = setting(0.999, Number(float, min=0, max=0.999999), "Adam's beta_2")
    epsilon: float = setting(
        1e-8,
        Number(float, min=0, min_open=True),
        "Adam's epsilon: far below the gradients, so a step moves pixels ~learning_rate",
    )


@dataclass(frozen=True)
class ImageSettings:
    max_size: int = setting(
        512, Number(int, min=MIN_SIDE, max=MAX_SIDE), "longest side of the result, in pixels"
    )
    init: str = setting(
        "noise",
        Choice(INIT_CHOICES),
        "starting image: noise (blended with the photo, see noise_ratio; the paper's, more "
        "painted) | content (the photo: more photographic) | style",
    )
    noise_ratio: float = setting(
        0.6,
        Number(float, min=0, max=1),
        "with init = noise: share of noise in the blend",
    )
    seed: int = setting(  # NumPy's generators take seeds below 2**32
        0, Number(int, min=0, max=2**32 - 1), "random seed (noise, random weights)"
    )
    scales: int | None = setting(
        None,
        NumberOr(Number(int, min=1, max=8), "auto"),
        "coarse-to-fine: number of image sizes (1 = off) | auto: from the image size, the "
        "smallest scale's short side near 128-256 px",
    )
    scale_factor: float = setting(
        2.0, Number(float, min=1, min_open=True), "each smaller scale is this many times smaller"
    )
    style_scale: float | None = setting(
        None,
        NumberOr(Number(float, min=0, min_open=True, max=4), STRETCH),
        "stretch (to the content's shape, paper) | s: aspect kept, longer side s x the content's",
    )
    parameterization: str = setting(
        "pyramid",
        Choice(PARAMETERIZATION_CHOICES),
        "what the optimiser moves: pyramid (a Laplacian pyramid: large forms and fine texture "
        "move at comparable rates, no single-pixel speckle) | pixels (the paper's)",
    )
    pyramid_levels: int = setting(
        5, Number(int, min=1, max=8), "with parameterization = pyramid: number of levels"
    )
    preserve_colors: str = setting(
        "none",
        Choice(PRESERVE_COLORS_CHOICES),
        "keep the photo's colours: none | luminance (style on luminance only) | histogram",
    )


@dataclass(frozen=True)
class OutputSettings:
    save_every: int = setting(10, Number(int, min=1), "save an iterate every this many steps")
    show_viewer: bool = setting(True, Flag(), "open the evolution viewer after the run")
    animation: bool = setting(
        True, Flag(), "write evolution.gif, a short animation of the saved iterates"
    )
    bit_depth: str = setting(
        "8",
        Choice(("8", "16")),
        "bits per sample of final.png: 8 | 16 (for print: keeps the result's finer levels)",
    )
    dpi: float = setting(
        300.0, Number(float, min=1, max=10000), "print resolution written into final.png"
    )


@dataclass(frozen=True)
class BatchSettings:
    engine: str = setting(
        "local",
        Choice(ENGINE_CHOICES),
        "--batch: local (items one after another here) | ray (one Ray task per item)",
    )
    address: str = setting(
        "",
        Text(),
        "engine = ray: empty (start Ray on this machine) | auto (the cluster `ray start` "
        "joined here) | host:6379 | ray://host:10001",
    )
    num_cpus: float = setting(
        1.0, Number(float, min=0, min_open=True), "engine = ray: CPUs reserved per item"
    )
    num_gpus: float = setting(0.0, Number(float, min=0), "engine = ray: GPUs reserved per item")
    max_retries: int = setting(
        3, Number(int, min=0), "engine = ray: reruns of an item whose worker died"
    )
    sheet_rows: str = setting(
        "", Text(), "contact sheet rows: content | style | a swept section.key; empty: automatic"
    )
    sheet_columns: str = setting(
        "", Text(), "contact sheet columns: as sheet_rows; other axes get a page per value"
    )
    page_size: int = setting(
        8, Number(int, min=1), "at most this many rows and columns per contact sheet page"
    )


@dataclass(frozen=True)
class VideoSettings:
    """Used only when [paths] content_image is a video or a folder of frames."""

    temporal_weight: float = setting(
        # 300, not 1000: with tv_weight 10 and the noisy start, 1000 held each frame's style
        # 19 % above independent frames' (docs/video.md); 300 keeps flicker at ~2 % of theirs
        300.0,
        Number(float, min=0),
        "weight of the temporal loss against the previous frame warped by the flow (0 = off)",
    )
    first_frame_iterations: int = setting(
        300, Number(int, min=1), "optimisation steps for the first frame"
    )
    frame_iterations: int = setting(
        100, Number(int, min=1), "optimisation steps for every later frame"
    )
    init: str = setting(
        "prev_warped",
        Choice(VIDEO_INIT_CHOICES),
        "later frames start from: prev_warped (the previous result warped by the flow) | prev"
        " | content",
    )
    frames: tuple[int, int | None] = setting(
        (0, None), FrameRange(), "which source frames, first:stop counted from 0; empty: all"
    )
    fps: float | None = setting(
        None,
        NumberOr(Number(float, min=0, min_open=True, max=1000), SOURCE),
        "frame rate of video.mp4: source (the clip's; 25 for a folder of frames) | a number",
    )
    compare: bool = setting(True, Flag(), "also write compare.mp4: source | result side by side")


@dataclass(frozen=True)
class Settings:
    paths: PathsSettings = PathsSettings()
    model: ModelSettings = ModelSettings()
    loss: LossSettings = LossSettings()
    optimizer: OptimizerSettings = OptimizerSettings()
    image: ImageSettings = ImageSettings()
    output: OutputSettings = OutputSettings()
    batch: BatchSettings = BatchSettings()
    video: VideoSettings = VideoSettings()


SECTIONS: dict[str, type] = {f.name: f.default.__class__ for f in fields(Settings)}


# --- loading ------------------------------------------------------------------------------


ECHO_CHARS = 60  # an echoed value is cut to this many characters


def echo(text: str, limit: int = ECHO_CHARS) -> str:
    """`text` quoted for one message line: newlines and control characters escaped, and cut
    (with its length said) when longer than `limit` characters."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def shown_path(path) -> str:
    """A path for a message: as it is, unless it is very long or has control characters."""
    text = str(path)
    return text if text.isprintable() and len(text) <= 200 else echo(text, 200)


def _unknown(kind: str, name: str, valid) -> str:
    close = difflib.get_close_matches(name[:200], list(valid), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown {kind} {echo(name)}: {hint}allowed: {', '.join(valid)}"


def _read_ini(text: str, source: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None)
    parser.optionxform = str  # keys are case-sensitive names
    try:
        parser.read_string(text, source=source)
    except configparser.Error as error:
        first_line = str(error).splitlines()[0]
        raise SettingsError(f"{source}: not a valid INI file: {first_line[:200]}") from None
    for key in parser.defaults():  # configparser copies these into every section
        owners = [name for name, cls in SECTIONS.items() if key in {f.name for f in fields(cls)}]
        fix = f"move it under [{owners[0]}]" if owners else "no section of nst has this key"
        raise SettingsError(
            f"{source} [DEFAULT] {echo(key)}: nst has no [DEFAULT] section (its keys would "
            f"apply to every section): {fix}"
        )
    return parser


def read_config_text(path: Path) -> str:
    """The text of the config file at `path`, or a SettingsError saying exactly why not."""
    hint = "give --config PATH of a .ini file"
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        why = {
            errno.ENOENT: "does not exist",
            errno.ELOOP: "is a symbolic link loop (a link that points back to itself)",
            errno.ENOTDIR: "does not exist (a part of its path is a file, not a folder)",
            errno.EACCES: "cannot be reached: permission denied on a folder of its path",
            errno.ENAMETOOLONG: "is a path too long for this system",
        }.get(error.errno, f"cannot be opened ({error.strerror})")
        raise SettingsError(f"config file {shown_path(path)} {why}: {hint}") from None
    except ValueError:  # an embedded NUL character
        raise SettingsError(f"config file {shown_path(path)} is not a valid path") from None
    if not stat.S_ISREG(mode):
        what = (
            "is a folder"
            if stat.S_ISDIR(mode)
            else "is a pipe (a FIFO or standard input), which nst would read only once"
            if stat.S_ISFIFO(mode)
            else "is a terminal or device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "is not a regular file"
        )
        raise SettingsError(
            f"config file {path} {what}: save the settings to a file and give --config FILE"
        )
    try:  # utf-8-sig: a byte-order mark (Windows Notepad writes one) is not part of the text
        return path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise SettingsError(f"cannot read config file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise SettingsError(
            f"cannot read config file {path}: byte {error.start} is not UTF-8 text: save it "
            f"as UTF-8"
        ) from None


def parse_override(text: str) -> tuple[str, str, str]:
    """'section.key=value' (from --set) -> (section, key, value)."""
    name, sep, value = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise SettingsError(
            f"--set {echo(text)}: expected section.key=value, e.g. loss.style_weight=30"
        )
    return section, key.strip(), value.strip()


def load_settings(path: Path | None = None, overrides: tuple[str, ...] = ()) -> Settings:
    """Read `path` (None: defaults only), apply `section.key=value` overrides, check everything.

    Relative paths in the file are relative to the file's folder; in overrides, to the current
    folder. All paths come back absolute, so the saved copy of a run's settings works anywhere.
    """
    values: dict[tuple[str, str], tuple[str, Path, str]] = {}  # -> (text, base dir, source)
    if path is not None:
        path = Path(path)
        parser = _read_ini(read_config_text(path), str(path))
        for section in parser.sections():
            for key, value in parser.items(section):
                values[section, key] = (value.strip(), path.resolve().parent, str(path))
    for text in overrides:
        section, key, value = parse_override(text)
        values[section, key] = (value, Path.cwd(), "--set")
    return _build(values)


def _build(values: dict[tuple[str, str], tuple[str, Path, str]]) -> Settings:
    for section, key in values:
        source = values[section, key][2]
        if section not in SECTIONS:
            raise SettingsError(
                f"{source}: {_unknown('section', f'[{section}]', [f'[{s}]' for s in SECTIONS])}"
            )
        keys = [f.name for f in fields(SECTIONS[section])]
        if key not in keys:
            raise SettingsError(f"{source} [{section}]: {_unknown('key', key, keys)}")
    sections = {}
    for section, cls in SECTIONS.items():
        parsed = {}
        for f in fields(cls):
            if (section, f.name) not in values:
                continue
            text, _, source = values[section, f.name]
            try:
                value = f.metadata["kind"].parse(text)
            except ValueError as error:
                raise SettingsError(
                    f"{source} [{section}] {f.name} = {echo(text)}: expected {error}"
                ) from None
            parsed[f.name] = value
        sections[section] = cls(**parsed)
    settings = Settings(**sections)
    return _resolve(settings, {k: v[1] for k, v in values.items()})


def _resolve(settings: Settings, bases: dict[tuple[str, str], Path]) -> Settings:
    """Cross-field checks, weights normalised, paths made absolute."""
    model = settings.model
    valid = conv_layer_names(model.network)
    for key in ("content_layers", "style_layers"):
        for name in getattr(model, key):
            if name not in valid:
                raise SettingsError(
                    f"[model] {key}: {_unknown(f'layer for {model.network}', name, valid)}"
                )
    weights = _normalised(
        "[model] style_layer_weights", model.style_layer_weights, "style layer", model.style_layers
    )
    blend = _normalised(
        "[loss] style_blend_weights",
        settings.loss.style_blend_weights,
        "style image",
        [p.name for p in settings.paths.style_image],
    )
    _check_combinations(settings)
    coarse = settings.optimizer.coarse_iterations
    if settings.image.scales is not None and len(coarse) not in (1, settings.image.scales - 1):
        raise SettingsError(
            f"[optimizer] coarse_iterations = {echo(', '.join(map(str, coarse)))}: expected one "
            f"value, or {settings.image.scales - 1} (one per smaller scale, [image] scales = "
            f"{settings.image.scales})"
        )

    def absolute(section: str, key: str, value: Path) -> Path:
        base = Path() if Path(value).is_absolute() else bases.get((section, key), Path.cwd())
        # normpath, not resolve(): `main/../shared/x` becomes `shared/x`, symlinks stay as named
        return Path(os.path.normpath(base / value))

    def absolute_all(key: str, value: Path | tuple[Path, ...] | None):
        if value is None:
            return None
        if isinstance(value, tuple):
            return tuple(absolute("paths", key, v) for v in value)
        return absolute("paths", key, value)

    paths = settings.paths
    paths = dataclasses.replace(
        paths, **{f.name: absolute_all(f.name, getattr(paths, f.name)) for f in fields(paths)}
    )
    network_weights = model.weights
    if network_weights not in WEIGHTS_CHOICES:
        network_weights = str(absolute("model", "weights", Path(network_weights)))
    model = dataclasses.replace(model, style_layer_weights=weights, weights=network_weights)
    loss = _resolve_loss(paths, settings.loss, blend, absolute)
    return dataclasses.replace(settings, paths=paths, model=model, loss=loss)


def _check_combinations(settings: Settings) -> None:
    """The choices that do not go together yet."""
    paths = settings.paths
    if settings.loss.style_loss == "sliced" and (
        paths.style_masks or paths.regions or paths.content_mask
    ):
        raise SettingsError(
            "[loss] style_loss = sliced does not take masks or regions ([paths] style_masks, "
            "regions, content_mask): use style_loss = gram with them"
        )


def _region_styles(paths: PathsSettings, region_styles: tuple, absolute) -> tuple:
    """Checks the masks' settings agree; each region's style named by its absolute path."""
    styles = paths.style_image
    if paths.style_masks and len(paths.style_masks) != len(styles):
        raise SettingsError(
            f"[paths] style_masks: {len(paths.style_masks)} masks for {len(styles)} style "
            f"images; expected one per style image ({', '.join(p.name for p in styles)})"
        )
    painting = paths.style_image_masks
    if painting and len(painting) != len(styles):
        raise SettingsError(
            f"[paths] style_image_masks: {len(painting)} masks for {len(styles)} style "
            f"images; expected one per style image ({', '.join(p.name for p in styles)}), "
            f"or empty for the whole paintings"
        )
    if paths.style_masks and paths.regions is not None:
        raise SettingsError(
            "[paths] style_masks and [paths] regions are two ways of placing the styles: set one"
        )
    if (paths.regions is None) != (not region_styles):
        given, missing = (
            ("[loss] region_styles", "[paths] regions")
            if paths.regions is None
            else ("[paths] regions", "[loss] region_styles")
        )
        raise SettingsError(f"{given} is set but {missing} is empty: set both, or neither")
    resolved = tuple(
        (colour, target if target == PHOTO else _style_named(target, styles, absolute))
        for colour, target in region_styles
    )
    unused = [p.name for p in styles if region_styles and str(p) not in dict(resolved).values()]
    if unused:
        raise SettingsError(
            f"[loss] region_styles gives no region to style image {', '.join(unused)}: map a "
            f"colour to it, or remove it from [paths] style_image"
        )
    return resolved


def _resolve_loss(paths: PathsSettings, loss, blend: tuple, absolute):
    """[loss] with the blend weights normalised and each region's style by its absolute path."""
    return dataclasses.replace(
        loss,
        style_blend_weights=blend,
        region_styles=_region_styles(paths, loss.region_styles, absolute),
        auto_region_styles=_auto_region_styles(paths, loss, absolute),
    )


def _auto_region_styles(paths: PathsSettings, loss, absolute) -> tuple:
    """Checks [loss] auto_regions' settings; each found region's style by its absolute path."""
    styles, mapping = paths.style_image, loss.auto_region_styles

    def named(target: str) -> str:
        return _style_named(target, styles, absolute, "auto_region_styles")

    if mapping and not loss.auto_regions:
        raise SettingsError("[loss] auto_region_styles is set but auto_regions is false")
    if loss.auto_regions and (paths.regions is not None or paths.style_masks):
        raise SettingsError(
            "[loss] auto_regions and [paths] regions or style_masks are two ways of placing "
            "the styles: set one"
        )
    missing = [name for name in FOUND_REGIONS[:2] if mapping and name not in dict(mapping)]
    if missing:
        raise SettingsError(
            f"[loss] auto_region_styles gives no style to {' and '.join(missing)}: map "
            f"background and person (face is optional)"
        )
    resolved = tuple(
        (name, target if target == PHOTO else named(target)) for name, target in mapping
    )
    unused = [p.name for p in styles if mapping and str(p) not in dict(resolved).values()]
    if unused:
        raise SettingsError(
            f"[loss] auto_region_styles gives no region to style image {', '.join(unused)}"
        )
    return resolved


def _style_named(target: str, styles: tuple, absolute, key: str = "region_styles") -> str:
    """The absolute path of the style image `target` names (its path, or its file name)."""
    by_path = [p for p in styles if p == absolute("loss", key, Path(target))]
    by_name = [p for p in styles if p.name == target]
    found = by_path or by_name
    if len(found) != 1:
        why = "matches several of" if found else "is not one of"
        raise SettingsError(
            f"[loss] {key}: '{target}' {why} [paths] style_image "
            f"({', '.join(p.name for p in styles)}); give a file name or path from it, or {PHOTO}"
        )
    return str(found[0])


def _normalised(name: str, weights: tuple, what: str, items) -> tuple[float, ...]:
    """One weight per item (empty: equal), normalised to sum 1; `name` is '[section] key'."""
    weights = weights or (1.0,) * len(items)
    if len(weights) != len(items):
        raise SettingsError(
            f"{name} = {echo(', '.join(f'{w:g}' for w in weights))}: expected "
            f"{len(items)} weight{'s' * (len(items) != 1)}, one per {what} ({', '.join(items)}), "
            f"or empty for equal weights"
        )
    if sum(weights) <= 0:
        raise SettingsError(f"{name}: expected at least one weight > 0")
    return tuple(w / sum(weights) for w in weights)


# --- a run's short name -------------------------------------------------------------------

TAG_LENGTH = 48  # at most this many characters of differences in a run folder's name
TAG_VALUE_LENGTH = 12
# No commas: a run folder's files must stay usable in comma-separated path lists (style_image).
TAG_JOIN = "_"
# Sections in the order their differences are named: what a user tunes most first ([paths]
# is in the name already, [output] does not change the picture).
TAGGED_SECTIONS = ("loss", "image", "optimizer", "model")


def run_tag(settings: Settings) -> str:
    """What of `settings` differs from the defaults and changes the picture, short and safe in a
    file name: `style_weight=30_max_size=256` (`+N`: N more not shown); '' at the defaults.
    A weights file is `weights=file`; [optimizer] name is `optimizer=...`."""
    defaults, items = Settings(), []
    for name in TAGGED_SECTIONS:
        section, default = getattr(settings, name), getattr(defaults, name)
        for f in fields(section):
            value, kind = getattr(section, f.name), f.metadata["kind"]
            if kind.format(value) == kind.format(getattr(default, f.name)) or _equal_weights(
                f.name, value
            ):
                continue
            text = kind.format(value)
            if f.name == "weights" and text not in WEIGHTS_CHOICES:
                text = "file"
            key = name if f.name == "name" else f.name
            items.append(f"{key}={_tag_safe(text.replace(', ', '_'))[:TAG_VALUE_LENGTH]}")
    return _fit(items, TAG_LENGTH)


def _equal_weights(key: str, value) -> bool:
    """Resolved per-layer or per-style weights that are all equal: what the empty default means."""
    return key in ("style_layer_weights", "style_blend_weights") and len(set(value)) <= 1


def _tag_safe(text: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in text)


def _fit(items: list[str], length: int) -> str:
    """Items in order, each that still fits in `length` characters (room kept for `+N`),
    joined by TAG_JOIN, then `+N` for the N left out."""
    shown: list[str] = []
    for item in items:
        if len(TAG_JOIN.join([*shown, item])) <= length - 3:
            shown.append(item)
    rest = len(items) - len(shown)
    return TAG_JOIN.join(shown) + (f"+{rest}" if rest else "")


def add_settings_arguments(parser, set_help: str) -> None:
    """--config and --set on an argparse parser: how every command line names its settings."""
    parser.add_argument("--config", type=Path, default=Path("config.ini"), help="settings file")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help=set_help
    )


# --- writing ------------------------------------------------------------------------------

HEADER = """\
# nst settings. Edit, then run `python main.py` (or `python main.py --config FILE`).
# Any key can also be set for one run: `python main.py --set loss.style_weight=30`.
# Relative paths are relative to this file's folder.
"""


def render(settings: Settings) -> str:
    """The settings as a commented config.ini that `load_settings` reads back to the same."""
    lines = [HEADER]
    for section_field in fields(settings):
        section = getattr(settings, section_field.name)
        lines.append(f"[{section_field.name}]")
        for f in fields(section):
            lines.append(f"# {f.metadata['doc']}")
            text = f.metadata["kind"].format(getattr(section, f.name))
            lines.append(f"{f.name} = {text}".rstrip())
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m nst.settings > config.ini  (regenerates the shipped file)
    print(render(Settings()), end="")
