"""Training jobs for the app: each run in its own trainer process, queued, cancellable.

No Streamlit here, and no TensorFlow: the run happens in `python -m ae_core.worker` (a fresh
process at a lower CPU priority), which reports structured events on a pipe and saves the
finished model, in the store's format with its ONNX files, into a private scratch folder.
The app keeps one `JobManager` per server process (`st.cache_resource`); each browser session
starts, watches, cancels and collects its own jobs through it.

At most `max_running` runs train at once; later ones wait in a queue (first come, first
served). Each visitor has at most one job queued or running.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
GRACE_SECONDS = 10.0  # after Cancel, the trainer is killed if it has not stopped by then
KEEP_SECONDS = 24 * 3600  # scratch folders of runs nobody saved are removed after this
WORKER_NICE = 19  # the lowest priority: on a busy machine the pages win, training takes what is left
ACTIVE = ("queued", "running")


class Busy(RuntimeError):
    """This visitor already has a job queued or running."""


@dataclass
class Job:
    id: int
    owner: str  # the session that started it
    preset: str
    config: object  # ae_core.config.TrainConfig
    train_digits: int | None = None
    quick: bool = False
    created: float = field(default_factory=time.monotonic)
    started: float | None = None  # when its process started
    finished: float | None = None
    status: str = "queued"  # queued, running, completed, stopped, diverged, failed, cancelled
    error: str = ""
    warning: str = ""  # a finished run whose loss says it did not learn
    epoch: int = 0
    epochs_done: int = 0
    steps: int = 0
    fraction: float = 0.0
    history: dict = field(default_factory=dict)
    first_event: float | None = None  # seconds from the request to the first progress event
    train_seconds: float | None = None  # Keras' fit time in the trainer (no start-up, no saving)
    folder: Path | None = None  # the private scratch folder the trainer saves into
    name: str | None = None  # the saved model's name in `folder` (None: nothing saved)
    cancel_requested: bool = False
    saving: bool = False  # training is over; the trainer measures and saves the model
    collected: bool = False
    proc: subprocess.Popen | None = field(default=None, repr=False)
    watcher: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - (self.started or self.created)


def _exit_message(code: int | None) -> str:
    if code is not None and code < 0:
        sig = -code
        name = signal.Signals(sig).name if sig in signal.valid_signals() else f"signal {sig}"
        why = " (the machine may have run out of memory)" if sig == signal.SIGKILL else ""
        return f"the trainer process was killed by {name}{why}"
    return f"the trainer process stopped unexpectedly (exit code {code})"


class JobManager:
    """Queue and trainer processes for one server."""

    def __init__(self, max_running: int = 1, scratch_root: Path | str | None = None,
                 command: list[str] | None = None, grace_seconds: float = GRACE_SECONDS,
                 nice: int = WORKER_NICE):
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._next = 1
        self.max_running = max(1, int(max_running))
        self.scratch_root = Path(scratch_root or Path(tempfile.gettempdir()) / "autoencoder-lab-runs")
        self.command = command or [sys.executable, "-m", "ae_core.worker"]
        self.grace_seconds = grace_seconds
        self.nice = nice  # added to the server's niceness in each trainer

    # --- queries -------------------------------------------------------------------------

    def running_jobs(self) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.running]

    def running_job(self) -> Job | None:
        jobs = self.running_jobs()
        return jobs[0] if jobs else None

    def queued(self) -> list[Job]:
        with self._lock:
            return sorted((j for j in self._jobs.values() if j.status == "queued"), key=lambda j: j.id)

    def position(self, job: Job) -> int:
        """1 for the next job to start; 0 when it is not queued."""
        queue = self.queued()
        return queue.index(job) + 1 if job in queue else 0

    def job_of(self, owner: str) -> Job | None:
        """This session's latest job that is active or finished but not yet collected."""
        with self._lock:
            mine = [j for j in self._jobs.values() if j.owner == owner and not j.collected]
        return max(mine, key=lambda j: j.id) if mine else None

    # --- actions -------------------------------------------------------------------------

    def start(self, owner: str, preset: str, config, train_digits: int | None = None,
              quick: bool = False) -> Job:
        """Queue a run for `owner`; it starts at once when fewer than `max_running` train.

        Raises:
            Busy: when this visitor already has a job queued or running.
        """
        with self._lock:
            if any(j.owner == owner and j.active for j in self._jobs.values()):
                raise Busy("You already have a training run queued or running; cancel it or wait "
                           "for it to finish.")
            # Finished jobs nobody collected within the hour (their session left) are dropped.
            now = time.monotonic()
            self._jobs = {i: j for i, j in self._jobs.items()
                          if j.active or (not j.collected and now - (j.finished or now) < 3600)}
            job = Job(self._next, owner, preset, config, train_digits=train_digits, quick=quick)
            self._next += 1
            self._jobs[job.id] = job
        self._pump()
        return job

    def cancel(self, job: Job) -> None:
        """A queued job is dropped; a running one stops after its current batch (its model so
        far is kept), or is killed if it has not stopped training after `grace_seconds` (a
        trainer still loading TensorFlow, or stuck)."""
        with self._lock:
            if job.status == "queued":
                job.status, job.finished = "cancelled", time.monotonic()
                return
            if not job.running or job.cancel_requested:
                return
            job.cancel_requested = True
            proc = job.proc
        try:
            proc.stdin.write("cancel\n")
            proc.stdin.flush()
        except (OSError, ValueError):  # already gone: the watcher reports how it ended
            pass
        timer = threading.Timer(self.grace_seconds, self._kill, args=(job,))
        timer.daemon = True
        timer.start()

    def collect(self, job: Job) -> None:
        with self._lock:
            job.collected = True
            self._jobs.pop(job.id, None)

    def discard(self, job: Job) -> None:
        """Forget a collected run and remove its scratch folder."""
        if job.folder is not None:
            shutil.rmtree(job.folder, ignore_errors=True)

    def promote(self, job: Job, folder: Path, name: str | None = None) -> Path:
        """Save a finished run into `folder` as `name`, or as the next free `PRESET-vN`.

        The store takes the name atomically (a hard link), so two servers or a server and the
        CLI sharing `folder` never take the same one. Returns the new manifest's path.

        Raises:
            ae_core.store.NameTaken: `name` exists already.
            ValueError: a bad name. OSError: the folder cannot be written.
        """
        from ae_core import store

        if job.name is None or job.folder is None:
            raise ValueError(f"Run {job.id} has no saved model (status {job.status}).")
        if name:
            return store.copy(job.folder, job.name, folder, name=name)
        return store.copy(job.folder, job.name, folder, base=job.preset)

    # --- the trainer processes -----------------------------------------------------------

    def _pump(self) -> None:
        """Start queued jobs while fewer than `max_running` train."""
        while True:
            with self._lock:
                if sum(j.running for j in self._jobs.values()) >= self.max_running:
                    return
                queue = sorted((j for j in self._jobs.values() if j.status == "queued"), key=lambda j: j.id)
                if not queue:
                    return
                job = queue[0]
                job.status, job.started = "running", time.monotonic()
            try:
                self._launch(job)
            except Exception as exc:  # noqa: BLE001 - e.g. no disk space for the scratch folder
                log.exception("could not start training job %s", job.id)
                self._finish(job, "failed", f"the trainer could not start ({type(exc).__name__}: {exc})")

    def _launch(self, job: Job) -> None:
        self.scratch_root.mkdir(parents=True, exist_ok=True)
        self._remove_old_scratch()
        job.folder = Path(tempfile.mkdtemp(prefix=f"run-{job.id}-", dir=self.scratch_root))  # mode 0700
        request = {"preset": job.preset, "config": job.config.to_dict(), "train_digits": job.train_digits,
                   "folder": str(job.folder), "name": f"{job.preset}-run", "nice": self.nice}
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
        stderr = open(job.folder / "worker.log", "wb")
        try:
            job.proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=stderr, cwd=ROOT, env=env, text=True, bufsize=1)
        finally:
            stderr.close()
        job.proc.stdin.write(json.dumps(request) + "\n")
        job.proc.stdin.flush()
        job.watcher = threading.Thread(target=self._watch, args=(job,), name=f"ae-train-{job.id}", daemon=True)
        job.watcher.start()

    def _watch(self, job: Job) -> None:
        """Read the trainer's events until it exits; then record how the run ended."""
        outcome = None
        try:
            for line in job.proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                outcome = self._apply(job, event) or outcome
            code = job.proc.wait()
        except BaseException as exc:  # noqa: BLE001 - never leave a job "running" forever
            log.exception("watching training job %s failed", job.id)
            self._kill(job, force=True)
            try:  # reap it, so the run is marked ended only once its trainer is gone
                job.proc.wait(10)
            except Exception:  # noqa: BLE001 - still marked failed below; the OS reaps it later
                pass
            self._finish(job, "failed", f"the server lost track of the trainer ({type(exc).__name__})")
            return
        if outcome is not None and outcome.get("type") == "finished":
            self._finish(job, outcome["status"], "")
        elif job.cancel_requested and code is not None and code < 0:
            self._finish(job, "cancelled", "")
        else:
            error = (outcome or {}).get("error") or _exit_message(code)
            self._finish(job, "failed", error)

    def _apply(self, job: Job, event: dict) -> dict | None:
        kind = event.get("type")
        if kind in ("begin", "batch", "epoch") and job.first_event is None:
            job.first_event = time.monotonic() - job.created
        if kind == "saving":
            job.saving = True
        elif kind == "begin":
            job.steps = int(event.get("steps") or 0)
        elif kind == "batch":
            job.epoch = int(event.get("epoch", job.epoch))
            job.fraction = float(event.get("fraction", job.fraction))
        elif kind == "epoch":
            nan = float("nan")
            job.history = {"loss": [*job.history.get("loss", []), _num(event.get("loss"), nan)],
                           "val_loss": [*job.history.get("val_loss", []), _num(event.get("val_loss"), nan)]}
            job.epochs_done = int(event["epoch"])
            job.epoch = job.epochs_done
            job.fraction = job.epochs_done / job.config.epochs
        elif kind == "finished":
            job.history = {k: [_num(v, float("nan")) for v in vals] for k, vals in event.get("history", {}).items()}
            job.epochs_done = int(event.get("epochs_run", job.epochs_done))
            job.name = event.get("name")
            job.train_seconds = event.get("seconds")
            job.warning = event.get("warning") or ""
            return event
        elif kind == "failed":
            return event
        return None

    def _finish(self, job: Job, status: str, error: str) -> None:
        with self._lock:
            if job.finished is None:
                job.status, job.error, job.finished = status, error, time.monotonic()
        if job.proc is not None and job.proc.stdin:
            try:
                job.proc.stdin.close()
            except OSError:
                pass
        self._pump()

    def _kill(self, job: Job, force: bool = False) -> None:
        """Kill the trainer, unless (without `force`) it has stopped training and is saving:
        Cancel keeps the model so far, and saving it takes a bounded few seconds."""
        proc = job.proc
        if proc is None or proc.poll() is not None or (job.saving and not force):
            return
        if not force:
            log.warning("training job %s did not stop within %.0f s; killing it", job.id, self.grace_seconds)
        proc.kill()

    def _remove_old_scratch(self) -> None:
        cutoff = time.time() - KEEP_SECONDS
        for path in self.scratch_root.glob("run-*"):
            try:
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                continue

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel the queue, kill every trainer and wait until each run is marked ended."""
        with self._lock:
            jobs = list(self._jobs.values())
            for job in jobs:
                if job.status == "queued":
                    job.status, job.finished = "cancelled", time.monotonic()
        for job in jobs:
            self._kill(job, force=True)
        for job in jobs:
            if job.watcher is not None:
                job.watcher.join(timeout)


def _num(value, default: float) -> float:
    return default if value is None else float(value)
