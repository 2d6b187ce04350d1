"""The page's settings form, made from nst.settings' own definitions, and checked by its parser.

Every field of the form is a settings field: its name, its default, its allowed values and its
one-line help are read from the dataclasses (`metadata["kind"]`, `metadata["doc"]`), so the
form cannot drift from config.ini. Values are checked by `load_settings`, the CLI's parser, so
a refused value gets the CLI's own message, shown next to its field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
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
# Keys whose values are images on the server: the page names them by upload id, never by path
# (a path typed into the page would reach any file the server user can read).
IMAGE_KEYS = ("paths.style_masks", "paths.style_image_masks", "paths.regions", "paths.content_mask")
WEIGHTS_KEY = "model.weights"  # imagenet | random | the server's own weights file, by its name
MAX_VALUE_CHARS = 2000  # the longest text of one value (a list of layers is ~200)
_PLACE = re.compile(r"\[(\w+)\] (\w+)")  # where a settings message names its section and key
_CLI_WORDS = re.compile(r"^--set (\[\w+\])")  # "--set [image] max_size = 10: ..."


def form_keys() -> frozenset[str]:
    """Every section.key the page may send: the settings' keys less the page's and server's."""
    return frozenset(
        f"{section}.{f.name}"
        for section, cls in SECTIONS.items()
        for f in fields(cls)
        if f"{section}.{f.name}" not in PAGE_KEYS + SERVER_KEYS
    )


@dataclass(frozen=True)
class PageFiles:
    """How the page names files: images by their upload ids, the network's weights by word or
    by the name of the file the server was started with. Nothing else on the server is named."""

    image_path: Callable[[str], Path | None]  # upload id -> its file; None: not an upload
    image_id: Callable[[Path], str | None]  # a file -> its upload id (stored on the way)
    weights: str  # the server's own [model] weights: a word or a path

    def weights_name(self) -> str | None:
        return None if self.weights in WEIGHTS_CHOICES else Path(self.weights).name

    def to_settings(self, name: str, text: str) -> str:
        """The form's text as the settings read it; ValueError says what the page may give."""
        if name == WEIGHTS_KEY:
            if text.strip().lower() in WEIGHTS_CHOICES:
                return text
            if text.strip() and text.strip() == self.weights_name():
                return self.weights
            offered = " or ".join([*WEIGHTS_CHOICES, *filter(None, [self.weights_name()])])
            raise ValueError(
                f"[model] weights = {text.strip()[:80]}: expected {offered}; another weights "
                "file is given when the studio starts (--set model.weights=PATH)"
            )
        if name not in IMAGE_KEYS:
            return text
        paths = []
        for image_id in filter(None, (part.strip() for part in text.split(","))):
            path = self.image_path(image_id)
            if path is None:
                section, key = name.split(".")
                raise ValueError(
                    f"[{section}] {key}: '{image_id[:40]}' is not one of the page's images: "
                    "upload the mask, then choose it"
                )
            paths.append(str(path))
        return ", ".join(paths)

    def to_page(self, name: str, value) -> str:
        """A setting's value as the page names it (image ids, the weights' word or name)."""
        if name == WEIGHTS_KEY:
            return value if value in WEIGHTS_CHOICES else Path(value).name
        if value is None:
            return ""
        paths = value if isinstance(value, tuple) else (value,)
        return ", ".join(filter(None, (self.image_id(Path(path)) for path in paths)))


def page_words(message: str) -> str:
    """A settings message as the page says it: the form has fields, not --set options."""
    return _CLI_WORDS.sub(r"\1", message)


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
    if isinstance(kind, Choice):  # aliases: old words a form saved by the browser may hold
        return {"widget": "choice", "choices": list(kind.choices), "aliases": dict(kind.aliases)}
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


def form_fields(current: Settings, files: PageFiles) -> list[dict]:
    """Every settings field the page shows, main ones first: name, help, default, value."""
    found = []
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            name = f"{section}.{f.name}"
            if name in PAGE_KEYS or name in SERVER_KEYS:
                continue
            kind = f.metadata["kind"]
            value = getattr(getattr(current, section), f.name)
            found.append(
                {
                    "name": name,
                    "section": section,
                    "key": f.name,
                    "doc": f.metadata["doc"],
                    "allowed": kind.allowed(),
                    "default": shown(kind, f.default),
                    "value": shown(kind, value),
                    "main": name in MAIN_KEYS,
                    **widget(kind),
                    **page_widget(name, kind, value, files),
                }
            )
    order = {name: i for i, name in enumerate(MAIN_KEYS)}
    return sorted(found, key=lambda item: order.get(item["name"], len(order)))


