"""The web studio in a real browser: Debian's chromium, driven by Playwright.

Uploads two images, sets a tiny size, starts, watches the live image and the loss chart
change, lets the run finish, moves the evolution slider, downloads final.png and opens runs
from the list. Saves a screenshot of the page at the end: $NST_WEB_SCREENSHOT, else in the
test's tmp folder (its path is printed). Skips where /usr/bin/chromium is missing
(`apt-get install chromium`: Playwright cannot download its own browser here).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path

import pytest

from nst.web.server import StudioConfig, create_app
from tests.helpers import make_image
from tests.helpers.portrait import background, needs_cascades, picture_with_face, save
from tests.helpers.web import fake_run, tiny

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason=f"{CHROMIUM} not found: apt-get install chromium"
)
TIMEOUT_MS = 90_000


@pytest.fixture
def server(tmp_path: Path):
    """The studio on a free local port, in a thread of this process."""
    from werkzeug.serving import make_server

    app = create_app(StudioConfig(None, tiny(tmp_path)))
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.port}/", app
    app.extensions["nst"]["worker"].close(timeout=120)
    http.shutdown()


@pytest.fixture
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(
            viewport={"width": 1440, "height": 1000},
            accept_downloads=True,
            bypass_csp=True,  # the page forbids eval; Playwright's waits evaluate strings
        )
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        browser.close()
        assert not errors, errors  # no JavaScript error at any point


def counter(page, selector: str, attribute: str) -> int:
    return int(page.get_attribute(selector, attribute) or 0)


def drop_file(page, selector: str, path: Path) -> None:
    """Drag `path` from the desktop onto `selector`, as a user does (a DataTransfer drop)."""
    transfer = page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            return transfer;
        }""",
        [path.name, base64.b64encode(path.read_bytes()).decode()],
    )
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


