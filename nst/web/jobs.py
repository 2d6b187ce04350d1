"""One run at a time: a queue of jobs, a worker thread that runs them, live events for pages.

A job is the CLI's run (`nst.run.pipeline.run`) on settings the page made; its records become events
that every open page receives (several tabs see the same run; a reloaded page gets the
snapshot first, then the events). Stop ends a run as Ctrl-C does: the loop stops between
steps and the run folder is completed. Closing the server stops the running job the same
way and waits for its folder.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from nst.core.records import Record
from nst.core.scales import Scale, automatic_scales, scale_budgets
from nst.inputs.images import fit_size, upright_size
from nst.inputs.video_io import is_clip
from nst.output.runfolder import image_path, write_bytes_atomic
from nst.run.exits import describe
from nst.run.process import StopRequest
from nst.run.watchers import Watcher
from nst.settings import Settings, SettingsError, load_settings, render
from nst.web.failed import MAX_FAILED, FailedJobs, Failure

KEEP_FINISHED = 20  # finished jobs the page still lists (their runs stay in results/ anyway)
MAX_QUEUED = 20  # jobs waiting at once: a page (or a script) cannot queue without bound
# The run's exit status -> the state the page shows (see nst.run.exits).
STATES = {0: "done", 1: "failed", 2: "failed", 3: "diverged", 4: "failed"}
STATES |= {128 + signal.SIGINT: "stopped", 128 + signal.SIGTERM: "stopped"}
# The run's last line speaks to a terminal; the page says the same in its own words.
PAGE_WORDS = (
    (re.compile(r"interrupted by SIGINT"), "stopped (Stop pressed)"),
    (re.compile(r"interrupted by SIG(TERM|HUP)"), "stopped (the studio was closing)"),
    (re.compile(r"--set (\[\w+\] \w+)"), r"\1"),
    (
        re.compile(r" \(rerun with --debug for the traceback\)"),
        " (the server's log has the details)",
    ),
    # how to go on at a terminal (nst.run.exits.go_on_hint): the page has no such command
    (re.compile(r"; (go on with|to go on): python main\.py --resume .*$"), ""),
)


def page_message(text: str) -> str:
    """A run's last line as the page says it: no signals, no command-line options."""
    for pattern, words in PAGE_WORDS:
        text = pattern.sub(words, text)
    return text


