"""Sweeps: parsing the axes, the grid, and the orchestration (a sweep is a batch of one content
and one style; here with a stand-in run, no network), then one real sweep through main.py."""

from __future__ import annotations

import pytest
from PIL import Image

from nst.batch import local as batch_local
from nst.batch.grid import (
    Axis,
    make_items,
    page_labels,
    pages,
    parse_axis,
    parse_grid,
    sweep_sheet_plan,
)
from nst.batch.sweep import SHEET, run_sweep
from nst.core.records import Outcome
from nst.run.exits import guarded
from nst.settings import Settings, SettingsError
from tests.helpers.batch import read_index

# a network cut after block 2: builds and traces fast, enough for wiring tests


def test_values_split_on_commas_or_on_semicolons_when_there_are_any():
    assert parse_axis("loss.style_weight=1e2, 1e3,1e4") == Axis(
        "loss.style_weight", ("1e2", "1e3", "1e4")
    )
    axis = parse_axis("paths.style_image=a.jpg,b.jpg;c.jpg")
    assert axis.values == ("a.jpg,b.jpg", "c.jpg")  # a blend of two, then one
    assert parse_axis("paths.style_image=a.jpg,b.jpg").values == ("a.jpg", "b.jpg")
    assert parse_axis("loss.style_blend_weights=1,0;0,1;").values == ("1,0", "0,1", "")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("loss.style_weight", "expected section.key=value1,value2"),
        (
            "loss.style_wieght=1,2",
            "unknown key 'loss.style_wieght': did you mean 'loss.style_weight'",
        ),
        ("image.style_image=a,b", "unknown key 'image.style_image': did you mean 'paths.style_"),
        ("loss.style_weight=1,x", "--sweep [loss] style_weight = 'x': expected a number >= 0"),
        ("image.preserve_colors=none;grey", "preserve_colors = 'grey': expected one of none"),
        ("paths.results_dir=a,b", "paths.results_dir: cannot be swept"),
    ],
)
def test_bad_sweeps_are_named(text, expected):
    with pytest.raises(SettingsError) as error:
        parse_axis(text)
    assert expected in str(error.value)


def test_a_key_is_swept_once():
    with pytest.raises(SettingsError, match="given twice"):
        parse_grid(["loss.style_weight=1,2", "loss.style_weight=3"])


def labels(axes: tuple[Axis, ...]) -> tuple[list[str], list[str]]:
    """(row labels, column labels) of a sweep's one page."""
    plan = sweep_sheet_plan(axes)
    (page,) = pages(axes, plan)
    return page_labels(axes, plan, page)


def test_one_axis_is_one_row_two_a_grid_more_flatten_into_the_columns():
    one = (Axis("loss.style_weight", ("1", "2", "3")),)
    assert labels(one) == ([""], ["style_weight=1", "style_weight=2", "style_weight=3"])

    a, b = (
        Axis("loss.tv_weight", ("1", "2")),
        Axis("paths.style_image", ("x/s.jpg", "t.jpg,/u/v.png")),
    )
    c = Axis("image.init", ("content", "noise", "style"))
    two = (a, b)
    assert labels(two) == (
        ["tv_weight=1", "tv_weight=2"],
        ["style_image=s.jpg", "style_image=t.jpg, v.png"],
    )
    items = make_items(two)
    assert [item.indices for item in items] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert items[1].overrides == ("loss.tv_weight=1", "paths.style_image=t.jpg,/u/v.png")

    three = (a, b, c)
    rows, columns = labels(three)
    assert (len(rows), len(columns)) == (2, 6)
    assert columns[0] == "style_image=s.jpg\ninit=content"
    assert len(make_items(three)) == 12


def fake_run(calls: list, fail_at: int | None = None):
    """A stand-in for the single-run function (nst.run.pipeline.run, as the local engine calls it):
    one run folder with a final.png, as a run makes, and its Outcome."""

    def run(settings: Settings, *, extractor=None, stop=None, watcher=None) -> Outcome:
        calls.append(settings)
        if len(calls) == fail_at:
            return Outcome(1, None)
        run_dir = settings.paths.results_dir / f"run{len(calls)}"
        run_dir.mkdir()
        size = (48, 36) if len(calls) % 2 else (36, 48)
        Image.new("RGB", size, (10 * len(calls), 0, 0)).save(run_dir / "final.png")
        return Outcome(0, run_dir)

    return run


@pytest.fixture
def calls(monkeypatch) -> list:
    """The settings of every run the sweep starts; the runs are stand-ins (fake_run)."""
    started: list = []
    monkeypatch.setattr(batch_local, "run", fake_run(started))
    monkeypatch.setattr(batch_local, "build_extractor", lambda settings: None)
    return started


