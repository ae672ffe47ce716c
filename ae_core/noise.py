"""Corruptions for denoising: Gaussian (as in the tutorial), salt-and-pepper and block masking.

Every function takes images in [0, 1] of any shape whose last two axes are (28, 28) or that
are flat (..., 784), an explicit level and an explicit seed: same seed, same noise.

A corruption is two steps. `field(kind, seed, shape)` makes the random draws, which depend on
neither the level nor the digit; `apply(x, field, level)` turns them into the noisy images.
The Lab page gets the field once per (kind, seed) as `field_json` and applies the level itself
(`noiseApply` in lab/compute.js, the same arithmetic in the same float types), so a slider
step needs no server and gives the same pixels as Python (tests/test_parity.py).
"""
from __future__ import annotations

import base64

import numpy as np

from .checks import unit_range

KINDS = ("gaussian", "salt_pepper", "mask")
MASK_BLOCK = 4  # side of the squares the mask blacks out


def _check_level(level) -> float:
    try:
        ok = 0.0 <= float(level) <= 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok or isinstance(level, (str, bytes)):
        raise ValueError(f"Noise level must be a number in [0, 1]. Received: level={level!r}")
    return float(level)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer. Received: seed={seed!r}")
    return int(seed)


def _check_kind(kind) -> str:
    if kind not in KINDS:
        raise ValueError(f"Unknown noise kind. Expected one of {KINDS}. Received: kind={kind!r}")
    return kind


def _check_shape(shape) -> tuple[int, ...]:
    shape = tuple(int(n) for n in shape)
    if not (shape[-2:] == (28, 28) or shape[-3:] == (28, 28, 1) or shape[-1:] == (784,)):
        raise ValueError("Images to corrupt must be shaped (..., 28, 28), (..., 28, 28, 1) or "
                         f"(..., 784). Received: shape={shape}")
    return shape


def _check(x: np.ndarray, level: float, seed) -> np.ndarray:
    """Images in [0, 1] shaped (..., 28, 28), (..., 28, 28, 1) or (..., 784); a level in [0, 1]."""
    _check_level(level)
    _check_seed(seed)
    x = unit_range(x, "Images to corrupt")
    _check_shape(x.shape)
    return x


def field(kind: str, seed: int, shape=(28, 28), block: int = MASK_BLOCK) -> dict:
    """The random draws of noise `kind` for images of `shape`, whatever the level and the digit.

    Returns a dict with "kind", "seed", "shape" and the draws:
        gaussian: "z", N(0, 1) float32 of `shape`;
        salt_pepper: "u", uniform [0, 1) float64 of `shape` (a pixel is hit when u < level), and
            "salt", uint8 of `shape` (1: the hit pixel turns white, 0: black);
        mask: "block", and "rank", uint8 (images, cells * cells): each block's rank in a random
            order per image (the blocks ranked below round(level * cells * cells) are blacked out).
    """
    _check_kind(kind)
    seed = _check_seed(seed)
    shape = _check_shape(shape)
    rng = np.random.default_rng(seed)
    out = {"kind": kind, "seed": seed, "shape": shape}
    if kind == "gaussian":
        out["z"] = rng.standard_normal(shape, dtype=np.float32)
    elif kind == "salt_pepper":
        out["u"] = rng.random(shape)
        out["salt"] = (rng.random(shape) < 0.5).astype(np.uint8)
    else:
        if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or not 1 <= block <= 28:
            raise ValueError(f"block must be an integer from 1 to 28. Received: block={block!r}")
        cells = 28 // int(block)
        images = int(np.prod(shape)) // 784
        out["block"] = int(block)
        out["rank"] = np.array([rng.permutation(cells * cells) for _ in range(images)],
                               np.uint16 if cells * cells > 256 else np.uint8).reshape(images, cells * cells)
    return out


