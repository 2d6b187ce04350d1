"""A contact sheet: the results of a sweep or a batch as one labelled grid, drawn with Pillow.

The layout is plain data (`SheetLayout`: every box and label in pixels), computed first and
then drawn, so its geometry can be checked without looking at pixels. The sheet reads, top
to bottom: a title; the content and style images as thumbnails with captions; the column
labels; then one row per value of the row key, its label on the left, one cell per column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MARGIN = 12  # around the sheet, in pixels
GAP = 8  # between cells, thumbnails and labels
CELL_SIDE = (128, 256)  # a cell's longer side: results are scaled up or down into this range
FONT_SIZE = 13
MAX_LABEL = 48  # characters per label line; longer lines are shortened with '...'
BACKGROUND = (255, 255, 255)
EMPTY_CELL = (224, 224, 224)  # a run that did not finish
INK = (0, 0, 0)


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height


@dataclass(frozen=True)
class Label:
    text: str
    box: Box  # the text is drawn from the box's top-left corner and fits inside it


@dataclass(frozen=True)
class SheetLayout:
    size: tuple[int, int]  # (width, height) of the sheet
    title: Label
    head: tuple[tuple[Box, Label], ...]  # a thumbnail's box and its caption, per head image
    column_labels: tuple[Label, ...]
    row_labels: tuple[Label, ...]
    cells: tuple[tuple[Box, ...], ...]  # [row][column]

    def labels(self) -> tuple[Label, ...]:
        """Every label of the sheet: title, captions, column and row labels."""
        captions = tuple(caption for _, caption in self.head)
        return (self.title, *captions, *self.column_labels, *self.row_labels)


def font(size: int = FONT_SIZE) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's own default font (no font files needed), at `size` pixels."""
    return ImageFont.load_default(size)


def shorten(text: str, limit: int = MAX_LABEL) -> str:
    """Each line of `text` cut to `limit` characters, '...' marking a cut."""
    lines = text.split("\n")
    return "\n".join(line if len(line) <= limit else line[: limit - 3] + "..." for line in lines)


def text_size(text: str, typeface) -> tuple[int, int]:
    """(width, height) that `text` needs when drawn at (0, 0); (0, 0) for no text."""
    if not text:
        return 0, 0
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    _, _, right, bottom = draw.multiline_textbbox((0, 0), text, font=typeface)
    return int(np.ceil(right)), int(np.ceil(bottom))


def cell_size(result_sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """A cell that holds every result (width, height), its longer side brought into CELL_SIDE."""
    width = max(w for w, _ in result_sizes)
    height = max(h for _, h in result_sizes)
    longest = max(width, height)
    scale = min(max(longest, CELL_SIDE[0]), CELL_SIDE[1]) / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def layout_sheet(
    title: str,
    head: list[tuple[str, tuple[int, int]]],
    row_labels: list[str],
    column_labels: list[str],
    cell: tuple[int, int],
    typeface,
) -> SheetLayout:
    """Where everything goes. `head`: (caption, (width, height)) of each thumbnail, drawn at
    the cell's height; `row_labels`: one per row ('' everywhere: no label column)."""
    title_label = Label(title, Box(MARGIN, MARGIN, *text_size(title, typeface)))
    y = title_label.box.bottom + GAP

    head_boxes, x, head_bottom = [], MARGIN, y
    for caption, (width, height) in head:
        thumb = Box(x, y, min(2 * cell[0], max(1, round(width * cell[1] / height))), cell[1])
        caption_wh = text_size(caption, typeface)
        label = Label(caption, Box(x, thumb.bottom + GAP // 2, *caption_wh))
        head_boxes.append((thumb, label))
        x += max(thumb.width, caption_wh[0]) + GAP
        head_bottom = max(head_bottom, label.box.bottom)

    grid_top = head_bottom + 2 * GAP
    row_sizes = [text_size(text, typeface) for text in row_labels]
    column_sizes = [text_size(text, typeface) for text in column_labels]
    label_width = max(w for w, _ in row_sizes)
    column_width = max(cell[0], *(w for w, _ in column_sizes))
    row_height = max(cell[1], *(h for _, h in row_sizes))
    header_height = max(h for _, h in column_sizes)
    left = MARGIN + (label_width + GAP if label_width else 0)
    top = grid_top + (header_height + GAP if header_height else 0)

    columns = [left + c * (column_width + GAP) for c in range(len(column_labels))]
    rows = [top + r * (row_height + GAP) for r in range(len(row_labels))]
    cells = tuple(
        tuple(
            Box(cx + (column_width - cell[0]) // 2, ry + (row_height - cell[1]) // 2, *cell)
            for cx in columns
        )
        for ry in rows
    )
    width = max(
        columns[-1] + column_width + MARGIN,
        title_label.box.right + MARGIN,
        x - GAP + MARGIN,
    )
    return SheetLayout(
        size=(width, rows[-1] + row_height + MARGIN),
        title=title_label,
        head=tuple(head_boxes),
        column_labels=tuple(
            Label(text, Box(cx + (column_width - wh[0]) // 2, grid_top, *wh))
            for text, cx, wh in zip(column_labels, columns, column_sizes, strict=True)
        ),
        row_labels=tuple(
            Label(text, Box(MARGIN, ry, *wh))
            for text, ry, wh in zip(row_labels, rows, row_sizes, strict=True)
        ),
        cells=cells,
    )


def _paste_fitted(sheet: Image.Image, image: np.ndarray, box: Box) -> None:
    """`image` (uint8 RGB array) scaled into `box` with its aspect kept, centred."""
    picture = Image.fromarray(image)
    scale = min(box.width / picture.width, box.height / picture.height)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    if size != picture.size:
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    sheet.paste(picture, (box.x + (box.width - size[0]) // 2, box.y + (box.height - size[1]) // 2))


def draw_sheet(
    layout: SheetLayout,
    head_images: list[np.ndarray],
    cell_images: list[list[np.ndarray | None]],
    typeface,
    labels: bool = True,
) -> Image.Image:
    """The sheet as an RGB image: images fitted into their boxes, labels drawn (if `labels`);
    a cell whose image is None is left grey."""
    sheet = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for (box, _), image in zip(layout.head, head_images, strict=True):
        _paste_fitted(sheet, image, box)
    for boxes, images in zip(layout.cells, cell_images, strict=True):
        for box, image in zip(boxes, images, strict=True):
            if image is None:
                draw.rectangle((box.x, box.y, box.right - 1, box.bottom - 1), fill=EMPTY_CELL)
            else:
                _paste_fitted(sheet, image, box)
    if labels:
        for label in layout.labels():
            if label.text:
                draw.multiline_text((label.box.x, label.box.y), label.text, INK, typeface)
    return sheet


def contact_sheet(
    title: str,
    head: list[tuple[str, np.ndarray]],
    row_labels: list[str],
    column_labels: list[str],
    cells: list[list[np.ndarray | None]],
) -> Image.Image:
    """The whole sheet from uint8 RGB images: `head` (caption, image) pairs, `cells` [row][col]."""
    typeface = font()
    sizes = [(im.shape[1], im.shape[0]) for row in cells for im in row if im is not None]
    layout = layout_sheet(
        shorten(title, 3 * MAX_LABEL),
        [(shorten(caption), (im.shape[1], im.shape[0])) for caption, im in head],
        [shorten(text) for text in row_labels],
        [shorten(text) for text in column_labels],
        cell_size(sizes or [(CELL_SIDE[0], CELL_SIDE[0])]),
        typeface,
    )
    return draw_sheet(layout, [im for _, im in head], cells, typeface)