def failing_at(monkeypatch, number: int) -> list:
    started: list = []
    monkeypatch.setattr(batch_local, "run", fake_run(started, fail_at=number))
    monkeypatch.setattr(batch_local, "build_extractor", lambda settings: None)
    return started


def test_sweep_runs_every_point_and_writes_index_and_sheet(tmp_path, image_pair, calls):
    content, style = image_pair
    base = (f"paths.content_image={content}", f"paths.style_image={style}")
    base += (f"paths.results_dir={tmp_path / 'r'}",)
    status = run_sweep(None, base, ["loss.style_weight=1,2,3", "image.init=content,noise"])
    assert status == 0
    (sweep_dir,) = (tmp_path / "r").iterdir()
    assert sweep_dir.name.endswith("-sweep-style_weight-init")
    assert len(calls) == 6
    for settings in calls:  # each run: its point, in the sweep's folder, without a viewer
        assert settings.paths.results_dir == sweep_dir and not settings.output.show_viewer
    assert (calls[1].loss.style_weight, calls[1].image.init) == (1, "noise")
    rows = read_index(sweep_dir)
    assert [(r["row"], r["column"], r["loss.style_weight"], r["image.init"]) for r in rows][:3] == [
        ("0", "0", "1", "content"),
        ("0", "1", "1", "noise"),
        ("1", "0", "2", "content"),
    ]
    assert all((sweep_dir / r["run"] / "final.png").is_file() for r in rows)
    sheet = Image.open(sweep_dir / SHEET)
    assert sheet.mode == "RGB" and sheet.size[1] > 3 * 128  # three rows of cells


def test_failed_run_stops_the_sweep_and_leaves_a_grey_cell(tmp_path, image_pair, monkeypatch):
    content, style = image_pair
    base = (f"paths.content_image={content}", f"paths.results_dir={tmp_path / 'r'}")
    calls = failing_at(monkeypatch, 2)  # run 2 fails mid-run
    axis = f"paths.style_image={style};{content};{style}"
    status = run_sweep(None, base, [axis])
    assert status == 1 and len(calls) == 2
    (sweep_dir,) = (tmp_path / "r").iterdir()
    rows = read_index(sweep_dir)
    assert [bool(r["run"]) for r in rows] == [True, False, False]
    assert [r["status"] for r in rows] == ["done", "failed", ""]
    assert (sweep_dir / SHEET).is_file()


@pytest.mark.parametrize("key", ["paths.content_image", "paths.style_image"])
def test_a_missing_later_image_stops_the_sweep_before_its_first_run(
    tmp_path, image_pair, key, capsys, calls
):
    content, style = image_pair
    base = (
        f"paths.content_image={content}",
        f"paths.style_image={style}",
        f"paths.results_dir={tmp_path / 'r'}",
    )
    missing = tmp_path / "second.jpg"
    sweep = (None, base, [f"{key}={content if 'content' in key else style},{missing}"])
    assert guarded(lambda: run_sweep(*sweep)) == 2 and not calls
    assert "second.jpg does not exist" in capsys.readouterr().err
    assert not any((tmp_path / "r").glob("*sweep*"))


def test_bad_point_stops_before_any_run(tmp_path, capsys, calls):
    base = (f"paths.results_dir={tmp_path / 'r'}",)
    # each value parses alone, but two styles need two blend weights
    sweep = (
        None,
        (*base, "loss.style_blend_weights=1,1"),
        ["paths.style_image=a.jpg,b.jpg;c.jpg"],
    )
    assert guarded(lambda: run_sweep(*sweep)) == 2 and not calls
    assert "expected 1 weight, one per style image (c.jpg)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_sweep_into_a_results_path_that_is_a_file_is_refused_with_2(
    tmp_path, image_pair, capsys, calls
):
    content, style = image_pair
    (tmp_path / "file").write_text("not a folder")
    base = (f"paths.content_image={content}", f"paths.style_image={style}")
    sweep = (None, (*base, f"paths.results_dir={tmp_path / 'file'}"), ["loss.tv_weight=0,1"])
    assert guarded(lambda: run_sweep(*sweep)) == 2 and not calls
    assert "is a file, not a folder" in capsys.readouterr().err


def test_a_sheet_that_cannot_be_written_is_a_machine_fault(
    tmp_path, image_pair, monkeypatch, calls
):
    import errno

    from nst.batch import sheet as batch_sheet

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    content, style = image_pair
    base = (f"paths.content_image={content}", f"paths.style_image={style}")
    base += (f"paths.results_dir={tmp_path / 'r'}",)
    monkeypatch.setattr(batch_sheet, "write_bytes_atomic", full)
    status = guarded(lambda: run_sweep(None, base, ["loss.tv_weight=0,1"]))
    assert status == 4 and len(calls) == 2
