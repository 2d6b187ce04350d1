"""One run at a time: a queue of jobs, a worker thread that runs them, live events for pages.

A job is the CLI's run (`nst.app.run`) on settings the page made; its records become events
that every open page receives (several tabs see the same run; a reloaded page gets the
snapshot first, then the events). Stop ends a run as Ctrl-C does: the loop stops between
steps and the run folder is completed. Closing the server stops the running job the same
way and waits for its folder.
"""

from __future__ import annotations

import itertools
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nst.runfolder import iterate_path
from nst.scales import scale_budgets
from nst.settings import Settings, render

KEEP_FINISHED = 20  # finished jobs the page still lists (their runs stay in results/ anyway)
# The run's exit status -> the state the page shows (see nst.app's EXIT_*).
STATES = {0: "done", 2: "failed", 3: "diverged", 4: "failed", 130: "stopped", 143: "stopped"}


@dataclass
class Job:
    id: str
    settings: Settings
    state: str = "queued"  # queued, running, then done, stopped, failed, diverged, cancelled
    run_id: str | None = None  # the run folder's name, once made
    message: str = ""
    records: list[dict] = field(default_factory=list)
    steps_done: int = 0
    started: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def steps(self) -> int:
        image = self.settings.image
        return sum(scale_budgets(self.settings.optimizer, image.scales))

    def public(self, position: int | None = None, records: bool = False) -> dict:
        paths = self.settings.paths
        shown = {
            "id": self.id,
            "state": self.state,
            "position": position,
            "run_id": self.run_id,
            "message": self.message,
            "steps": self.steps,
            "steps_done": self.steps_done,
            "scales": self.settings.image.scales,
            "content": paths.content_image.name,
            "styles": [path.name for path in paths.style_image],
            "stop_requested": self.stop.is_set(),
        }
        if records:
            shown["records"] = list(self.records)
        return shown


def record_event(job: Job, record, run_dir: Path | None) -> dict:
    """A record of the loop as the page gets it: losses, progress and the iterate's address."""
    scales = job.settings.image.scales
    iterate = None
    if record.image is not None and run_dir is not None:
        path = iterate_path(run_dir, record.iteration, record.scale, scales)
        iterate = f"/runs/{run_dir.name}/files/{path.parent.name}/{path.name}"
    return {
        "job": job.id,
        "iteration": record.iteration,
        "scale": record.scale,
        "content": record.content,
        "style": record.style,
        "tv": record.tv,
        "total": record.total,
        "elapsed_s": record.elapsed_s,
        "step": job.steps_done,
        "steps": job.steps,
        "iterate": iterate,
    }


