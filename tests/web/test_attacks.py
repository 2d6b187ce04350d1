"""The web studio under attack and under faults: settings reached by
another spelling, paths the page must not reach, resource limits, signals and start-up,
framing and the Host check, what a restart keeps. In-process through Flask's test client,
except where a signal or a port needs the real command."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest

from nst.settings import load_settings, render
from nst.web import runs
from nst.web.jobs import Worker
from nst.web.server import StudioConfig, create_app
from tests.helpers import make_image
from tests.helpers.web import SAME_ORIGIN, chosen, fake_run, tiny, upload


class Blocked:
    """A run function that waits until released: jobs stay running or queued while a test
    looks at them."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, settings, *, extractor, stop, watcher):
        from nst.core.records import Outcome

        self.started.set()
        while not self.release.is_set() and not stop.requested():
            time.sleep(0.01)
        return Outcome(128 + signal.SIGTERM, None, "interrupted by SIGTERM")


def blocked_studio(tmp_path: Path, **config) -> tuple:
    blocked = Blocked()
    spool = tmp_path / "results" / ".queue"
    worker = Worker(blocked, lambda settings: None, spool, config.pop("max_queued", 20))
    app = create_app(StudioConfig(None, tiny(tmp_path), **config), worker=worker)
    return app, blocked


# --- 1. settings reached by another spelling -------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        " paths.results_dir",
        "paths.results_dir ",
        "paths .results_dir",
        "paths. results_dir",
        "\tpaths.results_dir\n",
        "paths.results_dir=/tmp/elsewhere",
        "paths.results_dir = ",
        "output.show_viewer=",
        " paths.content_image",
        "loss.style_weight=",
        " loss.style_weight",
    ],
)
def test_a_key_is_taken_only_as_the_form_spells_it(client, tmp_path, key):
    elsewhere = tmp_path / "elsewhere"
    body = {"values": {key: str(elsewhere)}, **chosen(client)}
    answer = client.post("/api/validate", json=body, headers=SAME_ORIGIN).json
    assert answer["ok"] is False and answer["errors"]
    started = client.post("/api/jobs", json=body, headers=SAME_ORIGIN)
    assert started.status_code == 400
    assert client.get("/api/jobs").json["jobs"] == []
    assert not elsewhere.exists()


def test_thousands_of_keys_are_refused_at_once_with_one_message(client, monkeypatch):
    import nst.web.forms

    calls = []
    real = nst.web.forms.load_settings
    monkeypatch.setattr(nst.web.forms, "load_settings", lambda *a: calls.append(a) or real(*a))
    values = {f"loss.k{i}": "1" for i in range(10_000)}
    answer = client.post("/api/validate", json={"values": values, **chosen(client)}).json
    assert answer["ok"] is False and list(answer["errors"]) == [""]
    assert "10000 settings" in answer["errors"][""]
    assert calls == []  # refused before any value is parsed
    values = {f"loss.k{i}": "1" for i in range(20_000)}  # more than a page ever sends
    answer = client.post("/api/validate", json={"values": values, **chosen(client)})
    assert answer.status_code == 413 and "256 KiB" in answer.json["error"]
    assert calls == []


# --- 2. paths the page must not reach --------------------------------------------------


def test_the_page_names_masks_by_upload_and_no_server_path(client, studio, tmp_path):
    (tmp_path / "private").mkdir()
    secret = make_image(tmp_path / "private" / "mask.png", seed=3)
    missing = tmp_path / "private" / "missing.png"
    answers = {}
    for key in ("paths.content_mask", "paths.regions", "paths.style_masks"):
        for path in (secret, missing, "/etc/passwd"):
            body = {"values": {key: str(path)}, **chosen(client)}
            answers[key, str(path)] = client.post("/api/validate", json=body).json
            assert answers[key, str(path)]["ok"] is False, (key, path)
            text = json.dumps(answers[key, str(path)])
            assert "upload" in text and str(tmp_path) not in text
    # whether a file exists, or what it is, reads the same: nothing is learnt from the answer
    for key in ("paths.content_mask", "paths.regions"):
        shown = {
            json.dumps(answers[key, str(p)]).replace(Path(p).name, "X")
            for p in (secret, missing, "/etc/passwd")
        }
        assert len(shown) == 1, shown
    weights = client.post(
        "/api/validate", json={"values": {"model.weights": str(secret)}, **chosen(client)}
    ).json
    assert weights["ok"] is False and "model.weights" in weights["errors"]
    # an uploaded mask is chosen by its id, and the run's settings name the stored file
    mask = upload(client, make_image(tmp_path / "m.png", seed=8).read_bytes(), "m.png").json
    body = {"values": {"paths.content_mask": mask["id"]}, **chosen(client)}
    assert client.post("/api/validate", json=body).json == {"ok": True, "errors": {}}
    job = client.post("/api/jobs", json=body, headers=SAME_ORIGIN).json
    worker = studio.extensions["nst"]["worker"]
    kept = next(j for j in [*worker._queue, worker._current] if j and j.id == job["id"])
    store = studio.extensions["nst"]["store"]
    assert kept.settings.paths.content_mask == store.get(mask["id"]).path
    client.post(f"/api/jobs/{job['id']}/stop", headers=SAME_ORIGIN)


