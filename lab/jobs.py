"""Training jobs for the app: one at a time per server, in a background thread, cancellable.

No Streamlit here. The app keeps one `JobManager` per server process (`st.cache_resource`);
each browser session starts, watches and collects its own jobs through it.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)


class Busy(RuntimeError):
    """Another session's job is running."""


def _progress_callback(job: "Job"):
    import keras

    class Progress(keras.callbacks.Callback):
        """Epoch and batch progress plus the loss curves, written into `job` (read by the page)."""

        async_safe = True  # the batch hook only counts batches: Keras need not wait for its logs

        def on_train_begin(self, logs=None):
            job.steps = int(self.params.get("steps") or 0)

        def on_epoch_begin(self, epoch, logs=None):
            job.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if job.steps:
                job.fraction = min(1.0, (job.epoch + (batch + 1) / job.steps) / job.config.epochs)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            job.history = {
                "loss": [*job.history.get("loss", []), float(logs.get("loss", float("nan")))],
                "val_loss": [*job.history.get("val_loss", []), float(logs.get("val_loss", float("nan")))]}
            job.epochs_done = epoch + 1
            job.fraction = job.epochs_done / job.config.epochs

    return Progress()


@dataclass
class Job:
    id: int
    owner: str  # the session that started it
    preset: str
    spec: object  # ae_core.models.Spec
    config: object  # ae_core.training.TrainConfig
    data: object  # ae_core.data.Dataset used (saved with the model)
    quick: bool = False
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    status: str = "running"  # running, completed, stopped, diverged, failed
    error: str = ""
    epoch: int = 0
    epochs_done: int = 0
    steps: int = 0
    fraction: float = 0.0
    history: dict = field(default_factory=dict)
    result: object = None  # ae_core.training.TrainResult when finished
    cancel: threading.Event = field(default_factory=threading.Event)
    collected: bool = False

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started


class JobManager:
    """One training job at a time for the whole server."""

    def __init__(self, train_fn: Callable | None = None):
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._next = 1
        self._train_fn = train_fn

    def running_job(self) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs.values() if j.running), None)

    def start(self, owner: str, preset: str, spec, config, data, quick: bool = False) -> Job:
        """Start training in a background thread.

        Raises:
            Busy: when a job (anyone's) is running.
        """
        with self._lock:
            if any(j.running for j in self._jobs.values()):
                raise Busy("Another training run is in progress on this server; try again when it ends.")
            # Finished jobs nobody collected (their session left) are dropped.
            self._jobs = {i: j for i, j in self._jobs.items() if j.owner != owner and not j.collected
                          and time.monotonic() - (j.finished or 0) < 3600}
            job = Job(self._next, owner, preset, spec, config, data, quick=quick)
            self._next += 1
            self._jobs[job.id] = job
        threading.Thread(target=self._run, args=(job,), name=f"ae-train-{job.id}", daemon=True).start()
        return job

    def _run(self, job: Job) -> None:
        from ae_core.training import StopOnEvent, train

        train_fn = self._train_fn or train
        try:
            result = train_fn(job.spec, job.config, job.data,
                              callbacks=[_progress_callback(job), StopOnEvent(job.cancel)])
            job.result = result
            job.history = result.history
            job.epochs_done = result.epochs_run
            job.status = result.status
        except Exception as exc:  # noqa: BLE001 - a failed run is reported on the page, not raised
            log.exception("training job %s failed", job.id)
            job.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            job.status = "failed"
        finally:
            job.finished = time.monotonic()

    def job_of(self, owner: str) -> Job | None:
        """This session's latest job that is running or finished but not yet collected."""
        with self._lock:
            mine = [j for j in self._jobs.values() if j.owner == owner and not j.collected]
        return max(mine, key=lambda j: j.id) if mine else None

    def collect(self, job: Job) -> None:
        with self._lock:
            job.collected = True
            self._jobs.pop(job.id, None)

    def save(self, result, spec, config, data, folder: Path, base: str, preset: str) -> Path:
        """Save a finished run as the next free `BASE-vN` in `folder`; returns the manifest path.

        Name choice and write happen under one lock, so two sessions never pick the same name.
        """
        from ae_core import store
        from ae_core.pipeline import save_result

        with self._save_lock:
            name = store.next_version_name(folder, base)
            return save_result(result, spec, config, data, folder, name, preset=preset)
