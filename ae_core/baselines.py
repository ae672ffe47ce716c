"""Classical reconstructions to compare the networks with. Each maps (N, 28, 28) -> (N, 28, 28)."""
from __future__ import annotations

from typing import Callable

import numpy as np


def identity(x: np.ndarray) -> np.ndarray:
    """The noisy input itself: what you get with no model at all."""
    return np.asarray(x, dtype=np.float32).reshape(-1, 28, 28)


def median3(x: np.ndarray) -> np.ndarray:
    """A 3x3 median filter."""
    from scipy import ndimage  # imported when used: the page imports this module for PCA alone

    return ndimage.median_filter(identity(x), size=(1, 3, 3), mode="nearest")


def gaussian_blur(x: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """A Gaussian blur with standard deviation `sigma` pixels."""
    from scipy import ndimage

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
    """Principal component analysis: the linear autoencoder, and the code map's projection.

    Fitted once with scikit-learn (exact SVD, deterministic; each component's sign makes its
    largest loading positive) on `x` (N, ...), each row flattened; keeps `n_components`
    components (k, D), the mean (D,) and each component's share of the variance (k,).
    Called on images (N, 28, 28) it returns their reconstructions, clipped to [0, 1].
    """

    def __init__(self, x: np.ndarray, n_components: int = 32):
        from sklearn.decomposition import PCA as _PCA

        flat = np.asarray(x, np.float64).reshape(len(x), -1)
        fit = _PCA(n_components, svd_solver="full").fit(flat)
        self.mean, self.components = fit.mean_, fit.components_  # (D,), (k, D)
        self.explained = fit.explained_variance_ratio_  # (k,)

    def first(self, k: int) -> "PCA":
        """The PCA with this one's first `k` components (the same as fitting with k)."""
        out = object.__new__(PCA)
        out.mean, out.components, out.explained = self.mean, self.components[:k], self.explained[:k]
        return out

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes (N, k) of rows `x` (N, ...)."""
        x = np.asarray(x, np.float64)
        return (x.reshape(len(x), -1) - self.mean) @ self.components.T

    def decode(self, code: np.ndarray) -> np.ndarray:
        """Images (N, 28, 28) in [0, 1] from codes (N, k)."""
        flat = np.asarray(code) @ self.components + self.mean
        return np.clip(flat, 0.0, 1.0).reshape(-1, 28, 28).astype(np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(identity(x)))


def all_baselines(x_train: np.ndarray) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Name -> function, the PCA fitted on `x_train`."""
    return {"noisy input": identity, "PCA-32": PCA(x_train, 32), "median 3x3": median3,
            "Gaussian sigma 1": gaussian_blur, "non-local means": nl_means}
