"""The grid of a batch or a sweep: its axes (content, style, each --sweep key), the items as
their product, and where each item sits on the contact sheets. Pure data: no files, no runs.

`--sweep section.key=v1,v2,...` gives one axis; values are separated by commas, or by
semicolons when the text has any (for values that are themselves lists, e.g.
`paths.style_image=a.jpg,b.jpg;c.jpg` is two values: the blend of a and b, and c).
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

from nst.settings import SECTIONS, BatchSettings, FilePath, ListOf, SettingsError, parse_override

LIST_SEPARATOR = ";"  # separates sweep values instead of ',' when the text has any
NOT_SWEEPABLE = {  # key -> why
    "paths.results_dir": "a sweep puts its runs in its own folder under results_dir",
    "output.show_viewer": "sweep runs never open the viewer",
}
INPUTS = {"paths.content_image": "content", "paths.style_image": "style"}


def _kind(key: str):
    section, _, name = key.partition(".")
    return next(f.metadata["kind"] for f in fields(SECTIONS[section]) if f.name == name)


@dataclass(frozen=True)
class Axis:
    key: str  # the setting its values override, 'section.key'
    values: tuple[str, ...]  # as written: a path, a comma-joined blend, a setting's text
    swept: bool = True  # from --sweep; False: a batch's own content or style images

    @property
    def name(self) -> str:
        """As [batch] sheet_rows names it: 'content', 'style' or the swept 'section.key'."""
        return self.key if self.swept else INPUTS[self.key]

    @property
    def short(self) -> str:
        return self.key.partition(".")[2]

    def label(self, value: str) -> str:
        """A value as a sheet shows it: file names without their folders; a swept value as
        'key=value'."""
        kind = _kind(self.key)
        if isinstance(kind, FilePath) or (
            isinstance(kind, ListOf) and isinstance(kind.item, FilePath)
        ):
            value = ", ".join(Path(part.strip()).name for part in value.split(","))
        return f"{self.short}={value}" if self.swept else value


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
    if section == "batch":
        raise SettingsError(f"--sweep {full}: [batch] settings cannot be swept")
    separator = LIST_SEPARATOR if LIST_SEPARATOR in values else ","
    parts = tuple(part.strip() for part in values.split(separator))
    for part in parts:
        try:
            _kind(full).parse(part)
        except ValueError as error:
            raise SettingsError(f"--sweep [{section}] {key} = {part!r}: expected {error}") from None
    return Axis(full, parts)


def parse_grid(texts: list[str]) -> tuple[Axis, ...]:
    """The axes of the --sweep arguments, in the order given; a key may be swept only once."""
    axes = tuple(parse_axis(text) for text in texts)
    keys = [a.key for a in axes]
    for key in keys:
        if keys.count(key) > 1:
            raise SettingsError(f"--sweep {key} is given twice: give all its values in one")
    return axes


@dataclass(frozen=True)
class Item:
    number: int  # 1-based, in the grid's order
    indices: tuple[int, ...]  # its value's index on each axis
    values: tuple[str, ...]  # one per axis
    overrides: tuple[str, ...]  # 'section.key=value' that make this item's settings
    key: str  # a stable name: the same inputs and overrides, the same key


def make_items(axes: tuple[Axis, ...]) -> tuple[Item, ...]:
    """One item per combination of the axes' values, the last axis turning fastest. An item
    that repeats an earlier one (a value given twice) gets its own key: '-2', '-3', ..."""
    ranges = [range(len(axis.values)) for axis in axes]
    items, seen = [], Counter()
    for number, indices in enumerate(itertools.product(*ranges), start=1):
        values = tuple(axis.values[i] for axis, i in zip(axes, indices, strict=True))
        overrides = tuple(f"{a.key}={v}" for a, v in zip(axes, values, strict=True))
        key = hashlib.sha1("\n".join(overrides).encode()).hexdigest()[:12]
        seen[key] += 1
        key += f"-{seen[key]}" if seen[key] > 1 else ""
        items.append(Item(number, indices, values, overrides, key))
    return tuple(items)


# --- the contact sheets: which axes are rows and columns, pages for the others ---------------


@dataclass(frozen=True)
class SheetPlan:
    rows: int | None  # the axis whose values are the rows; None: a single row
    columns: tuple[int, ...]  # the axes whose value combinations are the columns
    page_size: int | None = None  # at most this many rows and columns a page; None: no limit


@dataclass(frozen=True)
class Page:
    fixed: dict[int, int]  # the other axes: their value index on this page
    rows: range  # row indices (values of the row axis) on this page
    columns: range  # column indices (combinations of the column axes) on this page


def batch_sheet_plan(axes: tuple[Axis, ...], settings: BatchSettings) -> SheetPlan:
    """[batch] sheet_rows and sheet_columns (an axis's name or key), else the first two axes
    with several values (one such axis: a single row)."""
    chosen = []
    for setting in ("sheet_rows", "sheet_columns"):
        name = getattr(settings, setting)
        found = [i for i, a in enumerate(axes) if name in (a.name, a.key)]
        if name and not found:
            names = ", ".join(a.name for a in axes)
            raise SettingsError(f"[batch] {setting} = {name!r}: expected one of {names} (or empty)")
        chosen.append(found[0] if name else None)
    rows, columns = chosen
    if rows is not None and rows == columns:
        raise SettingsError(f"[batch] sheet_rows and sheet_columns are both {axes[rows].name!r}")
    spare = [i for i, a in enumerate(axes) if len(a.values) > 1 and i not in chosen]
    if rows is None and columns is None:
        rows, columns = (spare[0], spare[1]) if len(spare) >= 2 else (None, (spare or [0])[0])
    elif columns is None:
        columns = spare[0] if spare else int(rows == 0)
    elif rows is None and spare:
        rows = spare[0]
    return SheetPlan(rows, (columns,), settings.page_size)


def sweep_sheet_plan(axes: tuple[Axis, ...]) -> SheetPlan:
    """One swept key: a single row; two: rows × columns; more: the first gives the rows and
    the others together the columns (one column per combination). One page."""
    swept = [i for i, axis in enumerate(axes) if axis.swept]
    if len(swept) > 1:
        return SheetPlan(swept[0], tuple(swept[1:]))
    return SheetPlan(None, tuple(swept))


def _chunks(values: range, size: int | None) -> list[range]:
    size = size or max(len(values), 1)
    return [values[i : i + size] for i in range(0, len(values), size)] or [values]


def pages(axes: tuple[Axis, ...], plan: SheetPlan) -> list[Page]:
    """Every page: one per value of every axis that is neither rows nor columns, each cut
    into at most page_size rows and columns."""
    others = [i for i in range(len(axes)) if i != plan.rows and i not in plan.columns]
    row_count = len(axes[plan.rows].values) if plan.rows is not None else 1
    column_count = len(column_values(axes, plan))
    return [
        Page(dict(zip(others, fixed, strict=True)), row_part, column_part)
        for fixed in itertools.product(*(range(len(axes[i].values)) for i in others))
        for row_part in _chunks(range(row_count), plan.page_size)
        for column_part in _chunks(range(column_count), plan.page_size)
    ]


def column_values(axes: tuple[Axis, ...], plan: SheetPlan) -> list[tuple[int, ...]]:
    """The columns: each a combination of value indices of the column axes."""
    return list(itertools.product(*(range(len(axes[i].values)) for i in plan.columns)))


def cell_indices(axes, plan: SheetPlan, page: Page, row: int, column: int) -> tuple[int, ...]:
    """The value indices (one per axis) of the item in a page's cell."""
    index = dict(page.fixed)
    index.update(zip(plan.columns, column_values(axes, plan)[column], strict=True))
    if plan.rows is not None:
        index[plan.rows] = row
    return tuple(index[i] for i in range(len(axes)))


def page_labels(axes, plan: SheetPlan, page: Page) -> tuple[list[str], list[str]]:
    """(row labels, column labels) of a page: '' rows without a row axis; a column's label
    one line per column axis."""
    row_axis = axes[plan.rows] if plan.rows is not None else None
    rows = [row_axis.label(row_axis.values[r]) if row_axis else "" for r in page.rows]
    combos = column_values(axes, plan)
    columns = []
    for c in page.columns:
        pairs = zip(plan.columns, combos[c], strict=True)
        columns.append("\n".join(axes[a].label(axes[a].values[v]) for a, v in pairs))
    return rows, columns


def sheet_name(number: int, total: int) -> str:
    """contact_sheet.png, or contact_sheet_01.png, _02, ... when there are several pages."""
    return "contact_sheet.png" if total == 1 else f"contact_sheet_{number:02d}.png"


def placements(axes, plan: SheetPlan) -> dict[tuple[int, ...], tuple[str, int, int]]:
    """Where each item is drawn: its value indices -> (sheet file, row, column) on it."""
    every = pages(axes, plan)
    placed = {}
    for number, page in enumerate(every, start=1):
        for r, row in enumerate(page.rows):
            for c, column in enumerate(page.columns):
                at = (sheet_name(number, len(every)), r, c)
                placed[cell_indices(axes, plan, page, row, column)] = at
    return placed