def test_no_absolute_server_path_in_any_answer(client, tmp_path):
    run_dir = fake_run(tmp_path / "results")
    (run_dir / "status.txt").write_text(f"0\nresult in {run_dir}\n")
    answers = [
        client.get("/api/form"),
        client.get("/api/runs"),
        client.get(f"/api/runs/{run_dir.name}"),
        client.post(f"/api/runs/{run_dir.name}/reuse", headers=SAME_ORIGIN),
        client.get("/api/images"),
        client.post("/api/validate", json={"values": {"image.max_size": "9"}, **chosen(client)}),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.request.path
        assert str(tmp_path) not in answer.get_data(as_text=True), answer.request.path
    detail = client.get(f"/api/runs/{run_dir.name}").json
    (line,) = [line for line in detail["config"].splitlines() if line.startswith("content_imag")]
    assert line.endswith("content.png") and " = /" not in line  # no absolute path
    assert client.get("/api/form").json["results_dir"] == "results"


def test_symlinks_in_a_run_or_upload_folder_are_not_followed(client, studio, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.ini").write_text(render(load_settings(None, ("loss.style_weight=77",))))
    make_image(outside / "secret.png", seed=6)
    results = tmp_path / "results"
    linked = fake_run(results, "20260101-120000-linked")
    (linked / "config.ini").unlink()
    (linked / "config.ini").symlink_to(outside / "config.ini")
    assert client.get(f"/api/runs/{linked.name}").status_code == 404
    assert linked.name not in [run["id"] for run in client.get("/api/runs").json["runs"]]
    csv_linked = fake_run(results, "20260101-130000-csv")
    (csv_linked / "losses.csv").unlink()
    (csv_linked / "losses.csv").symlink_to(outside / "config.ini")
    assert runs.read_rows(csv_linked) == []
    # a thumbnail swapped for a link to another file is not served
    image = upload(client, make_image(tmp_path / "t.png", seed=7).read_bytes(), "t.png").json
    store = studio.extensions["nst"]["store"]
    thumb = store.get(image["id"]).path.parent / ".thumb.png"
    thumb.unlink()
    thumb.symlink_to(outside / "secret.png")
    assert client.get(image["thumbnail"]).status_code == 404


# --- 3. resource limits ----------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that says width x height and holds one tiny compressed row: a few hundred
    bytes that would decode to width x height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1)))
        + chunk(b"IEND", b"")
    )


def test_an_image_too_many_pixels_is_refused_before_it_is_decoded(client, monkeypatch):
    import nst.web.uploads

    decoded = []
    monkeypatch.setattr(nst.web.uploads, "load_image", lambda *a: decoded.append(a))
    refused = upload(client, png_header_only(9000, 9000), "huge.png")
    assert refused.status_code == 400
    assert "huge.png is 9000 × 9000 pixels (81 megapixels)" in refused.json["error"]
    assert "at most 40 megapixels" in refused.json["error"]
    assert decoded == []


def test_uploads_are_checked_one_at_a_time_and_others_told_to_retry(
    client, studio, tmp_path, monkeypatch
):
    import nst.web.server

    monkeypatch.setattr(nst.web.server, "UPLOAD_WAIT_S", 0.2)
    store = studio.extensions["nst"]["store"]
    inside, leave = threading.Event(), threading.Event()
    real_add = store.add

    def slow_add(data, filename):
        inside.set()
        leave.wait(30)
        return real_add(data, filename)

    monkeypatch.setattr(store, "add", slow_add)
    data = make_image(tmp_path / "u.png", seed=11).read_bytes()
    first = {}
    thread = threading.Thread(target=lambda: first.update(a=upload(client, data, "u.png")))
    thread.start()
    assert inside.wait(30)
    second = upload(studio.test_client(), data, "v.png")
    leave.set()
    thread.join(30)
    assert second.status_code == 503 and "try this one again" in second.json["error"]
    assert first["a"].status_code == 201


