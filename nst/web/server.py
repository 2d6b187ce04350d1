"""The web studio's HTTP side: a Flask app over the settings form, the images, the job queue
and the run folders. Thin: the run is nst.run.pipeline.run, the form nst.web.forms, the folders
nst.web.runs.

Safety: only files inside the results folder and the upload folder are served, by validated
ids (nst.web.runs, nst.web.uploads); state changes are POST with a JSON body and refuse
cross-origin requests; every error is a JSON 4xx/5xx, never a traceback page.
"""

from __future__ import annotations

import errno
import io
import ipaddress
import json
import math
import queue
import re
import sys
import threading
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, abort, jsonify, render_template, request, send_file
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from nst.inputs.images import ImageError
from nst.settings import Settings, SettingsError, load_settings
from nst.web import runs
from nst.web.checks import WeightsCheck
from nst.web.forms import FormError, PageFiles, form_fields, form_values, settings_from_form
from nst.web.jobs import MAX_QUEUED, QueueFull, Worker
from nst.web.previews import Previews
from nst.web.regions import register as register_regions
from nst.web.uploads import MAX_PIXELS, ImageStore, UploadError

KEEPALIVE_S = 15.0  # an SSE comment this often keeps proxies and browsers from timing out
SAFE_FETCH_SITES = {"same-origin", "none"}  # Sec-Fetch-Site values of the page's own requests
MAX_JSON_BYTES = 256 * 1024  # the page's requests are a few kB; uploads have their own limit
MAX_FORM_PARTS = 8  # an upload is one file field; thousands of parts only cost CPU
CHECKING_AT_ONCE = 1  # uploads decoded at the same time (each may take a GB or more)
UPLOAD_WAIT_S = 30.0  # how long an upload waits for its turn before it is told to retry
# A foreign page may not frame the studio (clickjacking past the Origin check), and the page
# loads nothing but its own files.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self'; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_ABSOLUTE = re.compile(r"(?<![\w.~\-/])(/[^\s/,;:'\"()\[\]<>]+(?:/[^\s/,;:'\"()\[\]<>]+)*)")
_URL_PREFIXES = ("/runs/", "/api/", "/static/")


@dataclass(frozen=True)
class StudioConfig:
    config: Path | None  # the settings file the page starts from (as main.py's --config)
    overrides: tuple[str, ...] = ()  # main.py's --set
    upload_dir: Path | None = None  # None: <results_dir>/.uploads
    max_upload_bytes: int = 50 * 1024 * 1024
    local_only: bool = True  # listening on a loopback address: refuse other host names
    max_upload_pixels: int = MAX_PIXELS
    max_queued: int = MAX_QUEUED
    examples_dir: Path | None = None  # paintings offered to pick from (--examples)