def page_widget(name: str, kind, value, files: PageFiles) -> dict:
    """The fields that name files: images by upload id, the weights by word or name."""
    if name in IMAGE_KEYS:
        return {
            "widget": "images",
            "multiple": isinstance(kind, ListOf),
            "value": files.to_page(name, value),
            "default": "",
            "allowed": "uploaded images (by the page's picker)",
        }
    if name == WEIGHTS_KEY:
        own = files.weights_name()
        return {
            "widget": "choice",
            "choices": [*WEIGHTS_CHOICES, *([own] if own else [])],
            "value": files.to_page(name, value),
        }
    return {}


def form_values(settings: Settings, files: PageFiles) -> dict[str, str]:
    """{section.key: text} of every field the form shows, as the page names them."""
    return {item["name"]: item["value"] for item in form_fields(settings, files)}


def field_of(message: str) -> str:
    """The form field a settings message is about ('' where it names none)."""
    match = _PLACE.search(message)
    return f"{match[1]}.{match[2]}" if match else ""


def refused_keys(values: dict[str, str]) -> dict[str, str]:
    """{key: why} for each key that is not exactly one of the form's: the settings' parser
    trims and splits keys, so " paths.results_dir" or "paths.results_dir=x" would reach a
    setting the page may not set; only the exact spelling of a form field is let through."""
    allowed = form_keys()
    if len(values) > len(allowed):
        return {"": f"{len(values)} settings sent; the form has {len(allowed)}"}
    errors = {}
    for name in values:
        if name in allowed:
            continue
        shown = name[:60]
        if name in PAGE_KEYS or name in SERVER_KEYS:
            errors[name] = f"{shown} is set by the page (the images, blend weights, results)"
        elif re.fullmatch(r"[a-z_]+\.[a-z_]+", name):  # spelt as a key: the parser's words
            errors[name] = _parser_message(name)
        else:
            errors[""] = f"'{shown}' is not a setting of the form (section.key, as listed)"
    return errors


def _parser_message(name: str) -> str:
    try:
        load_settings(None, (f"{name}=",))
    except SettingsError as error:
        return page_words(str(error))
    return f"{name} is not a setting of the form"


def check_values(
    config: Path | None, overrides: tuple[str, ...], values: dict[str, str], files: PageFiles
) -> tuple[dict[str, str], dict[str, str]]:
    """({field: the settings' text}, {field: the message}) for each value that the settings
    refuse on its own; the texts name the server's files where the page named them by id."""
    errors, texts = {}, {}
    for name, text in values.items():
        if len(text) > MAX_VALUE_CHARS:
            errors[name] = f"{name}: {len(text)} characters; at most {MAX_VALUE_CHARS}"
            continue
        try:
            texts[name] = files.to_settings(name, text)
            load_settings(config, (*overrides, f"{name}={texts[name]}"))
        except SettingsError as error:
            errors[field_of(str(error)) or name] = page_words(str(error))
        except ValueError as error:
            errors[name] = str(error)
    return texts, errors


def settings_from_form(
    config: Path | None,
    overrides: tuple[str, ...],
    values: dict[str, str],
    content: Path,
    styles: list[Path],
    files: PageFiles,
    blend: list[str] | None = None,
) -> Settings:
    """The server's settings, then the form's values and images; FormError says what is wrong."""
    refused = refused_keys(values)
    if refused:
        raise FormError(refused)
    texts, errors = check_values(config, overrides, values, files)
    if errors:
        raise FormError(errors)
    page = (
        f"paths.content_image={content}",
        f"paths.style_image={', '.join(str(path) for path in styles)}",
        f"loss.style_blend_weights={', '.join(blend or [])}",
        "output.show_viewer=false",
    )
    setting_texts = tuple(f"{name}={text}" for name, text in texts.items())
    try:
        return load_settings(config, (*overrides, *setting_texts, *page))
    except SettingsError as error:  # the values together: e.g. one blend weight per style
        raise FormError({field_of(str(error)): page_words(str(error))}) from None