@dataclass
class Job:
    id: str
    settings: Settings | None  # None: a waiting job restored after a restart, unreadable
    state: str = "queued"  # queued, running, then done, stopped, failed, diverged, cancelled
    run_id: str | None = None  # the run folder's name, once made
    message: str = ""  # the run's last line: where the result is, or why it stopped
    records: list[dict] = field(default_factory=list)
    steps_done: int = 0
    plan: list[Scale] | None = None  # the scales, once the run has started
    stop: StopRequest = field(default_factory=StopRequest)
    resume_dir: Path | None = None  # a stopped run to go on with (nst.run.pipeline.resume)
    # a clip's run (its content a video or a folder of frames): its scales are its frames
    clip: bool = field(init=False, default=False)
    # what a job without settings (failed before a restart) painted, as the page names it
    remembered: Failure | None = None
    _expected: list[int] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.clip = self.settings is not None and is_clip(self.settings.paths.content_image)

    @property
    def scales(self) -> int:
        """The number of scales (before the run starts, as its photo's size gives them); a
        clip's frames, once it has started."""
        return len(self.plan) if self.plan else len(self.expected_budgets())

    @property
    def steps(self) -> int:
        """The step budget of every scale (a maximum where the stopping rule is on); a clip's
        is known once it has started (its frames counted)."""
        if self.plan:
            return sum(scale.budget for scale in self.plan)
        return 0 if self.clip else sum(self.expected_budgets())

    def expected_budgets(self) -> list[int]:
        """Each scale's step budget before the run starts: [image] scales = auto counted as
        the run will, from the photo's size at max_size, read from its header once (a photo
        that cannot be read, which the run will report, and a clip: one scale)."""
        if self._expected is None:
            image = self.settings.image
            scales = image.scales or 1
            if image.scales is None and not self.clip:
                with contextlib.suppress(OSError, ValueError, Image.DecompressionBombError):
                    source = upright_size(self.settings.paths.content_image)
                    width, height = fit_size(*source, image.max_size)
                    scales = automatic_scales(height, width, image.scale_factor)
            self._expected = scale_budgets(self.settings.optimizer, scales)
        return self._expected

    def failure(self) -> Failure:
        """The job as the failed list keeps it (names, not paths)."""
        if self.remembered is not None:
            return self.remembered
        paths = self.settings.paths if self.settings is not None else None
        return Failure(
            self.id,
            page_message(self.message),
            paths.content_image.name if paths else "?",
            tuple(path.name for path in paths.style_image) if paths else (),
            "clip" if self.clip else "still",
        )

    def public(self, position: int | None = None, records: bool = False) -> dict:
        if self.settings is None:  # failed before a restart: what the failed list kept
            kept = self.failure()
            return {
                "id": self.id,
                "state": self.state,
                "message": kept.message,
                "kind": kept.kind,
                "steps": 0,
                "steps_done": 0,
                "scales": 1,
                "content": kept.content,
                "styles": list(kept.styles),
                "position": None,
                "run_id": None,
                "stop_requested": False,
            }
        paths = self.settings.paths
        shown = {
            "id": self.id,
            "state": self.state,
            "kind": "clip" if self.clip else "still",
            "position": position,
            "run_id": self.run_id,
            "message": page_message(self.message),
            "steps": self.steps,
            "steps_done": self.steps_done,
            "scales": self.scales,
            "may_converge": self.settings.optimizer.tolerance > 0,  # steps: then a maximum
            "content": paths.content_image.name,
            "styles": [path.name for path in paths.style_image],
            "stop_requested": self.stop.requested(),
            "resumes": self.resume_dir.name if self.resume_dir else None,
        }
        if records:
            shown["records"] = list(self.records)
        return shown


def record_event(job: Job, record: Record, run_dir: Path | None) -> dict:
    """A record of the loop as the page gets it: losses, progress and its image's address (a
    still's iterate, a clip's frame), once that image is on disk."""
    iterate = None
    if record.image is not None and run_dir is not None:
        path = image_path(run_dir, record.iteration, record.scale, job.scales)
        if path.is_file():  # a clip writes a frame at its end only, not its starting image
            iterate = f"/runs/{run_dir.name}/files/{path.parent.name}/{path.name}"
    return {
        "job": job.id,
        "iteration": record.iteration,
        "scale": record.scale,
        **record.losses._asdict(),
        "elapsed_s": record.elapsed_s,
        "step": job.steps_done,
        "steps": job.steps,
        "iterate": iterate,
    }


class JobWatcher(Watcher):
    """The run as the pages see it: each record becomes an event, kept for late pages."""

    def __init__(self, job: Job, send: Callable[[str, dict], None]) -> None:
        self.job = job
        self.send = send
        self.run_dir: Path | None = None

    def started(self, run_dir: Path, plan: list[Scale]) -> None:
        self.run_dir = run_dir
        self.job.run_id = run_dir.name
        self.job.plan = plan
        self.send("started", {"job": self.job.id, "run_id": run_dir.name})

    def recorded(self, record: Record) -> None:
        self.job.steps_done += 1 if record.iteration else 0  # record 0 is the starting image
        event = record_event(self.job, record, self.run_dir)
        self.job.records.append(event)
        self.send("record", event)


