"""The web studio's HTTP side: a Flask app over the settings form, the images, the job queue
and the run folders. Thin: the run is nst.app.run, the form nst.web.forms, the folders
nst.web.runs.

Safety: only files inside the results folder and the upload folder are served, by validated
ids (nst.web.runs, nst.web.uploads); state changes are POST with a JSON body and refuse
cross-origin requests; every error is a JSON 4xx/5xx, never a traceback page.
"""

from __future__ import annotations

import io
import json
import math
import queue
import sys
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, abort, jsonify, render_template, request, send_file
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from nst.images import ImageError
from nst.settings import Settings, load_settings
from nst.web import runs
from nst.web.forms import FormError, form_fields, form_values, settings_from_form
from nst.web.jobs import Worker
from nst.web.uploads import ImageStore, UploadError

KEEPALIVE_S = 15.0  # an SSE comment this often keeps proxies and browsers from timing out
SAFE_FETCH_SITES = {"same-origin", "none"}  # Sec-Fetch-Site values of the page's own requests
LOCAL_NAMES = {"127.0.0.1", "localhost", "[::1]", "::1"}


@dataclass(frozen=True)
class StudioConfig:
    config: Path | None  # the settings file the page starts from (as main.py's --config)
    overrides: tuple[str, ...] = ()  # main.py's --set
    upload_dir: Path | None = None  # None: <results_dir>/.uploads
    max_upload_bytes: int = 50 * 1024 * 1024
    local_only: bool = True  # listening on 127.0.0.1: refuse requests for any other host name


def finite(value):
    """JSON has no NaN or Infinity (a diverged run's losses): they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


class FiniteJSON(DefaultJSONProvider):
    def dumps(self, obj, **kwargs):
        return super().dumps(finite(obj), **kwargs)


def error(status: int, message: str, **extra) -> Response:
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


def same_origin() -> bool:
    """False for a request that a page of another site made (a CSRF attempt)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in SAFE_FETCH_SITES:
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not sent by browsers' same-origin GET/HEAD, nor by scripts like curl
    return origin in (request.host_url.rstrip("/"), f"{request.scheme}://{request.host}")


def create_app(studio: StudioConfig, worker: Worker | None = None) -> Flask:
    """The studio; `worker` None starts one that runs jobs with nst.app.run."""
    base = load_settings(studio.config, studio.overrides)  # SettingsError: the caller says so
    results_dir = base.paths.results_dir
    store = ImageStore(studio.upload_dir or results_dir / ".uploads")
    worker = worker or Worker(*default_runner())
    app = Flask(__name__)
    app.json = FiniteJSON(app)
    app.url_map.merge_slashes = False  # //etc/passwd must reach the checks, not a redirect
    app.config["MAX_CONTENT_LENGTH"] = studio.max_upload_bytes
    app.extensions["nst"] = {"worker": worker, "store": store, "base": base}
    _guards(app, studio.local_only)
    _form_routes(app, studio, base, store, worker)
    _image_routes(app, store)
    _job_routes(app, worker)
    _run_routes(app, results_dir, store, worker)
    _file_routes(app, results_dir)
    _import_config_images(store, base)
    return app


def default_runner():
    """The CLI's run function, and the network kept from one run to the next."""
    from nst.app import run
    from nst.web.jobs import ExtractorCache

    return run, ExtractorCache()


def _import_config_images(store: ImageStore, settings: Settings) -> None:
    """The config's own images are offered in the page (copied into the upload folder)."""
    for path in (settings.paths.content_image, *settings.paths.style_image):
        try:
            store.add_file(path)
        except (UploadError, ImageError, OSError) as problem:
            print(f"nst: note: {path} is not offered in the page: {problem}", file=sys.stderr)


def local_host() -> bool:
    """The Host header names this machine: a site that points its own name at 127.0.0.1 (DNS
    rebinding) would otherwise pass for the page itself."""
    name = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    return name.lower() in LOCAL_NAMES


