"""A batch's contact sheets: rows × columns of any two of its axes (content, style, each
swept key), one page per value of every other axis, pages of at most [batch] page_size rows
and columns. Cells of items not done are grey. Drawn by nst.contact_sheet, as a sweep's."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
from PIL import Image

from nst.batch import DONE, SHEET, Batch, read_state
from nst.contact_sheet import contact_sheet
from nst.images import ImageError, load_image, to_uint8
from nst.runfolder import FINAL, write_bytes_atomic
from nst.settings import BatchSettings, SettingsError

HEAD_IMAGES = 8  # at most this many input thumbnails at a page's head


def sheet_axes(batch: Batch, settings: BatchSettings) -> tuple[int | None, int]:
    """(row axis, column axis) indices: as set, else the first two axes with several values
    (one such axis: a single row; rows None)."""
    names = [axis.name for axis in batch.axes]
    chosen = []
    for key in ("sheet_rows", "sheet_columns"):
        name = getattr(settings, key)
        if name and name not in names:
            raise SettingsError(
                f"[batch] {key} = {name!r}: expected one of {', '.join(names)} (or empty)"
            )
        chosen.append(names.index(name) if name else None)
    rows, columns = chosen
    if rows is not None and rows == columns:
        raise SettingsError(f"[batch] sheet_rows and sheet_columns are both {names[rows]!r}")
    spare = [i for i, a in enumerate(batch.axes) if len(a.values) > 1 and i not in chosen]
    if rows is None and columns is None:
        if len(spare) >= 2:
            return spare[0], spare[1]
        return None, (spare[0] if spare else 0)
    if columns is None:
        return rows, (spare[0] if spare else int(rows == 0))
    return (spare[0] if rows is None and spare else rows), columns


def chunks(values: range, size: int) -> list[range]:
    return [values[i : i + size] for i in range(0, len(values), size)] or [values]


def pages(batch: Batch, settings: BatchSettings) -> list[tuple[dict[int, int], range, range]]:
    """(the other axes' value indices, row indices, column indices) of every page."""
    rows, columns = sheet_axes(batch, settings)
    others = [i for i in range(len(batch.axes)) if i not in (rows, columns)]
    row_count = len(batch.axes[rows].values) if rows is not None else 1
    column_count = len(batch.axes[columns].values)
    return [
        (dict(zip(others, fixed, strict=True)), row_part, column_part)
        for fixed in itertools.product(*(range(len(batch.axes[i].values)) for i in others))
        for row_part in chunks(range(row_count), settings.page_size)
        for column_part in chunks(range(column_count), settings.page_size)
    ]


def draw_page(batch, settings, fixed, row_part, column_part, number, total) -> Image.Image:
    rows, columns = sheet_axes(batch, settings)
    finished = {item.values: read_state(batch, item) for item in batch.items}
    cells, contents, styles = [], {}, {}  # the inputs on this page, in order of first use
    for r in row_part:
        line = []
        for c in column_part:
            index = {**fixed, columns: c, **({rows: r} if rows is not None else {})}
            values = tuple(axis.values[index[i]] for i, axis in enumerate(batch.axes))
            contents.setdefault(values[0], None)
            styles.update(dict.fromkeys(values[1].split(",")))
            state = finished.get(values, {})
            path = batch.folder / state.get("run", "") / FINAL
            done = state.get("status") == DONE and path.is_file()
            line.append(np.asarray(Image.open(path).convert("RGB")) if done else None)
        cells.append(line)
    row_axis, column_axis = (batch.axes[rows] if rows is not None else None), batch.axes[columns]
    row_labels = [row_axis.label(row_axis.values[r]) if row_axis else "" for r in row_part]
    column_labels = [column_axis.label(column_axis.values[c]) for c in column_part]
    title = f"batch {batch.folder.name}: " + (f"rows {row_axis.name}, " if row_axis else "")
    title += f"columns {column_axis.name}"
    title += "".join(f"; {batch.axes[i].label(batch.axes[i].values[v])}" for i, v in fixed.items())
    title += f" (page {number} of {total})" if total > 1 else ""
    return contact_sheet(title, head_images([*contents, *styles]), row_labels, column_labels, cells)


def head_images(paths: list[str]) -> list[tuple[str, np.ndarray]]:
    head = []
    for path in paths[:HEAD_IMAGES]:
        try:
            head.append((Path(path).name, to_uint8(load_image(Path(path)))))
        except ImageError:  # its item has already said what is wrong with it
            continue
    return head


def write_sheets(batch: Batch, settings: BatchSettings) -> list[Path]:
    """contact_sheet.png, or contact_sheet_01.png, _02, ... when it takes several pages."""
    for old in batch.folder.glob(f"{SHEET}*.png"):
        old.unlink()
    every = pages(batch, settings)
    written = []
    for number, (fixed, row_part, column_part) in enumerate(every, start=1):
        name = f"{SHEET}.png" if len(every) == 1 else f"{SHEET}_{number:02d}.png"
        page = draw_page(batch, settings, fixed, row_part, column_part, number, len(every))
        buffer = io.BytesIO()
        page.save(buffer, format="PNG")
        write_bytes_atomic(batch.folder / name, buffer.getvalue())
        written.append(batch.folder / name)
    print(f"nst: contact sheet{'s' * (len(written) > 1)} in {batch.folder}")
    return written
