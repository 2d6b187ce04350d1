"""The studio's run and image management: batch folders in the list, a
run's photo for the compare, deleting runs and uploads (only inside their folders), going on
with a stopped run, example paintings, and the weights checked before Start."""

from __future__ import annotations

import time
from pathlib import Path

from nst.web.checks import WeightsCheck
from nst.web.jobs import Worker
from nst.web.server import StudioConfig, create_app
from tests.helpers import make_image
from tests.helpers.web import SAME_ORIGIN, fake_run, tiny


def post(client, url: str, body: dict | None = None):
    return client.post(url, json=body or {}, headers=SAME_ORIGIN)


def test_batch_folders_are_listed_with_their_runs(client, tmp_path):
    results = tmp_path / "results"
    fake_run(results, "20260101-120000-single")
    batch = results / "batch-trial"
    fake_run(batch, "20260102-120000-a-b")
    fake_run(batch, "20260102-130000-c-d")
    (batch / "batch.csv").write_text("item,status\n")
    answer = client.get("/api/runs").json
    assert [run["id"] for run in answer["runs"]] == ["20260101-120000-single"]
    (listed,) = answer["batches"]
    assert listed["id"] == "batch-trial"
    ids = [run["id"] for run in listed["runs"]]
    assert ids == ["batch-trial~20260102-130000-c-d", "batch-trial~20260102-120000-a-b"]
    detail = client.get(f"/api/runs/{ids[0]}").json
    assert detail["status"] == "stopped" and len(detail["frames"]) == 2
    assert client.get(detail["final"]).status_code == 200
    download = client.get(detail["final"] + "?download=1").headers["Content-Disposition"]
    assert "batch-trial~20260102-130000-c-d.png" in download
    for bad in ("batch-trial~..", "..~x", "batch-trial~a~b", "~20260102-130000-c-d", "batch-trial"):
        assert client.get(f"/api/runs/{bad}").status_code == 404, bad


def test_a_run_is_deleted_inside_the_results_folder_only(client, tmp_path):
    results = tmp_path / "results"
    run_dir = fake_run(results, "20260101-120000-gone")
    kept = fake_run(results, "20260101-130000-kept")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    (run_dir / "link").symlink_to(outside, target_is_directory=True)  # not followed
    nested = fake_run(results / "batch-x", "20260101-140000-nested")
    (results / "linked-run").symlink_to(kept, target_is_directory=True)

    for bad in ("..", "linked-run", "20260101-120000-gone~..", "nope", "%2e%2e"):
        assert post(client, f"/api/runs/{bad}/delete").status_code == 404, bad
    assert client.get("/api/runs/20260101-120000-gone/delete").status_code == 405  # POST only
    cross = client.post(
        "/api/runs/20260101-120000-gone/delete", json={}, headers={"Origin": "http://evil.test"}
    )
    assert cross.status_code == 403 and run_dir.is_dir()

    assert post(client, "/api/runs/20260101-120000-gone/delete").json == {
        "deleted": "20260101-120000-gone"
    }
    assert not run_dir.exists() and (outside / "precious.txt").read_text() == "keep me"
    assert kept.is_dir() and (results / "linked-run").is_symlink()
    assert post(client, "/api/runs/batch-x~20260101-140000-nested/delete").status_code == 200
    assert not nested.exists() and (results / "batch-x").is_dir()
    listed = [run["id"] for run in client.get("/api/runs").json["runs"]]
    assert listed == ["20260101-130000-kept"]


def test_a_run_in_use_is_not_deleted(studio, tmp_path, monkeypatch):
    run_dir = fake_run(tmp_path / "results", "20260101-120000-busy")
    monkeypatch.setattr(studio.extensions["nst"]["worker"], "uses_run", lambda path: True)
    answer = post(studio.test_client(), "/api/runs/20260101-120000-busy/delete")
    assert answer.status_code == 409 and "stop it first" in answer.json["error"]
    assert run_dir.is_dir()


