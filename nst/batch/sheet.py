"""The contact sheets of a batch or a sweep: the pages of its sheet plan (nst.batch.grid),
each with the inputs used on it at the head and one cell per item; cells of items not done
are grey. Drawn by nst.output.contact_sheet."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from nst.batch.grid import cell_indices, page_labels, pages, sheet_name
from nst.batch.plan import DONE, SHEET, Batch, read_state
from nst.inputs.images import ImageError, load_image, to_uint8
from nst.output.contact_sheet import contact_sheet
from nst.output.runfolder import FINAL, write_bytes_atomic

HEAD_IMAGES = 8  # at most this many input thumbnails at a page's head


def draw_page(batch: Batch, page, number: int, total: int) -> Image.Image:
    plan, axes = batch.sheet, batch.axes
    states = {item.indices: read_state(batch, item) for item in batch.items}
    by_indices = {item.indices: item for item in batch.items}
    cells, inputs = [], {}  # inputs on this page, in order of first use: path -> caption
    for row in page.rows:
        line = []
        for column in page.columns:
            item = by_indices[cell_indices(axes, plan, page, row, column)]
            content = batch.input_of(item, "paths.content_image")
            inputs.setdefault(content, f"content: {Path(content).name}")
            for style in batch.input_of(item, "paths.style_image").split(","):
                inputs.setdefault(style.strip(), f"style: {Path(style.strip()).name}")
            state = states[item.indices]
            path = batch.folder / state.get("run", "") / FINAL
            done = state.get("status") == DONE and path.is_file()
            # colour-managed: final.png may be in the content photo's profile ([output])
            line.append(to_uint8(load_image(path)) if done else None)
        cells.append(line)
    rows, columns = page_labels(axes, plan, page)
    row_axis = axes[plan.rows] if plan.rows is not None else None
    title = f"{batch.title}: " + (f"rows {row_axis.name}, " if row_axis else "")
    title += "columns " + " x ".join(axes[i].name for i in plan.columns)
    title += "".join(
        f"; {axes[i].label(axes[i].values[v])}"
        for i, v in page.fixed.items()
        if len(axes[i].values) > 1
    )
    title += f" (page {number} of {total})" if total > 1 else ""
    return contact_sheet(title, head_images(inputs), rows, columns, cells)


def head_images(inputs: dict[str, str]) -> list[tuple[str, np.ndarray]]:
    """(caption, image) of the first HEAD_IMAGES inputs that can be read."""
    head = []
    for path, caption in list(inputs.items())[:HEAD_IMAGES]:
        try:
            head.append((caption, to_uint8(load_image(Path(path)))))
        except ImageError:  # its item has already said what is wrong with it
            continue
    return head


def write_sheets(batch: Batch) -> list[Path]:
    """contact_sheet.png, or contact_sheet_01.png, _02, ... when it takes several pages."""
    for old in batch.folder.glob(f"{SHEET}*.png"):
        old.unlink()
    every = pages(batch.axes, batch.sheet)
    written = []
    for number, page in enumerate(every, start=1):
        path = batch.folder / sheet_name(number, len(every))
        buffer = io.BytesIO()
        draw_page(batch, page, number, len(every)).save(buffer, format="PNG")
        write_bytes_atomic(path, buffer.getvalue())
        written.append(path)
    if len(written) == 1:
        print(f"nst: contact sheet in {written[0]}")
    else:
        print(f"nst: {len(written)} contact sheets in {batch.folder}")
    return written