def test_the_queue_is_bounded_with_a_clear_refusal(tmp_path):
    app, blocked = blocked_studio(tmp_path, max_queued=2)
    client = app.test_client()
    try:
        body = {"values": {}, **chosen(client)}
        started = [client.post("/api/jobs", json=body, headers=SAME_ORIGIN)]
        assert blocked.started.wait(30)  # running: off the queue (else the race decides)
        started += [client.post("/api/jobs", json=body, headers=SAME_ORIGIN) for _ in range(3)]
        codes = [answer.status_code for answer in started]
        assert codes.count(202) == 3 and codes[-1] == 429, codes
        assert "2 runs are waiting already (at most 2)" in started[-1].json["error"]
    finally:
        blocked.release.set()
        app.extensions["nst"]["worker"].close(timeout=30)


def test_nested_json_and_many_form_parts_get_a_clear_4xx(client):
    deep = "[" * 100_000 + "]" * 100_000
    for url in ("/api/jobs", "/api/validate"):
        answer = client.post(url, data=deep, content_type="application/json", headers=SAME_ORIGIN)
        assert 400 <= answer.status_code < 500 and answer.is_json, url
    deep_values = '{"values": ' + "{" * 50_000 + "}" * 50_000 + "}"
    answer = client.post(
        "/api/jobs", data=deep_values, content_type="application/json", headers=SAME_ORIGIN
    )
    assert 400 <= answer.status_code < 500 and answer.is_json
    parts = {f"k{i}": "x" for i in range(20_000)}
    answer = client.post("/api/images", data=parts, headers=SAME_ORIGIN)
    assert 400 <= answer.status_code < 500 and answer.is_json


def test_limits_are_said_in_the_users_units(client):
    refused = upload(client, b"\0" * 300_000, "big.png")
    assert refused.status_code == 413
    assert "195 KiB" in refused.json["error"] and " MB" not in refused.json["error"]
    from nst.web.server import in_units

    assert in_units(50 * 1024 * 1024) == "50 MiB" and in_units(200_000) == "195 KiB"


def test_a_full_disk_during_an_upload_is_one_clear_answer(client, studio, tmp_path, monkeypatch):
    store = studio.extensions["nst"]["store"]

    def full(data, filename):
        raise OSError(errno.ENOSPC, "No space left on device", str(store.folder / "x"))

    monkeypatch.setattr(store, "add", full)
    answer = upload(client, make_image(tmp_path / "f.png").read_bytes(), "f.png")
    assert answer.status_code == 507
    assert answer.json["error"].startswith("cannot store the upload: No space left on device")
    assert (
        "internal error" not in answer.json["error"] and str(tmp_path) not in answer.json["error"]
    )


# --- 4. signals and start-up -----------------------------------------------------------


# --- 5. framing and binding ------------------------------------------------------------


def test_no_foreign_page_may_frame_the_studio(client):
    for url in ("/", "/api/form", "/static/app.js", "/no/such/page"):
        answer = client.get(url)
        assert answer.headers["X-Frame-Options"] == "DENY", url
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"], url


# --- 6. what a restart keeps -----------------------------------------------------------


def test_waiting_jobs_come_back_after_a_restart(tmp_path):
    app, blocked = blocked_studio(tmp_path)
    client = app.test_client()
    body = {"values": {"loss.style_weight": "7"}, **chosen(client)}
    ids = [client.post("/api/jobs", json=body, headers=SAME_ORIGIN).json["id"] for _ in range(3)]
    assert blocked.started.wait(30)
    app.extensions["nst"]["worker"].close(timeout=30)  # the server stops: the first is stopped
    again, blocked = blocked_studio(tmp_path)
    try:
        jobs = again.test_client().get("/api/jobs").json["jobs"]
        assert [job["id"] for job in jobs if job["state"] in ("queued", "running")] == ids[1:]
        assert again.extensions["nst"]["worker"].restored == 2
        assert blocked.started.wait(30)  # and they run
        worker = again.extensions["nst"]["worker"]
        assert worker._current.settings.loss.style_weight == 7
    finally:
        blocked.release.set()
        again.extensions["nst"]["worker"].close(timeout=30)


