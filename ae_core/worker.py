"""A training run in its own process: `python -m ae_core.worker`, driven through pipes.

The app's server never imports TensorFlow; it starts one of these per run (`lab.jobs`). The
protocol, one JSON object a line:

- stdin, from the server: first the request (below), then `cancel` lines. Closing stdin (the
  server went away) cancels too.
- stdout, to the server: events. `{"type": "started", "pid": ...}` once the process runs
  (it then loads TensorFlow); `{"type": "begin", "steps": ..., "epochs": ...}` when Keras starts
  fitting; `{"type": "stopping"}` when a cancelled run's batch loop has stopped (the epoch's
  validation pass follows); `{"type": "saving"}` when training is over; `{"type": "batch",
  "epoch": ..., "fraction": ...}` at most a few times a second; `{"type": "epoch", "epoch": N,
  "loss": ..., "val_loss": ..., "elapsed": ...}` after each epoch; and last either
  `{"type": "finished", "status": ..., "name": NAME or null, "history": ..., "warning": ...}` or
  `{"type": "failed", "error": ...}` (a message for visitors: file names, no server paths; the
  traceback goes to stderr, the server's log). Status "cancelled": cancelled before training
  began, nothing saved.

The request: `{"preset": NAME, "config": TrainConfig.to_dict(), "train_digits": N or null,
"folder": PATH, "name": NAME, "nice": N}`. The run trains through `pipeline.train_and_save`,
the CLI's entry point, and saves the finished model (store format, with ONNX) into `folder`,
a private scratch folder the server hands to the visitor's session.

The shared queue (`AE_QUEUE_URL`) runs the same `run` inside an RQ job, `rq_train`: progress goes
to the job's meta, Cancel comes as a Redis key, the finished model's files go back through Redis
with their hashes. `serve` is `python -m ae_core worker --url ...`.

This module imports nothing heavy at the top: the server imports it for `training_data` and
the queue's names.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

BATCH_EVENT_SECONDS = 0.25  # at most this often a progress event within an epoch

QUEUE_NAME = "autoencoder-lab"  # the RQ queue every server and worker shares
RESULT_SECONDS = 24 * 3600  # a finished run's files stay in Redis this long (Save reads them)
MONITOR_SECONDS = 5  # `serve`: the worker's heartbeat period while a run trains
HEARTBEAT_SLACK = 10  # a run whose worker missed heartbeats this long past its period is abandoned
POLL_SECONDS = 0.25  # a queued run's job: how often it looks for Cancel and flushes its progress


def cancel_key(job_id: str) -> str:
    return f"ae:cancel:{job_id}"


def watch_key(job_id: str) -> str:
    """A sorted set: visitor -> when a server last saw their page watching the run."""
    return f"ae:watch:{job_id}"


def files_key(job_id: str) -> str:
    return f"ae:files:{job_id}"


_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\\/\s'\"]+)+[\\/]([^\\/\s'\"]+)")


def public_text(text: str) -> str:
    """`text` with every absolute path cut to its file name (visitors read it)."""
    return _PATH.sub(lambda m: m.group(1), text)


def public_error(exc: BaseException) -> str:
    """`Type: first line` of an exception, with every absolute path cut to its file name:
    visitors read it; the full traceback goes to the log."""
    text = public_text(str(exc).splitlines()[0][:300] if str(exc) else "")
    return f"{type(exc).__name__}: {text}".rstrip(": ")


def training_data(train_digits: int | None = None, data=None):
    """The bundled digits with at most `train_digits` for training and a quarter of that (at
    least 64) for validation: a fixed random subset of every class (the split is sorted by
    class). Validation digits come from the validation split, never the test digits."""
    if data is None:
        from .data import load_bundled

        data = load_bundled()
    n = min(train_digits or len(data.x_train), len(data.x_train))
    m = min(len(data.x_val), max(n // 4, 64))
    if n == len(data.x_train) and m == len(data.x_val):
        return data
    rng = np.random.default_rng(0)
    train = np.sort(rng.choice(len(data.x_train), n, replace=False))
    val = np.sort(rng.choice(len(data.x_val), m, replace=False))
    return data.subset(train=train, val=val)


def _progress(emit, epochs: int):
    import keras

    class Progress(keras.callbacks.Callback):
        """Structured progress events (see the module docstring)."""

        async_safe = True  # the batch hook only reads a clock: Keras need not wait for its logs

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()
            self.steps = int(self.params.get("steps") or 0)
            self.epoch = 0
            self.last = 0.0
            emit({"type": "begin", "steps": self.steps, "epochs": epochs})

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            if self.steps and now - self.last >= BATCH_EVENT_SECONDS:
                self.last = now
                emit({"type": "batch", "epoch": self.epoch,
                      "fraction": min(1.0, (self.epoch + (batch + 1) / self.steps) / epochs)})

        def on_train_end(self, logs=None):
            emit({"type": "saving"})  # training is over (completed or stopped): measuring and saving

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            emit({"type": "epoch", "epoch": epoch + 1, "loss": float(logs.get("loss", float("nan"))),
                  "val_loss": float(logs.get("val_loss", float("nan"))),
                  "elapsed": round(time.perf_counter() - self.start, 3)})

    return Progress()


def _finite(history: dict) -> dict:
    """JSON has no NaN: non-finite values travel as null."""
    return {k: [float(v) if np.isfinite(v) else None for v in vals] for k, vals in history.items()}


def run(request: dict, emit, cancel: threading.Event) -> dict:
    """Train and save as `request` says, reporting through `emit(event_dict)`; returns the last
    event, `{"type": "finished", ...}`.

    `request`: "preset", "config" (a TrainConfig dict), "train_digits", "folder", "name", and
    optionally "options" ({"data": "bundled" or "clothing", "code_size": n}) and "extra" (one
    28x28 image as 784 numbers, shown in the snapshots beside the validation strip)."""
    emit({"type": "loading"})
    from . import pipeline, presets, snapshots
    from .config import TrainConfig
    from .data import class_names, load_mnist
    from .models import with_code_size
    from .training import Cancelled, StopOnEvent

    preset = presets.get(request["preset"])
    config = TrainConfig.from_dict(request["config"])
    options = request.get("options") or {}
    source = options.get("data") or preset.data
    spec = preset.spec
    if options.get("code_size"):
        spec = with_code_size(spec, options["code_size"])
    data = training_data(request.get("train_digits"), load_mnist(source))
    cancelled = {"type": "finished", "status": "cancelled", "epochs_run": 0, "seconds": 0.0, "name": None,
                 "history": {}, "warning": ""}
    if cancel.is_set():
        return cancelled
    idx = snapshots.strip_indices(data.y_val)
    names = class_names(source)
    emit(snapshots.strip_event(data.x_val[idx], [f"validation {names[int(c)]}" for c in data.y_val[idx]]))
    extra = request.get("extra")
    extra = None if extra is None else np.clip(np.asarray(extra, np.float32).reshape(28, 28), 0, 1)
    try:
        result, path = pipeline.train_and_save(
            spec, config, data, request["folder"], request["name"], preset=request["preset"],
            callbacks=[_progress(emit, config.epochs), StopOnEvent(cancel, lambda: emit({"type": "stopping"})),
                       snapshots.snapshot_callback(data.x_val[idx], lambda snap: emit(snap.to_event()), extra)])
    except Cancelled:
        return cancelled
    return {"type": "finished", "status": result.status, "epochs_run": result.epochs_run,
            "seconds": round(result.seconds, 3), "name": path.stem if path else None,
            "history": _finite(result.history),
            "warning": pipeline.divergence_warning(result.history, pipeline.mean_image_loss(data, config.loss))}


def _listen(cancel: threading.Event) -> None:
    """Set `cancel` on a `cancel` line or when the server closes stdin."""
    for line in sys.stdin:
        if line.strip() == "cancel":
            cancel.set()
    cancel.set()


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Events go to the real stdout; anything else printed (by libraries) goes to stderr.
    events = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    lock = threading.Lock()

    def emit(event: dict) -> None:
        with lock:
            events.write(json.dumps(event) + "\n")

    request = json.loads(sys.stdin.readline())
    os.nice(int(request.get("nice", 19)))  # pages stay responsive: the server keeps its priority
    emit({"type": "started", "pid": os.getpid()})
    cancel = threading.Event()
    threading.Thread(target=_listen, args=(cancel,), daemon=True).start()
    try:
        emit(run(request, emit, cancel))
    except Exception as exc:  # noqa: BLE001 - reported to the server as a failed run
        import traceback

        traceback.print_exc()
        emit({"type": "failed", "error": public_error(exc)})
        return 1
    return 0


# --- the shared queue: one run inside an RQ job --------------------------------------------------

def fold(meta: dict, event: dict) -> None:
    """Progress in an RQ job's meta, from the same events the trainer process sends on its pipe."""
    kind = event.get("type")
    if kind in ("begin", "batch", "epoch"):
        meta.setdefault("first_progress_at", time.time())
    if kind == "loading":
        meta["stage"] = "loading"
    elif kind == "begin":
        meta.update(stage="training", steps=int(event.get("steps") or 0))
    elif kind == "batch":
        meta.update(epoch=int(event["epoch"]), fraction=float(event["fraction"]))
    elif kind in ("stopping", "saving"):
        meta["stage"] = kind
    elif kind == "strip":
        meta["strip"] = {k: event[k] for k in ("n", "pixels", "captions")}
    elif kind == "snapshot":
        meta["snapshots"] = [*meta.get("snapshots", []), {k: event[k] for k in ("epoch", "n", "pixels")}]
    elif kind == "epoch":
        meta.setdefault("first_epoch_at", time.time())
        meta["loss"] = [*meta.get("loss", []), event.get("loss")]
        meta["val_loss"] = [*meta.get("val_loss", []), event.get("val_loss")]
        meta.update(epochs_done=int(event["epoch"]), epoch=int(event["epoch"]))


