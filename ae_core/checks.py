"""Checks for arrays that reach `ae_core` from outside: a `ValueError` that says what was received.

Images are numbers in [0, 1]. Anything else (strings, objects, complex numbers, NaN or inf,
0-255 pixels, a ragged list) is refused here, before it can turn into a silent NaN or a
misleading "nothing drawn" further down.
"""
from __future__ import annotations

import numpy as np

TOLERANCE = 1e-5  # float rounding just outside [0, 1] (e.g. a weighted sum of 1.0s) is accepted


def numeric(x, what: str = "images", dtype=np.float32) -> np.ndarray:
    """`x` as a float array (float32 unless `dtype` says otherwise); refuses non-numeric dtypes, ragged lists and NaN or inf."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise ValueError(f"{what} must be a numeric array. Received: {type(x).__name__} "
                         f"({str(exc).splitlines()[0][:80]})") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be a numeric (bool, integer or float) array. "
                         f"Received: dtype={arr.dtype}")
    arr = arr.astype(dtype, copy=False)
    if arr.size and not np.isfinite(arr).all():
        n = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"{what} must hold finite values. Received: {n} NaN or inf values "
                         f"(of {arr.size})")
    return arr


def unit_range(x, what: str = "images", dtype=np.float32) -> np.ndarray:
    """`numeric(x)`, also checked to lie in [0, 1] (0-255 pixels get a hint)."""
    arr = numeric(x, what, dtype)
    if arr.size:
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -TOLERANCE or hi > 1.0 + TOLERANCE:
            hint = " (0-255 pixels? divide by 255)" if 2.0 <= hi <= 255.0 and lo >= 0 else ""
            raise ValueError(f"{what} must be in [0, 1]{hint}. Received: values from {lo:g} to {hi:g}")
    return arr
