"""A run's short name: the settings that differ from the defaults, as a folder-safe tag."""

from __future__ import annotations

from dataclasses import fields

from nst.settings.kinds import WEIGHTS_CHOICES
from nst.settings.schema import Settings

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
