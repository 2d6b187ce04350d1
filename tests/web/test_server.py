"""The web studio's server, through Flask's test client: every endpoint, the settings form and
its messages, uploads, path checks, cross-origin refusal, and runs followed through the event
stream at tiny size (random weights, 48 px, a few iterations)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from nst.settings import SECTIONS, SettingsError, load_settings
from nst.web import runs
from nst.web.forms import MAIN_KEYS, PAGE_KEYS, SERVER_KEYS
from tests.helpers import ROOT, make_image
from tests.helpers.web import SAME_ORIGIN, chosen, fake_run, tiny, upload


def cli_message(*overrides: str) -> str:
    with pytest.raises(SettingsError) as error:
        load_settings(None, overrides)
    return str(error.value)


# --- the page and the form ---------------------------------------------------------------


def test_page_and_its_files_are_served_by_the_tool(client):
    page = client.get("/")
    assert page.status_code == 200 and b"nst" in page.data
    for name in ("app.js", "lossplot.js", "style.css"):
        assert f"/static/{name}".encode() in page.data
        served = client.get(f"/static/{name}")
        assert served.status_code == 200 and len(served.data) > 500
        assert b"://" not in served.data  # nothing fetched from elsewhere: works offline
    assert b"https://" not in page.data and b"http://" not in page.data


def test_form_is_every_setting_with_its_own_doc_default_and_choices(client):
    form = client.get("/api/form").json
    by_name = {item["name"]: item for item in form["fields"]}
    expected = {
        f"{section}.{f.name}": f
        for section, cls in SECTIONS.items()
        for f in fields(cls)
        if f"{section}.{f.name}" not in PAGE_KEYS + SERVER_KEYS
    }
    assert set(by_name) == set(expected)
    assert [item["name"] for item in form["fields"][: len(MAIN_KEYS)]] == list(MAIN_KEYS)
    for name, f in expected.items():
        assert by_name[name]["doc"] == f.metadata["doc"]
        assert by_name[name]["default"] == f.metadata["kind"].format(f.default)
        assert by_name[name]["main"] == (name in MAIN_KEYS)
    assert by_name["optimizer.name"]["choices"] == ["adam", "lbfgs"]
    # the page starts from the server's settings (--config / --set), not the defaults
    assert by_name["image.max_size"]["value"] == "48"
    assert len(form["content"]) == 1 and len(form["styles"]) == 1


@pytest.mark.parametrize(
    "name, text",
    [
        ("loss.style_weight", "-1"),
        ("optimizer.iterations", "many"),
        ("optimizer.name", "sgd"),
        ("image.max_size", "10"),
        ("model.content_layers", "block9_conv9"),
    ],
)
def test_a_refused_value_gets_the_cli_message_at_its_field(client, tmp_path, name, text):
    answer = client.post("/api/validate", json={"values": {name: text}, **chosen(client)}).json
    assert answer["ok"] is False
    # the command line's message, in the page's words: the form has fields, not --set
    expected = cli_message(*tiny(tmp_path), f"{name}={text}").removeprefix("--set ")
    assert answer["errors"] == {name: expected}
    assert "--set" not in json.dumps(answer)
    refused = client.post("/api/jobs", json={"values": {name: text}, **chosen(client)})
    assert refused.status_code == 400 and refused.json["errors"] == answer["errors"]


def test_good_values_pass_and_values_working_together_are_checked(client, tmp_path):
    good = {"loss.style_weight": "30", "optimizer.name": "lbfgs", "image.style_scale": "0.5"}
    assert client.post("/api/validate", json={"values": good, **chosen(client)}).json["ok"]
    # one blend weight per style image: a cross-field check of the settings
    two = client.post("/api/validate", json={"values": {}, "blend": ["1", "2"], **chosen(client)})
    assert "loss.style_blend_weights" in two.json["errors"]
    # two styles with their blend weights: the settings the run gets say so
    second = upload(client, make_image(tmp_path / "b.png", seed=9).read_bytes(), "b.png").json
    both = {**chosen(client), "styles": [*chosen(client)["styles"], second["id"]]}
    blended = client.post("/api/validate", json={"values": {}, "blend": ["1", "3"], **both})
    assert blended.json == {"ok": True, "errors": {}}
    job = client.post("/api/jobs", json={"values": {}, "blend": ["1", 3], **both}).json
    assert job["styles"] == ["style.png", "b.png"]
    assert client.post(f"/api/jobs/{job['id']}/stop").json["state"] in ("cancelled", "running")
    unknown = client.post("/api/validate", json={"values": {"loss.colour": "1"}, **chosen(client)})
    assert "unknown key 'colour'" in " ".join(unknown.json["errors"].values())
    page_key = {"paths.results_dir": "/tmp"}
    assert not client.post("/api/validate", json={"values": page_key, **chosen(client)}).json["ok"]


# --- uploads -----------------------------------------------------------------------------


def test_upload_is_checked_stored_under_a_generated_name_and_listed(client, studio, tmp_path):
    data = make_image(tmp_path / "x.png", seed=5).read_bytes()
    first = upload(client, data, "../../My Photo!.png")
    assert first.status_code == 201
    again = upload(client, data, "other.png")
    assert again.json["id"] == first.json["id"]  # the same bytes are stored once
    stored = studio.extensions["nst"]["store"].get(first.json["id"])
    assert stored.path.parent.parent == studio.extensions["nst"]["store"].folder
    assert stored.path.name == "My_Photo.png"
    listed = [image["id"] for image in client.get("/api/images").json["images"]]
    assert first.json["id"] in listed
    thumbnail = client.get(first.json["thumbnail"])
    assert thumbnail.status_code == 200 and thumbnail.data.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "data, says",
    [
        (b"hello, not an image", "notes.png is a text file"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "an SVG drawing"),
        (None, "damaged or incomplete"),  # a PNG cut in half
    ],
)
def test_broken_upload_gets_the_loaders_message_and_is_not_stored(
    client, studio, tmp_path, data, says
):
    if data is None:
        whole = make_image(tmp_path / "whole.png", width=64, height=64, seed=4).read_bytes()
        data = whole[: len(whole) // 2]
    before = client.get("/api/images").json["images"]
    refused = upload(client, data, "notes.png")
    assert refused.status_code == 400
    assert says in refused.json["error"] and "notes.png" in refused.json["error"]
    assert "incoming" not in refused.json["error"]  # the server's own paths are not shown
    assert client.get("/api/images").json["images"] == before
    folder = studio.extensions["nst"]["store"].folder
    assert not [p for p in folder.iterdir() if p.name.startswith(".incoming")]


def test_upload_over_the_limit_is_refused_with_json(client):
    refused = upload(client, b"\0" * 300_000, "big.png")
    assert refused.status_code == 413 and "limit" in refused.json["error"]
    assert upload(client, b"", "x.png").status_code == 400
    no_file = client.post("/api/images", data={}, headers=SAME_ORIGIN)
    assert no_file.status_code == 400 and "file" in no_file.json["error"]


# --- clips (issue 22): a video uploaded as the content -----------------------------------


def clip_bytes(tmp_path: Path, name: str = "clip.mp4", frames: int = 3) -> bytes:
    """A tiny H.264 mp4 (48 × 32 px, 12 fps) as tests/video_clips.py writes it."""
    from tests.helpers.video_clips import clip_frames, write_clip

    return write_clip(tmp_path / name, clip_frames(frames, width=48, height=32)).read_bytes()


def write_container(path: Path, frames: list, container: str, codec: str) -> Path:
    """`frames` in another container (Matroska/WebM, AVI) than write_clip's mp4."""
    import av

    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=12)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            output.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        output.mux(stream.encode())
    return path