@pytest.mark.slow
def test_a_run_from_the_browser(server, page, tmp_path: Path):
    url, _app = server
    results = tmp_path / "results"
    cli_run = fake_run(results, "20250101-120000-cli-run")  # a run the CLI made earlier
    page.goto(url)
    page.wait_for_selector("#field-image-max_size")
    page.wait_for_function("document.querySelector('#connection').dataset.state === 'open'")

    # two images from the computer: the content dropped, a style from the file picker
    photo = make_image(tmp_path / "my_photo.png", width=96, height=72, seed=11)
    painting = make_image(tmp_path / "my_painting.png", width=80, height=80, seed=12)
    drop_file(page, "#content-drop", photo)  # dragged onto the page
    page.wait_for_selector("#content-chosen img[alt='my_photo.png']")
    page.click("#styles-chosen .remove")  # the config's style: replaced by the upload
    page.set_input_files("#style-file", str(painting))
    page.wait_for_selector("#styles-chosen img[alt='my_painting.png']")

    # a refused value shows the CLI's message at its field, then a tiny size
    page.fill("#field-image-max_size", "8")
    page.wait_for_selector(".field[data-field='image.max_size'].invalid")
    assert "expected an integer >= 32" in page.inner_text(
        ".field[data-field='image.max_size'] .field-message"
    )
    page.fill("#field-image-max_size", "40")
    page.fill("#field-optimizer-iterations", "40")
    page.click(".advanced summary")
    page.fill("#field-output-save_every", "4")
    page.wait_for_selector(".field[data-field='image.max_size']:not(.invalid)")

    page.click("#start")
    # the live image and the chart change, at least twice each, while it runs
    page.wait_for_function(
        "Number(document.querySelector('#live-image').dataset.updates) >= 2"
        " && Number(document.querySelector('#live-chart').dataset.points) >= 3"
    )
    # another tab sees the same run (its records so far, then live); closing it stops nothing
    other = page.context.new_page()
    other.goto(url)
    other.wait_for_function("Number(document.querySelector('#live-chart').dataset.points) >= 1")
    assert other.inner_text("#live-title") == page.inner_text("#live-title")
    other.close()
    page.wait_for_function("document.querySelector('#live-status').dataset.state === 'done'")
    assert counter(page, "#live-image", "data-updates") >= 2
    assert counter(page, "#live-chart", "data-points") == 41  # iterations 0..40

    # the finished run opens: its evolution, the slider, the download
    page.wait_for_selector("#run-panel:not([hidden])")
    page.wait_for_function("document.querySelector('#frame-caption').dataset.iteration === '40'")
    page.focus("#frame-slider")
    page.keyboard.press("Home")
    page.wait_for_function("document.querySelector('#frame-caption').dataset.iteration === '0'")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('#frame-caption').dataset.iteration === '4'")
    run_id = page.inner_text("#run-title")
    run_dir = results / run_id
    assert run_id.endswith("my_photo-my_painting"), run_id
    with page.expect_download() as download:
        page.click("#download-final")
    saved = tmp_path / "downloaded.png"
    download.value.save_as(saved)
    assert saved.read_bytes() == (run_dir / "final.png").read_bytes()

    # the runs list: the CLI's run opens from it, then this one again
    page.wait_for_selector(f".run-card[data-run='{run_id}']")
    page.click(f".run-card[data-run='{cli_run.name}']")
    page.wait_for_function(f"document.querySelector('#run-title').textContent === '{cli_run.name}'")
    assert page.inner_text("#run-status").lower() == "stopped"
    page.click(f".run-card[data-run='{run_id}']")
    page.wait_for_function(f"document.querySelector('#run-title').textContent === '{run_id}'")
    page.focus("#frame-slider")
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")

    # "run again with these settings" fills the form from that run's config.ini
    page.fill("#field-optimizer-iterations", "7")
    page.click("#reuse")
    page.wait_for_function("document.querySelector('#form-message').textContent.includes('loaded')")
    assert page.input_value("#field-optimizer-iterations") == "40"
    assert page.get_attribute("#content-chosen img", "alt") == "my_photo.png"
    page.evaluate("window.scrollTo(0, 0)")

    shot = Path(os.environ.get("NST_WEB_SCREENSHOT", tmp_path / "studio.png"))
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
def test_a_clip_from_the_browser(server, page, tmp_path: Path):
    """Issue 22: a clip picked as the content is marked as one (frames, duration), runs frame
    by frame in Live, and its video.mp4 downloads from the finished run."""
    from tests.helpers.video_clips import clip_frames, write_clip

    url, _app = server
    page.goto(url)
    page.wait_for_selector("#field-image-max_size")
    page.wait_for_function("document.querySelector('#connection').dataset.state === 'open'")
    clip = write_clip(tmp_path / "walk.mp4", clip_frames(3, width=48, height=32))
    page.set_input_files("#content-file", str(clip))
    page.wait_for_selector("#content-chosen .clip-mark[data-frames='3']")
    assert "3 frames" in page.inner_text("#content-chosen .clip-mark")
    assert page.is_visible("#clip-note")
    # a clip is offered as content only, never as a style
    page.click(".gallery-fold summary")
    picks = page.inner_text("#gallery li[data-kind='clip'] .pick")
    assert "content" in picks and "style" not in picks
    page.click(".advanced summary")
    page.fill("#field-video-first_frame_iterations", "2")
    page.fill("#field-video-frame_iterations", "2")
    page.click("#start")
    page.wait_for_function("document.querySelector('#live-status').dataset.state === 'done'")
    assert page.inner_text("#live-caption").startswith("frame 3 · iteration 2")
    page.wait_for_selector("#download-video:not([hidden])")
    run_id = page.inner_text("#run-title")
    with page.expect_download() as download:
        page.click("#download-video")
    saved = tmp_path / "downloaded.mp4"
    download.value.save_as(saved)
    assert saved.read_bytes() == (tmp_path / "results" / run_id / "video.mp4").read_bytes()
    assert download.value.suggested_filename == f"{run_id}.mp4"