def _guards(app: Flask, local_only: bool) -> None:
    @app.before_request
    def refuse_cross_origin():
        if local_only and not local_host():
            return error(403, "this server answers only to 127.0.0.1 and localhost")
        if request.method not in ("GET", "HEAD", "OPTIONS") and not same_origin():
            return error(403, "cross-origin request refused")
        return None

    @app.errorhandler(HTTPException)
    def http_error(problem: HTTPException):
        if problem.code == 413:
            limit = app.config["MAX_CONTENT_LENGTH"] / 1e6
            return error(413, f"the upload is larger than the limit of {limit:g} MB")
        return error(problem.code or 500, problem.description or problem.name)

    @app.errorhandler(Exception)
    def unexpected(problem: Exception):
        traceback.print_exception(problem, file=sys.stderr)  # the server's log, not the page
        return error(500, f"internal error ({type(problem).__name__}); see the server's log")


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "expected a JSON object (Content-Type: application/json)")
    return body


def _form_routes(app, studio: StudioConfig, base: Settings, store: ImageStore, worker) -> None:
    """The page, its form, checking the form, and starting a job from it."""

    @app.get("/")
    def page():
        return render_template("index.html")

    @app.get("/api/form")
    def form():
        return jsonify(
            {
                "fields": form_fields(base),
                "content": _image_ids(store, [base.paths.content_image]),
                "styles": _image_ids(store, base.paths.style_image),
                "blend": [f"{w:g}" for w in base.loss.style_blend_weights],
                "results_dir": str(base.paths.results_dir),
                "max_upload_bytes": studio.max_upload_bytes,
            }
        )

    @app.post("/api/validate")
    def validate():
        body = _json_body()
        content, styles = _chosen_images(store, body)
        try:
            settings_from_form(
                studio.config, studio.overrides, _values(body), content, styles, _blend(body)
            )
        except FormError as problem:
            return jsonify({"ok": False, "errors": problem.errors})
        return jsonify({"ok": True, "errors": {}})

    @app.post("/api/jobs")
    def start():
        body = _json_body()
        content, styles = _chosen_images(store, body)
        values = _values(body)
        try:
            settings = settings_from_form(
                studio.config, studio.overrides, values, content, styles, _blend(body)
            )
        except FormError as problem:
            return error(400, "settings refused", errors=problem.errors)
        job = worker.submit(settings)
        return jsonify(job.public()), 202


def _image_routes(app: Flask, store: ImageStore) -> None:
    @app.get("/api/images")
    def images():
        return jsonify({"images": [image.public() for image in store.all()]})

    @app.post("/api/images")
    def upload():
        file = request.files.get("file")
        if file is None:
            abort(400, "expected a file in the form field 'file'")
        try:
            stored = store.add(file.read(), file.filename or "upload")
        except UploadError as problem:
            return error(400, str(problem))
        return jsonify(stored.public()), 201

    @app.get("/api/images/<image_id>")
    def thumbnail(image_id: str):
        path = store.thumbnail(image_id)
        if path is None or not path.is_file():
            abort(404, "no such image")
        return send_file(path, mimetype="image/png", max_age=3600)


def _job_routes(app: Flask, worker: Worker) -> None:
    @app.post("/api/jobs/<job_id>/stop")
    def stop(job_id: str):
        job = worker.stop(job_id)
        if job is None:
            abort(404, "no such job")
        return jsonify(job.public())

    @app.get("/api/jobs")
    def jobs():
        return jsonify(worker.snapshot())

    @app.get("/api/events")
    def events():
        return Response(_event_stream(worker), mimetype="text/event-stream", headers=NO_CACHE)


NO_CACHE = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _event_stream(worker: Worker):
    """Server-sent events: the snapshot of the jobs, then every change as it happens."""
    listener = worker.events.listen()  # before the snapshot: nothing falls between them
    try:
        yield _sse("jobs", worker.snapshot())
        while True:
            try:
                kind, data = listener.get(timeout=KEEPALIVE_S)
            except queue.Empty:  # nothing happened for a while
                yield ": keepalive\n\n"
                continue
            if data is None:
                yield _sse("closing", {})
                return
            yield _sse(kind, data)
    finally:
        worker.events.forget(listener)