def test_interrupted_uploads_are_cleaned_at_the_start(tmp_path):
    uploads = tmp_path / "results" / ".uploads"
    old = uploads / ".incoming-0123456789abcdef"
    old.mkdir(parents=True)
    (old / "upload").write_bytes(b"half an image")
    long_ago = time.time() - 3600
    os.utime(old, (long_ago, long_ago))
    fresh = uploads / ".incoming-fedcba9876543210"  # another request's, being checked now
    fresh.mkdir()
    app = create_app(StudioConfig(None, tiny(tmp_path)))
    try:
        assert not old.exists() and fresh.exists()
    finally:
        app.extensions["nst"]["worker"].close(timeout=30)


# --- a video run in the list --------------------------------------------------------------


def fake_video_run(results: Path, name: str = "20260102-120000-clip-style") -> Path:
    run_dir = results / name
    (run_dir / "frames").mkdir(parents=True)
    (run_dir / "plots").mkdir()
    settings = load_settings(None, ("paths.content_image=clip.mp4",))
    (run_dir / "config.ini").write_text(render(settings))
    for i in (1, 2, 3):
        make_image(run_dir / "frames" / f"frame_{i:06d}.png", seed=i)
    rows = ["frame,iterations,content,style,tv,total,temporal,seconds"]
    rows += [f"{i},100,{1 + i},{10 - i},0.1,{5 - i},0.5,2.5" for i in (1, 2, 3)]
    (run_dir / "frames.csv").write_text("\n".join(rows) + "\n")
    (run_dir / "video.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 100)
    (run_dir / "compare.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 200)
    (run_dir / "status.txt").write_text(f"0\nresult in {run_dir}\n")
    return run_dir


def test_a_finished_video_run_is_listed_shown_and_downloaded(client, tmp_path):
    run_dir = fake_video_run(tmp_path / "results")
    listed = client.get("/api/runs").json["runs"]
    (run,) = [r for r in listed if r["id"] == run_dir.name]
    assert run["kind"] == "video" and run["status"] == "done" and run["content"] == "clip.mp4"
    assert run["iterations"] == 3 and run["duration_s"] == 7.5
    assert client.get(run["thumbnail"]).status_code == 200
    detail = client.get(f"/api/runs/{run_dir.name}").json
    assert [frame["iteration"] for frame in detail["frames"]] == [1, 2, 3]
    assert detail["final"].endswith("frames/frame_000003.png")
    assert [row["total"] for row in detail["rows"]] == [4.0, 3.0, 2.0]
    for key, name in (("video", "video.mp4"), ("compare", "compare.mp4")):
        served = client.get(detail[key] + "?download=1")
        assert served.status_code == 200 and served.mimetype == "video/mp4"
        assert served.data == (run_dir / name).read_bytes()
        assert run_dir.name in served.headers["Content-Disposition"]
    assert client.get(detail["final"]).status_code == 200


def test_downloads_are_named_after_their_run(client, tmp_path):
    run_dir = fake_run(tmp_path / "results")
    final = client.get(f"/runs/{run_dir.name}/files/final.png?download=1")
    assert f"filename={run_dir.name}.png" in final.headers["Content-Disposition"]
    plot = client.get(f"/runs/{run_dir.name}/files/iterates/iter_000002.png?download=1")
    assert f"{run_dir.name}-iterates-iter_000002.png" in plot.headers["Content-Disposition"]
    assert io.BytesIO(final.data).read(4) == b"\x89PNG"


# --- 10. what users trip over: the page's own words ------------------------------------


@pytest.mark.parametrize(
    "line, says",
    [
        (
            "interrupted by SIGINT at step 4: run folder complete; go on with: python main.py "
            "--resume /r/x",
            "stopped (Stop pressed)",
        ),
        (
            "interrupted by SIGINT at step 4 of 12: final.png (step 4), losses.csv and the "
            "plots are in /r/my run; to go on: python main.py --resume '/r/my run'",
            "are in /r/my run",
        ),
        ("interrupted by SIGTERM at step 4", "stopped (the studio was closing)"),
        ("--set [image] max_size = 10: expected an integer >= 32", "[image] max_size = 10"),
        (
            "unexpected KeyError in x.py:3: 'a' (rerun with --debug for the traceback)",
            "the server's log has the details",
        ),
    ],
)
def test_a_runs_last_line_is_said_in_the_pages_words(tmp_path, line, says):
    from nst.web.jobs import Job

    job = Job("job-1", load_settings(None, tiny(tmp_path)), state="stopped", message=line)
    shown = job.public()["message"]
    assert says in shown
    assert not any(word in shown for word in ("SIGINT", "SIGTERM", "--set", "--resume", "--debug"))