def _masked_cells(level: float, cells: int) -> int:
    """How many of the cells x cells blocks a mask at `level` blacks out (the page rounds alike)."""
    return round(level * cells * cells)  # round(): half to even


def apply(x: np.ndarray, noise: dict, level: float) -> np.ndarray:
    """`x` corrupted by the draws `noise` (from `field`) at `level` in [0, 1], float32.

    gaussian: clip(x + float32(level) * z, 0, 1), all in float32;
    salt_pepper: where(u < level, salt, x);
    mask: x with the blocks ranked below round(level * cells * cells) set to 0.
    """
    level = _check_level(level)
    x = unit_range(x, "Images to corrupt")
    if not isinstance(noise, dict) or noise.get("kind") not in KINDS:
        raise ValueError(f"Expected a noise field from noise.field(). Received: {type(noise).__name__}")
    if tuple(noise["shape"]) != x.shape:
        raise ValueError(f"The noise field is for images shaped {tuple(noise['shape'])}. "
                         f"Received: shape={x.shape}")
    return _apply(x, noise, level)


def _apply(x: np.ndarray, noise: dict, level: float) -> np.ndarray:
    kind = noise["kind"]
    if kind == "gaussian":
        noisy = np.clip(x + np.float32(level) * noise["z"], 0.0, 1.0)
        noisy += np.float32(0)  # -0.0 becomes 0.0: NumPy's clip keeps a -0.0, the page's need not
        return noisy
    if kind == "salt_pepper":
        return np.where(noise["u"] < level, noise["salt"].astype(np.float32), x)
    block = noise["block"]
    cells = 28 // block
    rank = np.asarray(noise["rank"]).reshape(-1, cells * cells)
    inside = np.arange(28) < cells * block  # rows and columns past the last whole block keep their ink
    cell = (np.arange(28) // block)[:, None] * cells + (np.arange(28) // block)[None, :]
    black = (rank[:, np.minimum(cell, cells * cells - 1)] < _masked_cells(level, cells)) \
        & inside[:, None] & inside[None, :]
    images = x.reshape(-1, 28, 28)
    return np.where(black, np.float32(0), images).reshape(x.shape)


def field_json(kind: str, seed: int, shape=(28, 28)) -> dict:
    """`field(kind, seed, shape)` for the page: JSON-able, each array as base64 of its
    little-endian bytes ("z" float32, "u" float64, "salt" and "rank" uint8), "shape" a list."""
    noise = field(kind, seed, shape)
    out = {}
    for key, value in noise.items():
        if isinstance(value, np.ndarray):
            out[key] = base64.b64encode(value.astype(value.dtype.newbyteorder("<")).tobytes()).decode("ascii")
        else:
            out[key] = list(value) if key == "shape" else value
    return out


def gaussian(x: np.ndarray, level: float, seed: int) -> np.ndarray:
    """The tutorial's noise: clip(x + level * N(0, 1), 0, 1)."""
    x = _check(x, level, seed)
    return _apply(x, field("gaussian", seed, x.shape), float(level))


def salt_pepper(x: np.ndarray, level: float, seed: int) -> np.ndarray:
    """A fraction `level` of the pixels set to 0 or 1 at random (half each)."""
    x = _check(x, level, seed)
    return _apply(x, field("salt_pepper", seed, x.shape), float(level))


def mask(x: np.ndarray, level: float, seed: int, block: int = MASK_BLOCK) -> np.ndarray:
    """Random `block` x `block` squares blacked out until about a fraction `level` is covered."""
    x = _check(x, level, seed)
    return _apply(x, field("mask", seed, x.shape, block=block), float(level))


def add_noise(x: np.ndarray, level: float, seed: int, kind: str = "gaussian") -> np.ndarray:
    """Corrupt `x` with noise `kind` ('gaussian', 'salt_pepper' or 'mask') at `level` in [0, 1]."""
    _check_kind(kind)
    x = _check(x, level, seed)
    return _apply(x, field(kind, seed, x.shape), float(level))
