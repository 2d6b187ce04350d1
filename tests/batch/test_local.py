"""Batches on the local engine: 2 contents × 2 styles at a tiny size, shards, reruns that do
nothing or finish only what is left (resuming an interrupted item), and bad inputs."""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import pytest

from nst.batch.launch import run_batch
from nst.output.runfolder import CHECKPOINT, FINAL, LOSSES_CSV
from nst.run.process import StopRequest
from nst.run.watchers import Watcher
from nst.settings import SettingsError
from tests.helpers import make_image
from tests.helpers.batch import TINY, rows, run_folders, two_by_two


def the_batch(tmp_path: Path) -> Path:
    (folder,) = (tmp_path / "results").iterdir()
    return folder


@pytest.mark.slow
def test_two_shards_cover_each_item_once_and_a_rerun_does_nothing(tmp_path):
    overrides = two_by_two(tmp_path)
    assert run_batch(None, overrides, [], shard_text="1/2", stop=StopRequest()) == 0  # its share
    batch = the_batch(tmp_path)
    assert [r["status"] for r in rows(batch)] == ["done", "", "done", ""]
    assert run_batch(None, overrides, [], shard_text="2/2", stop=StopRequest()) == 0
    table = rows(batch)
    assert [r["status"] for r in table] == ["done"] * 4
    assert [(Path(r["content"]).name, Path(r["style"]).name) for r in table] == [
        ("ca.png", "sa.png"),
        ("ca.png", "sb.png"),
        ("cb.png", "sa.png"),
        ("cb.png", "sb.png"),
    ]
    folders = run_folders(batch)
    assert sorted(r["run"] for r in table) == [f.name for f in folders]  # each item once
    for folder, row in zip(folders, sorted(table, key=lambda r: r["run"]), strict=True):
        assert (folder / FINAL).is_file() and not (folder / CHECKPOINT).exists()
        assert float(row["total_loss"]) > 0 and float(row["seconds"]) > 0
    assert (batch / "contact_sheet.png").is_file()

    before = {p: p.stat().st_mtime_ns for f in folders for p in f.rglob("*")}
    assert run_batch(None, overrides, [], stop=StopRequest()) == 0
    assert run_folders(batch) == folders
    assert {p: p.stat().st_mtime_ns for f in folders for p in f.rglob("*")} == before


class StopInItem(Watcher):
    """Asks the batch to stop (as SIGTERM) at record 1 of item `number`."""

    def __init__(self, stop: StopRequest, item, number: int):
        self.stop, self.here = stop, item.number == number

    def recorded(self, record) -> None:
        if self.here and record.iteration == 1:
            self.stop.ask(signal.SIGTERM)


@pytest.mark.slow
def test_an_interrupted_batch_reruns_only_what_is_left_resuming_the_item_cut_short(tmp_path):
    overrides = two_by_two(tmp_path)
    stop = StopRequest()
    status = run_batch(
        None, overrides, [], stop=stop, make_watcher=lambda item: StopInItem(stop, item, 3)
    )
    assert status == 128 + signal.SIGTERM
    batch = the_batch(tmp_path)
    table = rows(batch)
    assert [r["status"] for r in table] == ["done", "done", "interrupted", ""]
    cut = batch / table[2]["run"]
    assert (cut / CHECKPOINT).is_file()
    done_before = {r["run"] for r in table[:2]}

    assert run_batch(None, overrides, [], stop=StopRequest()) == 0
    table = rows(batch)
    assert [r["status"] for r in table] == ["done"] * 4
    assert {r["run"] for r in table[:2]} == done_before
    assert table[2]["run"] == cut.name  # resumed in its own folder
    assert len(run_folders(batch)) == 4
    with open(cut / LOSSES_CSV, newline="") as file:
        assert [int(r["iteration"]) for r in csv.DictReader(file)] == [0, 1, 2, 3]


class StopInFrame(Watcher):
    """Asks the batch to stop (as SIGTERM) at record 1 of frame `frame` of a clip."""

    def __init__(self, stop: StopRequest, frame: int):
        self.stop, self.frame = stop, frame

    def recorded(self, record) -> None:
        if record.scale == self.frame and record.iteration == 1:
            self.stop.ask(signal.SIGTERM)


