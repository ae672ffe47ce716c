"""Training runs for the app: one small interface, two backends.

The sidebar talks to a backend through these calls (both backends have them):

- `start(owner, preset, config, train_digits, quick, key)`: queue a run, or join the run with the
  same key (preset, settings, training data, seed) that is queued, running or finished. Raises
  `Busy` (this visitor has a run already) or `QueueFull`.
- `job_of(owner)`: the visitor's latest run that is active or not yet collected, with its
  progress (a `Job`); `position(job)`, `running_jobs()`, `queued()`, `max_running`.
- `cancel(job, owner)`: leave the queue, or stop after the current batch and keep the model so
  far. A visitor who joined someone else's run only leaves it while others still watch it.
- `heartbeat(owner)`: the visitor's page is open; a run nobody watches for `idle_seconds` is
  dropped from the queue or cancelled.
- `result_folder(job)`, `collect(job, owner)`, `discard(job, owner)`, `promote(job, folder, name)`.

`JobManager` (this module) is the embedded backend: trainer processes on this machine, no Redis.
`lab.shared_queue.SharedQueue` is the shared one (RQ on Redis, `AE_QUEUE_URL`). `backend()`
picks one for the server.

No Streamlit here, and no TensorFlow: a run happens in `python -m ae_core.worker` (a fresh
process at a lower CPU priority), which reports structured events on a pipe and saves the
finished model, in the store's format with its ONNX files, into the server's private scratch
folder (mode 0700, removed when the server exits).
"""
from __future__ import annotations

import atexit
import hashlib
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
GRACE_SECONDS = 10.0  # a trainer that has not stopped its batch loop this long after Cancel is killed
STOP_GRACE_SECONDS = 120.0  # from the end of the batch loop to "saving": the epoch's validation pass
KEEP_SECONDS = 3600.0  # a finished run nobody collected (its visitor left) is removed after this
IDLE_SECONDS = 180.0  # a run nobody has watched this long is dropped (queued) or cancelled (running);
# pages poll every second, but a browser runs a background tab's timers only once a minute
QUEUE_MAX = 30  # runs waiting at most; more are refused with a message
WORKER_NICE = 19  # the lowest priority: on a busy machine the pages win, training takes what is left
ACTIVE = ("queued", "running")
SCRATCH_PREFIX = "autoencoder-lab-"


class Busy(RuntimeError):
    """This visitor already has a run queued or running."""


class QueueFull(RuntimeError):
    """The queue holds its maximum of waiting runs."""


def busy_message() -> str:
    return ("You already have a training run queued or running (perhaps in another tab); cancel it "
            "or wait for it to finish.")


def full_message(waiting: int) -> str:
    return (f"The training queue is full ({waiting} runs waiting). Try again in a few minutes, or "
            "choose a model that is already trained.")


def run_key(preset: str, config, train_digits: int | None, data_sha: str, options: dict | None = None) -> str:
    """What makes two runs the same: preset, every setting (the seed included), the options (the
    data set, the code size) and the training data (the file's hash and how many of its images)."""
    blob = json.dumps({"preset": preset, "config": config.to_dict(), "digits": train_digits, "data": data_sha,
                       "options": options or {}}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@dataclass
class Job:
    id: int | str
    owner: str  # the visitor who started it
    preset: str
    config: object  # ae_core.config.TrainConfig
    train_digits: int | None = None
    quick: bool = False
    key: str = ""  # run_key(...): identical requests join this run
    options: dict = field(default_factory=dict)  # {"data": "bundled"|"clothing", "code_size": n}
    extra: list | None = None  # the starting visitor's input (784 numbers), shown in the snapshots
    strip: dict | None = None  # the validation strip ({"n", "pixels", "captions"}), sent before training
    snapshots: list = field(default_factory=list)  # its reconstructions after every epoch (snapshot events)
    created: float = field(default_factory=time.monotonic)
    started: float | None = None  # when its process started
    finished: float | None = None
    status: str = "queued"  # queued, running, completed, stopped, diverged, failed, cancelled
    stage: str = "queued"  # queued, launching, loading, training, stopping, saving, done
    error: str = ""  # failed: what happened, for visitors (no server paths)
    note: str = ""  # cancelled: how ("left the queue", "before training began", ...)
    warning: str = ""  # a finished run whose loss says it did not learn
    epoch: int = 0
    epochs_done: int = 0
    steps: int = 0
    fraction: float = 0.0
    history: dict = field(default_factory=dict)
    first_event: float | None = None  # seconds from the request to the first progress event
    first_epoch: float | None = None  # seconds from the request to the first epoch's event
    train_seconds: float | None = None  # Keras' fit time in the trainer (no start-up, no saving)
    folder: Path | None = None  # the scratch folder holding the finished model on this server
    name: str | None = None  # the saved model's name in `folder` (None: nothing saved)
    cancel_requested: bool = False
    owners: set = field(default_factory=set)  # visitors who started or joined it
    joined: set = field(default_factory=set)  # of those, who joined a run already there
    collected: set = field(default_factory=set)  # visitors who took it into their session
    holders: set = field(default_factory=set)  # visitors whose session still shows its model
    proc: subprocess.Popen | None = field(default=None, repr=False)
    owner_thread: threading.Thread | None = field(default=None, repr=False)

    def __post_init__(self):
        self.owners.add(self.owner)

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def saving(self) -> bool:
        return self.stage == "saving"

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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def private_scratch(parent: Path | str | None = None) -> Path:
    """A scratch folder for this server only (mode 0700), named with its process id; the
    folders of servers that are gone (same user, dead pid) are removed."""
    parent = Path(parent or tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.glob(f"{SCRATCH_PREFIX}*"):
        try:
            pid = int(old.name[len(SCRATCH_PREFIX):].split("-")[0])
            if old.stat().st_uid == os.getuid() and pid != os.getpid() and not _pid_alive(pid):
                shutil.rmtree(old, ignore_errors=True)
        except (ValueError, OSError):
            continue
    return Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=parent))