def in_units(size: int) -> str:
    """A byte count as people read it: 50 MiB, 195 KiB, 800 bytes."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} bytes"


def finite(value):
    """JSON has no NaN or Infinity (a diverged run's losses): they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


class PathHider:
    """No absolute server path leaves the server: a path under one of the known folders is
    shown from that folder's name on (results/2026...), any other as its file name."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = sorted({Path(root) for root in roots}, key=lambda p: -len(str(p)))

    def path(self, text: str) -> str:
        for root in self.roots:
            if text == str(root) or text.startswith(f"{root}/"):
                return f"{root.name}{text[len(str(root)) :]}"
        return Path(text).name

    def __call__(self, value):
        if isinstance(value, str):
            if value.startswith(_URL_PREFIXES):
                return value
            return _ABSOLUTE.sub(lambda match: self.path(match[1]), value)
        if isinstance(value, dict):
            return {key: self(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self(item) for item in value]
        return value


class PageJSON(DefaultJSONProvider):
    """Every JSON answer: finite numbers, no server paths."""

    hide = PathHider([])

    def dumps(self, obj, **kwargs):
        return super().dumps(self.hide(finite(obj)), **kwargs)


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
    """The studio; `worker` None starts one that runs jobs with nst.run.pipeline.run.

    SettingsError (the caller prints it, status 2): bad settings, or a results folder that
    cannot be one.
    """
    base = load_settings(studio.config, studio.overrides)  # SettingsError: the caller says so
    results_dir = base.paths.results_dir
    _check_results_dir(results_dir)
    store = ImageStore(
        studio.upload_dir or results_dir / ".uploads",
        studio.max_upload_pixels,
        studio.max_upload_bytes,
    )
    store.clean()
    hide = PathHider([results_dir, store.folder, Path.cwd()])
    worker = worker or Worker(*default_runner(), results_dir / ".queue", studio.max_queued)
    app = Flask(__name__)
    app.json = PageJSON(app)
    app.json.hide = hide
    app.url_map.merge_slashes = False  # //etc/passwd must reach the checks, not a redirect
    app.config["MAX_CONTENT_LENGTH"] = studio.max_upload_bytes
    app.config["MAX_FORM_PARTS"] = MAX_FORM_PARTS
    files = page_files(store, base)
    app.extensions["nst"] = {"worker": worker, "store": store, "base": base, "files": files}
    app.extensions["nst"]["weights_check"] = WeightsCheck()
    _guards(app, studio.local_only)
    _form_routes(app, studio, base, store, worker)
    _check_routes(app, base, files)
    _image_routes(app, store, worker)
    register_regions(app, store)  # [loss] auto_regions' preview
    _job_routes(app, worker, hide)
    _run_routes(app, results_dir, store, worker)
    _file_routes(app, results_dir)
    _import_config_images(store, base)
    app.extensions["nst"]["examples"] = _import_examples(store, studio.examples_dir)
    return app


def _check_results_dir(results_dir: Path) -> None:
    """A results folder that is a file (or under one) cannot take runs: say so at the start."""
    for folder in (results_dir, *results_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                raise SettingsError(
                    f"[paths] results_dir = {results_dir}: {folder} is a file, not a folder: "
                    "give a folder (it is made if missing)"
                )
            return


def page_files(store: ImageStore, base: Settings) -> PageFiles:
    """How the page names the server's files: uploads by id, the weights by the server's."""

    def image_path(image_id: str) -> Path | None:
        stored = store.get(image_id)
        return None if stored is None or stored.clip is not None else stored.path  # masks

    def image_id(path: Path) -> str | None:
        ids = _image_ids(store, [path])
        return ids[0] if ids else None

    return PageFiles(image_path, image_id, base.model.weights)


def default_runner():
    """The CLI's run function, and the network kept from one run to the next."""
    from nst.run.pipeline import run
    from nst.web.jobs import ExtractorCache

    return run, ExtractorCache()


def _import_config_images(store: ImageStore, settings: Settings) -> None:
    """The config's own images are offered in the page (copied into the upload folder)."""
    for path in (settings.paths.content_image, *settings.paths.style_image):
        try:
            store.add_file(path)
        except (UploadError, ImageError, OSError) as problem:
            print(f"nst: note: {path} is not offered in the page: {problem}", file=sys.stderr)


EXAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff")
MAX_EXAMPLES = 24


def _import_examples(store: ImageStore, folder: Path | None) -> list[str]:
    """The ids of the paintings in `folder` (--examples), offered in the page to pick from;
    images the loader refuses are left out with a note."""
    if folder is None:
        return []
    if not Path(folder).is_dir():
        print(f"nst: note: --examples {folder}: not a folder; no examples offered", file=sys.stderr)
        return []
    found = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in EXAMPLE_SUFFIXES)
    ids = []
    for path in found[:MAX_EXAMPLES]:
        try:
            ids.append(store.add_file(path).id)
        except (UploadError, ImageError, OSError) as problem:
            print(f"nst: note: example {path.name} left out: {problem}", file=sys.stderr)
    return ids