@pytest.mark.parametrize(
    "name, container, codec",
    [
        ("holiday clip.mp4", None, None),
        ("shot.webm", "webm", "libvpx-vp9"),
        ("x.avi", "avi", "mpeg4"),
    ],
)
def test_a_clip_upload_is_decoded_marked_and_thumbnailed(
    client, studio, tmp_path, name, container, codec
):
    from PIL import Image

    from tests.helpers.video_clips import clip_frames

    frames = clip_frames(3, width=48, height=32)
    if container is None:
        data = clip_bytes(tmp_path)
    else:
        data = write_container(tmp_path / name, frames, container, codec).read_bytes()
    stored = upload(client, data, name)
    assert stored.status_code == 201, stored.json
    shown = stored.json
    assert shown["kind"] == "clip" and shown["name"].endswith(Path(name).suffix)
    assert shown["name"] == Path(name).stem.replace(" ", "_") + Path(name).suffix
    facts = shown["clip"]
    assert (facts["width"], facts["height"], facts["frames"]) == (48, 32, 3)
    assert facts["duration_s"] == pytest.approx(3 / 12, abs=0.02)
    thumbnail = client.get(shown["thumbnail"])
    assert thumbnail.status_code == 200 and thumbnail.data.startswith(b"\x89PNG")
    picture = np.asarray(Image.open(io.BytesIO(thumbnail.data)).convert("RGB"), dtype=float)
    assert picture.shape == (32, 48, 3)  # the first frame: its moving square where it starts
    assert abs(picture - frames[0]).mean() < abs(picture - frames[2]).mean()
    listed = {image["id"]: image for image in client.get("/api/images").json["images"]}
    assert listed[shown["id"]]["kind"] == "clip"
    assert upload(client, data, "again.mp4").json["id"] == shown["id"]  # stored once