class Scratch:
    """A backend's private scratch folder (`private_scratch` under `parent`), made on first use
    and removed when the server exits."""

    def __init__(self, parent: Path | str | None = None):
        self._parent = parent
        self._path: Path | None = None
        self._lock = threading.Lock()

    @property
    def made(self) -> Path | None:
        """The folder, or None while nothing has needed it."""
        return self._path

    def path(self) -> Path:
        with self._lock:
            if self._path is None:
                self._path = private_scratch(self._parent)
                atexit.register(shutil.rmtree, self._path, True)
            return self._path


class JobManager:
    """The embedded backend: a queue and trainer processes for one server."""

    shared = False

    def __init__(self, max_running: int = 1, scratch_root: Path | str | None = None,
                 command: list[str] | None = None, grace_seconds: float = GRACE_SECONDS,
                 nice: int = WORKER_NICE, queue_max: int = QUEUE_MAX, idle_seconds: float = IDLE_SECONDS,
                 stop_grace_seconds: float = STOP_GRACE_SECONDS):
        self._lock = threading.RLock()
        self._jobs: dict[int, Job] = {}
        self._next = 1
        self._seen: dict[str, float] = {}  # visitor -> last heartbeat (monotonic)
        self.max_running = max(1, int(max_running))
        self.queue_max = max(1, int(queue_max))
        self.idle_seconds = float(idle_seconds)
        self._scratch = Scratch(scratch_root)
        self.command = command or [sys.executable, "-m", "ae_core.worker"]
        self.grace_seconds = grace_seconds
        self.stop_grace_seconds = stop_grace_seconds
        self.nice = nice  # added to the server's niceness in each trainer
        self._reaper: threading.Thread | None = None
        self._closed = False

    @property
    def scratch_root(self) -> Path:
        """This server's private scratch folder, made on first use and removed at exit."""
        return self._scratch.path()

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
        """This visitor's latest run that is active or finished but not yet collected."""
        with self._lock:
            mine = [j for j in self._jobs.values() if owner in j.owners and owner not in j.collected]
        return max(mine, key=lambda j: j.created) if mine else None

    def heartbeat(self, owner: str) -> None:
        with self._lock:
            self._seen[owner] = time.monotonic()

    # --- actions -------------------------------------------------------------------------

    def start(self, owner: str, preset: str, config, train_digits: int | None = None,
              quick: bool = False, key: str = "", options: dict | None = None, extra: list | None = None) -> Job:
        """Queue a run for `owner`, or join the run with the same `key`; it starts at once when
        fewer than `max_running` train. `owner in job.joined` says it joined.

        Raises:
            Busy: this visitor already has a run queued or running.
            QueueFull: `queue_max` runs wait already.
        """
        with self._lock:
            self._seen[owner] = time.monotonic()
            if any(owner in j.owners and j.active and owner not in j.collected for j in self._jobs.values()):
                raise Busy(busy_message())
            same = self._joinable(key)
            if same is not None:
                same.owners.add(owner)
                same.joined.add(owner)
                same.collected.discard(owner)
                return same
            waiting = sum(j.status == "queued" for j in self._jobs.values())
            if waiting >= self.queue_max:
                raise QueueFull(full_message(waiting))
            job = Job(self._next, owner, preset, config, train_digits=train_digits, quick=quick, key=key,
                      options=dict(options or {}), extra=extra)
            self._next += 1
            self._jobs[job.id] = job
        self._ensure_reaper()
        self._pump()
        return job

    def _joinable(self, key: str) -> Job | None:
        if not key:
            return None
        for j in sorted(self._jobs.values(), key=lambda j: -j.created):
            if j.key == key and (j.active or (j.name is not None and j.folder is not None and j.folder.is_dir())):
                return j if not j.cancel_requested else None
        return None

    def cancel(self, job: Job, owner: str | None = None) -> None:
        """Leave the queue, or stop the run after its current batch (its model so far is kept).

        A visitor who shares the run with others only leaves it. A trainer still starting (no
        batch yet) is stopped at once: nothing was trained. One that has not stopped its batch
        loop `grace_seconds` after the request is killed; the grace for the epoch's validation
        pass, `stop_grace_seconds`, starts when the batch loop has stopped.
        """
        with self._lock:
            if owner is not None and len(job.owners - job.collected) > 1 and job.active:
                job.owners.discard(owner)
                job.joined.discard(owner)
                return
            if job.status == "queued":
                job.status, job.stage, job.finished = "cancelled", "done", time.monotonic()
                job.note = "left the queue"
                return
            if not job.running or job.cancel_requested:
                return
            job.cancel_requested = True
            proc = job.proc
        if proc is not None:  # still launching: the owning thread sends it once the process runs
            self._send_cancel(job)
        threading.Thread(target=self._enforce, args=(job,), name=f"ae-cancel-{job.id}", daemon=True).start()

    def _send_cancel(self, job: Job) -> None:
        try:
            job.proc.stdin.write("cancel\n")
            job.proc.stdin.flush()
        except (OSError, ValueError, AttributeError):  # already gone: its thread reports how it ended
            pass

    def _enforce(self, job: Job) -> None:
        """After Cancel: kill a trainer that has nothing to keep, or that does not stop in time."""
        asked = time.monotonic()
        stopped_at = None
        while job.active:
            with self._lock:
                stage = job.stage
            now = time.monotonic()
            if stage in ("launching", "loading"):  # no batch has run: nothing to keep, stop now
                job.note = "cancelled before training began"
                self._kill(job)
            elif stage == "training" and now - asked > self.grace_seconds:
                log.warning("training job %s did not stop within %.0f s; killing it", job.id, self.grace_seconds)
                self._kill(job)
            elif stage == "stopping":
                stopped_at = stopped_at or now
                if now - stopped_at > self.stop_grace_seconds:
                    log.warning("training job %s did not finish its epoch within %.0f s of stopping; killing it",
                                job.id, self.stop_grace_seconds)
                    self._kill(job)
            elif stage == "saving":
                return  # bounded: measuring and saving
            time.sleep(0.05)

    def collect(self, job: Job, owner: str | None = None) -> None:
        """The visitor took the finished run into their session (or gave up on it)."""
        with self._lock:
            for o in ([owner] if owner is not None else list(job.owners)):
                job.collected.add(o)
                if job.name is not None:
                    job.holders.add(o)
            self._drop_if_unused(job)

    def discard(self, job: Job, owner: str | None = None) -> None:
        """The visitor is done with the run's model; its scratch folder goes once nobody needs it."""
        with self._lock:
            if owner is None:
                job.holders.clear()
            else:
                job.holders.discard(owner)
            self._drop_if_unused(job)

    def _drop_if_unused(self, job: Job) -> None:
        """Forget a finished run that no visitor holds or has still to collect: its scratch
        folder goes, and it is no longer offered to identical requests."""
        if job.active or job.holders or (job.owners - job.collected):
            return
        self._jobs.pop(job.id, None)
        if job.folder is not None:
            shutil.rmtree(job.folder, ignore_errors=True)

    def result_folder(self, job: Job) -> Path:
        """The local folder that holds the finished model (here: its scratch folder)."""
        if job.name is None or job.folder is None:
            raise ValueError(f"Run {job.id} has no saved model (status {job.status}).")
        return job.folder

    def promote(self, job: Job, folder: Path, name: str | None = None) -> Path:
        """Save a finished run into `folder` as `name`, or as the next free `PRESET-vN`.

        The store takes the name atomically (a hard link), so two servers or a server and the
        CLI sharing `folder` never take the same one. Returns the new manifest's path.

        Raises:
            ae_core.store.NameTaken: `name` exists already.
            ValueError: a bad name. OSError: the folder cannot be written.
        """
        from ae_core import store

        src = self.result_folder(job)
        if name:
            return store.copy(src, job.name, folder, name=name)
        return store.copy(src, job.name, folder, base=job.preset)

    # --- the trainer processes -----------------------------------------------------------

    def _pump(self) -> None:
        """Start queued jobs while fewer than `max_running` train: each in its own thread, which
        owns it from launch to reap."""
        while True:
            with self._lock:
                if self._closed or sum(j.running for j in self._jobs.values()) >= self.max_running:
                    return
                queue = sorted((j for j in self._jobs.values() if j.status == "queued"), key=lambda j: j.id)
                if not queue:
                    return
                job = queue[0]
                job.status, job.stage, job.started = "running", "launching", time.monotonic()
                job.owner_thread = threading.Thread(target=self._own, args=(job,), name=f"ae-train-{job.id}",
                                                    daemon=True)
            job.owner_thread.start()

    def _own(self, job: Job) -> None:
        try:
            self._launch(job)
        except Exception as exc:  # noqa: BLE001 - e.g. no disk space for the scratch folder
            log.exception("could not start training job %s", job.id)
            self._finish(job, "failed", f"the trainer could not start ({type(exc).__name__}"
                         + (f": {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else "") + ")")
            return
        self._watch(job)

    def _launch(self, job: Job) -> None:
        folder = Path(tempfile.mkdtemp(prefix=f"run-{job.id}-", dir=self.scratch_root))  # mode 0700
        job.folder = folder
        request = {"preset": job.preset, "config": job.config.to_dict(), "train_digits": job.train_digits,
                   "folder": str(folder), "name": f"{job.preset}-run", "nice": self.nice,
                   "options": job.options, "extra": job.extra}
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
        with open(folder / "worker.log", "wb") as stderr:
            proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=stderr, cwd=ROOT, env=env, text=True, bufsize=1)
        with self._lock:
            job.proc = proc
            cancelled = job.cancel_requested
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
        except OSError:  # it died at once: the watch below reports how
            pass
        if cancelled:  # Cancel came while the process was being started
            self._send_cancel(job)

    def _watch(self, job: Job) -> None:
        """Read the trainer's events until it exits, reap it, and record how the run ended."""
        outcome = None
        proc = job.proc
        try:
            with proc.stdout:
                for line in proc.stdout:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    outcome = self._apply(job, event) or outcome
            code = proc.wait()
        except BaseException as exc:  # noqa: BLE001 - never leave a job "running" forever
            log.exception("watching training job %s failed", job.id)
            self._kill(job)
            try:  # reap it, so the run is marked ended only once its trainer is gone
                proc.wait(10)
            except Exception:  # noqa: BLE001 - still marked failed below; the OS reaps it later
                pass
            self._finish(job, "failed", f"the server lost track of the trainer ({type(exc).__name__})")
            return
        if outcome is not None and outcome.get("type") == "finished":
            self._finish(job, outcome["status"], "")
        elif job.cancel_requested and code is not None and code < 0:
            if not job.note:
                job.note = ("stopped by force: it did not stop in time, nothing was kept"
                            if job.stage in ("training", "stopping") else "cancelled before training began")
            self._finish(job, "cancelled", "")
        else:
            error = (outcome or {}).get("error") or _exit_message(code)
            self._finish(job, "failed", error)

    def _apply(self, job: Job, event: dict) -> dict | None:
        return apply_event(job, event)

    def _finish(self, job: Job, status: str, error: str) -> None:
        with self._lock:
            if job.finished is None:
                job.status, job.error, job.finished, job.stage = status, error, time.monotonic(), "done"
            proc = job.proc
            folder = job.folder if job.name is None and status in ("failed", "cancelled", "diverged") else None
        if folder is not None:  # nothing to keep; the trainer's log goes to the server's log
            if status == "failed":
                try:
                    tail = (folder / "worker.log").read_text(errors="replace")[-4000:]
                except OSError:
                    tail = ""
                log.warning("training job %s failed: %s\n%s", job.id, error, tail)
            shutil.rmtree(folder, ignore_errors=True)
        if proc is not None:
            for pipe in (proc.stdin, proc.stdout):
                try:
                    if pipe:
                        pipe.close()
                except OSError:
                    pass
        self._pump()

    def _kill(self, job: Job) -> None:
        with self._lock:
            proc = job.proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    # --- visitors who left, runs nobody collected ---------------------------------------

    def _ensure_reaper(self) -> None:
        with self._lock:
            if self._reaper is None or not self._reaper.is_alive():
                self._reaper = threading.Thread(target=self._reap_loop, name="ae-train-reaper", daemon=True)
                self._reaper.start()

    def _reap_loop(self) -> None:
        while not self._closed:
            time.sleep(1.0)
            try:
                self.reap()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("cleaning up training runs failed")
            with self._lock:
                if not self._jobs:
                    self._reaper = None
                    return

    def reap(self, now: float | None = None) -> None:
        """Drop queued runs nobody watches, cancel running ones, remove uncollected results."""
        now = time.monotonic() if now is None else now
        with self._lock:
            jobs = list(self._jobs.values())

        def watched(job: Job) -> bool:
            return any(now - self._seen.get(o, job.created) <= self.idle_seconds for o in job.owners - job.collected)

        for job in jobs:
            if job.status == "queued" and not watched(job):
                with self._lock:
                    if job.status == "queued":
                        job.status, job.stage, job.finished = "cancelled", "done", now
                        job.note = "dropped from the queue: nobody was watching it"
            elif job.running and not job.cancel_requested and not watched(job):
                log.info("training job %s: nobody watched it for %.0f s; cancelling", job.id, self.idle_seconds)
                job.note = "cancelled: nobody was watching it"
                self.cancel(job)
            elif not job.active and job.finished is not None and now - job.finished > KEEP_SECONDS:
                with self._lock:  # its visitors left long ago
                    job.collected |= job.owners
                    job.holders = {o for o in job.holders if now - self._seen.get(o, 0) <= KEEP_SECONDS}
                    self._drop_if_unused(job)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel the queue, kill every trainer and wait until each run is marked ended."""
        with self._lock:
            jobs = list(self._jobs.values())
            for job in jobs:
                if job.status == "queued":
                    job.status, job.stage, job.finished = "cancelled", "done", time.monotonic()
        for job in jobs:
            self._kill(job)
        for job in jobs:
            if job.owner_thread is not None:
                job.owner_thread.join(timeout)


def apply_event(job: Job, event: dict) -> dict | None:
    """Fold one trainer event into `job`; returns the event when it ends the run."""
    kind = event.get("type")
    if kind in ("started", "loading") and job.stage in ("queued", "launching"):
        job.stage = "loading"
    if kind in ("begin", "batch", "epoch") and job.first_event is None:
        job.first_event = time.monotonic() - job.created
    if kind == "begin":
        job.steps = int(event.get("steps") or 0)
        job.stage = "training"
    elif kind == "batch":
        job.stage = "stopping" if job.stage == "stopping" else "training"
        job.epoch = int(event.get("epoch", job.epoch))
        job.fraction = float(event.get("fraction", job.fraction))
    elif kind == "stopping":
        job.stage = "stopping"
    elif kind == "strip":
        job.strip = {k: event.get(k) for k in ("n", "pixels", "captions")}
    elif kind == "snapshot":
        job.snapshots = [*job.snapshots, {k: event.get(k) for k in ("epoch", "n", "pixels")}]
    elif kind == "saving":
        job.stage = "saving"
    elif kind == "epoch":
        if job.first_epoch is None:
            job.first_epoch = time.monotonic() - job.created
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
        if event.get("status") == "cancelled":
            job.note = job.note or "cancelled before training began"
        return event
    elif kind == "failed":
        return event
    return None


def _num(value, default: float) -> float:
    return default if value is None else float(value)


def backend():
    """The server's training backend: the shared RQ queue when `AE_QUEUE_URL` is set, else this
    server's own `JobManager` (`lab.resources.job_manager()`)."""
    from .settings import Settings

    settings = Settings.from_env()
    if settings.queue_url:
        from .shared_queue import shared_queue

        return shared_queue(settings.queue_url, settings.queue_max, settings.idle_seconds)
    from . import resources

    return resources.job_manager()