class Broadcast:
    """Events to every listening page: each listener has its own queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: set[queue.Queue] = set()

    def listen(self) -> queue.Queue:
        listener: queue.Queue = queue.Queue()
        with self._lock:
            self._listeners.add(listener)
        return listener

    def forget(self, listener: queue.Queue) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def send(self, kind: str, data: dict | None) -> None:
        """`data` None tells every listener that the server is closing."""
        with self._lock:
            for listener in self._listeners:
                listener.put((kind, data))


def new_run_dir(results_dir: Path, before: set[str], config_text: str) -> Path | None:
    """The run folder that appeared since `before` with exactly this config.ini."""
    if not results_dir.is_dir():
        return None
    for folder in results_dir.iterdir():
        if folder.name in before or not folder.is_dir():
            continue
        try:
            if (folder / "config.ini").read_text(encoding="utf-8") == config_text:
                return folder
        except OSError:
            continue
    return None


class Worker:
    """A queue of jobs and the one thread that runs them, in order.

    `run` is the CLI's run function (`nst.app.run`); `after` what the CLI does once a run's
    files are all there (the animation). Both are parameters so that tests can watch them.
    """

    def __init__(self, run: Callable, after: Callable[[Path, Settings], None]) -> None:
        self.events = Broadcast()
        self._run = run
        self._after = after
        self._lock = threading.Condition()
        self._queue: list[Job] = []
        self._current: Job | None = None
        self._finished: list[Job] = []
        self._ids = itertools.count(1)
        self._closing = False
        self._thread = threading.Thread(target=self._work, name="nst-worker", daemon=True)
        self._thread.start()

    # --- what the server asks -----------------------------------------------------------

    def submit(self, settings: Settings) -> Job:
        with self._lock:
            if self._closing:
                raise RuntimeError("the server is closing")
            job = Job(f"job-{next(self._ids)}-{int(time.time())}", settings)
            self._queue.append(job)
            self._lock.notify_all()
        self._send_queue()
        return job

    def stop(self, job_id: str) -> Job | None:
        """Stop a running job (as Ctrl-C), or take a waiting one off the queue."""
        with self._lock:
            job = self._find(job_id)
            if job is None:
                return None
            if job.state == "queued":
                self._queue.remove(job)
                job.state = "cancelled"
                self._finish(job)
            job.stop.set()
        self._send_queue()
        return job

    def snapshot(self) -> dict:
        """Every job the page shows: the running one with its records so far, the queue, the
        recently finished."""
        with self._lock:
            jobs = []
            if self._current is not None:
                jobs.append(self._current.public(records=True))
            jobs += [job.public(position) for position, job in enumerate(self._queue, 1)]
            jobs += [job.public() for job in reversed(self._finished)]
        return {"jobs": jobs}

    def close(self, timeout: float | None = None) -> None:
        """Cancel the queue, stop the running job as SIGTERM does and wait for its folder."""
        with self._lock:
            self._closing = True
            for job in self._queue:
                job.state = "cancelled"
            self._queue.clear()
            if self._current is not None:
                self._current.stop.set()
            self._lock.notify_all()
        self._thread.join(timeout)
        self.events.send("closing", None)

    def running_run_id(self) -> str | None:
        current = self._current
        return current.run_id if current is not None else None

    # --- the worker thread ------------------------------------------------------------

    def _find(self, job_id: str) -> Job | None:
        everyone = [*self._queue, *([self._current] if self._current else []), *self._finished]
        return next((job for job in everyone if job.id == job_id), None)

    def _finish(self, job: Job) -> None:
        self._finished = [*self._finished, job][-KEEP_FINISHED:]

    def _send_queue(self) -> None:
        self.events.send("jobs", self.snapshot())

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closing:
                    self._lock.wait()
                if self._closing:
                    return
                job = self._queue.pop(0)
                self._current = job
                job.state = "running"
                job.started = time.time()
            self._send_queue()
            self._execute(job)
            with self._lock:
                self._current = None
                self._finish(job)
            self._send_queue()

    def _execute(self, job: Job) -> None:
        results_dir = job.settings.paths.results_dir
        before = {p.name for p in results_dir.iterdir()} if results_dir.is_dir() else set()
        config_text = render(job.settings)
        run_dir: list[Path | None] = [None]

        def on_record(record) -> None:
            if run_dir[0] is None:
                run_dir[0] = new_run_dir(results_dir, before, config_text)
                job.run_id = run_dir[0].name if run_dir[0] else None
            job.steps_done += 1 if record.iteration else 0
            event = record_event(job, record, run_dir[0])
            job.records.append(event)
            self.events.send("record", event)

        try:
            outcome = self._run(job.settings, stop_requested=job.stop.is_set, on_record=on_record)
        except Exception as error:
            job.state, job.message = "failed", failure_message(error)
            if not isinstance(error, ValueError):
                traceback.print_exception(error, file=sys.stderr)
            return
        job.state = STATES.get(outcome.status, "failed")
        job.message = f"exit status {outcome.status}"
        if outcome.run_dir is not None:
            job.run_id = outcome.run_dir.name
            try:  # the run's own files are all there: whatever fails here, the queue goes on
                self._after(outcome.run_dir, job.settings)
            except Exception as error:
                traceback.print_exception(error, file=sys.stderr)


def failure_message(error: Exception) -> str:
    """One line for the page: the input errors' own message (they name what to change)."""
    from nst.app import INPUT_ERRORS

    text = (str(error).strip().splitlines() or [""])[0]
    if isinstance(error, INPUT_ERRORS):
        return text
    return f"unexpected {type(error).__name__}: {text}"