class QueueFull(RuntimeError):
    """The queue holds MAX_QUEUED jobs already; the message says so in the page's words."""


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

    def wait_quiet(self, timeout: float) -> None:
        """Until every listener has gone (their pages got the closing event), or `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._listeners:
                    return
            time.sleep(0.02)


class Spool:
    """The waiting jobs on disk (one config.ini each), so that a restart finds them again."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def keep(self, job: Job) -> None:
        """Its settings; a resumed run's folder beside them (`.resume`), written first."""
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            if job.resume_dir is not None:
                write_bytes_atomic(self.folder / f"{job.id}.resume", str(job.resume_dir).encode())
            write_bytes_atomic(self.folder / f"{job.id}.ini", render(job.settings).encode())

    def forget(self, job: Job) -> None:
        if self.folder is not None:
            (self.folder / f"{job.id}.ini").unlink(missing_ok=True)
            (self.folder / f"{job.id}.resume").unlink(missing_ok=True)

    def restore(self) -> list[Job]:
        """The jobs that were waiting when the server last stopped, oldest first; a job whose
        settings no longer load (an image deleted since) comes back failed, with the reason."""
        if self.folder is None or not self.folder.is_dir():
            return []
        found = sorted(self.folder.glob("job-*.ini"), key=lambda path: path.stat().st_mtime)
        jobs = []
        for path in found:
            try:
                resumes = path.with_suffix(".resume")
                resume_dir = Path(resumes.read_text()) if resumes.is_file() else None
                jobs.append(Job(path.stem, load_settings(path), resume_dir=resume_dir))
            except (SettingsError, OSError) as error:
                failed = Job(path.stem, None)
                failed.state, failed.message = "failed", f"not restored: {error}"
                jobs.append(failed)
                path.unlink(missing_ok=True)
        return jobs