def test_an_upload_is_deleted_by_id_and_not_while_a_run_uses_it(studio, tmp_path, monkeypatch):
    client = studio.test_client()
    upload = make_image(tmp_path / "mine.png", seed=5)
    stored = client.post(
        "/api/images", data={"file": (upload.open("rb"), "mine.png")}, headers=SAME_ORIGIN
    ).json
    store = studio.extensions["nst"]["store"]
    folder = store.get(stored["id"]).path.parent
    worker = studio.extensions["nst"]["worker"]
    monkeypatch.setattr(worker, "uses_image", lambda path: True)
    assert post(client, f"/api/images/{stored['id']}/delete").status_code == 409
    monkeypatch.undo()
    for bad in ("..", "0123456789abcdef", "../results", "x" * 16):
        assert post(client, f"/api/images/{bad}/delete").status_code == 404, bad
    assert post(client, f"/api/images/{stored['id']}/delete").json == {"deleted": stored["id"]}
    assert not folder.exists() and store.folder.is_dir()
    ids = [image["id"] for image in client.get("/api/images").json["images"]]
    assert stored["id"] not in ids and ids  # the config's own images stay


def test_a_runs_photo_is_offered_for_the_compare(client, tmp_path):
    results = tmp_path / "results"
    run_dir = fake_run(results)
    photo = make_image(tmp_path / "photo.png", seed=9)
    config = (run_dir / "config.ini").read_text()
    lines = [
        f"content_image = {photo}" if line.startswith("content_image") else line
        for line in config.splitlines()
    ]
    (run_dir / "config.ini").write_text("\n".join(lines) + "\n")
    detail = client.get(f"/api/runs/{run_dir.name}").json
    assert detail["photo"].endswith("/full")
    served = client.get(detail["photo"])
    assert served.status_code == 200 and served.data == photo.read_bytes()
    photo.unlink()  # gone from the server: no compare, no error
    assert client.get(f"/api/runs/{run_dir.name}").json["photo"] is None


