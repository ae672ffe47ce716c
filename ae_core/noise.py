"""Corruptions for denoising: Gaussian (as in the tutorial), salt-and-pepper and block masking.

Every function takes images in [0, 1] of any shape whose last two axes are (28, 28) or that
are flat (..., 784), an explicit level and an explicit seed: same seed, same noise.
"""
from __future__ import annotations

import numpy as np

from .checks import unit_range

KINDS = ("gaussian", "salt_pepper", "mask")


def _check(x: np.ndarray, level: float, seed) -> np.ndarray:
    """Images in [0, 1] shaped (..., 28, 28), (..., 28, 28, 1) or (..., 784); a level in [0, 1]."""
    try:
        ok = 0.0 <= float(level) <= 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok or isinstance(level, (str, bytes)):
        raise ValueError(f"Noise level must be a number in [0, 1]. Received: level={level!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer. Received: seed={seed!r}")
    x = unit_range(x, "Images to corrupt")
    if not (x.shape[-2:] == (28, 28) or x.shape[-3:] == (28, 28, 1) or x.shape[-1:] == (784,)):
        raise ValueError("Images to corrupt must be shaped (..., 28, 28), (..., 28, 28, 1) or "
                         f"(..., 784). Received: shape={x.shape}")
    return x


def gaussian(x: np.ndarray, level: float, seed: int) -> np.ndarray:
    """The tutorial's noise: clip(x + level * N(0, 1), 0, 1)."""
    x = _check(x, level, seed)
    rng = np.random.default_rng(seed)
    noisy = x + level * rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(noisy, 0.0, 1.0)


def salt_pepper(x: np.ndarray, level: float, seed: int) -> np.ndarray:
    """A fraction `level` of the pixels set to 0 or 1 at random (half each)."""
    x = _check(x, level, seed)
    rng = np.random.default_rng(seed)
    hit = rng.random(x.shape) < level
    salt = rng.random(x.shape) < 0.5
    return np.where(hit, salt.astype(np.float32), x).astype(np.float32)


def mask(x: np.ndarray, level: float, seed: int, block: int = 4) -> np.ndarray:
    """Random `block` x `block` squares blacked out until about a fraction `level` is covered."""
    x = _check(x, level, seed)
    images = x.reshape(-1, 28, 28).copy()
    rng = np.random.default_rng(seed)
    cells = 28 // block
    for img in images:
        n = int(round(level * cells * cells))
        for cell in rng.choice(cells * cells, size=n, replace=False):
            r, c = divmod(int(cell), cells)
            img[r * block:(r + 1) * block, c * block:(c + 1) * block] = 0.0
    return images.reshape(x.shape)


def add_noise(x: np.ndarray, level: float, seed: int, kind: str = "gaussian") -> np.ndarray:
    """Corrupt `x` with noise `kind` ('gaussian', 'salt_pepper' or 'mask') at `level` in [0, 1]."""
    funcs = {"gaussian": gaussian, "salt_pepper": salt_pepper, "mask": mask}
    if kind not in funcs:
        raise ValueError(f"Unknown noise kind. Expected one of {KINDS}. Received: kind={kind!r}")
    return funcs[kind](x, level, seed)


def field_json(kind, seed):  # DEV STUB
    import base64
    z = np.random.default_rng(seed).standard_normal((28, 28), dtype=np.float32)
    return {"kind": kind, "z": base64.b64encode(z.astype("<f4").tobytes()).decode()}
