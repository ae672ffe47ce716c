"""The in-page runtime for tests that need it (browser and parity tests): fetched once per session."""
from __future__ import annotations

import functools

from lab import runtime


@functools.cache
def ort_ready() -> runtime.Status:
    """`runtime.ensure()` once per test session (downloads onnxruntime-web on a first run, about
    33 MB from the npm registry; later sessions find it in the cache). Returns its Status."""
    return runtime.ensure()