def rq_train(request: dict) -> dict:
    """The RQ job: train as `request` says (see `run`), in this work horse.

    The job's meta carries progress (stage, epochs, losses), flushed within `POLL_SECONDS`
    and at once for each epoch. A `cancel_key` stops the run after its batch; nobody watching
    it (`watch_key`, refreshed by the servers' pages) for `request["idle_seconds"]` cancels it
    too. The finished model's files go to `files_key` (a Redis hash, kept `RESULT_SECONDS`) and
    their SHA-256 in the returned event's "files". An exception fails the job through RQ, with
    a message for visitors in `meta["error"]`.
    """
    from rq import get_current_job

    job = get_current_job()
    conn = job.connection
    cancel, done = threading.Event(), threading.Event()
    lock = threading.Lock()
    flushed = {"at": 0.0, "dirty": False}
    idle = float(request.get("idle_seconds") or 60)

    def flush(force: bool = False) -> None:
        with lock:
            if force or (flushed["dirty"] and time.monotonic() - flushed["at"] >= POLL_SECONDS):
                job.save_meta()
                flushed.update(at=time.monotonic(), dirty=False)

    def emit(event: dict) -> None:
        with lock:
            fold(job.meta, event)
            flushed["dirty"] = True
        flush(force=event.get("type") in ("loading", "begin", "epoch", "snapshot", "strip", "stopping", "saving"))

    def watch() -> None:
        while not done.wait(POLL_SECONDS):
            try:
                if conn.exists(cancel_key(job.id)):
                    cancel.set()
                elif not conn.zcount(watch_key(job.id), time.time() - idle, "+inf"):
                    with lock:
                        job.meta["note"] = "cancelled: nobody was watching it"
                        flushed["dirty"] = True
                    cancel.set()
                flush()
            except Exception:  # noqa: BLE001 - Redis hiccup: the next round tries again
                pass

    if conn.exists(cancel_key(job.id)):
        return {"type": "finished", "status": "cancelled", "epochs_run": 0, "name": None, "history": {},
                "warning": "", "files": {}}
    os.nice(int(request.get("nice", 0)))
    folder = Path(tempfile.mkdtemp(prefix="ae-rq-run-"))
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        finished = run({**request, "folder": str(folder)}, emit, cancel)
        finished["files"] = {}
        if finished.get("name"):
            from . import store

            manifest_name = f"{finished['name']}.json"
            manifest = json.loads((folder / manifest_name).read_text())
            blobs = {n: (folder / n).read_bytes() for n in sorted(store.model_files(manifest) | {manifest_name})}
            with conn.pipeline() as pipe:
                pipe.delete(files_key(job.id))
                pipe.hset(files_key(job.id), mapping=blobs)
                pipe.expire(files_key(job.id), RESULT_SECONDS)
                pipe.execute()
            finished["files"] = {n: hashlib.sha256(b).hexdigest() for n, b in blobs.items()}
        return finished
    except Exception as exc:
        with lock:
            job.meta["error"] = public_error(exc)
        flush(force=True)
        raise
    finally:
        done.set()
        watcher.join(2)
        flush(force=True)
        shutil.rmtree(folder, ignore_errors=True)


def serve(url: str, burst: bool = False, name: str | None = None) -> int:
    """An RQ worker on the shared queue, with a short heartbeat: a run whose worker is killed
    or loses its machine is failed (by RQ, as abandoned) within MONITOR_SECONDS +
    HEARTBEAT_SLACK = 15 s plus the servers' next look (about a second). Plain `rq worker`
    works too, with RQ's defaults (30 + 60 s)."""
    from redis import Redis
    from rq import Queue, Worker

    class LabWorker(Worker):
        def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
            return self.job_monitoring_interval + HEARTBEAT_SLACK

    conn = Redis.from_url(url)
    worker = LabWorker([Queue(QUEUE_NAME, connection=conn)], connection=conn, name=name,
                       job_monitoring_interval=MONITOR_SECONDS)
    worker.work(burst=burst, with_scheduler=False)
    return 0


def cli(args) -> int:
    """`python -m ae_core worker --url redis://HOST:PORT/DB [--burst] [--name NAME]`."""
    return serve(args.url, burst=args.burst, name=args.name)


if __name__ == "__main__":
    sys.exit(main())
