"""Sweeps: one ordinary run per point of a grid of settings, then one contact sheet.

`--sweep section.key=v1,v2,...` gives one axis of the grid; values are separated by commas,
or by semicolons when the text has any (for values that are themselves lists, e.g.
`paths.style_image=a.jpg,b.jpg;c.jpg` is two values: the blend of a and b, and c). With one
axis the sheet is one row; with two, the first axis gives the rows and the second the
columns; with more, the first gives the rows and the others together the columns (one
column per combination). Every run is a normal run folder inside the sweep's folder,
made by the single-run function itself (`run_point`, nst.app.run with the command line's
bar); the sweep adds `sweep.csv` and `contact_sheet.png`.
"""

from __future__ import annotations

import csv
import difflib
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image

from nst.contact_sheet import contact_sheet
from nst.exits import say
from nst.images import ImageError, load_image, to_uint8
from nst.runfolder import FINAL, make_unique_dir, write_bytes_atomic
from nst.settings import (
    SECTIONS,
    FilePath,
    ListOf,
    Settings,
    SettingsError,
    load_settings,
    parse_override,
)

LIST_SEPARATOR = ";"  # separates sweep values instead of ',' when the text has any
NOT_SWEEPABLE = {  # key -> why
    "paths.results_dir": "a sweep puts its runs in its own folder under results_dir",
    "output.show_viewer": "sweep runs never open the viewer",
}
SHEET = "contact_sheet.png"
INDEX = "sweep.csv"


@dataclass(frozen=True)
class Axis:
    key: str  # 'section.key'
    values: tuple[str, ...]  # as written, one run per value

    @property
    def name(self) -> str:
        return self.key.partition(".")[2]


def _kind(section: str, key: str):
    return next(f.metadata["kind"] for f in fields(SECTIONS[section]) if f.name == key)


def parse_axis(text: str) -> Axis:
    """'section.key=v1,v2' (or 'v1;v2') -> Axis, each value checked by the key's own parser."""
    try:
        section, key, values = parse_override(text)
    except SettingsError:
        raise SettingsError(
            f"--sweep {text!r}: expected section.key=value1,value2,..., "
            f"e.g. loss.style_weight=1,10,100"
        ) from None
    full = f"{section}.{key}"
    if section not in SECTIONS or key not in {f.name for f in fields(SECTIONS[section])}:
        known = [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in fields(cls)]
        # the same key in another section first (e.g. image.style_image -> paths.style_image)
        close = [k for k in known if k.partition(".")[2] == key]
        close = close or difflib.get_close_matches(full, known, n=1)
        hint = f": did you mean '{close[0]}'?" if close else ""
        raise SettingsError(f"--sweep: unknown key '{full}'{hint}")
    if full in NOT_SWEEPABLE:
        raise SettingsError(f"--sweep {full}: cannot be swept: {NOT_SWEEPABLE[full]}")
    separator = LIST_SEPARATOR if LIST_SEPARATOR in values else ","
    parts = tuple(part.strip() for part in values.split(separator))
    for part in parts:
        try:
            _kind(section, key).parse(part)
        except ValueError as error:
            raise SettingsError(f"--sweep [{section}] {key} = {part!r}: expected {error}") from None
    return Axis(full, parts)


@dataclass(frozen=True)
class Grid:
    axes: tuple[Axis, ...]

    @property
    def row_axes(self) -> tuple[Axis, ...]:
        return self.axes[:1] if len(self.axes) > 1 else ()

    @property
    def column_axes(self) -> tuple[Axis, ...]:
        return self.axes[1:] if len(self.axes) > 1 else self.axes

    def rows(self) -> list[tuple[str, ...]]:
        return list(itertools.product(*(a.values for a in self.row_axes)))

    def columns(self) -> list[tuple[str, ...]]:
        return list(itertools.product(*(a.values for a in self.column_axes)))

    def points(self) -> list[tuple[int, int, tuple[str, ...]]]:
        """(row, column, the overrides 'section.key=value') of every run, row by row."""
        keys = [a.key for a in (*self.row_axes, *self.column_axes)]
        return [
            (r, c, tuple(f"{k}={v}" for k, v in zip(keys, (*row, *col), strict=True)))
            for r, row in enumerate(self.rows())
            for c, col in enumerate(self.columns())
        ]


def parse_grid(texts: list[str]) -> Grid:
    """The grid of the --sweep arguments; a key may be swept only once."""
    axes = tuple(parse_axis(text) for text in texts)
    keys = [a.key for a in axes]
    for key in keys:
        if keys.count(key) > 1:
            raise SettingsError(f"--sweep {key} is given twice: give all its values in one")
    return Grid(axes)


