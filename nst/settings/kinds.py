"""The kinds of value a setting can hold: each parses its text and says what it allows.

Also the choices every section draws from, and `SettingsError`, the one-line error a bad value
raises (it names the section, the key, the value and what is allowed).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

WEIGHTS_CHOICES = ("imagenet", "random")  # or a path to a Keras weights file
POOLING_CHOICES = ("max", "avg")
PADDING_CHOICES = ("reflect", "reflect_first", "reflect_each", "zeros")
PRECISION_CHOICES = ("auto", "float32", "bfloat16")
INIT_CHOICES = ("content", "noise", "style")
OPTIMIZER_CHOICES = ("adam", "lbfgs")
PRESERVE_COLORS_CHOICES = ("none", "luminance", "histogram")
STYLE_LOSS_CHOICES = ("gram", "sliced", "mixed")
PARAMETERIZATION_CHOICES = ("pixels", "pyramid")
FINEST_SCALE_CHOICES = ("full", "shallow")
REFERENCE_TERMS_CHOICES = ("content", "both", "style")
ENGINE_CHOICES = ("local", "ray")
VIDEO_INIT_CHOICES = ("prev_warped", "prev", "content")
FORMAT_CHOICES = ("png", "tiff")  # [output] format: the print file's
PROFILE_CHOICES = ("srgb", "content")  # [output] profile: the print file's colour space
SOURCE = "source"  # [video] fps: the source's frame rate
STRETCH = "stretch"  # [image] style_scale: the style image takes the content's shape
PHOTO = "photo"  # [loss] region_styles: this region stays the photo
FOUND_REGIONS = ("background", "person", "face")  # [loss] auto_regions finds these
AUTO_REGIONS_CHOICES = ("off", "faces", "people")  # [loss] auto_regions: what is looked for
MAX_SIDE = 8192  # the largest [image] max_size: beyond it no CPU has the memory
FLOAT32_MAX = 3.4028234663852886e38
BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True}
BOOL_WORDS |= {"false": False, "no": False, "off": False, "0": False}
# [loss] auto_regions was a flag: its words still read (true: what it found then, people)
AUTO_REGIONS_ALIASES = tuple((word, "people" if on else "off") for word, on in BOOL_WORDS.items())


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
    # (old word, the choice it means): values an earlier version wrote, still read (run
    # folders saved then must resume); never written, not offered
    aliases: tuple[tuple[str, str], ...] = ()

    def parse(self, text: str) -> str:
        word = dict(self.aliases).get(text.lower(), text.lower())
        if word not in self.choices:
            raise ValueError(self.allowed())
        return word

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


def home_expanded(text: str, allowed: str) -> Path:
    """`text` as a path with a leading ~ or ~user expanded; a ~user with no such user (or
    no home) is a bad value, as any other, not a crash."""
    try:
        return Path(text).expanduser()
    except RuntimeError:  # pathlib: "Could not determine home directory."
        home = text.split("/", 1)[0]
        raise ValueError(f"{allowed} ({home}: no such user's home folder)") from None


@dataclass(frozen=True)
class FilePath:
    def parse(self, text: str) -> Path:
        if not text:
            raise ValueError(self.allowed())
        return home_expanded(text, self.allowed())

    def allowed(self) -> str:
        return "a file or folder path"

    def format(self, value: Path) -> str:
        return str(value)


@dataclass(frozen=True)
class Weights:
    def parse(self, text: str) -> str:
        if not text:
            raise ValueError(self.allowed())
        if text.lower() in WEIGHTS_CHOICES:
            return text.lower()
        return str(home_expanded(text, self.allowed()))

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
        return home_expanded(text, self.allowed()) if text else None

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
