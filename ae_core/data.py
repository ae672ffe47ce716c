"""MNIST digits: the bundled 10,000-digit subset (offline) and full MNIST when it is available;
and clothing: a bundled 10,000-item subset of Fashion-MNIST, to show that a model is data-specific.

Images are float32 in [0, 1] with shape (N, 28, 28); labels are uint8 with shape (N,).
Fashion-MNIST (Zalando Research, MIT licence, https://github.com/zalandoresearch/fashion-mnist)
is 28x28 grey images of ten kinds of clothing (`CLOTHING_CLASSES`); `scripts/build_fashion_subset.py`
builds the bundled subset from Debian's `dataset-fashion-mnist` package.

Every source is split three ways: train (fit the weights), validation (choose designs, epochs
and thresholds; `training.train` watches it) and test (reported once, by `evaluate`).
"""
from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BUNDLED_PATH = Path(__file__).resolve().parent / "data" / "mnist_subset.npz"
CLOTHING_PATH = Path(__file__).resolve().parent / "data" / "fashion_subset.npz"  # scripts/build_fashion_subset.py
CLOTHING_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                    "Sneaker", "Bag", "Ankle boot")  # Fashion-MNIST's labels 0-9
DIGIT_CLASSES = tuple(str(d) for d in range(10))
KINDS = ("digits", "clothing")  # what a bundled set holds; `Dataset.source` "clothing" is the clothing set
CANVAS_PATH = Path(__file__).resolve().parent / "data" / "canvas_test.npz"  # scripts/build_canvas_set.py
KERAS_CACHE_PATH = Path.home() / ".keras" / "datasets" / "mnist.npz"
ENV_VAR = "AE_MNIST_PATH"
SPLIT_SEED = 1234
TEST_FRACTION = 0.2
VAL_SEED = 1235
VAL_FRACTION = 0.125  # of the training digits: 1,000 of the bundled 8,000
DOWNLOAD_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Dataset:
    """A train / validation / test split of MNIST digits, with where it came from."""

    x_train: np.ndarray  # (N, 28, 28) float32 in [0, 1]
    y_train: np.ndarray  # (N,) uint8
    x_val: np.ndarray  # for choosing designs and watching training; never the test digits
    y_val: np.ndarray
    x_test: np.ndarray  # reported once, by `evaluate`
    y_test: np.ndarray
    source: str  # "bundled", "keras-cache", "download" or a file path
    sha256: str  # hash of the file the digits came from (first 16 hex digits)
    message: str = ""  # one line for the user, e.g. why a fallback happened

    def subset(self, train=None, val=None, test=None) -> "Dataset":
        """The same source with only the digits at the given indices of each split (None: all)."""
        def pick(x, y, idx):
            return (x, y) if idx is None else (x[idx], y[idx])

        (xtr, ytr), (xv, yv), (xte, yte) = (pick(self.x_train, self.y_train, train),
                                            pick(self.x_val, self.y_val, val),
                                            pick(self.x_test, self.y_test, test))
        return Dataset(xtr, ytr, xv, yv, xte, yte, source=self.source, sha256=self.sha256,
                       message=self.message)


def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _to_float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0


