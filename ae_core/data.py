"""MNIST digits: the bundled 10,000-digit subset (offline) and full MNIST when it is available.

Images are float32 in [0, 1] with shape (N, 28, 28); labels are uint8 with shape (N,).
"""
from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BUNDLED_PATH = Path(__file__).resolve().parent / "data" / "mnist_subset.npz"
KERAS_CACHE_PATH = Path.home() / ".keras" / "datasets" / "mnist.npz"
ENV_VAR = "AE_MNIST_PATH"
SPLIT_SEED = 1234
TEST_FRACTION = 0.2
DOWNLOAD_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Dataset:
    """A train/test split of MNIST digits, with where it came from."""

    x_train: np.ndarray  # (N, 28, 28) float32 in [0, 1]
    y_train: np.ndarray  # (N,) uint8
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # "bundled", "keras-cache", "download" or a file path
    sha256: str  # hash of the file the digits came from (first 16 hex digits)
    message: str = ""  # one line for the user, e.g. why a fallback happened


def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _to_float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0


def stratified_split(labels: np.ndarray, test_fraction: float = TEST_FRACTION,
                     seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) with each class split in the same proportion; fixed by `seed`."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_bundled() -> Dataset:
    """The 10,000 real MNIST digits shipped with ae_core, split 8,000 / 2,000 (stratified, fixed)."""
    with np.load(BUNDLED_PATH) as f:
        images, labels = f["images"], f["labels"]
    train, test = stratified_split(labels)
    return Dataset(_to_float(images[train]), labels[train], _to_float(images[test]), labels[test],
                   source="bundled", sha256=_file_hash(BUNDLED_PATH))


def _load_npz(path: Path, source: str) -> Dataset:
    """A file in Keras' mnist.npz layout (x_train, y_train, x_test, y_test as uint8)."""
    try:
        with np.load(path) as f:
            x_train, y_train, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable mnist.npz (expected arrays x_train, y_train, "
                         f"x_test, y_test). Received error: {exc}") from exc
    if x_train.shape[1:] != (28, 28) or x_test.shape[1:] != (28, 28):
        raise ValueError(f"{path}: expected 28x28 images. Received: x_train {x_train.shape}, "
                         f"x_test {x_test.shape}")
    return Dataset(_to_float(x_train), y_train.astype(np.uint8), _to_float(x_test),
                   y_test.astype(np.uint8), source=source, sha256=_file_hash(path))


def _download() -> Path:
    """Fetch mnist.npz through Keras (it caches it in ~/.keras/datasets); bounded in time."""
    import keras  # imported here: the bundled path never needs Keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        keras.datasets.mnist.load_data()
    finally:
        socket.setdefaulttimeout(previous)
    return KERAS_CACHE_PATH


def load_mnist(source: str = "bundled") -> Dataset:
    """Load digits from `source`.

    Args:
        source: "bundled" (the shipped 10,000-digit subset), "full" (a local mnist.npz from
            $AE_MNIST_PATH or the Keras cache, else a download through Keras, else the bundled
            set with a message saying why), or a path to an mnist.npz file.

    Returns:
        A `Dataset`. For "full", `message` says which file was used or why it fell back.

    Raises:
        ValueError: for an unknown source or a path that is not a readable mnist.npz.
    """
    if source == "bundled":
        return load_bundled()
    if source != "full":
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"No MNIST file at {path}. Pass 'bundled', 'full' or the path of an "
                             f"existing mnist.npz. Received: source={source!r}")
        return _load_npz(path, source=str(path))
    env_path = os.environ.get(ENV_VAR)
    if env_path:
        return load_mnist(env_path)
    if KERAS_CACHE_PATH.is_file():
        return _load_npz(KERAS_CACHE_PATH, source="keras-cache")
    try:
        path = _download()
        data = _load_npz(path, source="download")
        return Dataset(**{**data.__dict__, "message": f"Downloaded full MNIST to {path}."})
    except Exception as exc:  # noqa: BLE001 - any failure to download means: use the bundled set
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        data = load_bundled()
        return Dataset(**{**data.__dict__, "message": (
            f"Full MNIST could not be downloaded ({reason}); using the bundled 10,000 digits. "
            f"Set {ENV_VAR} to a local mnist.npz to use full MNIST offline.")})
