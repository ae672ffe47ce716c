"""Build ae_core/data/fashion_subset.npz: 10,000 Fashion-MNIST clothing images, 1,000 per class.

Fashion-MNIST (Zalando Research, MIT licence; https://github.com/zalandoresearch/fashion-mnist)
is 70,000 28x28 grey images of ten kinds of clothing, in MNIST's IDX format. Debian packages it
as `dataset-fashion-mnist` (`sudo apt-get install dataset-fashion-mnist`), which installs
`train-images-idx3-ubyte.gz` and `train-labels-idx1-ubyte.gz` under
/usr/share/datasets/fashion-mnist/. This script draws 1,000 items of each class from the
60,000 training items with a fixed seed (so every run writes the same file), keeps them in
their original order, and writes uint8 images (N, 28, 28) and uint8 labels (N,) into one
compressed .npz, the layout of the bundled digits (scripts/build_mnist_subset.py).
`ae_core.data.load_clothing` then splits them as the digits are split: 7,000 train,
1,000 validation, 2,000 test, stratified and fixed. Run it from the repository root:

    python scripts/build_fashion_subset.py [--source /usr/share/datasets/fashion-mnist]

The app and the tests need neither the package nor this script: the result is committed.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
from pathlib import Path

import numpy as np

DEFAULT_SOURCE = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "ae_core" / "data" / "fashion_subset.npz"
PER_CLASS = 1000
SEED = 20171025  # fixed: the same 10,000 items on every run


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not) as a uint8 array: (N, 28, 28) images or (N,) labels."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes. Received header: {raw[:4]!r}")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: the header says {dims}, the file holds {data.size} values")
    return data.reshape(dims)


def select(labels: np.ndarray, per_class: int = PER_CLASS, seed: int = SEED) -> np.ndarray:
    """Indices of `per_class` items of every class, drawn with `seed`, in their original order."""
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in np.unique(labels)]
    return np.sort(np.concatenate(picks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="folder with train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    images = read_idx(args.source / "train-images-idx3-ubyte.gz")
    labels = read_idx(args.source / "train-labels-idx1-ubyte.gz")
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise ValueError(f"Expected (N, 28, 28) images and N labels. Received: {images.shape}, {labels.shape}")
    idx = select(labels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=images[idx], labels=labels[idx].astype(np.uint8))
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()[:16]
    counts = np.bincount(labels[idx], minlength=10).tolist()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): "
          f"{len(idx)} items, per class {counts}, sha256 {digest}")


if __name__ == "__main__":
    main()
