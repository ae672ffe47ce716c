"""Small shared test data: a slice of the bundled digits keeps training tests fast."""
from __future__ import annotations

import functools

from ae_core.data import Dataset, load_bundled


@functools.lru_cache(maxsize=1)
def bundled() -> Dataset:
    return load_bundled()


def tiny(n_train: int = 1024, n_test: int = 256) -> Dataset:
    d = bundled()
    return Dataset(d.x_train[:n_train], d.y_train[:n_train], d.x_test[:n_test], d.y_test[:n_test],
                   source=d.source, sha256=d.sha256)