def wait_for(jobs, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while any(job.state in ("queued", "running") for job in jobs):
        assert time.monotonic() < deadline, [job.state for job in jobs]
        time.sleep(0.05)


def test_a_stopped_run_goes_on_from_the_page(tmp_path):
    from nst.core.records import Outcome

    resumed = []

    def resume(run_dir, *, extractor, stop, watcher):
        resumed.append(Path(run_dir))
        watcher.started(Path(run_dir), [])
        return Outcome(0, Path(run_dir), f"result in {run_dir}")

    def run(settings, **kwargs):
        raise AssertionError("a resumed run must not start anew")

    worker = Worker(run, lambda settings: None, resume=resume)
    app = create_app(StudioConfig(None, tiny(tmp_path)), worker=worker)
    client = app.test_client()
    try:
        results = tmp_path / "results"
        stopped = fake_run(results, "20260101-120000-stopped")
        (stopped / "checkpoint.npz").write_bytes(b"state")
        no_checkpoint = fake_run(results, "20260101-130000-too-early")
        listed = {run["id"]: run for run in client.get("/api/runs").json["runs"]}
        assert listed[stopped.name]["resumable"] and not listed[no_checkpoint.name]["resumable"]
        refused = post(client, f"/api/runs/{no_checkpoint.name}/resume")
        assert refused.status_code == 409 and "run it again" in refused.json["error"]
        answer = post(client, f"/api/runs/{stopped.name}/resume")
        assert answer.status_code == 202 and answer.json["resumes"] == stopped.name
        wait_for(worker._queue + ([worker._current] if worker._current else []))
        wait_for([job for job in worker._finished])
        assert resumed == [stopped]
        (job,) = worker.snapshot()["jobs"]
        assert job["state"] == "done" and job["run_id"] == stopped.name
    finally:
        worker.close(timeout=30)


def test_a_resume_waiting_at_a_restart_comes_back_as_a_resume(tmp_path):
    from nst.settings import load_settings
    from nst.web.jobs import Job, Spool

    settings = load_settings(None, tiny(tmp_path))
    run_dir = tmp_path / "results" / "20260101-120000-stopped"
    Spool(tmp_path / "spool").keep(Job("job-1-1", settings, resume_dir=run_dir))
    Spool(tmp_path / "spool").keep(Job("job-2-2", settings))
    restored = {job.id: job for job in Spool(tmp_path / "spool").restore()}
    assert restored["job-1-1"].resume_dir == run_dir
    assert restored["job-2-2"].resume_dir is None
    Spool(tmp_path / "spool").forget(restored["job-1-1"])
    assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == ["job-2-2.ini"]


def test_example_paintings_are_offered_from_the_configured_folder(tmp_path):
    examples = tmp_path / "paintings"
    examples.mkdir()
    make_image(examples / "one.png", seed=3)
    make_image(examples / "two.png", seed=4)
    (examples / "broken.png").write_bytes(b"not an image")
    (examples / "notes.txt").write_text("not a painting")
    app = create_app(StudioConfig(None, tiny(tmp_path), examples_dir=examples))
    try:
        client = app.test_client()
        offered = client.get("/api/form").json["examples"]
        names = {image["id"]: image["name"] for image in client.get("/api/images").json["images"]}
        assert sorted(names[i] for i in offered) == ["one.png", "two.png"]
    finally:
        app.extensions["nst"]["worker"].close(timeout=30)
    (tmp_path / "other").mkdir()
    plain = create_app(StudioConfig(None, tiny(tmp_path / "other")))
    try:
        assert plain.test_client().get("/api/form").json["examples"] == []
    finally:
        plain.extensions["nst"]["worker"].close(timeout=30)


def test_weights_problems_are_told_before_start(tmp_path, monkeypatch):
    missing = tmp_path / "gone" / "vgg16.weights.h5"
    app = create_app(StudioConfig(None, tiny(tmp_path, **{"model.weights": str(missing)})))
    try:
        client = app.test_client()
        (problem,) = post(client, "/api/check", {"values": {}}).json["problems"]
        assert "does not exist" in problem and str(tmp_path) not in problem
        assert post(client, "/api/check", {"values": {"model.weights": "random"}}).json == {
            "problems": []
        }
        refused = post(client, "/api/check", {"values": {"model.weights": "/etc/passwd"}}).json
        assert "expected" in refused["problems"][0]

        def unreachable(address, timeout):
            raise OSError(101, "Network is unreachable")

        app.extensions["nst"]["weights_check"] = WeightsCheck(connect=unreachable)
        monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
        values = {"model.weights": "imagenet", "model.network": "vgg19"}
        (problem,) = post(client, "/api/check", {"values": values}).json["problems"]
        assert "ImageNet vgg19 weights" in problem and "cannot be downloaded" in problem
    finally:
        app.extensions["nst"]["worker"].close(timeout=30)


def test_imagenet_weights_that_cannot_be_had_are_told(tmp_path, monkeypatch):
    calls = []

    def unreachable(address, timeout):
        calls.append(address)
        raise OSError(101, "Network is unreachable")

    check = WeightsCheck(connect=unreachable)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    problem = check("vgg19", "imagenet")
    assert "cannot be downloaded" in problem and "Network is unreachable" in problem
    assert check("vgg19", "imagenet") == problem and len(calls) == 1  # remembered a while
    cached = tmp_path / "keras" / "models" / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    assert check("vgg19", "imagenet") is None  # on this machine: nothing to download
    assert check("vgg16", "random") is None


# --- failed jobs stay listed (issue 25, item 10) -----------------------------------------


def ended(client, job_id: str, timeout: float = 120.0) -> dict:
    """The job as /api/jobs shows it once it has ended."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = {job["id"]: job for job in client.get("/api/jobs").json["jobs"]}
        if jobs[job_id]["state"] not in ("queued", "running"):
            return jobs[job_id]
        assert time.monotonic() < deadline, jobs[job_id]
        time.sleep(0.1)


def test_a_failed_job_is_listed_after_a_restart_until_dismissed(tmp_path):
    missing = tmp_path / "gone" / "vgg16.weights.h5"
    config = StudioConfig(None, tiny(tmp_path, **{"model.weights": str(missing)}))
    first = create_app(config)
    try:
        client = first.test_client()
        form = client.get("/api/form").json
        body = {"values": {}, "content": form["content"][0], "styles": form["styles"]}
        job_id = post(client, "/api/jobs", body).json["id"]
        failed = ended(client, job_id)
        assert failed["state"] == "failed" and failed["run_id"] is None
        assert "does not exist" in failed["message"]
    finally:
        first.extensions["nst"]["worker"].close(timeout=30)
    assert not any((tmp_path / "results").glob("2*"))  # no run folder says it happened

    again = create_app(config)  # the studio restarted over the same folders
    try:
        client = again.test_client()
        (kept,) = [job for job in client.get("/api/jobs").json["jobs"] if job["id"] == job_id]
        assert kept["state"] == "failed" and kept["message"] == failed["message"]
        assert (kept["content"], kept["styles"]) == ("content.png", ["style.png"])
        assert str(tmp_path) not in kept["message"]
        assert post(client, f"/api/jobs/{job_id}/dismiss").json == {"dismissed": job_id}
        assert job_id not in [job["id"] for job in client.get("/api/jobs").json["jobs"]]
        assert post(client, f"/api/jobs/{job_id}/dismiss").status_code == 404
    finally:
        again.extensions["nst"]["worker"].close(timeout=30)
    third = create_app(config)
    try:
        assert third.test_client().get("/api/jobs").json["jobs"] == []  # dismissed for good
    finally:
        third.extensions["nst"]["worker"].close(timeout=30)


def test_failures_outlast_twenty_finished_runs_and_waiting_jobs_are_not_dismissed(tmp_path):
    from nst.core.records import Outcome
    from nst.inputs.images import ImageError
    from nst.settings import load_settings

    settings = load_settings(None, tiny(tmp_path))
    release = []

    def run(settings, *, extractor, stop, watcher):
        while not release and not stop.requested():
            time.sleep(0.01)
        run_dir = tmp_path / f"run{time.monotonic_ns()}"
        run_dir.mkdir()
        watcher.started(run_dir, [])
        return Outcome(0, run_dir, f"result in {run_dir}")

    def extractor_for(settings):
        if not built:
            built.append(settings)
            raise ImageError("image x.png does not exist")

    built = []
    spool = tmp_path / "results" / ".queue"
    worker = Worker(run, extractor_for, spool, max_queued=30)
    try:
        jobs = [worker.submit(settings) for _ in range(23)]
        deadline = time.monotonic() + 30
        while jobs[1].state != "running":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert worker.dismiss(jobs[1].id) is False  # running: stop it first
        assert worker.dismiss(jobs[2].id) is False  # waiting
        release.append(True)
        while any(job.state in ("queued", "running") for job in jobs):
            assert time.monotonic() < deadline, [job.state for job in jobs]
            time.sleep(0.05)
        listed = [job["id"] for job in worker.snapshot()["jobs"]]
    finally:
        worker.close(timeout=30)
    assert jobs[0].state == "failed" and jobs[0].id in listed
    assert len(listed) == 1 + 20  # the failure, and the last 20 finished runs
    assert [job.id for job in jobs[-20:]] == [i for i in reversed(listed) if i != jobs[0].id]
    later = Worker(run, extractor_for, spool)
    try:
        assert [job["id"] for job in later.snapshot()["jobs"]] == [jobs[0].id]
    finally:
        later.close(timeout=30)
