"""Small shared test data: a slice of the bundled digits keeps training tests fast."""
from __future__ import annotations

import functools

import numpy as np

from ae_core.data import Dataset, load_bundled


@functools.lru_cache(maxsize=1)
def bundled() -> Dataset:
    return load_bundled()


def tiny(n_train: int = 1024, n_test: int = 256) -> Dataset:
    """A random (fixed) slice of every class: the split itself is sorted by class.

    Validation and test each get `n_test` digits (validation at most its 1,000).
    """
    d = bundled()
    rng = np.random.default_rng(0)
    tr = rng.choice(len(d.x_train), n_train, replace=False)
    va = rng.choice(len(d.x_val), min(n_test, len(d.x_val)), replace=False)
    te = rng.choice(len(d.x_test), n_test, replace=False)
    return d.subset(train=tr, val=va, test=te)
