"""The contact sheet: grid geometry as data, labels drawn where the layout says, images placed."""

from __future__ import annotations

import numpy as np
import pytest

from nst.output.contact_sheet import (
    CELL_SIDE,
    EMPTY_CELL,
    GAP,
    MARGIN,
    Box,
    cell_size,
    contact_sheet,
    draw_sheet,
    font,
    layout_sheet,
    shorten,
    text_size,
)

ROWS = ["style_weight=1e2", "style_weight=1e3", "style_weight=1e4"]
COLUMNS = ["style_image=a.jpg", "style_image=b.jpg, c.jpg"]
HEAD = [("content: c.jpg", (64, 48)), ("style: a.jpg", (40, 40)), ("style: b.jpg", (30, 60))]
CELL = (128, 96)


def overlap(a: Box, b: Box) -> bool:
    return a.x < b.right and b.x < a.right and a.y < b.bottom and b.y < a.bottom


def inside(box: Box, size: tuple[int, int]) -> bool:
    return box.x >= 0 and box.y >= 0 and box.right <= size[0] and box.bottom <= size[1]


@pytest.fixture(scope="module")
def layout():
    return layout_sheet("sweep: rows a, columns b", HEAD, ROWS, COLUMNS, CELL, font())


def test_grid_has_one_cell_per_row_and_column_in_a_regular_grid(layout):
    assert len(layout.cells) == len(ROWS)
    assert all(len(row) == len(COLUMNS) for row in layout.cells)
    assert {(b.width, b.height) for row in layout.cells for b in row} == {CELL}
    typeface = font()
    column_pitch = max(CELL[0], *(text_size(t, typeface)[0] for t in COLUMNS)) + GAP
    row_pitch = max(CELL[1], *(text_size(t, typeface)[1] for t in ROWS)) + GAP
    for r, row in enumerate(layout.cells):
        for c, box in enumerate(row):
            assert box.x == layout.cells[0][0].x + c * column_pitch  # columns aligned
            assert box.y == layout.cells[0][0].y + r * row_pitch  # rows aligned
    last = layout.cells[-1][-1]
    assert layout.size[1] == last.bottom + MARGIN
    assert layout.size[0] >= last.right + MARGIN


def test_nothing_overlaps_and_everything_is_on_the_sheet(layout):
    boxes = [b for row in layout.cells for b in row]
    boxes += [box for box, _ in layout.head] + [label.box for label in layout.labels()]
    for i, a in enumerate(boxes):
        assert inside(a, layout.size), a
        for b in boxes[i + 1 :]:
            assert not overlap(a, b), (a, b)


def test_labels_sit_beside_their_rows_and_above_their_columns(layout):
    assert [label.text for label in layout.row_labels] == ROWS
    assert [label.text for label in layout.column_labels] == COLUMNS
    for label, row in zip(layout.row_labels, layout.cells, strict=True):
        assert label.box.right <= row[0].x  # left of the row
        assert row[0].y <= label.box.y < row[0].bottom  # at the row's height
    for c, label in enumerate(layout.column_labels):
        cell = layout.cells[0][c]
        assert label.box.bottom <= cell.y  # above the first row
        assert label.box.x < cell.right and cell.x < label.box.right  # over its column
    # the head (content and styles) comes first, captions under their thumbnails
    for thumb, caption in layout.head:
        assert thumb.height == CELL[1]
        assert caption.box.y >= thumb.bottom and caption.box.bottom <= layout.column_labels[0].box.y
    assert [caption.text for _, caption in layout.head] == [c for c, _ in HEAD]


def test_labels_are_drawn_inside_their_boxes_and_only_there(layout):
    head = [np.full((h, w, 3), 90, np.uint8) for _, (w, h) in HEAD]
    cells = [
        [np.full((*CELL[::-1], 3), 40 * (r + c), np.uint8) for c in range(2)] for r in range(3)
    ]
    typeface = font()
    with_labels = np.asarray(draw_sheet(layout, head, cells, typeface, labels=True))
    without = np.asarray(draw_sheet(layout, head, cells, typeface, labels=False))
    assert with_labels.shape == without.shape == (layout.size[1], layout.size[0], 3)
    changed = (with_labels != without).any(axis=2)
    in_labels = np.zeros_like(changed)
    for label in layout.labels():
        box = label.box
        assert changed[box.y : box.bottom, box.x : box.right].any(), label.text  # text drawn
        in_labels[box.y : box.bottom, box.x : box.right] = True
    assert not (changed & ~in_labels).any()  # and nothing drawn outside the label boxes


def test_cells_hold_their_images_and_a_missing_one_is_grey(layout):
    rng = np.random.default_rng(0)
    head = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _, (w, h) in HEAD]
    cells = [
        [rng.integers(0, 255, (*CELL[::-1], 3), dtype=np.uint8) for _ in range(2)] for _ in ROWS
    ]
    cells[2][1] = None
    sheet = np.asarray(draw_sheet(layout, head, cells, font()))
    for r, row in enumerate(layout.cells):
        for c, box in enumerate(row):
            region = sheet[box.y : box.bottom, box.x : box.right]
            expected = EMPTY_CELL if cells[r][c] is None else cells[r][c]
            np.testing.assert_array_equal(region, np.broadcast_to(expected, region.shape))


def test_one_axis_is_one_row_without_a_label_column():
    layout = layout_sheet("t", [], [""], ["a=1", "a=2", "a=3"], CELL, font())
    assert len(layout.cells) == 1 and len(layout.cells[0]) == 3
    assert layout.cells[0][0].x == MARGIN + max(0, (text_size("a=1", font())[0] - CELL[0]) // 2)


def test_cell_size_brings_results_into_range_with_their_aspect():
    assert cell_size([(48, 36)]) == (CELL_SIDE[0], 96)  # tiny results are shown larger
    assert cell_size([(1024, 512), (300, 600)]) == (CELL_SIDE[1], 150)  # the largest box fits
    assert cell_size([(200, 150)]) == (200, 150)


def test_long_labels_are_shortened():
    assert shorten("x" * 100, 10) == "x" * 7 + "..."
    assert shorten("short\n" + "y" * 20, 10) == "short\n" + "y" * 7 + "..."


def test_contact_sheet_fits_results_of_other_sizes():
    rng = np.random.default_rng(1)
    images = [[rng.integers(0, 255, (36, 48, 3), dtype=np.uint8), None]]
    sheet = contact_sheet("t", [("content", images[0][0])], [""], ["a=1", "a=2"], images)
    assert sheet.mode == "RGB" and sheet.size[0] > 2 * CELL_SIDE[0]