def test_an_interrupted_clip_item_goes_on_at_its_first_missing_frame(tmp_path, capsys):
    from tests.helpers.video_clips import clip_frames, write_clip

    clip = write_clip(tmp_path / "clip.mp4", clip_frames(3, width=48, height=32))
    overrides = (
        f"paths.content_image={clip}",
        f"paths.style_image={make_image(tmp_path / 'style.png', seed=2)}",
        f"paths.results_dir={tmp_path / 'results'}",
        *TINY,
        "video.first_frame_iterations=2",
        "video.frame_iterations=2",
        "video.compare=false",
    )
    stop = StopRequest()
    status = run_batch(None, overrides, [], stop=stop, make_watcher=lambda i: StopInFrame(stop, 2))
    assert status == 128 + signal.SIGTERM
    batch = the_batch(tmp_path)
    (row,) = rows(batch)
    assert row["status"] == "interrupted"
    cut = batch / row["run"]
    first = cut / "frames" / "frame_000001.png"
    assert first.is_file() and not (cut / "frames" / "frame_000002.png").exists()
    assert not (cut / CHECKPOINT).exists()  # a clip keeps its finished frames instead
    stylised = first.stat().st_mtime_ns

    assert run_batch(None, overrides, [], stop=StopRequest()) == 0
    assert f"nst: resuming {cut.name} from its first missing frame" in capsys.readouterr().out
    (row,) = rows(batch)
    assert row["status"] == "done" and row["run"] == cut.name  # in its own folder
    assert run_folders(batch) == [cut]
    assert first.stat().st_mtime_ns == stylised  # frame 1 was not stylised again
    with open(cut / "frames.csv", newline="") as file:
        assert [int(r["frame"]) for r in csv.DictReader(file)] == [1, 2, 3]
    assert (cut / "video.mp4").is_file()


def test_items_cross_contents_styles_and_sweeps_a_style_list_stays_one_blend(tmp_path):
    from nst.batch.plan import plan_batch

    overrides = two_by_two(tmp_path)
    batch = plan_batch(None, overrides, ["loss.style_weight=1,10,100"], None)
    assert [a.name for a in batch.axes] == ["content", "style", "loss.style_weight"]
    assert len(batch.items) == 2 * 2 * 3
    assert batch.items[1].overrides[2:] == ("loss.style_weight=10",)
    assert len({item.key for item in batch.items}) == 12
    styles = tmp_path / "styles"
    blend = f"paths.style_image={styles / 'sa.png'}, {styles / 'sb.png'}"
    blended = plan_batch(None, (*overrides, blend), [], None)
    assert [len(a.values) for a in blended.axes] == [2, 1]  # one blend, not two styles
    assert blended.folder != batch.folder  # another batch: another folder


def test_sheets_take_any_two_axes_and_page_the_rest(tmp_path):
    from nst.batch.grid import Axis, SheetPlan, batch_sheet_plan, pages
    from nst.settings import BatchSettings

    axes = (
        Axis("paths.content_image", ("a.png", "b.png", "c.png"), swept=False),
        Axis("paths.style_image", ("x.png", "y.png"), swept=False),
        Axis("loss.style_weight", ("1", "10")),
    )
    assert batch_sheet_plan(axes, BatchSettings()) == SheetPlan(0, (1,), 8)
    chosen = BatchSettings(sheet_rows="loss.style_weight", sheet_columns="content", page_size=2)
    plan = batch_sheet_plan(axes, chosen)
    assert plan == SheetPlan(2, (0,), 2)
    every = pages(axes, plan)
    assert len(every) == 2 * 2  # a page per style, the 3 contents in pages of 2 columns
    assert [list(page.columns) for page in every] == [[0, 1], [2], [0, 1], [2]]
    with pytest.raises(SettingsError, match=r"\[batch\] sheet_rows = 'colour': expected one of"):
        batch_sheet_plan(axes, BatchSettings(sheet_rows="colour"))


def test_a_bad_sheet_axis_is_refused_before_anything_runs(tmp_path):
    overrides = (*two_by_two(tmp_path), "batch.sheet_rows=colour")
    with pytest.raises(SettingsError, match="sheet_rows = 'colour'"):
        run_batch(None, overrides, [], stop=StopRequest())
    assert not (tmp_path / "results").exists()


def test_the_index_says_where_each_item_is_drawn(tmp_path):
    from nst.batch.grid import placements
    from nst.batch.plan import plan_batch, write_csv

    overrides = (*two_by_two(tmp_path), "batch.page_size=1")
    batch = plan_batch(None, overrides, ["loss.style_weight=1,10"], "where")
    batch.folder.mkdir(parents=True)
    write_csv(batch)
    table = rows(batch.folder)
    assert [r["loss.style_weight"] for r in table] == ["1", "10"] * 4
    cells = {(r["sheet"], r["row"], r["column"]) for r in table}
    assert len(cells) == 8  # one cell per item, on 2 x 2 x 2 pages of one cell
    assert {sheet for sheet, _, _ in cells} == {f"contact_sheet_{n:02d}.png" for n in range(1, 9)}
    assert placements(batch.axes, batch.sheet)[batch.items[0].indices] == (
        "contact_sheet_01.png",
        0,
        0,
    )
