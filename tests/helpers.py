"""Small shared test data: a slice of the bundled digits keeps training tests fast."""
from __future__ import annotations

import functools

import numpy as np

from ae_core.data import Dataset, load_bundled


@functools.lru_cache(maxsize=1)
def bundled() -> Dataset:
    return load_bundled()


def tiny(n_train: int = 1024, n_test: int = 256) -> Dataset:
    """A random (fixed) slice of every class: the split itself is sorted by class."""
    d = bundled()
    rng = np.random.default_rng(0)
    tr = rng.choice(len(d.x_train), n_train, replace=False)
    te = rng.choice(len(d.x_test), n_test, replace=False)
    return Dataset(d.x_train[tr], d.y_train[tr], d.x_test[te], d.y_test[te],
                   source=d.source, sha256=d.sha256)
