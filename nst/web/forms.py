"""The page's settings form, made from nst.settings' own definitions, and checked by its parser.

Every field of the form is a settings field: its name, its default, its allowed values and its
one-line help are read from the dataclasses (`metadata["kind"]`, `metadata["doc"]`), so the
form cannot drift from config.ini. Values are checked by `load_settings`, the CLI's parser, so
a refused value gets the CLI's own message, shown next to its field.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from nst.settings import (
    SECTIONS,
    WEIGHTS_CHOICES,
    Choice,
    Flag,
    ListOf,
    Number,
    NumberOr,
    Settings,
    SettingsError,
    Weights,
    load_settings,
)

# The knobs a user turns most, shown first, in this order; every other key is "advanced".
MAIN_KEYS = (
    "loss.style_weight",
    "loss.content_weight",
    "loss.tv_weight",
    "image.max_size",
    "optimizer.iterations",
    "optimizer.name",
    "image.init",
    "image.preserve_colors",
    "image.style_scale",
    "image.scales",
    "model.network",
    "model.weights",
)
# Set by the page itself (the image pickers, the blend inputs) or by the server, not typed.
PAGE_KEYS = ("paths.content_image", "paths.style_image", "loss.style_blend_weights")
SERVER_KEYS = ("paths.results_dir", "output.show_viewer")
_PLACE = re.compile(r"\[(\w+)\] (\w+)")  # where a settings message names its section and key


class FormError(ValueError):
    """Values the settings refuse: {field name or "": the CLI's message}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def widget(kind) -> dict:
    """How a value of this kind is typed in the page: input type and its limits."""
    if isinstance(kind, Number):
        return {
            "widget": "number",
            "step": "1" if kind.type is int else "any",
            "min": kind.min,
            "max": kind.max,
        }
    if isinstance(kind, Choice):
        return {"widget": "choice", "choices": list(kind.choices)}
    if isinstance(kind, Flag):
        return {"widget": "flag"}
    if isinstance(kind, Weights):
        return {"widget": "text", "suggestions": list(WEIGHTS_CHOICES)}
    if isinstance(kind, NumberOr):
        return {"widget": "text", "suggestions": [kind.word]}
    return {"widget": "list" if isinstance(kind, ListOf) else "text"}


def shown(kind, value) -> str:
    """The value as config.ini writes it; weights that settings normalised to equal shares are
    shown as the empty list they mean, so that changing the number of layers or styles does
    not leave stale weights in the form."""
    if isinstance(kind, ListOf) and kind.allow_empty and len(set(value)) == 1:
        return ""
    return kind.format(value)


def form_fields(current: Settings) -> list[dict]:
    """Every settings field the page shows, main ones first: name, help, default, value."""
    found = []
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            name = f"{section}.{f.name}"
            if name in PAGE_KEYS or name in SERVER_KEYS:
                continue
            kind = f.metadata["kind"]
            found.append(
                {
                    "name": name,
                    "section": section,
                    "key": f.name,
                    "doc": f.metadata["doc"],
                    "allowed": kind.allowed(),
                    "default": shown(kind, f.default),
                    "value": shown(kind, getattr(getattr(current, section), f.name)),
                    "main": name in MAIN_KEYS,
                    **widget(kind),
                }
            )
    order = {name: i for i, name in enumerate(MAIN_KEYS)}
    return sorted(found, key=lambda item: order.get(item["name"], len(order)))


def form_values(settings: Settings) -> dict[str, str]:
    """{section.key: text} of every field the form shows, as config.ini writes them."""
    return {item["name"]: item["value"] for item in form_fields(settings)}


def field_of(message: str) -> str:
    """The form field a settings message is about ('' where it names none)."""
    match = _PLACE.search(message)
    return f"{match[1]}.{match[2]}" if match else ""


def check_values(
    config: Path | None, overrides: tuple[str, ...], values: dict[str, str]
) -> dict[str, str]:
    """{field: the CLI's message} for each value that the settings refuse on its own."""
    errors = {}
    for name, text in values.items():
        try:
            load_settings(config, (*overrides, f"{name}={text}"))
        except SettingsError as error:
            errors[field_of(str(error)) or name] = str(error)
    return errors


def settings_from_form(
    config: Path | None,
    overrides: tuple[str, ...],
    values: dict[str, str],
    content: Path,
    styles: list[Path],
    blend: list[str] | None = None,
) -> Settings:
    """The server's settings, then the form's values and images; FormError says what is wrong."""
    if any(name in SERVER_KEYS or name in PAGE_KEYS for name in values):
        raise FormError({"": "the images, blend weights and results folder are set by the page"})
    errors = check_values(config, overrides, values)
    if errors:
        raise FormError(errors)
    page = (
        f"paths.content_image={content}",
        f"paths.style_image={', '.join(str(path) for path in styles)}",
        f"loss.style_blend_weights={', '.join(blend or [])}",
        "output.show_viewer=false",
    )
    setting_texts = tuple(f"{name}={text}" for name, text in values.items())
    try:
        return load_settings(config, (*overrides, *setting_texts, *page))
    except SettingsError as error:  # the values together: e.g. one blend weight per style
        raise FormError({field_of(str(error)): str(error)}) from None