@pytest.mark.slow
@pytest.mark.parametrize("width, height", [(1440, 900), (390, 844)])
def test_first_run_at_desktop_and_phone_width(server, tmp_path: Path, width, height):
    """What new users tripped over: after Start the progress is in view,
    two styles' names stay readable, a reload keeps the chosen images and settings, no broken
    image before the first run."""
    sync_api = pytest.importorskip("playwright.sync_api")
    url, _app = server
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        viewport = {"width": width, "height": height}
        page = browser.new_context(viewport=viewport, bypass_csp=True).new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        page.wait_for_selector("#field-image-max_size")
        page.wait_for_function("document.querySelector('#connection').dataset.state === 'open'")
        # no broken-image icon: an image without a picture takes no visible space
        assert (
            page.evaluate("getComputedStyle(document.querySelector('#live-image')).visibility")
            == "hidden"
        )
        painting = make_image(tmp_path / "a_rather_long_painting_name.png", seed=12)
        page.set_input_files("#style-file", str(painting))
        page.wait_for_selector("#styles-chosen img[alt='a_rather_long_painting_name.png']")
        names = page.eval_on_selector_all(
            "#styles-chosen .name", "nodes => nodes.map((n) => n.getBoundingClientRect().width)"
        )
        assert len(names) == 2 and min(names) > 60, names  # not one letter a line
        rows = page.eval_on_selector_all(
            "#styles-chosen li", "nodes => nodes.map((n) => n.getBoundingClientRect().height)"
        )
        assert max(rows) < 80, rows  # thumbnail, name, weight and × on one line
        page.fill("#field-image-max_size", "40")
        page.fill("#field-optimizer-iterations", "30")
        page.wait_for_timeout(600)  # the form is saved as it is typed (after its check)
        page.reload()
        page.wait_for_selector("#styles-chosen img[alt='a_rather_long_painting_name.png']")
        assert page.input_value("#field-optimizer-iterations") == "30"
        page.click("#start")
        page.wait_for_function("Number(document.querySelector('#live-chart').dataset.points) >= 1")
        page.wait_for_timeout(800)  # the smooth scroll
        top = page.evaluate("document.querySelector('#live-panel').getBoundingClientRect().top")
        assert -5 <= top < height / 2, top  # the progress is on screen, near the top
        page.wait_for_function("document.querySelector('#live-status').dataset.state === 'done'")
        page.wait_for_selector("#run-panel:not([hidden])")
        assert not page.is_visible("#download-video")  # a still run has no video to offer
        shot = tmp_path / f"studio-{width}.png"
        page.screenshot(path=str(shot), full_page=False)
        print(f"screenshot: {shot}")
        browser.close()
    assert not errors, errors


def overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    return [
        (a["what"], b["what"])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    ]


def test_a_run_opened_by_its_url_on_a_phone(tmp_path: Path):
    """At 390 × 844 (a phone): the chart's legend and labels fit and do not overlap;
    a content loss of 1e5 that halves, beside a total of 3, visibly falls; the run has its own
    address, the photo beside the result, batch folders in the list; a run is deleted after
    the page asks; a weights file the server cannot find is named next to Start on load."""
    from werkzeug.serving import make_server

    sync_api = pytest.importorskip("playwright.sync_api")
    results = tmp_path / "results"
    run_dir = fake_run(results, "20260101-120000-phone-run")
    rows = ["iteration,content,style,tv,total,elapsed_s,scale"]
    rows += [f"{i},{1e5 * (1 - i / 20)},{50 * 0.7**i},0.1,{3 * 0.9**i},{i},1" for i in range(11)]
    (run_dir / "losses.csv").write_text("\n".join(rows) + "\n")
    photo = make_image(tmp_path / "photo.png", seed=4)
    config = (run_dir / "config.ini").read_text().splitlines()
    config = [f"content_image = {photo}" if x.startswith("content_image") else x for x in config]
    (run_dir / "config.ini").write_text("\n".join(config) + "\n")
    fake_run(results / "batch-trial", "20260102-120000-in-batch")
    missing = tmp_path / "nowhere" / "vgg16.weights.h5"
    app = create_app(StudioConfig(None, tiny(tmp_path, **{"model.weights": str(missing)})))
    http = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{http.port}/#run={run_dir.name}"
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox"]
            )
            context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url)
            page.wait_for_function(
                f"document.querySelector('#run-title').textContent === '{run_dir.name}'"
            )
            assert "does not exist" in page.inner_text("#preflight")  # before any Start
            assert page.is_visible("#preflight")

            layout = json.loads(page.get_attribute("#run-chart", "data-layout"))
            boxes = layout["boxes"]
            assert all(0 <= b["left"] and b["right"] <= layout["width"] for b in boxes), boxes
            assert all(0 <= b["top"] and b["bottom"] <= layout["height"] for b in boxes), boxes
            assert {"legend content", "legend style", "legend total"} <= {b["what"] for b in boxes}
            assert not overlapping(boxes), overlapping(boxes)
            content = layout["ends"]["content"]
            assert content["last"] - content["first"] > 15, content  # halved: it visibly falls

            page.click("#compare-toggle")
            page.wait_for_selector("#compare:not([hidden])")
            widths = page.eval_on_selector_all(
                "#compare img", "nodes => nodes.map((n) => n.naturalWidth)"
            )
            assert len(widths) == 2 and min(widths) > 0, widths  # both pictures loaded

            page.click("summary:has-text('batch-trial')")
            page.click(".run-card[data-run='batch-trial~20260102-120000-in-batch']")
            page.wait_for_function("location.hash === '#run=batch-trial~20260102-120000-in-batch'")
            page.goto(url)  # the first run's address opens it again
            page.wait_for_function(
                f"document.querySelector('#run-title').textContent === '{run_dir.name}'"
            )
            page.once("dialog", lambda dialog: dialog.accept())
            page.click("#delete-run")
            page.wait_for_selector("#run-panel[hidden]", state="attached")
            page.wait_for_function(
                f"!document.querySelector(\".run-card[data-run='{run_dir.name}']\")"
            )
            assert not run_dir.exists()
            shot = tmp_path / "studio-phone-run.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
            browser.close()
        assert not errors, errors
    finally:
        app.extensions["nst"]["worker"].close(timeout=30)
        http.shutdown()