def _sse(kind: str, data: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(finite(data))}\n\n"


def _values(body: dict) -> dict[str, str]:
    values = body.get("values", {})
    if not isinstance(values, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in values.items()
    ):
        abort(400, "expected 'values': an object of section.key: text")
    return {
        key: str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in values.items()
    }


def _blend(body: dict) -> list[str]:
    blend = body.get("blend") or []
    if not isinstance(blend, list) or not all(isinstance(w, str | int | float) for w in blend):
        abort(400, "expected 'blend': a list of weights, one per style image")
    return [str(weight) for weight in blend]


def _chosen_images(store: ImageStore, body: dict) -> tuple[Path, list[Path]]:
    """The content and style images the page chose, by their ids in the upload folder."""
    content = store.get(body.get("content"))
    styles_ids = body.get("styles")
    if content is None:
        abort(400, "choose a content image (an uploaded image's id)")
    if not isinstance(styles_ids, list) or not styles_ids:
        abort(400, "choose at least one style image (uploaded images' ids)")
    styles = [store.get(image_id) for image_id in styles_ids]
    if any(style is None for style in styles):
        abort(400, "a style image is not known: upload it again")
    return content.path, [style.path for style in styles]


def _image_ids(store: ImageStore, paths) -> list[str]:
    """The upload ids of images on this machine (stored on the way); unusable ones left out."""
    ids = []
    for path in paths:
        try:
            ids.append(store.add_file(path).id)
        except (UploadError, ImageError, OSError):
            continue
    return ids


def _folder(results_dir: Path, run_id: str) -> Path:
    found = runs.run_folder(results_dir, run_id)
    if found is None:
        abort(404, "no such run")
    return found


def _run_routes(app: Flask, results_dir: Path, store: ImageStore, worker: Worker) -> None:
    def folder(run_id: str) -> Path:
        return _folder(results_dir, run_id)

    @app.get("/api/runs")
    def run_list():
        listed = runs.list_runs(results_dir)
        running = worker.running_run_id()
        for run in listed:
            run["status"] = "running" if run["id"] == running else run["status"]
        return jsonify({"runs": listed})

    @app.get("/api/runs/<run_id>")
    def run_detail(run_id: str):
        shown = runs.detail(folder(run_id))
        if shown["id"] == worker.running_run_id():
            shown["status"] = "running"
        return jsonify(shown)

    @app.post("/api/runs/<run_id>/reuse")
    def reuse(run_id: str):
        """'Run again with these settings': the form's values and images of that run."""
        settings = runs.run_settings(folder(run_id))
        if settings is None:
            abort(409, "this run's config.ini cannot be read")
        paths = settings.paths
        return jsonify(
            {
                "values": form_values(settings),
                "content": _image_ids(store, [paths.content_image]),
                "styles": _image_ids(store, paths.style_image),
                "blend": [f"{w:g}" for w in settings.loss.style_blend_weights],
            }
        )


def _file_routes(app: Flask, results_dir: Path) -> None:
    """A run's files (validated names, nothing outside it) and the whole folder as a zip."""

    @app.get("/runs/<run_id>/files/<path:name>")
    def run_file(run_id: str, name: str):
        path = runs.run_file(_folder(results_dir, run_id), name)
        if path is None:
            abort(404, "no such file in this run")
        download = request.args.get("download") == "1"
        return send_file(path, as_attachment=download, max_age=0)

    @app.get("/runs/<run_id>/zip")
    def run_zip(run_id: str):
        run_dir = _folder(results_dir, run_id)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in runs.run_files(run_dir):
                archive.write(path, f"{run_dir.name}/{path.relative_to(run_dir).as_posix()}")
        buffer.seek(0)
        return send_file(
            buffer,
            mimetype="application/zip",
            as_attachment=True,
            download_name=f"{run_dir.name}.zip",
        )
