"""The Ray batch engine: one Ray task per item, on this machine or on a cluster.

Each task gets its item's settings and the bytes of its input images (no shared filesystem
is needed), runs the item as an ordinary run (nst.run.pipeline.run) in a scratch folder on its node,
streams its records to the driver through a Ray queue, and returns the run folder's files;
the driver writes them into the batch folder and is the only writer of the item states, so
an item is recorded once however often Ray ran it. Ray reruns a task whose worker died
([batch] max_retries); the rerun finds the scratch folder on the same node and resumes from
its checkpoint (on another node it starts again). Ray is imported only here.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from nst.batch.plan import (
    FAILED,
    INTERRUPTED,
    RUNNING,
    Batch,
    Item,
    final_losses,
    resumable,
    write_state,
)
from nst.output.runfolder import CONFIG, write_bytes_atomic
from nst.run.watchers import Watcher
from nst.settings import BatchSettings, SettingsError, load_settings, render

CONNECT_TIMEOUT_S = 3.0
SCRATCH = "nst-ray"  # under the node's temporary folder: <batch>/<item key>/
TOKEN_HELP = (
    "the cluster asks for a token (`ray start` turns token authentication on when "
    "~/.ray/auth_token exists on the head): copy the head's ~/.ray/auth_token to this "
    "machine's, or set RAY_AUTH_TOKEN to its contents (docs/batch.md, Ray's token)"
)


def auth_token() -> str | None:
    """The token Ray would send: RAY_AUTH_TOKEN, the file RAY_AUTH_TOKEN_PATH names, or
    ~/.ray/auth_token (what `ray start` and a local Ray write)."""
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return os.environ["RAY_AUTH_TOKEN"].strip()
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def check_reachable(address: str, token: str | None) -> None:
    """A host:port address must answer gRPC (as Ray's GCS and client server do) within
    seconds, and a GCS must take our token if it asks for one; Ray itself would retry for
    21 seconds and print 20 lines. 'auto' and '' are checked by Ray."""
    if address in ("", "auto"):
        return
    import grpc  # Ray's own dependency

    target = address.removeprefix("ray://")
    with grpc.insecure_channel(target) as channel:
        reason = _probe(channel, "/grpc.health.v1.Health/Check", ())
        if reason is None and not address.startswith("ray://"):
            bearer = (("authorization", f"Bearer {token}"),) if token else ()
            if _probe(channel, "/ray.rpc.NodeInfoGcsService/GetClusterId", bearer) == "token":
                problem = "its token is not the one here" if token else "no token here"
                raise SettingsError(f"[batch] address = {address!r}: {problem}: {TOKEN_HELP}")
    if reason is not None:
        raise SettingsError(
            f"[batch] address = {address!r}: no Ray cluster answers there ({reason}); start "
            f"one with `ray start --head --port=6379` and give its address (host:6379, or "
            f"ray://host:10001 from outside the cluster)"
        )


def _probe(channel, method: str, metadata) -> str | None:
    """None when a gRPC server answered `method` (or said it has no such method); 'token'
    when it refused our token; else why nothing answered."""
    import grpc

    call = channel.unary_unary(
        method, request_serializer=lambda r: r, response_deserializer=lambda r: r
    )
    try:
        call(b"", timeout=CONNECT_TIMEOUT_S, metadata=metadata)
        return None
    except grpc.RpcError as error:
        details = error.details() or ""
        if error.code() == grpc.StatusCode.UNAUTHENTICATED:
            return "token"
        # a gRPC server without that method still answers; an HTTP server does not
        if error.code() != grpc.StatusCode.UNIMPLEMENTED or "http2 header with status" in details:
            return (details or str(error.code())).splitlines()[0]
        return None


def connect(engine: BatchSettings):
    """Ray, started on this machine (address empty) or joined to the cluster at `address`."""
    token = auth_token() if engine.address else None
    check_reachable(engine.address, token)
    if token and "RAY_AUTH_MODE" not in os.environ:
        # before Ray reads its configuration (on import): with an explicit address Ray never
        # turns token mode on by itself, and a token-protected GCS refuses the driver
        os.environ["RAY_AUTH_MODE"] = "token"
        _refresh_ray_config()
    import ray

    root = str(Path(__file__).resolve().parents[2])
    if engine.address:  # another machine may not have this folder: ship the package
        runtime_env = {"py_modules": [str(Path(__file__).resolve().parents[1])]}
    else:
        runtime_env = {"env_vars": {"PYTHONPATH": root}}
    ours = signal.getsignal(signal.SIGTERM)
    try:
        ray.init(
            address=engine.address or "local",  # empty: a new Ray here, never a stale one
            runtime_env=runtime_env,
            include_dashboard=False,
            log_to_driver=False,
        )
    except (ConnectionError, RuntimeError) as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise SettingsError(f"[batch] address = {engine.address!r}: {first}") from None
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, ours)  # Ray's own handler would exit at once
    return ray


def _refresh_ray_config() -> None:
    """Ray imported earlier in this process (a test, a notebook) has read RAY_AUTH_MODE
    already: make it read it again, as Ray itself does when it turns token mode on."""
    if "ray" in sys.modules:
        from ray._raylet import Config

        Config.initialize("")


# --- on the worker ------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def network(key: tuple):
    """The feature network for a nst.run.process.network_key, kept by the worker process for the
    next item that shares it."""
    from nst.core.features import build_feature_extractor

    return build_feature_extractor(*key)


class Streamer(Watcher):
    """Tells the driver's queue that the item's run started, then sends each record
    (without its image)."""

    def __init__(self, queue, key: str):
        self.queue, self.key, self.pid = queue, key, os.getpid()

    def started(self, run_dir: Path, plan) -> None:
        self.queue.put_nowait((self.key, self.pid, None, None))

    def recorded(self, record) -> None:
        self.queue.put_nowait((self.key, self.pid, record.iteration, record.scale))


def unpack_inputs(spec: dict, folder: Path) -> tuple[str, ...]:
    """The item's images written into `folder`; overrides pointing the settings at them."""
    import ray

    folder.mkdir(parents=True, exist_ok=True)
    local = {}
    for number, (original, ref) in enumerate(spec["inputs"].items()):
        path = folder / str(number) / Path(original).name  # its name: the run folder's
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            write_bytes_atomic(path, ray.get(ref))
        local[original] = str(path)
    styles = ",".join(local[p] for p in spec["styles"])
    return (f"paths.content_image={local[spec['content']]}", f"paths.style_image={styles}")


def run_remote_item(spec: dict, queue) -> dict:
    """One item on a worker: resume its scratch run where it can go on (a checkpoint, a clip),
    else run it; the run folder's files, or the error, for the driver."""
    from nst.run.exits import describe
    from nst.run.pipeline import resume, run
    from nst.run.process import StopRequest, network_key

    scratch = Path(tempfile.gettempdir()) / SCRATCH / spec["batch"] / spec["key"]
    started = time.perf_counter()
    try:
        (scratch / CONFIG).parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(scratch / CONFIG, spec["config"].encode())
        paths = (*unpack_inputs(spec, scratch / "inputs"), f"paths.results_dir={scratch / 'runs'}")
        settings = load_settings(scratch / CONFIG, paths)
        extractor = network(network_key(settings))
        watcher, stop = Streamer(queue, spec["key"]), StopRequest()
        previous = [p for p in sorted((scratch / "runs").glob("*")) if resumable(p)]
        if previous:
            outcome = resume(previous[0], extractor=extractor, stop=stop, watcher=watcher)
        else:
            outcome = run(settings, extractor=extractor, stop=stop, watcher=watcher)
    except Exception as error:  # this item failed before its loop: say why to the driver
        status, line = describe(error)
        return {"exit": status, "message": line, "seconds": time.perf_counter() - started}
    folder = outcome.run_dir
    files = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    result = {
        "exit": outcome.status,
        "message": outcome.message,
        "run": folder.name,
        "files": files,
        "resumed": bool(previous),
        "seconds": time.perf_counter() - started,
    }
    if outcome.status == 0:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


# --- on the driver ------------------------------------------------------------------------


def item_spec(batch: Batch, item: Item, refs: dict) -> dict:
    """What a task needs: the item's settings as text and its images (as Ray objects)."""
    settings = batch.settings_of(item)
    content = str(settings.paths.content_image)
    styles = [str(p) for p in settings.paths.style_image]
    return {
        "batch": batch.folder.name,
        "key": item.key,
        "config": render(settings),
        "content": content,
        "styles": styles,
        "inputs": {path: refs[path] for path in (content, *styles)},
    }


def input_refs(ray, batch: Batch, todo: list[Item]) -> dict:
    """Every input image, put once into Ray's object store; an unreadable one is left out
    (its item then fails on the worker with the reason)."""
    refs = {}
    for item in todo:
        settings = batch.settings_of(item)
        for path in (settings.paths.content_image, *settings.paths.style_image):
            if str(path) not in refs:
                try:
                    refs[str(path)] = ray.put(path.read_bytes())
                except OSError:
                    refs[str(path)] = ray.put(b"")
    return refs


def receive(batch: Batch, item: Item, result: dict) -> None:
    """Write a finished task's run folder into the batch folder and record the item."""
    state = {"exit": result["exit"], "seconds": round(result["seconds"], 2)}
    state["message"] = "" if result["exit"] == 0 else result["message"]
    state["status"] = "done" if result["exit"] == 0 else FAILED
    state["status"] = INTERRUPTED if result["exit"] > 128 else state["status"]
    if "files" in result:
        folder = batch.folder / result["run"]
        for suffix in range(2, 1000):  # two workers may have named their folders alike
            if not folder.exists():
                break
            folder = batch.folder / f"{result['run']}-{suffix}"
        for name, data in result["files"].items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(folder / name, data)
        write_bytes_atomic(folder / CONFIG, render(batch.settings_of(item)).encode())
        state |= {"run": folder.name, "losses": final_losses(folder), "resumed": result["resumed"]}
    write_state(batch, item, **state)
    say = f"nst: batch item {item.number}: {state['status']} {state.get('run', '')}".rstrip()
    print(say + (f": {state['message']}" if state["message"] else ""))


def run_on_ray(ray, batch: Batch, todo: list[Item], engine: BatchSettings, stop, on_worker=None):
    """On `ray` (connected by `connect`): submit one task per item, show their progress,
    record each as it finishes. A stop (Ctrl-C) cancels what is still running: the items
    whose run had started are interrupted, the others stay as they were, all to be rerun."""
    from ray.util.queue import Empty, Queue

    queue = Queue(actor_options={"num_cpus": 0})
    task = ray.remote(run_remote_item).options(
        num_cpus=engine.num_cpus,
        num_gpus=engine.num_gpus,
        max_retries=engine.max_retries,
        retry_exceptions=False,  # an error is the item's result; a dead worker is retried
    )
    refs = input_refs(ray, batch, todo)
    pending = {task.remote(item_spec(batch, i, refs), queue): i for i in todo}
    follow(ray, batch, pending, queue, Empty, stop, on_worker or (lambda item, pid: None))


def follow(ray, batch, pending: dict, queue, empty, stop, on_worker) -> None:
    """Until every task is done: stream progress lines, receive results, honour a stop."""
    from tqdm import tqdm

    by_key = {item.key: item for item in pending.values()}
    workers: dict[str, int] = {}  # item key -> the worker process that sent its records
    started: set[str] = set()  # the items whose run has started
    bar = tqdm(total=len(pending), unit="item", dynamic_ncols=True)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        for key, pid, iteration, scale in drain(queue, empty):
            item = by_key[key]
            if key not in started:
                started.add(key)
                write_state(batch, item, status=RUNNING)
            if iteration is None:  # the run started; its records follow
                continue
            if workers.get(key) != pid:
                workers[key] = pid
                bar.write(f"nst: batch item {item.number} running (worker pid {pid})")
                on_worker(item, pid)
            bar.set_postfix_str(f"item {item.number}: scale {scale} step {iteration}")
        if ready:  # an update of 0 would redraw the bar every half second
            bar.update(len(ready))
        for ref in ready:
            item = pending.pop(ref)
            try:
                receive(batch, item, ray.get(ref))
            except ray.exceptions.RayError as error:  # retries spent, or cancelled
                line = (str(error).strip().splitlines() or [type(error).__name__])[0]
                write_state(batch, item, status=FAILED, exit=1, message=f"error: ray: {line}")
        if stop is not None and stop.requested():
            cancel(ray, batch, pending, started, stop)
            break
    bar.close()


def drain(queue, empty) -> list[tuple]:
    """Every message waiting in the queue."""
    messages = []
    while True:
        try:
            messages.append(queue.get_nowait())
        except empty:
            return messages


def cancel(ray, batch: Batch, pending: dict, started: set[str], stop) -> None:
    """Cancel the tasks still pending; the items whose run started are interrupted (they
    resume from their last save on the same node when the batch is rerun), the ones that
    never started keep the state they had."""
    for ref, item in pending.items():
        ray.cancel(ref, force=True)
        if item.key in started:
            write_state(batch, item, status=INTERRUPTED, exit=128 + stop.signal)