@pytest.mark.slow
def test_a_form_saved_when_auto_regions_was_a_flag_restores_as_its_new_word(server, page):
    """A browser's saved form from before (auto_regions true/false) comes back as people/off,
    the toggle following; nothing is left empty for the settings to refuse."""
    url, _app = server
    page.goto(url)
    page.wait_for_selector("#field-loss-auto_regions", state="attached")
    for saved, shown in (("true", "people"), ("false", "off")):
        page.evaluate(
            "(word) => localStorage.setItem('nst-studio-form', "
            "JSON.stringify({values: {'loss.auto_regions': word}}))",
            saved,
        )
        page.reload()
        page.wait_for_function(
            f"document.querySelector('#field-loss-auto_regions')?.value === '{shown}'"
        )
        # no waiting: the form announces its filling and the toggle follows in the same task
        assert page.is_checked("#portrait-toggle") == (shown == "people")


@pytest.mark.slow
@needs_cascades
def test_portrait_mode_and_its_region_preview_in_the_browser(server, page, tmp_path: Path):
    """The Portrait mode toggle sets [loss] auto_regions in the form (checked: people, off:
    back to faces, the default), and Preview regions shows what a run would find in the
    chosen photo, or the one line when there is nobody."""
    url, _app = server
    page.goto(url)
    page.wait_for_selector("#field-loss-auto_regions", state="attached")
    page.set_input_files("#content-file", save(tmp_path / "sitter.png", picture_with_face(50, 30)))
    page.wait_for_function("document.querySelector('#content-chosen img')?.alt === 'sitter.png'")
    assert page.input_value("#field-loss-auto_regions") == "faces"
    assert not page.is_checked("#portrait-toggle")
    page.check("#portrait-toggle")
    assert page.input_value("#field-loss-auto_regions") == "people"
    page.click("#regions-button")
    page.wait_for_function("document.querySelector('#regions-picture').naturalWidth > 0")
    assert page.is_visible("#regions-picture")
    assert "face" in page.inner_text("#regions-message")
    assert "green: people" in page.inner_text("#regions-message")
    page.uncheck("#portrait-toggle")
    assert page.input_value("#field-loss-auto_regions") == "faces"
    page.set_input_files("#content-file", save(tmp_path / "empty.png", background(160, 120)))
    page.wait_for_function("document.querySelector('#content-chosen img')?.alt === 'empty.png'")
    page.click("#regions-button")
    page.wait_for_function(
        "document.querySelector('#regions-message').textContent.includes('no face found')"
    )
    assert page.is_hidden("#regions-picture")
