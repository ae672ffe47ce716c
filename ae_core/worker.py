"""A training run in its own process: `python -m ae_core.worker`, driven through pipes.

The app's server never imports TensorFlow; it starts one of these per run (`lab.jobs`). The
protocol, one JSON object a line:

- stdin, from the server: first the request (below), then `cancel` lines. Closing stdin (the
  server went away) cancels too.
- stdout, to the server: events. `{"type": "started", "pid": ...}` once the process runs;
  `{"type": "begin", "steps": ..., "epochs": ...}` when Keras starts fitting; `{"type": "batch",
  "epoch": ..., "fraction": ...}` at most a few times a second; `{"type": "epoch", "epoch": N,
  "loss": ..., "val_loss": ..., "elapsed": ...}` after each epoch; and last either
  `{"type": "finished", "status": ..., "name": NAME or null, "history": ..., "warning": ...}` or
  `{"type": "failed", "error": ...}`.

The request: `{"preset": NAME, "config": TrainConfig.to_dict(), "train_digits": N or null,
"folder": PATH, "name": NAME, "nice": N}`. The run trains through `pipeline.train_and_save`,
the CLI's entry point, and saves the finished model (store format, with ONNX) into `folder`,
a private scratch folder the server hands to the visitor's session.

This module imports nothing heavy at the top: the server imports it for `training_data`.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time

import numpy as np

BATCH_EVENT_SECONDS = 0.25  # at most this often a progress event within an epoch


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


def run(request: dict, emit, cancel: threading.Event) -> None:
    """Train and save as `request` says, reporting through `emit(event_dict)`."""
    from . import pipeline, presets
    from .config import TrainConfig
    from .training import StopOnEvent

    preset = presets.get(request["preset"])
    config = TrainConfig.from_dict(request["config"])
    data = training_data(request.get("train_digits"))
    result, path = pipeline.train_and_save(
        preset.spec, config, data, request["folder"], request["name"], preset=request["preset"],
        callbacks=[_progress(emit, config.epochs), StopOnEvent(cancel)])
    emit({"type": "finished", "status": result.status, "epochs_run": result.epochs_run,
          "seconds": round(result.seconds, 3), "name": path.stem if path else None,
          "history": _finite(result.history),
          "warning": pipeline.divergence_warning(result.history, config.loss)})


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
        run(request, emit, cancel)
    except Exception as exc:  # noqa: BLE001 - reported to the server as a failed run
        import traceback

        traceback.print_exc()
        message = str(exc).splitlines()[0][:300] if str(exc) else ""
        emit({"type": "failed", "error": f"{type(exc).__name__}: {message}".rstrip(": ")})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
