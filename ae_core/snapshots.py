"""Watch a model learn: a fixed strip of validation images, reconstructed after every epoch.

`strip_indices` picks the strip (8 validation images, one per class, the first of each: the
same strip for the same data on every run). `snapshot_callback` is a Keras callback that runs
the strip (and optionally one extra image, the visitor's current input) through the model at
the end of every epoch and hands a small `Snapshot` to a function: the reconstructions as uint8
bytes (784 a picture: 7 KB for nine), which `to_event` puts into a trainer's progress event.
`png_snapshots` writes the strip as one captioned PNG per epoch (`--snapshots DIR`).

The callback times its own work (`spent`), so its cost per epoch can be measured against the
epoch's time. No Keras at import time: the page reads events with `from_event` and draws
them with `strip_png` without TensorFlow.
"""
from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

STRIP = 8


def strip_indices(labels: np.ndarray, n: int = STRIP) -> np.ndarray:
    """`n` indices into a validation split: the first image of each class in class order
    (classes 0..n-1 when there are at least n), then the next ones of each class in turn."""
    labels = np.asarray(labels)
    if not 1 <= n <= len(labels):
        raise ValueError(f"n must be from 1 to the {len(labels)} validation images. Received: n={n!r}")
    by_class = [list(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    out: list[int] = []
    while len(out) < n:
        for members in by_class:
            if members and len(out) < n:
                out.append(int(members.pop(0)))
    return np.array(out)


def to_uint8(images: np.ndarray) -> np.ndarray:
    return np.round(np.clip(np.asarray(images, np.float32).reshape(-1, 28, 28), 0, 1) * 255).astype(np.uint8)


@dataclass(frozen=True)
class Snapshot:
    """The strip's reconstructions after one epoch (and the extra input's, last, if any)."""

    epoch: int  # 1-based
    pixels: bytes  # uint8, 784 bytes a picture, the strip first
    n: int  # how many pictures
    seconds: float  # the forward pass's time for this epoch (0 when read back from an event)

    def images(self) -> np.ndarray:
        """(n, 28, 28) float32 in [0, 1]."""
        return np.frombuffer(self.pixels, np.uint8).reshape(self.n, 28, 28).astype(np.float32) / 255.0

    def to_event(self) -> dict:
        """A JSON-ready progress event: {"type": "snapshot", "epoch", "n", "pixels" (base64)}."""
        return {"type": "snapshot", "epoch": self.epoch, "n": self.n,
                "pixels": base64.b64encode(self.pixels).decode("ascii")}


def from_event(event: dict) -> Snapshot:
    """A `Snapshot` back from `Snapshot.to_event`'s dict; checks its size."""
    try:
        raw = base64.b64decode(event["pixels"], validate=True)
        n, epoch = int(event["n"]), int(event["epoch"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"Not a snapshot event ({type(exc).__name__}). Received keys: {sorted(event)}") from None
    if not 1 <= n <= STRIP + 1 or len(raw) != 784 * n:
        raise ValueError(f"A snapshot holds 1 to {STRIP + 1} pictures of 784 bytes. Received: n={n}, "
                         f"{len(raw)} bytes")
    return Snapshot(epoch, raw, n, 0.0)


def strip_event(originals: np.ndarray, captions: list[str]) -> dict:
    """The strip itself, sent once before training: {"type": "strip", "n", "pixels", "captions"}."""
    pixels = to_uint8(originals).tobytes()
    return {"type": "strip", "n": len(originals), "captions": list(captions),
            "pixels": base64.b64encode(pixels).decode("ascii")}


def snapshot_callback(strip: np.ndarray, on_snapshot: Callable[[Snapshot], None], extra: np.ndarray | None = None):
    """A Keras callback: after every epoch, the model's reconstructions of `strip` (N, 28, 28)
    (and of `extra`, one (28, 28) image, appended) as a `Snapshot` to `on_snapshot`.

    The fitted model runs the batch with `predict_on_batch` (its compiled inference function: a
    few ms, where an eager call costs several times that); for a VAE that is its training
    wrapper, which decodes the code's mean when not training.
    Its lists hold, per epoch, the seconds of the forward pass (`forward`), of the whole
    snapshot including `on_snapshot` (`spent`) and of the whole epoch (`epoch_seconds`).
    """
    import keras

    x = np.asarray(strip, np.float32).reshape(-1, 28, 28, 1)
    if extra is not None:
        x = np.concatenate([x, np.asarray(extra, np.float32).reshape(1, 28, 28, 1)])

    class Snapshots(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.forward: list[float] = []
            self.spent: list[float] = []
            self.epoch_seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            start = time.perf_counter()
            out = self.model.predict_on_batch(x)
            out = out[0] if isinstance(out, (list, tuple)) else out
            pixels = to_uint8(np.asarray(out)).tobytes()
            self.forward.append(time.perf_counter() - start)
            on_snapshot(Snapshot(epoch + 1, pixels, len(x), self.forward[-1]))
            end = time.perf_counter()
            self.spent.append(end - start)
            self.epoch_seconds.append(end - self._start)

    return Snapshots()


def strip_png(originals: np.ndarray, recons: np.ndarray, epoch: int, captions: list[str] | None = None,
              title: str = "") -> bytes:
    """One epoch's strip as a PNG: the originals on top, the reconstructions below, captioned
    "Epoch N" (and `title`), each column labelled with `captions`."""
    from .figures import grid_png

    head = f"Epoch {epoch}: validation images (top) and the model's reconstructions after epoch {epoch}"
    rows = [("Original", np.asarray(originals).reshape(-1, 28, 28)),
            (f"Epoch {epoch}", np.asarray(recons).reshape(-1, 28, 28))]
    return grid_png(rows, head + (f". {title}" if title else "."), captions, scale=2, optimize=False)


def png_snapshots(folder: Path | str, data, title: str = ""):
    """A callback that writes `folder/epoch_001.png`, ... (the strip of `data`'s validation
    images, `strip_png`) after every epoch."""
    from .data import class_names

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    idx = strip_indices(data.y_val)
    originals = data.x_val[idx]
    names = class_names(data.source)
    captions = [names[int(c)] if int(c) < len(names) else str(c) for c in data.y_val[idx]]

    def write(snap: Snapshot) -> None:
        png = strip_png(originals, snap.images(), snap.epoch, captions, title)
        (folder / f"epoch_{snap.epoch:03d}.png").write_bytes(png)

    return snapshot_callback(originals, write)


def cost_line(callback) -> str:
    """One line: what the snapshots cost per epoch, measured by `snapshot_callback`'s callback."""
    if not callback.spent:
        return "snapshots: no epoch finished"
    fwd, spent = 1000 * np.median(callback.forward), 1000 * np.median(callback.spent)
    epoch = 1000 * np.median(callback.epoch_seconds)
    return (f"snapshots: median per epoch {fwd:.1f} ms for the forward pass (what a progress event "
            f"costs, {100 * fwd / epoch:.2f}% of the epoch), {spent:.1f} ms with writing the PNG "
            f"({100 * spent / epoch:.2f}%); median epoch {epoch:.0f} ms")