def stratified_split(labels: np.ndarray, test_fraction: float = TEST_FRACTION,
                     seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) with each class split in the same proportion; fixed by `seed`.

    The test part holds exactly round(len(labels) * test_fraction) digits: each class gets its
    share rounded down, and the classes with the largest remainders one more.
    """
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    shares = np.array([np.sum(labels == c) for c in classes]) * test_fraction
    counts = np.floor(shares).astype(int)
    extra = int(round(len(labels) * test_fraction)) - counts.sum()
    counts[np.argsort(-(shares - counts), kind="stable")[:extra]] += 1
    train, test = [], []
    for label, n_test in zip(classes, counts):
        idx = rng.permutation(np.flatnonzero(labels == label))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _with_validation(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                     y_test: np.ndarray, source: str, sha256: str) -> Dataset:
    """Carve the validation digits out of the training ones (stratified, fixed)."""
    train, val = stratified_split(y_train, VAL_FRACTION, seed=VAL_SEED)
    return Dataset(_to_float(x_train[train]), y_train[train], _to_float(x_train[val]), y_train[val],
                   _to_float(x_test), y_test, source=source, sha256=sha256)


def load_bundled() -> Dataset:
    """The 10,000 real MNIST digits shipped with ae_core: 7,000 train / 1,000 validation / 2,000 test.

    The 2,000 test digits are the same held-out ones as before validation was carved out, so
    an index into `x_test` names the same digit as it always did.
    """
    with np.load(BUNDLED_PATH) as f:
        images, labels = f["images"], f["labels"]
    train, test = stratified_split(labels)
    return _with_validation(images[train], labels[train], images[test], labels[test],
                            source="bundled", sha256=_file_hash(BUNDLED_PATH))


def load_clothing() -> Dataset:
    """The 10,000 bundled Fashion-MNIST items, split as the digits are: 7,000 train / 1,000
    validation / 2,000 test, stratified by class and fixed. `source` is "clothing"."""
    with np.load(CLOTHING_PATH) as f:
        images, labels = f["images"], f["labels"]
    train, test = stratified_split(labels)
    return _with_validation(images[train], labels[train], images[test], labels[test],
                            source="clothing", sha256=_file_hash(CLOTHING_PATH))


def kind_of(source: str | None) -> str:
    """The kind of images a data source holds: "clothing" for the clothing set, else "digits"."""
    return "clothing" if source == "clothing" else "digits"


def class_names(source: str | None) -> tuple[str, ...]:
    """The ten class names of a data source: digits "0".."9" or the clothing names."""
    return CLOTHING_CLASSES if kind_of(source) == "clothing" else DIGIT_CLASSES


def load_canvas_test() -> tuple[np.ndarray, np.ndarray]:
    """(images, labels): test digits re-drawn as the Lab's pad draws them (scripts/build_canvas_set.py)."""
    if not CANVAS_PATH.is_file():
        raise ValueError(f"No canvas-style test set at {CANVAS_PATH}. Build it with "
                         "`python scripts/build_canvas_set.py`.")
    with np.load(CANVAS_PATH) as f:
        return _to_float(f["images"]), f["labels"]


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
    return _with_validation(x_train, y_train.astype(np.uint8), x_test, y_test.astype(np.uint8),
                            source=source, sha256=_file_hash(path))


MNIST_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"  # keras.datasets.mnist's
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def _download() -> Path:
    """Fetch mnist.npz as `keras.datasets.mnist.load_data` does (same file, same checksum);
    returns where Keras put it ($KERAS_HOME/datasets, ~/.keras/datasets or /tmp/.keras/datasets,
    whichever Keras chose). Bounded in time."""
    import keras  # imported here: the bundled path never needs Keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return Path(keras.utils.get_file("mnist.npz", origin=MNIST_ORIGIN, file_hash=MNIST_SHA256))
    finally:
        socket.setdefaulttimeout(previous)


def load_mnist(source: str = "bundled") -> Dataset:
    """Load digits from `source`.

    Args:
        source: "bundled" (the shipped 10,000-digit subset), "clothing" (the shipped 10,000
            Fashion-MNIST items, `load_clothing`), "full" (a local mnist.npz from
            $AE_MNIST_PATH or the Keras cache, else a download through Keras, else the bundled
            set with a message saying why), or a path to an mnist.npz file.

    Returns:
        A `Dataset`. For "full", `message` says which file was used or why it fell back.

    Raises:
        ValueError: for an unknown source or a path that is not a readable mnist.npz.
    """
    if source == "bundled":
        return load_bundled()
    if source == "clothing":
        return load_clothing()
    if source != "full":
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"No MNIST file at {path}. Pass 'bundled', 'clothing', 'full' or the path of an "
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