def value_label(axis: Axis, value: str) -> str:
    """A value as the sheet shows it: file names without their folders, 'key=value'."""
    section, _, key = axis.key.partition(".")
    kind = _kind(section, key)
    if isinstance(kind, FilePath) or (isinstance(kind, ListOf) and isinstance(kind.item, FilePath)):
        value = ", ".join(Path(part.strip()).name for part in value.split(","))
    return f"{axis.name}={value}"


def labels(grid: Grid) -> tuple[list[str], list[str]]:
    """(row labels, column labels): 'key=value', one line per axis; rows '' with one axis."""
    rows = [
        " ".join(value_label(a, v) for a, v in zip(grid.row_axes, row, strict=True))
        for row in grid.rows()
    ]
    columns = [
        "\n".join(value_label(a, v) for a, v in zip(grid.column_axes, col, strict=True))
        for col in grid.columns()
    ]
    return rows, columns


def run_sweep(
    config: Path, overrides: tuple[str, ...], texts: list[str], run_point: Callable
) -> int:
    """Check every point's settings, run them one by one, then write the index and the sheet.

    `run_point(settings)` is the single-run function: it makes one run folder in the
    settings' `paths.results_dir` and returns its Outcome (nst.app). The first run that does
    not succeed ends the sweep; its status is the sweep's.
    """
    grid = parse_grid(texts)
    points = grid.points()
    settings = [load_settings(config, (*overrides, *point)) for _, _, point in points]
    check_points(settings)
    # results_dir cannot be swept: every point has the same one
    sweep_dir = make_unique_dir(
        settings[0].paths.results_dir, "sweep-" + "-".join(a.name for a in grid.axes)
    )
    print(f"nst: sweep of {len(points)} runs into {sweep_dir}")
    inside = (f"paths.results_dir={sweep_dir}", "output.show_viewer=false")
    runs: dict[tuple[int, int], Path] = {}  # (row, column) -> run folder, for finished runs
    status = 0
    try:
        for number, (row, column, point) in enumerate(points, start=1):
            print(f"nst: sweep run {number}/{len(points)}: {' '.join(point)}")
            outcome = run_point(load_settings(config, (*overrides, *point, *inside)))
            status = outcome.status
            if status != 0:
                say(f"sweep stopped: run {number} failed")
                break
            runs[row, column] = outcome.run_dir
    finally:  # even after a failure or Ctrl-C: the index and sheet of the runs done
        write_index(sweep_dir / INDEX, grid, runs)
        write_sheet(sweep_dir / SHEET, grid, settings, runs)
    print(f"nst: contact sheet in {sweep_dir / SHEET}")
    return status


def check_points(settings: list[Settings]) -> None:
    """Every check a run makes before TensorFlow loads (images, network depth, weights file,
    memory, the results folder), for every point, before the first run spends its minutes.
    Points that differ only in values those checks do not read are checked once."""
    from nst.app import prepare_images

    seen = set()
    for point in settings:
        key = (point.paths, point.model, point.image, point.optimizer.name, point.output)
        if key not in seen:
            seen.add(key)
            prepare_images(point)


def write_index(path: Path, grid: Grid, runs: dict[tuple[int, int], Path]) -> None:
    """sweep.csv: row, column, each swept key's value, and the run's folder ('' if not run)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "column", *(a.key for a in grid.axes), "run"])
    for row, column, point in grid.points():
        values = [p.partition("=")[2] for p in point]
        run = runs.get((row, column))
        writer.writerow([row, column, *values, run.name if run else ""])
    write_bytes_atomic(path, buffer.getvalue().encode())


def write_sheet(
    path: Path, grid: Grid, settings: list[Settings], runs: dict[tuple[int, int], Path]
) -> None:
    """contact_sheet.png: every content and style image used at the head, then the results."""
    captions: dict[Path, str] = {}  # path -> caption, in order of first use
    for s in settings:
        captions.setdefault(s.paths.content_image, f"content: {s.paths.content_image.name}")
        for style in s.paths.style_image:
            captions.setdefault(style, f"style: {style.name}")
    head = []
    for image_path, caption in captions.items():
        try:
            head.append((caption, to_uint8(load_image(image_path))))
        except ImageError:  # a run has already said what is wrong with it
            continue
    finals = {
        cell: np.asarray(Image.open(run / FINAL).convert("RGB")) for cell, run in runs.items()
    }
    rows, columns = labels(grid)
    title = (
        "sweep: "
        + (f"rows {grid.row_axes[0].key}, columns " if grid.row_axes else "columns ")
        + " x ".join(a.key for a in grid.column_axes)
    )
    cells = [[finals.get((r, c)) for c in range(len(columns))] for r in range(len(rows))]
    buffer = io.BytesIO()
    contact_sheet(title, head, rows, columns, cells).save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())