class Worker:
    """A queue of jobs and the one thread that runs them, in order.

    `run` is the CLI's run function (`nst.run.pipeline.run`); `extractor_for(settings)` gives the
    network to reuse (None: the run builds it). Parameters, so that tests can watch them.
    """

    def __init__(
        self,
        run: Callable,
        extractor_for: Callable[[Settings], object],
        spool: Path | None = None,
        max_queued: int = MAX_QUEUED,
        resume: Callable | None = None,
    ) -> None:
        self.events = Broadcast()
        self._resume = resume  # None: nst.run.pipeline.resume
        self.max_queued = max_queued
        self._spool = Spool(spool)
        self._run = run
        self._extractor_for = extractor_for
        self._lock = threading.Condition()
        self._queue: list[Job] = []
        self._current: Job | None = None
        self._finished: list[Job] = []
        self._ids = itertools.count(1)
        self._closing = False
        self._failures = FailedJobs(spool)
        restored = self._spool.restore()
        self._queue = [job for job in restored if job.state == "queued"]
        self._finished = [_failed_job(kept) for kept in self._failures.load()]
        self._finished += [job for job in restored if job.state != "queued"]
        self._keep_failures()
        self.restored = len(self._queue)
        self._thread = threading.Thread(target=self._work, name="nst-worker", daemon=True)
        self._thread.start()

    # --- what the server asks -----------------------------------------------------------

    def submit(self, settings: Settings, resume_dir: Path | None = None) -> Job:
        """Queue a run of `settings`; or, with `resume_dir`, going on with that stopped run
        (its settings are its own config.ini's)."""
        job = Job("", settings, resume_dir=resume_dir)  # outside the lock: it looks at the file
        with self._lock:
            if self._closing:
                raise RuntimeError("the server is closing")
            if len(self._queue) >= self.max_queued:
                raise QueueFull(
                    f"{len(self._queue)} runs are waiting already (at most {self.max_queued}):"
                    " start this one when one has finished, or take one off the queue"
                )
            if resume_dir is not None and self.uses_run(resume_dir):
                raise QueueFull("this run is going on already (running or waiting)")
            job.id = f"job-{next(self._ids)}-{int(time.time())}"
            self._spool.keep(job)  # before it is queued: a restart finds it
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
                self._spool.forget(job)
                job.state = "cancelled"
                self._finish(job)
            job.stop.ask(signal.SIGINT)  # as Ctrl-C
        self._send_queue()
        return job

    def dismiss(self, job_id: str) -> bool | None:
        """Take a finished job off the list (a failed one off the disk too); None: no such
        job, False: it is waiting or running (stop it first)."""
        with self._lock:
            job = self._find(job_id)
            if job is None:
                return None
            if not any(kept is job for kept in self._finished):
                return False
            self._finished = [kept for kept in self._finished if kept is not job]
            self._keep_failures()
        self._send_queue()
        return True

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
        """Stop the running job as SIGTERM does and wait for its folder; the waiting jobs stay
        on disk for the next start."""
        with self._lock:
            self._closing = True
            if self._current is not None:
                self._current.stop.ask(signal.SIGTERM)  # as `kill` stops a CLI run
            self._lock.notify_all()
        self._thread.join(timeout)
        self.events.send("closing", None)

    def uses_run(self, run_dir: Path) -> bool:
        """The run folder is being written, or a waiting job is to go on with it."""
        with self._lock:
            current = self._current
            if current is not None and current.run_id == Path(run_dir).name:
                return True
            return any(job.resume_dir == Path(run_dir) for job in self._queue)

    def uses_image(self, path: Path) -> bool:
        """A waiting or running job paints with this image (content or style)."""
        with self._lock:
            waiting = [*self._queue, *([self._current] if self._current else [])]
        for job in waiting:
            if job.settings is not None:
                paths = job.settings.paths
                if Path(path) in (paths.content_image, *paths.style_image):
                    return True
        return False

    def running_run_id(self) -> str | None:
        current = self._current
        return current.run_id if current is not None else None

    # --- the worker thread ------------------------------------------------------------

    def _find(self, job_id: str) -> Job | None:
        everyone = [*self._queue, *([self._current] if self._current else []), *self._finished]
        return next((job for job in everyone if job.id == job_id), None)

    def _finish(self, job: Job) -> None:
        """The last KEEP_FINISHED jobs stay listed; failures without a run folder until they
        are dismissed (the newest MAX_FAILED), on disk."""
        finished = [*self._finished, job]
        lasting = [j for j in finished if _lasting(j)][-MAX_FAILED:]
        others = [j for j in finished if not _lasting(j)][-KEEP_FINISHED:]
        kept = {id(j) for j in (*lasting, *others)}
        self._finished = [j for j in finished if id(j) in kept]
        if _lasting(job):
            self._keep_failures()

    def _keep_failures(self) -> None:
        self._failures.save([job.failure() for job in self._finished if _lasting(job)])

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
                self._spool.forget(job)
                self._current = job
                job.state = "running"
            self._send_queue()
            self._execute(job)
            with self._lock:
                self._current = None
                self._finish(job)
            self._send_queue()

    def _execute(self, job: Job) -> None:
        watcher = JobWatcher(job, self.events.send)
        try:
            extractor = self._extractor_for(job.settings)
            if job.resume_dir is not None:
                resume = self._resume or _pipeline_resume()
                outcome = resume(
                    job.resume_dir, extractor=extractor, stop=job.stop, watcher=watcher
                )
            else:
                outcome = self._run(
                    job.settings, extractor=extractor, stop=job.stop, watcher=watcher
                )
        except Exception as error:  # the page gets the one line the CLI would say
            status, text = describe(error)
            job.state, job.message = STATES[status], text.removeprefix("error: ")
            if status == 1:  # a bug: its traceback goes to the server's log
                traceback.print_exception(error, file=sys.stderr)
            return
        job.state = STATES.get(outcome.status, "failed")
        job.message = outcome.message
        if outcome.run_dir is not None:
            job.run_id = outcome.run_dir.name


def _lasting(job: Job) -> bool:
    """A failure that nothing in the results folder shows: it stays until dismissed."""
    return job.state == "failed" and job.run_id is None


def _failed_job(kept: Failure) -> Job:
    job = Job(kept.id, None, state="failed", message=kept.message, remembered=kept)
    job.clip = kept.kind == "clip"
    return job


def _pipeline_resume():
    from nst.run.pipeline import resume  # TensorFlow's side: loaded once a job runs

    return resume


class ExtractorCache:
    """The last run's network, reused while [model], the seed and the optimiser stay the same
    (building it costs seconds); the input checks come first, as in a run."""

    def __init__(self) -> None:
        self._key = None
        self._extractor = None

    def __call__(self, settings: Settings):
        from nst.run.pipeline import check
        from nst.run.process import build_extractor, network_key

        key = network_key(settings)
        if key != self._key:
            check(settings)  # a bad input fails before seconds of TensorFlow
            self._key, self._extractor = None, None  # the old one is freed first
            self._extractor = build_extractor(settings)
            self._key = key
        return self._extractor