@pytest.mark.parametrize(
    "data, name, says",
    [
        (b"hello, not a video", "notes.mp4", "notes.mp4 is not a video the studio takes"),
        # a playlist FFmpeg would follow to the files it names: never handed to FFmpeg
        (b"#EXTM3U\n#EXTINF:1,\n/etc/passwd\n", "list.mp4", "is not a video the studio takes"),
        ("cut", "cut.mp4", "cannot read video cut.mp4"),
        (b"\x00\x00\x00\x20ftypisom" + bytes(200), "empty.mov", "cannot read video empty.mov"),
    ],
)
def test_a_bad_clip_is_refused_with_one_line(client, studio, tmp_path, data, name, says):
    if data == "cut":
        whole = clip_bytes(tmp_path, frames=3)
        data = whole[: len(whole) // 3]
    before = client.get("/api/images").json["images"]
    refused = upload(client, data, name)
    assert refused.status_code == 400
    message = refused.json["error"]
    assert says in message and "\n" not in message and str(tmp_path) not in message, message
    assert "incoming" not in message
    assert client.get("/api/images").json["images"] == before
    folder = studio.extensions["nst"]["store"].folder
    assert not [p for p in folder.iterdir() if p.name.startswith(".incoming")]


def test_a_clip_is_content_only_never_a_style_or_a_mask(client, tmp_path):
    clip = upload(client, clip_bytes(tmp_path), "clip.mp4").json["id"]
    as_style = {**chosen(client), "styles": [clip]}
    refused = client.post("/api/validate", json={"values": {}, **as_style}, headers=SAME_ORIGIN)
    assert refused.status_code == 400 and "clip.mp4 is a clip" in refused.json["error"]
    mask = {"paths.content_mask": clip}
    body = {"values": mask, **chosen(client)}
    answer = client.post("/api/validate", json=body, headers=SAME_ORIGIN).json
    assert "paths.content_mask" in answer["errors"]
    as_content = {**chosen(client), "content": clip}
    ok = client.post("/api/validate", json={"values": {}, **as_content}, headers=SAME_ORIGIN)
    assert ok.json == {"ok": True, "errors": {}}


def test_an_uploaded_clip_runs_as_a_clip_through_the_queue(client, tmp_path):
    from tests.helpers.video_clips import read_video

    clip = upload(client, clip_bytes(tmp_path), "walk.mp4").json["id"]
    each = {"video.first_frame_iterations": "2", "video.frame_iterations": "2"}
    body = {"values": each, **chosen(client), "content": clip}
    started = client.post("/api/jobs", json=body, headers=SAME_ORIGIN)
    assert started.status_code == 202 and started.json["kind"] == "clip"
    job_id = started.json["id"]
    seen = events(client, finished(job_id))
    assert job_state(seen[-1][1], job_id) == "done"
    records = [data for kind, data in seen if kind == "record" and data["job"] == job_id]
    # progress per frame, as a still's per scale: the frame is the record's scale
    assert [(r["scale"], r["iteration"]) for r in records if r["iteration"]] == [
        (frame, i) for frame in (1, 2, 3) for i in (1, 2)
    ]
    assert [r["step"] for r in records if r["iteration"]] == [1, 2, 3, 4, 5, 6]
    assert all(r["steps"] == 6 for r in records)
    (job,) = [job for job in seen[-1][1]["jobs"] if job["id"] == job_id]
    assert job["kind"] == "clip" and job["scales"] == 3 and job["content"] == "walk.mp4"
    run_dir = tmp_path / "results" / job["run_id"]
    assert (run_dir / "status.txt").read_text().startswith("0\n")
    detail = client.get(f"/api/runs/{job['run_id']}").json
    assert detail["kind"] == "video" and detail["status"] == "done"
    video = client.get(detail["video"] + "?download=1")
    assert video.status_code == 200 and video.mimetype == "video/mp4"
    assert f"{job['run_id']}.mp4" in video.headers["Content-Disposition"]
    (tmp_path / "downloaded.mp4").write_bytes(video.data)
    frames, _rate, _sound = read_video(tmp_path / "downloaded.mp4")
    assert len(frames) == 3 and frames[0].shape[:2] == (32, 48)


# --- safety ------------------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "config.ini").write_text("[paths]\n")
    (secret / "passwords.txt").write_text("hunter2")
    return secret


def test_path_traversal_is_refused(client, tmp_path, outside):
    results = tmp_path / "results"
    run_dir = fake_run(results)
    (run_dir / "link.txt").symlink_to(outside / "passwords.txt")
    (run_dir / "linkdir").symlink_to(outside)
    (results / "20260101-000000-linked").symlink_to(outside)
    good = f"/runs/{run_dir.name}/files/final.png"
    assert client.get(good).status_code == 200
    attempts = [
        f"/runs/{run_dir.name}/files/../../secret/passwords.txt",
        f"/runs/{run_dir.name}/files/%2e%2e/%2e%2e/secret/passwords.txt",
        f"/runs/{run_dir.name}/files/..%2f..%2fsecret%2fpasswords.txt",
        f"/runs/{run_dir.name}/files/{outside / 'passwords.txt'}",
        f"/runs/{run_dir.name}/files//etc/passwd",
        f"/runs/{run_dir.name}/files/link.txt",
        f"/runs/{run_dir.name}/files/linkdir/passwords.txt",
        f"/runs/{run_dir.name}/files/.",
        f"/runs/{run_dir.name}/files/iterates",
        "/runs/..%2fsecret/files/passwords.txt",
        "/runs/../secret/files/passwords.txt",
        "/runs/%2e%2e/zip",
        "/runs/20260101-000000-linked/files/passwords.txt",
        "/runs/20260101-000000-linked/zip",
        "/api/runs/20260101-000000-linked",
        "/api/runs/..",
        "/api/images/..%2f..%2fsecret",
        "/api/images/0123456789abcdef",
    ]
    for url in attempts:
        answer = client.get(url)
        assert 400 <= answer.status_code < 500, url
        assert b"hunter2" not in answer.data, url
        assert answer.is_json and "error" in answer.json, url
    names = zipfile.ZipFile(io.BytesIO(client.get(f"/runs/{run_dir.name}/zip").data)).namelist()
    assert not [name for name in names if "link" in name or "passwords" in name]
    assert [run["id"] for run in client.get("/api/runs").json["runs"]] == [run_dir.name]


def test_cross_origin_post_is_refused(client):
    body = {"values": {}, **chosen(client)}
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "http://localhost:9999"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        for url in ("/api/jobs", "/api/validate", "/api/jobs/job-1/stop", "/api/images"):
            refused = client.post(url, json=body, headers=headers)
            assert refused.status_code == 403, (url, headers)
            assert "cross-origin" in refused.json["error"]
    assert client.get("/api/jobs").json["jobs"] == []  # nothing was started
    # a site that points its own name at 127.0.0.1 (DNS rebinding) gets nothing either
    for url in ("/", "/api/runs", "/api/form"):
        assert client.get(url, headers={"Host": "evil.example:8000"}).status_code == 403
    assert client.get("/api/runs", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    own = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/validate", json=body, headers=own).status_code == 200


def test_bad_requests_get_json_4xx_and_the_server_keeps_serving(client):
    cases = [
        client.post("/api/jobs", data="not json", headers=SAME_ORIGIN),
        client.post("/api/jobs", json=[1, 2], headers=SAME_ORIGIN),
        client.post("/api/jobs", json={"values": {}, "content": "nope", "styles": []}),
        client.post("/api/jobs", json={"values": "x", **chosen(client)}),
        client.post("/api/jobs", json={"values": {}, "blend": "1", **chosen(client)}),
        client.post("/api/jobs", json={"values": {}, "content": chosen(client)["content"]}),
        client.post("/api/jobs/job-99/stop"),
        client.post("/api/runs/nope/reuse"),
        client.get("/api/jobs/job-1/stop"),
        client.get("/no/such/page"),
        client.delete("/api/runs"),
    ]
    for answer in cases:
        assert 400 <= answer.status_code < 500 and answer.is_json and answer.json["error"]
        assert b"Traceback" not in answer.data
    assert client.get("/api/form").status_code == 200


def test_runs_list_and_a_cli_run_folder(client, tmp_path):
    results = tmp_path / "results"
    older = fake_run(results, "20250101-120000-old-style")
    newer = fake_run(results, "20260101-120000-new-style")
    (results / "not-a-run").mkdir()
    listed = client.get("/api/runs").json["runs"]
    assert [run["id"] for run in listed] == [newer.name, older.name]
    run = listed[0]
    assert run["status"] == "stopped" and run["iterations"] == 2 and run["duration_s"] == 1.0
    assert run["content"] == "content.png" and run["styles"] == ["style.png"]
    assert client.get(run["thumbnail"]).status_code == 200
    detail = client.get(f"/api/runs/{newer.name}").json
    assert [frame["iteration"] for frame in detail["frames"]] == [0, 2]
    assert detail["frames"][1]["losses"]["style"] == 8.0
    assert len(detail["rows"]) == 3 and detail["config"].startswith("# nst settings")
    final = client.get(detail["final"] + "?download=1")
    assert final.status_code == 200 and "attachment" in final.headers["Content-Disposition"]
    zipped = zipfile.ZipFile(io.BytesIO(client.get(detail["zip"]).data))
    assert f"{newer.name}/iterates/iter_000002.png" in zipped.namelist()
    assert f"{newer.name}/final.png" in zipped.namelist()


def test_status_of_a_finished_run_is_read_from_its_files(tmp_path):
    run_dir = fake_run(tmp_path)
    settings = runs.run_settings(run_dir)
    rows = runs.read_rows(run_dir)
    assert runs.status_of(run_dir, settings, rows) == "stopped"
    done = [*rows, {**rows[-1], "iteration": 3.0}]
    assert runs.status_of(run_dir, settings, done) == "done"
    assert runs.status_of(run_dir, settings, [*rows, {**rows[-1], "total": float("nan")}]) == (
        "diverged"
    )
    (run_dir / "final.png").unlink()
    assert runs.status_of(run_dir, settings, rows) == "failed"
    assert runs.status_of(run_dir, settings, []) == "failed"
    # every run now says how it ended (a run that converged early is done, not stopped)
    from nst.output.runfolder import write_status

    for status, word in ((0, "done"), (130, "stopped"), (143, "stopped"), (3, "diverged")):
        write_status(run_dir, status, "result in ... (converged at step 2, 1 s)")
        assert runs.status_of(run_dir, settings, rows) == word
    write_status(run_dir, 4, "error: cannot write final.png: No space left on device")
    assert runs.summary(run_dir)["status"] == "failed"


def test_status_of_an_old_folder_with_automatic_scales_counts_them_from_its_result(tmp_path):
    """A folder from before status.txt, at scales = auto: a 512x384 result was painted over 2
    scales, so its status needs the second scale's whole budget to be done."""
    run_dir = fake_run(tmp_path)
    make_image(run_dir / "final.png", width=512, height=384)
    settings = runs.run_settings(run_dir)
    assert settings.image.scales is None
    at_first = [{**row, "iteration": 3.0, "scale": 1.0} for row in runs.read_rows(run_dir)]
    assert runs.status_of(run_dir, settings, at_first) == "stopped"  # ended at the smaller scale
    at_full = [{**row, "scale": 2.0} for row in at_first]
    assert runs.status_of(run_dir, settings, at_full) == "done"


def test_a_job_with_automatic_scales_counts_them_from_its_photo_then_from_its_run(tmp_path):
    from nst.core.scales import Scale
    from nst.web.jobs import Job

    job = Job("job-1", load_settings(None, (*tiny(tmp_path), "image.scales=auto")))
    assert job.public()["scales"] == 1 and job.steps == 3  # 48 px: one scale
    # 1024 px (the photo enlarged to max_size): 3 scales, as the queue shows before it runs
    large = ("image.scales=auto", "image.max_size=1024", "optimizer.iterations_decay=0.5")
    waiting = Job("job-2", load_settings(None, (*tiny(tmp_path), *large)))
    assert waiting.public()["scales"] == 3 and waiting.steps == 100 + 100 + 2
    waiting.plan = [Scale(24, 32, 100), Scale(48, 64, 3)]  # what the run reports wins
    assert waiting.public()["scales"] == 2 and waiting.steps == 103
    unreadable = Job("job-3", load_settings(None, (*tiny(tmp_path), *large)))
    (tmp_path / "content.png").write_bytes(b"not a picture")  # the run will say so
    assert unreadable.public()["scales"] == 1 and unreadable.steps == 3


# --- runs, live -------------------------------------------------------------------------


def events(client, until, timeout: float = 240.0):
    """The event stream's (kind, data) until `until(kind, data)` is true (or a timeout)."""
    seen = []
    response = client.get("/api/events", buffered=False)
    deadline = time.monotonic() + timeout
    text = ""
    try:
        for chunk in response.response:
            text += chunk.decode() if isinstance(chunk, bytes) else chunk
            while "\n\n" in text:
                block, text = text.split("\n\n", 1)
                lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
                if "event" not in lines:
                    continue  # a keep-alive comment
                seen.append((lines["event"], json.loads(lines["data"])))
                if until(*seen[-1]):
                    return seen
            assert time.monotonic() < deadline, "timed out following the event stream"
    finally:
        response.close()
    return seen


def job_state(data: dict, job_id: str) -> str | None:
    return next((job["state"] for job in data["jobs"] if job["id"] == job_id), None)


def finished(job_id: str):
    def until(kind: str, data: dict) -> bool:
        return kind == "jobs" and job_state(data, job_id) not in ("queued", "running", None)

    return until


def test_a_run_followed_to_completion_through_the_event_stream(client, tmp_path):
    started = client.post(
        "/api/jobs",
        json={"values": {"loss.style_weight": "30"}, **chosen(client)},
        headers=SAME_ORIGIN,
    )
    assert started.status_code == 202
    job_id = started.json["id"]
    seen = events(client, finished(job_id))
    records = [data for kind, data in seen if kind == "record"]
    assert [r["iteration"] for r in records] == [0, 1, 2, 3]
    assert [r["step"] for r in records] == [0, 1, 2, 3] and records[0]["steps"] == 3
    assert all(r["iterate"] for r in records)  # save_every = 1: each one is on disk
    assert job_state(seen[-1][1], job_id) == "done"
    run_id = next(job["run_id"] for job in seen[-1][1]["jobs"] if job["id"] == job_id)
    run_dir = tmp_path / "results" / run_id
    # the same folder as a CLI run: resolved config.ini, iterates, final.png, log, plots, gif
    for name in ("config.ini", "final.png", "losses.csv", "plots/losses.png", "evolution.gif"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "status.txt").read_text().startswith("0\nresult in")
    saved = load_settings(run_dir / "config.ini")
    assert saved.loss.style_weight == 30 and saved.output.show_viewer is False
    for record in records:
        assert client.get(record["iterate"]).status_code == 200
    listed = client.get("/api/runs").json["runs"]
    assert listed[0]["id"] == run_id and listed[0]["status"] == "done"
    detail = client.get(f"/api/runs/{run_id}").json
    assert [frame["iteration"] for frame in detail["frames"]] == [0, 1, 2, 3]
    assert client.get(detail["final"]).data == (run_dir / "final.png").read_bytes()
    # "run again with these settings": the form's values and the images of that run
    again = client.post(f"/api/runs/{run_id}/reuse", headers=SAME_ORIGIN).json
    assert again["values"]["loss.style_weight"] == "30"
    assert again["content"] == [chosen(client)["content"]]
    assert client.get("/api/jobs").json["jobs"][0]["state"] == "done"


def test_a_clip_followed_live_shows_each_finished_frame(client, studio, tmp_path):
    from tests.helpers.video_clips import clip_frames, write_folder

    folder = write_folder(tmp_path / "shots", clip_frames(2, width=48, height=32))
    clip = {"paths.content_image": str(folder), "video.compare": "false"}
    frames = {"video.first_frame_iterations": "2", "video.frame_iterations": "1"}
    settings = load_settings(None, tiny(tmp_path, **clip, **frames))
    job = studio.extensions["nst"]["worker"].submit(settings)
    seen = events(client, finished(job.id))
    assert job_state(seen[-1][1], job.id) == "done"
    records = [data for kind, data in seen if kind == "record" and data["job"] == job.id]
    # each frame's starting image is not on disk (a clip keeps only its result): no address
    assert [(r["scale"], r["iteration"], bool(r["iterate"])) for r in records] == [
        (1, 0, False),
        (1, 1, False),
        (1, 2, True),
        (2, 0, False),
        (2, 1, True),
    ]
    shown = [r["iterate"] for r in records if r["iterate"]]
    assert [url.rsplit("/", 2)[1:] for url in shown] == [
        ["frames", "frame_000001.png"],
        ["frames", "frame_000002.png"],
    ]
    for url in shown:
        assert client.get(url).status_code == 200
    (run,) = [r for r in client.get("/api/runs").json["runs"] if r["id"] == job.run_id]
    assert run["kind"] == "video" and run["status"] == "done"


def test_a_clip_folder_without_status_txt_failed_whatever_videos_it_holds(tmp_path):
    # video.mp4 is written however the frames ended (stopped too): it says nothing of how
    run_dir = fake_run(tmp_path)
    (run_dir / "final.png").unlink()
    (run_dir / "iterates").rename(run_dir / "frames")
    (run_dir / "frames.csv").write_text("frame,iterations,content,style,tv,total\n1,2,1,2,0,3\n")
    (run_dir / "video.mp4").write_bytes(b"")
    assert runs.summary(run_dir)["kind"] == "video"
    assert runs.summary(run_dir)["status"] == "failed"


@pytest.mark.slow
def test_queue_positions_stop_as_ctrl_c_and_close_as_sigterm(client, studio, tmp_path):
    body = {"values": {"optimizer.iterations": "2000"}, **chosen(client)}
    long = client.post("/api/jobs", json=body, headers=SAME_ORIGIN).json["id"]
    queued = client.post("/api/jobs", json=body, headers=SAME_ORIGIN).json
    third = client.post("/api/jobs", json=body, headers=SAME_ORIGIN).json
    assert queued["state"] == "queued"
    positions = {job["id"]: job["position"] for job in client.get("/api/jobs").json["jobs"]}
    assert (
        positions[queued["id"]] in (1, 2) and positions[third["id"]] == positions[queued["id"]] + 1
    )
    cancelled = client.post(f"/api/jobs/{third['id']}/stop", headers=SAME_ORIGIN).json
    assert cancelled["state"] == "cancelled"

    def stop_after_two(kind: str, data: dict) -> bool:
        if kind == "record" and data["job"] == long and data["iteration"] == 2:
            client.post(f"/api/jobs/{long}/stop", headers=SAME_ORIGIN)
        return finished(long)(kind, data)

    seen = events(client, stop_after_two)
    assert job_state(seen[-1][1], long) == "stopped"
    stopped = next(job for job in seen[-1][1]["jobs"] if job["id"] == long)
    assert stopped["steps_done"] < 2000
    run_dir = tmp_path / "results" / stopped["run_id"]
    assert (run_dir / "final.png").is_file() and (run_dir / "plots" / "losses.png").is_file()
    assert runs.summary(run_dir)["status"] == "stopped"
    assert (run_dir / "status.txt").read_text().startswith("130\n")

    # the next job runs; closing the server stops it as SIGTERM does: a complete folder
    events(client, lambda kind, data: kind == "record" and data["job"] == queued["id"])
    studio.extensions["nst"]["worker"].close(timeout=120)
    last = client.get("/api/jobs").json["jobs"]
    assert job_state({"jobs": last}, queued["id"]) == "stopped"
    run_id = next(job["run_id"] for job in last if job["id"] == queued["id"])
    assert (tmp_path / "results" / run_id / "final.png").is_file()
    assert (tmp_path / "results" / run_id / "status.txt").read_text().startswith("143\n")
    refused = client.post("/api/jobs", json=body, headers=SAME_ORIGIN)
    assert refused.status_code >= 400


def test_the_queue_goes_on_after_failed_runs(tmp_path):
    from nst.core.records import Outcome
    from nst.inputs.images import ImageError
    from nst.web.jobs import Worker

    settings = load_settings(None, tiny(tmp_path))
    calls = []

    def run(settings, *, extractor, stop, watcher):
        calls.append(settings)
        if len(calls) == 1:
            raise ImageError("image x.png does not exist")
        run_dir = tmp_path / f"run{len(calls)}"
        run_dir.mkdir()
        watcher.started(run_dir, [])
        return Outcome(0, run_dir, f"result in {run_dir}")

    built = []

    def extractor_for(settings):
        built.append(settings)
        if len(built) == 2:
            raise ImageError("image y.png does not exist")

    worker = Worker(run, extractor_for)
    try:
        jobs = [worker.submit(settings) for _ in range(4)]
        deadline = time.monotonic() + 30
        while any(job.state in ("queued", "running") for job in jobs):
            assert time.monotonic() < deadline, [job.state for job in jobs]
            time.sleep(0.05)
    finally:
        worker.close(timeout=30)
    assert [job.state for job in jobs] == ["failed", "failed", "done", "done"]
    assert jobs[0].message == "image x.png does not exist"
    assert jobs[1].message == "image y.png does not exist"
    assert jobs[3].run_id == "run3" and jobs[3].message.startswith("result in")
    assert len(built) == 4 and len(calls) == 3


def test_normalised_equal_weights_show_as_empty_and_others_as_written(tmp_path):
    from nst.web.forms import PageFiles, form_values

    files = PageFiles(lambda image_id: None, lambda path: None, "imagenet")
    equal = form_values(load_settings(None, ("model.style_layer_weights=1,1,1,1",)), files)
    assert equal["model.style_layer_weights"] == ""  # equal shares: what empty means
    settings = load_settings(None, ("model.style_layer_weights=1,1,1,5",))
    weights = form_values(settings, files)["model.style_layer_weights"]
    assert weights == "0.125, 0.125, 0.125, 0.625"


def test_the_studio_loads_no_tensorflow_until_a_run():
    code = (
        "import sys, nst.web.__main__, nst.web.server, nst.web.jobs, nst.web.runs; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_network_is_kept_while_the_model_stays_the_same(tmp_path, monkeypatch):
    import nst.run.process
    from nst.inputs.images import ImageError
    from nst.web.jobs import ExtractorCache

    built = []
    monkeypatch.setattr(nst.run.process, "build_extractor", lambda s: built.append(s) or object())
    cache = ExtractorCache()
    settings = load_settings(None, tiny(tmp_path))
    first = cache(settings)
    assert cache(load_settings(None, (*tiny(tmp_path), "loss.style_weight=99"))) is first
    assert cache(load_settings(None, (*tiny(tmp_path), "model.pooling=max"))) is not first
    assert len(built) == 2
    missing = (*tiny(tmp_path), "model.network=vgg19", "paths.content_image=/no/such.png")
    with pytest.raises(ImageError):  # checked before any network is built
        cache(load_settings(None, missing))
    assert len(built) == 2
