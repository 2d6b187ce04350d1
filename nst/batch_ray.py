"""The Ray batch engine: one Ray task per item, on this machine or on a cluster.

Each task gets its item's settings and the bytes of its input images (no shared filesystem
is needed), runs the item as an ordinary run (nst.app.run) in a scratch folder on its node,
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
import tempfile
import threading
import time
from pathlib import Path

from nst.app import Watcher
from nst.batch import (
    FAILED,
    INTERRUPTED,
    RUNNING,
    Batch,
    Item,
    final_losses,
    write_state,
)
from nst.runfolder import CHECKPOINT, CONFIG, write_bytes_atomic
from nst.settings import BatchSettings, SettingsError, load_settings, render

CONNECT_TIMEOUT_S = 3.0
SCRATCH = "nst-ray"  # under the node's temporary folder: <batch>/<item key>/


def check_reachable(address: str) -> None:
    """A host:port address must answer gRPC (as Ray's GCS and client server do) within
    seconds; Ray itself would retry for up to a minute. 'auto' and '' are checked by Ray."""
    if address in ("", "auto"):
        return
    import grpc  # Ray's own dependency

    target = address.removeprefix("ray://")
    with grpc.insecure_channel(target) as channel:
        probe = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda request: request,
            response_deserializer=lambda response: response,
        )
        try:
            probe(b"", timeout=CONNECT_TIMEOUT_S)
            return
        except grpc.RpcError as error:
            # a gRPC server without that service still answers; an HTTP server does not
            answered = error.code() == grpc.StatusCode.UNIMPLEMENTED
            if answered and "http2 header with status" not in (error.details() or ""):
                return
            reason = (error.details() or str(error.code())).splitlines()[0]
    raise SettingsError(
        f"[batch] address = {address!r}: no Ray cluster answers there ({reason}); start one "
        f"with `ray start --head` and give its address (host:6379 or ray://host:10001)"
    )


def connect(engine: BatchSettings):
    """Ray, started on this machine (address empty) or joined to the cluster at `address`."""
    check_reachable(engine.address)
    import ray

    root = str(Path(__file__).resolve().parents[1])
    token = os.environ.get("RAY_AUTH_TOKEN") or (Path.home() / ".ray" / "auth_token").is_file()
    if engine.address and token:  # `ray start` (Ray >= 2.5x) asks joining drivers for it
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    if engine.address:  # another machine may not have this folder: ship the package
        runtime_env = {"py_modules": [str(Path(__file__).resolve().parent)]}
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


# --- on the worker ------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def network(model, seed: int, optimizer: str):
    """The feature network, kept by the worker process for the next item that shares it."""
    from nst.features import build_feature_extractor

    return build_feature_extractor(model, seed, optimizer)


class Streamer(Watcher):
    """Sends each record (without its image) to the driver's queue."""

    def __init__(self, queue, key: str):
        self.queue, self.key, self.pid = queue, key, os.getpid()

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
    """One item on a worker: resume its scratch run if a checkpoint is there, else run it;
    the run folder's files, or the error, for the driver."""
    from nst.app import run
    from nst.exits import describe
    from nst.process import StopRequest
    from nst.resume import resume_run

    scratch = Path(tempfile.gettempdir()) / SCRATCH / spec["batch"] / spec["key"]
    started = time.perf_counter()
    try:
        (scratch / CONFIG).parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(scratch / CONFIG, spec["config"].encode())
        paths = (*unpack_inputs(spec, scratch / "inputs"), f"paths.results_dir={scratch / 'runs'}")
        settings = load_settings(scratch / CONFIG, paths)
        extractor = network(settings.model, settings.image.seed, settings.optimizer.name)
        watcher, stop = Streamer(queue, spec["key"]), StopRequest()
        previous = [p.parent for p in (scratch / "runs").glob(f"*/{CHECKPOINT}")]
        if previous:
            outcome = resume_run(previous[0], extractor=extractor, stop=stop, watcher=watcher)
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


def run_on_ray(batch: Batch, todo: list[Item], engine: BatchSettings, stop, on_worker=None):
    """Submit one task per item, show their progress, record each as it finishes. A stop
    (Ctrl-C) cancels what is still running: those items stay to be rerun."""
    ray = connect(engine)
    try:
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
        for item in todo:
            write_state(batch, item, status=RUNNING)
        follow(ray, batch, pending, queue, Empty, stop, on_worker or (lambda item, pid: None))
    finally:
        ray.shutdown()


def follow(ray, batch, pending: dict, queue, empty, stop, on_worker) -> None:
    """Until every task is done: stream progress lines, receive results, honour a stop."""
    from tqdm import tqdm

    by_key = {item.key: item for item in pending.values()}
    workers: dict[str, int] = {}
    bar = tqdm(total=len(pending), unit="item", dynamic_ncols=True)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        while True:
            try:
                key, pid, iteration, scale = queue.get_nowait()
            except empty:
                break
            if workers.get(key) != pid:
                workers[key] = pid
                bar.write(f"nst: batch item {by_key[key].number} running (worker pid {pid})")
                on_worker(by_key[key], pid)
            bar.set_postfix_str(f"item {by_key[key].number}: scale {scale} step {iteration}")
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
            for ref, item in pending.items():
                ray.cancel(ref, force=True)
                write_state(batch, item, status=INTERRUPTED, exit=128 + stop.signal)
            break
    bar.close()
