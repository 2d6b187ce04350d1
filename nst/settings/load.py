"""Reading settings: config.ini text and --set overrides -> checked, resolved `Settings`.

Relative paths become absolute (relative to the config file's folder) and combinations that
cannot work together are refused here, once, before anything is built.
"""

from __future__ import annotations

import configparser
import dataclasses
import difflib
import errno
import os
import stat
from dataclasses import fields
from pathlib import Path

from nst.settings.kinds import FOUND_REGIONS, PHOTO, WEIGHTS_CHOICES, SettingsError
from nst.settings.networks import conv_layer_names
from nst.settings.schema import SECTIONS, PathsSettings, Settings

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


# Keys added with a default that differs from what runs did before them: the value a run
# folder's config.ini written before the key existed ran with (load_run_settings).
FORMER_DEFAULTS = {("loss", "auto_regions"): "off"}  # faces are found by default since


def load_run_settings(path: Path) -> Settings:
    """A run folder's config.ini (`--resume`, a past run's settings), each key it lacks because
    an older version wrote it and whose default changed since (FORMER_DEFAULTS) as that run
    had it, so that it resumes as it ran."""
    parser = _read_ini(read_config_text(Path(path)), str(path))
    lacking = tuple(
        f"{section}.{key}={value}"
        for (section, key), value in FORMER_DEFAULTS.items()
        if not parser.has_option(section, key)
    )
    return load_settings(path, lacking)


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
    image = settings.image
    if image.reference_size is not None and image.finest_scale == "shallow":
        raise SettingsError(
            "[image] reference_size matches the picture with the whole network, and "
            "finest_scale = shallow cuts it at the full-size scale: set reference_size = off "
            "or finest_scale = full"
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

    if mapping and loss.auto_regions != "people":
        raise SettingsError(
            f"[loss] auto_region_styles is set but auto_regions = {loss.auto_regions}: it "
            "needs auto_regions = people (the people and the background are found then)"
        )
    if loss.auto_regions == "people" and (paths.regions is not None or paths.style_masks):
        raise SettingsError(
            "[loss] auto_regions = people and [paths] regions or style_masks are two ways of "
            "placing the styles: set one"
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