def loopback(name: str) -> bool:
    """`name` (a host name or address, IPv6 with or without brackets) is this machine's
    loopback: localhost, 127.0.0.0/8, ::1."""
    name = name.strip().lower().removeprefix("[").removesuffix("]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def local_host() -> bool:
    """The Host header names this machine: a site that points its own name at 127.0.0.1 (DNS
    rebinding) would otherwise pass for the page itself."""
    host = request.host
    name = host.rsplit(":", 1)[0] if not host.endswith("]") and host.count(":") == 1 else host
    return loopback(name)


def _guards(app: Flask, local_only: bool) -> None:
    @app.before_request
    def refuse_cross_origin():
        if local_only and not local_host():
            return error(403, "this server answers only to 127.0.0.1 and localhost")
        if request.method not in ("GET", "HEAD", "OPTIONS") and not same_origin():
            return error(403, "cross-origin request refused")
        too_long = (request.content_length or 0) > MAX_JSON_BYTES
        if too_long and request.path != "/api/images":
            return error(413, f"the request is larger than {in_units(MAX_JSON_BYTES)}")
        return None

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.errorhandler(HTTPException)
    def http_error(problem: HTTPException):
        if problem.code == 413:
            limit = in_units(app.config["MAX_CONTENT_LENGTH"])
            return error(413, f"the upload is larger than the limit of {limit}")
        return error(problem.code or 500, problem.description or problem.name)

    @app.errorhandler(Exception)
    def unexpected(problem: Exception):
        traceback.print_exception(problem, file=sys.stderr)  # the server's log, not the page
        return error(500, f"internal error ({type(problem).__name__}); see the server's log")


def _json_body() -> dict:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested thousands deep: no page sends that
        abort(400, "the JSON is nested too deeply")
    if not isinstance(body, dict):
        abort(400, "expected a JSON object (Content-Type: application/json)")
    return body


def _form_routes(app, studio: StudioConfig, base: Settings, store: ImageStore, worker) -> None:
    """The page, its form, checking the form, and starting a job from it."""

    @app.get("/")
    def page():
        return render_template("index.html")

    files = app.extensions["nst"]["files"]

    @app.get("/api/form")
    def form():
        return jsonify(
            {
                "fields": form_fields(base, files),
                "content": _image_ids(store, [base.paths.content_image]),
                "styles": _image_ids(store, base.paths.style_image),
                "blend": [f"{w:g}" for w in base.loss.style_blend_weights],
                "results_dir": base.paths.results_dir.name,
                "max_upload_bytes": studio.max_upload_bytes,
                "max_upload": in_units(studio.max_upload_bytes),
                "examples": app.extensions["nst"]["examples"],
            }
        )

    def settings_of(body: dict) -> Settings:
        content, styles = _chosen_images(store, body)
        return settings_from_form(
            studio.config, studio.overrides, _values(body), content, styles, files, _blend(body)
        )

    @app.post("/api/validate")
    def validate():
        try:
            settings_of(_json_body())
        except FormError as problem:
            return jsonify({"ok": False, "errors": problem.errors})
        return jsonify({"ok": True, "errors": {}})

    @app.post("/api/jobs")
    def start():
        try:
            settings = settings_of(_json_body())
        except FormError as problem:
            return error(400, "settings refused", errors=problem.errors)
        try:
            job = worker.submit(settings)
        except QueueFull as full:
            return error(429, str(full))
        return jsonify(job.public()), 202


WEIGHTS = "model.weights"


def _check_routes(app: Flask, base: Settings, files: PageFiles) -> None:
    """What would stop a run before it starts (the weights, the network), for the page to
    show next to Start on load and as the form changes."""

    @app.post("/api/check")
    def check_run():
        check = app.extensions["nst"]["weights_check"]
        values = _values(_json_body())
        network = values.get("model.network", base.model.network).strip().lower()
        text = values.get("model.weights")
        try:
            weights = base.model.weights if text is None else files.to_settings(WEIGHTS, text)
        except ValueError as problem:
            return jsonify({"problems": [str(problem)]})
        if network not in ("vgg16", "vgg19"):
            return jsonify({"problems": []})  # the form's own check names it at its field
        word = weights.strip().lower()
        problem = check(network, word if word in ("imagenet", "random") else weights)
        return jsonify({"problems": [problem] if problem else []})


def _image_routes(app: Flask, store: ImageStore, worker: Worker) -> None:
    checking = threading.BoundedSemaphore(CHECKING_AT_ONCE)

    @app.post("/api/images/<image_id>/delete")
    def delete_image(image_id: str):
        stored = store.get(image_id)
        if stored is None:
            abort(404, "no such image")
        if worker.uses_image(stored.path):
            abort(409, "a waiting or running run paints with this image: delete it afterwards")
        store.remove(image_id)
        return jsonify({"deleted": image_id})

    @app.get("/api/images/<image_id>/full")
    def full_image(image_id: str):
        stored = store.get(image_id)
        if stored is None:
            abort(404, "no such image")
        return send_file(stored.path, max_age=3600)

    @app.get("/api/images")
    def images():
        return jsonify({"images": [image.public() for image in store.all()]})

    @app.post("/api/images")
    def upload():
        file = request.files.get("file")
        if file is None:
            abort(400, "expected a file in the form field 'file'")
        if not checking.acquire(timeout=UPLOAD_WAIT_S):
            return error(503, "other uploads are being checked: try this one again in a moment")
        try:
            stored = store.add(file.read(), file.filename or "upload")
        except UploadError as problem:
            return error(400, str(problem))
        except OSError as problem:  # a full disk, an upload folder that cannot be written
            return error(*_storage_problem(problem))
        finally:
            checking.release()
        return jsonify(stored.public()), 201

    @app.get("/api/images/<image_id>")
    def thumbnail(image_id: str):
        path = store.thumbnail(image_id)
        if path is None:
            abort(404, "no such image")
        return send_file(path, mimetype="image/png", max_age=3600)


def _storage_problem(problem: OSError) -> tuple[int, str]:
    """(status, message) for an upload the disk could not take: one line, no path."""
    full = problem.errno in (errno.ENOSPC, errno.EDQUOT)
    why = problem.strerror or type(problem).__name__
    advice = "free some space, then upload again" if full else "see the server's log"
    print(f"nst: error: cannot store an upload: {problem}", file=sys.stderr)
    return (507 if full else 500), f"cannot store the upload: {why}: {advice}"


def _job_routes(app: Flask, worker: Worker, hide: PathHider) -> None:
    @app.post("/api/jobs/<job_id>/stop")
    def stop(job_id: str):
        job = worker.stop(job_id)
        if job is None:
            abort(404, "no such job")
        return jsonify(job.public())

    @app.get("/api/jobs")
    def jobs():
        return jsonify(worker.snapshot())

    @app.post("/api/jobs/<job_id>/dismiss")
    def dismiss(job_id: str):
        """Take a finished job (a failure the page keeps) off the list."""
        done = worker.dismiss(job_id)
        if done is None:
            abort(404, "no such job")
        if not done:
            abort(409, "this job is waiting or running: stop it first")
        return jsonify({"dismissed": job_id})

    @app.get("/api/events")
    def events():
        stream = _event_stream(worker, hide)
        return Response(stream, mimetype="text/event-stream", headers=NO_CACHE)


NO_CACHE = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _event_stream(worker: Worker, hide: PathHider):
    """Server-sent events: the snapshot of the jobs, then every change as it happens."""
    listener = worker.events.listen()  # before the snapshot: nothing falls between them
    try:
        yield _sse("jobs", worker.snapshot(), hide)
        while True:
            try:
                kind, data = listener.get(timeout=KEEPALIVE_S)
            except queue.Empty:  # nothing happened for a while
                yield ": keepalive\n\n"
                continue
            if data is None:
                yield _sse("closing", {}, hide)
                return
            yield _sse(kind, data, hide)
    finally:
        worker.events.forget(listener)


def _sse(kind: str, data: dict, hide: PathHider) -> str:
    return f"event: {kind}\ndata: {json.dumps(hide(finite(data)))}\n\n"


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
    clips = [style.name for style in styles if style.clip is not None]
    if clips:
        abort(400, f"{clips[0]} is a clip: a style is a picture (a clip can be the content)")
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
            if run["id"] == running:
                run["status"], run["resumable"] = "running", False
        return jsonify({"runs": listed, "batches": runs.list_batches(results_dir)})

    @app.get("/api/runs/<run_id>")
    def run_detail(run_id: str):
        shown = runs.detail(folder(run_id), run_id)
        if worker.uses_run(folder(run_id)):
            shown["status"], shown["resumable"] = "running", False
        clip = shown["kind"] == "video"  # no side-by-side compare: the run has compare.mp4
        shown["photo"] = None if clip else _photo_url(store, runs.run_settings(folder(run_id)))
        return jsonify(shown)

    @app.post("/api/runs/<run_id>/delete")
    def delete_run(run_id: str):
        if worker.uses_run(folder(run_id)):
            abort(409, "this run is running or waiting to go on: stop it first")
        runs.delete_run(results_dir, run_id)
        return jsonify({"deleted": run_id})

    @app.post("/api/runs/<run_id>/resume")
    def resume_run(run_id: str):
        """Go on with a stopped run in its own folder, as `python main.py --resume` does."""
        run_dir = folder(run_id)
        shown = runs.summary(run_dir, run_id)
        settings = runs.run_settings(run_dir)
        if worker.uses_run(run_dir):
            abort(409, "this run is running or waiting to go on already")
        if settings is None or not shown["resumable"]:
            abort(409, f"this run cannot go on ({shown['status']}, no checkpoint): run it again")
        try:
            job = worker.submit(settings, resume_dir=run_dir)
        except QueueFull as full:
            return error(429, str(full))
        return jsonify(job.public()), 202

    @app.post("/api/runs/<run_id>/reuse")
    def reuse(run_id: str):
        """'Run again with these settings': the form's values and images of that run."""
        settings = runs.run_settings(folder(run_id))
        if settings is None:
            abort(409, "this run's config.ini cannot be read")
        paths = settings.paths
        return jsonify(
            {
                "values": form_values(settings, app.extensions["nst"]["files"]),
                "content": _image_ids(store, [paths.content_image]),
                "styles": _image_ids(store, paths.style_image),
                "blend": [f"{w:g}" for w in settings.loss.style_blend_weights],
            }
        )


def _photo_url(store: ImageStore, settings: Settings | None) -> str | None:
    """The address of a still run's photo, for the page's side-by-side compare (stored as an
    upload on the way, as 'run again' does); None where it is gone or not an image."""
    if settings is None:
        return None
    path = settings.paths.content_image
    stored = store.find(path)
    if stored is None and path.is_file():
        ids = _image_ids(store, [path])
        stored = store.get(ids[0]) if ids else None
    if stored is None:
        return None
    if stored.path.suffix in (".tif", ".img"):  # browsers show no TIFF: the thumbnail
        return f"/api/images/{stored.id}"
    return f"/api/images/{stored.id}/full"


def _file_routes(app: Flask, results_dir: Path) -> None:
    """A run's files (validated names, nothing outside it) and the whole folder as a zip."""

    @app.get("/runs/<run_id>/files/<path:name>")
    def run_file(run_id: str, name: str):
        path = runs.run_file(_folder(results_dir, run_id), name)
        if path is None:
            abort(404, "no such file in this run")
        download = request.args.get("download") == "1"
        # a download is named after its run: ten results are not ten final.png
        whole = ("final.png", "final.tiff", "video.mp4")
        named = f"{run_id}{path.suffix}" if name in whole else None
        named = named or f"{run_id}-{name.replace('/', '-')}"
        return send_file(path, as_attachment=download, download_name=named, max_age=0)

    app.extensions["nst"]["previews"] = Previews()

    @app.get("/runs/<run_id>/view/<path:name>")
    def run_view(run_id: str, name: str):
        """A run's picture as the page shows it: a print-sized one downscaled (and in sRGB);
        the download links stay the file itself."""
        path = runs.run_file(_folder(results_dir, run_id), name)
        if path is None or path.suffix.lower() != ".png":
            abort(404, "no such picture in this run")
        try:
            copy = app.extensions["nst"]["previews"].view(path)
        except (OSError, ValueError):  # damaged: the browser may still show the file itself
            copy = None
        if copy is None:
            return send_file(path, max_age=0)
        return send_file(io.BytesIO(copy), mimetype="image/jpeg", max_age=0)

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
