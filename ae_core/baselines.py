"""Classical reconstructions to compare the networks with. Each maps (N, 28, 28) -> (N, 28, 28)."""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage


def identity(x: np.ndarray) -> np.ndarray:
    """The noisy input itself: what you get with no model at all."""
    return np.asarray(x, dtype=np.float32).reshape(-1, 28, 28)


def median3(x: np.ndarray) -> np.ndarray:
    """A 3x3 median filter."""
    return ndimage.median_filter(identity(x), size=(1, 3, 3), mode="nearest")


def gaussian_blur(x: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """A Gaussian blur with standard deviation `sigma` pixels."""
    return ndimage.gaussian_filter(identity(x), sigma=(0, sigma, sigma), mode="nearest")


def nl_means(x: np.ndarray) -> np.ndarray:
    """Non-local means (scikit-image), with the noise level estimated from each image."""
    from skimage.restoration import denoise_nl_means, estimate_sigma

    out = np.empty_like(identity(x))
    for i, img in enumerate(identity(x)):
        sigma = float(estimate_sigma(img))
        out[i] = denoise_nl_means(img, h=0.8 * max(sigma, 1e-3), sigma=sigma, patch_size=5,
                                  patch_distance=6, fast_mode=True)
    return np.clip(out, 0.0, 1.0)


class PCA:
    """Principal component analysis with `n_components` values per image: the linear autoencoder."""

    def __init__(self, x_train: np.ndarray, n_components: int = 32):
        flat = identity(x_train).reshape(len(x_train), -1).astype(np.float64)
        self.mean = flat.mean(axis=0)
        _, _, vt = np.linalg.svd(flat - self.mean, full_matrices=False)
        self.components = vt[:n_components]  # (k, 784)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return (identity(x).reshape(len(identity(x)), -1) - self.mean) @ self.components.T

    def decode(self, code: np.ndarray) -> np.ndarray:
        flat = np.asarray(code) @ self.components + self.mean
        return np.clip(flat, 0.0, 1.0).reshape(-1, 28, 28).astype(np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(x))


def all_baselines(x_train: np.ndarray) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Name -> function, the PCA fitted on `x_train`."""
    return {"noisy input": identity, "PCA-32": PCA(x_train, 32), "median 3x3": median3,
            "Gaussian sigma 1": gaussian_blur, "non-local means": nl_means}
