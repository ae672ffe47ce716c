"""Per-image quality metrics against the clean digit. Arrays are (N, 28, 28[, 1]) in [0, 1].

Each function returns one value per image, shape (N,); one image (28, 28) counts as N = 1.
`clean` and `recon` must hold the same number of images; NaN, inf or values outside [0, 1]
raise a `ValueError` that says what was received.
"""
from __future__ import annotations

import numpy as np

from .checks import unit_range

EPS = 1e-7  # Keras' epsilon: BCE matches keras.losses.binary_crossentropy


def _pair(clean: np.ndarray, recon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both checked (finite, in [0, 1], 784 pixels an image, as many images), as (N, 784).

    `clean` becomes float64; `recon` keeps float32 precision (BCE clips it in float32, as Keras)."""
    a = unit_range(clean, "clean images", np.float64)
    b = unit_range(recon, "reconstructions", np.float64 if getattr(recon, "dtype", None) == np.float64 else np.float32)
    if a.size % 784 or b.size % 784 or a.size != b.size or a.size == 0:
        raise ValueError("Expected clean images and reconstructions of the same shape (N, 28, 28[, 1]). "
                         f"Received: clean shape={a.shape}, recon shape={b.shape}")
    return a.reshape(-1, 784), b.reshape(-1, 784)


def _flat(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(-1, 784)


def bce(clean: np.ndarray, recon: np.ndarray) -> np.ndarray:
    """Binary cross-entropy per image (the tutorial's loss), computed as Keras computes it."""
    clean, recon = _pair(clean, recon)
    eps = np.float32(EPS)  # clip in float32, as Keras does, so exact 0s and 1s score the same
    p = np.clip(recon.astype(np.float32), eps, np.float32(1) - eps)
    t, p = _flat(clean), _flat(p)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(axis=1)


def mse(clean: np.ndarray, recon: np.ndarray) -> np.ndarray:
    clean, recon = _pair(clean, recon)
    return ((_flat(clean) - _flat(recon)) ** 2).mean(axis=1)


PSNR_CAP = 100.0  # dB: what psnr gives for a perfect match (it has no finite PSNR)


def psnr(clean: np.ndarray, recon: np.ndarray) -> np.ndarray:
    """Peak signal-to-noise ratio in dB (data range 1); capped at PSNR_CAP for a perfect match."""
    return np.minimum(10 * np.log10(1.0 / np.maximum(mse(clean, recon), 1e-10)), PSNR_CAP)


def set_psnr(clean: np.ndarray, recon: np.ndarray) -> float:
    """PSNR (dB) of a set of images: of the mean MSE over the set, not the mean of per-image dB
    (which one near-perfect image can inflate); capped at PSNR_CAP when every image matches."""
    return float(min(10 * np.log10(1.0 / max(float(mse(clean, recon).mean()), 1e-10)), PSNR_CAP))


def _box_mean(x: np.ndarray, size: int) -> np.ndarray:
    """`scipy.ndimage.uniform_filter(x, (1, size, size))` (mode "reflect") in NumPy: the mean of
    each size x size window of every image, edges mirrored. (SciPy costs 0.4 s to import.)"""
    half = size // 2
    x = np.pad(x, ((0, 0), (half, size - 1 - half), (half, size - 1 - half)), mode="symmetric")
    c = np.zeros((x.shape[0], x.shape[1] + 1, x.shape[2]))
    np.cumsum(x, axis=1, out=c[:, 1:])
    rows = c[:, size:] - c[:, :-size]  # sums over `size` rows
    c = np.zeros((rows.shape[0], rows.shape[1], rows.shape[2] + 1))
    np.cumsum(rows, axis=2, out=c[:, :, 1:])
    return (c[:, :, size:] - c[:, :, :-size]) / (size * size)


def ssim(clean: np.ndarray, recon: np.ndarray, win_size: int = 7) -> np.ndarray:
    """Structural similarity, as skimage.metrics.structural_similarity(data_range=1) per image.

    `win_size` is checked as skimage checks it: odd, and no larger than the 28-pixel image; and
    at least 3, since a 1-pixel window has no variance (skimage divides by zero there).
    """
    if isinstance(win_size, bool) or not isinstance(win_size, (int, np.integer)) or win_size % 2 == 0 \
            or not 3 <= win_size <= 28:
        raise ValueError("win_size must be an odd integer from 3 to 27 (the window fits in a 28x28 "
                         f"image). Received: win_size={win_size!r}")
    clean, recon = _pair(clean, recon)
    a, b = _flat(clean).reshape(-1, 28, 28), _flat(recon).reshape(-1, 28, 28)
    means = _box_mean(np.concatenate([a, b, a * a, b * b, a * b]), win_size)  # one pass for all five
    ux, uy, uxx, uyy, uxy = np.split(means, 5)
    cov_norm = win_size**2 / (win_size**2 - 1)
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    pad = (win_size - 1) // 2
    return s[:, pad:-pad, pad:-pad].mean(axis=(1, 2))


def all_metrics(clean: np.ndarray, recon: np.ndarray) -> dict[str, np.ndarray]:
    return {"bce": bce(clean, recon), "mse": mse(clean, recon), "psnr": psnr(clean, recon),
            "ssim": ssim(clean, recon)}
