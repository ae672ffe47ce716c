"""The computations behind the exploration pages: latent playground, interpolation, a map of the
code space, "is this a digit?", the noise sweep and PNG export.

Images are float32 in [0, 1]: one image is (28, 28) or (28, 28, 1), a batch (N, 28, 28) or
(N, 28, 28, 1). Codes keep the model's code shape, (N, 32) for the dense presets and
(N, 7, 7, 32) for the tutorial's conv code; statistics, samples and maps use the flattened code.
Inputs and outputs are numpy arrays or small frozen dataclasses, so a UI can cache the results
(`st.cache_data`, with the model passed as an `_underscore` argument) and call the rest per
interaction: a forward pass of one image costs about a millisecond with Keras' `predict_on_batch`,
less with the NumPy runner (`ae_core.runner`, the same interface).
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import metrics
from .checks import numeric, unit_range
from .evaluate import EVAL_SEED, noisy_test_sets
from .models import Autoencoder

BATCH = 500  # images per forward pass when encoding or reconstructing many
SWEEP_LEVELS = tuple(round(0.1 * i, 1) for i in range(11))  # 0.0 ... 1.0, holds 0.2 / 0.5 / 0.8
BLANK_CONTRAST = 0.2  # max - min below this: a blank page (every MNIST digit has about 1.0)


def as_images(x: np.ndarray) -> np.ndarray:
    """One image or a batch as a float32 batch of shape (N, 28, 28, 1).

    Raises:
        ValueError: another shape, a non-numeric dtype, NaN or inf, or values outside [0, 1].
    """
    arr = unit_range(x, "Images")  # numeric, finite, in [0, 1]
    if arr.shape[-2:] != (28, 28) and arr.shape[-3:] != (28, 28, 1):
        raise ValueError("Expected images of shape (28, 28) or (N, 28, 28[, 1]). "
                         f"Received: shape={arr.shape}")
    return arr.reshape(-1, 28, 28, 1)


def _first(outputs):
    """The first output of a net (a VAE encoder also returns the log-variance)."""
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


def _run(net, x: np.ndarray) -> np.ndarray:
    parts = [np.asarray(_first(net.predict_on_batch(x[i:i + BATCH]))) for i in range(0, len(x), BATCH)]
    shape = net.output_shape[0] if isinstance(net.output_shape, list) else net.output_shape
    return np.concatenate(parts) if parts else np.zeros((0, *shape[1:]), np.float32)


def code_shape(model: Autoencoder) -> tuple[int, ...]:
    """The code's shape without the batch axis (a VAE's code is its mean, the first output)."""
    shape = model.encoder.output_shape
    return tuple((shape[0] if isinstance(shape, list) else shape)[1:])


def encode(model: Autoencoder, x: np.ndarray) -> np.ndarray:
    """Codes of images (N, 28, 28[, 1]) or one image (28, 28): shape (N, *code_shape)."""
    return _run(model.encoder, as_images(x))


def encode_all(model: Autoencoder, x: np.ndarray) -> list[np.ndarray]:
    """Every encoder output for images (N, 28, 28[, 1]): [codes] for an autoencoder, [mean,
    log-variance] (N, D) each for a VAE. ONNX nets give them through `run_all`."""
    x = as_images(x)
    run = getattr(model.encoder, "run_all", None) or model.encoder.predict_on_batch
    chunks = [run(x[i:i + BATCH]) for i in range(0, max(len(x), 1), BATCH)]
    chunks = [c if isinstance(c, (list, tuple)) else [c] for c in chunks]
    return [np.concatenate([np.asarray(c[j]) for c in chunks]) for j in range(len(chunks[0]))]


def decode(model: Autoencoder, codes: np.ndarray) -> np.ndarray:
    """Images (N, 28, 28) from codes (N, *code_shape) or one code (*code_shape)."""
    shape = code_shape(model)
    codes = numeric(codes, "Codes")
    if codes.shape[-len(shape):] != shape:
        raise ValueError(f"Expected codes of shape (N, {', '.join(map(str, shape))}) for this "
                         f"model. Received: shape={codes.shape}")
    return _run(model.decoder, codes.reshape(-1, *shape)).reshape(-1, 28, 28)


def reconstruct(model: Autoencoder, x: np.ndarray) -> np.ndarray:
    """The model's output (N, 28, 28) for images (N, 28, 28[, 1]) or one image."""
    return _run(model.autoencoder, as_images(x)).reshape(-1, 28, 28)


def model_fn(model: Autoencoder) -> Callable[[np.ndarray], np.ndarray]:
    """`reconstruct` as a function (N, 28, 28) -> (N, 28, 28), for `noise_sweep`."""
    return lambda x: reconstruct(model, x)


def _flat_codes(codes: np.ndarray) -> np.ndarray:
    codes = numeric(codes, "Codes", np.float64)
    if codes.ndim < 2 or len(codes) < 2:
        raise ValueError(f"Expected at least 2 codes of shape (N, ...). Received: shape={codes.shape}")
    return codes.reshape(len(codes), -1)


# Latent playground

@dataclass(frozen=True, eq=False)
class CodeStats:
    """Per code value statistics of real digits' codes, each of shape (D,): slider ranges."""

    min: np.ndarray
    max: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def code_stats(codes: np.ndarray) -> CodeStats:
    """Min, max, mean and std of each code value over `codes` (N, *code_shape), flattened to (D,)."""
    flat = _flat_codes(codes)
    return CodeStats(*(f(flat, axis=0).astype(np.float32) for f in (np.min, np.max, np.mean, np.std)))


def sample_code(codes: np.ndarray, seed: int | np.random.Generator | None = None,
                n: int = 1) -> np.ndarray:
    """`n` random codes (n, *code_shape) like `codes` (N, *code_shape): a Gaussian with their
    mean and covariance, clipped to each value's observed range (a relu code stays >= 0).

    Drawn as mean + z @ (codes - mean) / sqrt(N - 1), z ~ N(0, I_N): exactly the codes'
    covariance with no factorisation, so spatial codes work too. Pass one class's codes for a
    random digit of that class. The same int `seed` gives the same codes.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer. Received: n={n!r}")
    flat = _flat_codes(codes)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    mean = flat.mean(axis=0)
    z = rng.standard_normal((n, len(flat)))
    sample = mean + z @ (flat - mean) / np.sqrt(len(flat) - 1)
    sample = np.clip(sample, flat.min(axis=0), flat.max(axis=0))
    return sample.astype(np.float32).reshape(n, *np.shape(codes)[1:])


# Interpolation

def _weights(steps: int) -> np.ndarray:
    if not isinstance(steps, (int, np.integer)) or not 2 <= steps <= 256:
        raise ValueError(f"steps must be an integer from 2 to 256. Received: steps={steps!r}")
    return np.linspace(0.0, 1.0, int(steps), dtype=np.float32)


def _one(x: np.ndarray, name: str) -> np.ndarray:
    images = as_images(x)
    if len(images) != 1:
        raise ValueError(f"{name} must be one image (28, 28). Received: shape={np.shape(x)}")
    return images


def interpolate(model: Autoencoder, a: np.ndarray, b: np.ndarray, steps: int = 8) -> np.ndarray:
    """Images (steps, 28, 28) decoded along the line from the code of image `a` (28, 28[, 1])
    to that of `b`, both ends included: the first is `a`'s reconstruction, the last `b`'s."""
    t = _weights(steps)
    code_a, code_b = encode(model, _one(a, "a")), encode(model, _one(b, "b"))
    t = t.reshape(-1, *([1] * (code_a.ndim - 1)))
    return decode(model, (1 - t) * code_a + t * code_b)


def crossfade(a: np.ndarray, b: np.ndarray, steps: int = 8) -> np.ndarray:
    """The plain pixel blend (1 - t) a + t b for `steps` values of t from 0 to 1: (steps, 28, 28)."""
    t = _weights(steps).reshape(-1, 1, 1, 1)
    return ((1 - t) * _one(a, "a") + t * _one(b, "b")).reshape(-1, 28, 28)


# A map of the code space

@dataclass(frozen=True, eq=False)
class CodeMap:
    """Reference codes placed in 2-D; `transform` places new codes on the same map."""

    method: str  # "pca" or "tsne"
    points: np.ndarray  # (N, 2) float32: where each reference code lands
    codes: np.ndarray  # (N, D) float32: the reference codes, flattened
    mean: np.ndarray | None = None  # (D,) PCA only
    components: np.ndarray | None = None  # (2, D) PCA only
    explained: tuple[float, float] | None = None  # PCA: variance share of each axis
    neighbours: int = 5  # t-SNE: how many nearest reference codes place a new one

    def transform(self, codes: np.ndarray) -> np.ndarray:
        """Map positions (M, 2) of codes (M, *code_shape) or one code.

        PCA projects exactly. t-SNE has no mapping for new points, so a new code goes to the
        inverse-distance weighted mean of its `neighbours` nearest reference codes' positions
        (a reference code lands on its own point).
        """
        flat = numeric(codes, "Codes").reshape(-1, self.codes.shape[1])
        if self.method == "pca":
            return ((flat - self.mean) @ self.components.T).astype(np.float32)
        idx, dist = _nearest(self.codes, flat, self.neighbours)
        w = 1.0 / np.maximum(dist, 1e-12)
        w /= w.sum(axis=1, keepdims=True)
        return np.einsum("mk,mkj->mj", w, self.points[idx]).astype(np.float32)


def project_codes(codes: np.ndarray, method: str = "pca", seed: int = 0,
                  perplexity: float = 30.0) -> CodeMap:
    """A `CodeMap` of codes (N, *code_shape), `.points` (N, 2); the same codes, the same map.

    "pca" takes milliseconds (each axis's sign fixed: its largest loading is positive). "tsne"
    (scikit-learn, `seed` its random state, `perplexity` at most (N - 1) / 3) takes 15-20 s for
    2,000 codes on one core: compute it once and cache it.
    """
    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne'. Received: method={method!r}")
    flat = _flat_codes(codes).astype(np.float32)
    if flat.shape[1] < 2:
        raise ValueError(f"A 2-D map needs codes of 2 or more values. Received: shape={np.shape(codes)}")
    mean = flat.mean(axis=0)
    _, s, vt = np.linalg.svd(flat - mean, full_matrices=False)
    vt = vt[:2] * np.sign(vt[:2, np.argmax(np.abs(vt[:2]), axis=1)].diagonal())[:, None]
    if method == "pca":
        share = s[:2] ** 2 / max(float((s**2).sum()), 1e-12)
        return CodeMap("pca", ((flat - mean) @ vt.T).astype(np.float32), flat, mean, vt,
                       (float(share[0]), float(share[1])))
    try:  # imported here, not at the top: the page never pays for it until a t-SNE map is asked for
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise ImportError("t-SNE needs scikit-learn: `pip install scikit-learn`. PCA needs nothing.") from None

    tsne = TSNE(n_components=2, perplexity=min(perplexity, (len(flat) - 1) / 3), init="pca",
                random_state=seed, n_jobs=1)
    with threadpool_limits(1):  # one thread: same result everywhere, and 10x faster on a busy CPU
        points = tsne.fit_transform(flat)
    return CodeMap("tsne", points.astype(np.float32), flat)


def cached_map(codes: np.ndarray, path, method: str = "tsne", seed: int = 0) -> CodeMap:
    """`project_codes(codes, method, seed)`, kept in the file `path` (.npz) and read back while
    it holds the map of these very codes.

    Name `path` after the model's hash (a retrained model gets a new file); the file also holds
    a digest of the codes and is recomputed when they differ. A folder that cannot be written
    (a read-only deployment) only costs the recomputation next time.
    """
    from pathlib import Path

    path = Path(path)
    flat = _flat_codes(codes).astype(np.float32)
    digest = f"{method}:{seed}:" + hashlib.blake2b(flat.tobytes(), digest_size=16).hexdigest()
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["digest"]) == digest:
                return CodeMap(method, f["points"].astype(np.float32), flat)
    except (OSError, KeyError, ValueError, EOFError):
        pass
    cmap = project_codes(flat, method, seed)
    try:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, points=cmap.points, digest=np.array(digest))
        os.replace(tmp, path)
    except OSError:
        pass
    return cmap


def _nearest(reference: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    reference, queries = np.asarray(reference, np.float64), np.asarray(queries, np.float64)
    d2 = ((queries**2).sum(1)[:, None] - 2 * queries @ reference.T + (reference**2).sum(1)[None])
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return idx, np.sqrt(np.maximum(np.take_along_axis(d2, idx, axis=1), 0.0))


def nearest_digits(codes: np.ndarray, code: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The `k` codes among `codes` (N, *code_shape) nearest to `code` (*code_shape), Euclidean.

    Returns:
        (indices (k,), distances (k,)), nearest first. A code that is in `codes` finds itself
        first, at distance 0.
    """
    flat = _flat_codes(codes)
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= len(flat):
        raise ValueError(f"k must be an integer from 1 to {len(flat)}. Received: k={k!r}")
    query = numeric(code, "The code", np.float64).reshape(1, -1)
    if query.shape[1] != flat.shape[1]:
        raise ValueError(f"Expected one code of {flat.shape[1]} values. Received: shape={np.shape(code)}")
    idx, dist = _nearest(flat, query, int(k))
    return idx[0], dist[0]


# "Is this a digit?" (the score itself is ae_core.score)

def reconstruction_errors(model: Autoencoder, x: np.ndarray) -> np.ndarray:
    """Each image's BCE against its own reconstruction, shape (N,).

    BCE, the models' training loss, was chosen by measurement (benchmarks/anomaly.py): it
    separates non-digits from digits as well as or better than MSE and MAE; 1 - SSIM has a
    higher AUC on the dense models but flags typed digits (style, not content: 20% of them
    beyond the 99th percentile on dense_seed, against 3% for BCE) and fails on the conv
    denoiser. A model with no bottleneck (the 7x7x32 conv code) reconstructs nearly anything:
    use a dense model for this check.
    """
    images = as_images(x)
    return metrics.bce(images, _run(model.autoencoder, images))


# The digit manifold (a 2-D code)

def latent_grid(n: int = 15, span: float = 2.5) -> np.ndarray:
    """Codes (n * n, 2) on an n x n grid over [-span, span]^2, row by row from the top left
    (y decreasing down the rows, as a plot's y axis): where a 2-D VAE's prior has its mass."""
    if not isinstance(n, (int, np.integer)) or not 2 <= n <= 64:
        raise ValueError(f"n must be an integer from 2 to 64. Received: n={n!r}")
    v = np.linspace(-span, span, int(n), dtype=np.float32)
    gx, gy = np.meshgrid(v, v[::-1])
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def tile(images: np.ndarray, columns: int, gap: int = 0) -> np.ndarray:
    """Images (N, 28, 28) side by side, `columns` a row, `gap` black pixels between: (H, W)."""
    images = as_images(images)[..., 0]
    rows = -(-len(images) // columns)
    out = np.zeros((rows * (28 + gap) - gap, columns * (28 + gap) - gap), np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        out[r * (28 + gap):r * (28 + gap) + 28, c * (28 + gap):c * (28 + gap) + 28] = img
    return out


# Noise sweep

@dataclass(frozen=True, eq=False)
class Sweep:
    """Mean PSNR (dB) and SSIM against the clean digits, per noise level, per model or baseline."""

    levels: tuple[float, ...]
    psnr: dict[str, np.ndarray]  # name -> (L,)
    ssim: dict[str, np.ndarray]  # name -> (L,)
    n_images: int
    seed: int

    def records(self) -> list[dict]:
        """Long format for a chart: one {"name", "level", "psnr", "ssim"} per name and level."""
        return [{"name": name, "level": lv, "psnr": float(self.psnr[name][i]),
                 "ssim": float(self.ssim[name][i])}
                for name in self.psnr for i, lv in enumerate(self.levels)]

    @classmethod
    def from_evaluation(cls, result: dict) -> "Sweep":
        """The points of `python -m ae_core evaluate` (`evaluate_all` or evaluation.json)."""
        levels = tuple(float(lv) for lv in result["noise_levels"])
        get = lambda row, m: np.array([row[f"{m}@{lv}"] for lv in result["noise_levels"]])  # noqa: E731
        return cls(levels, {n: get(r, "psnr") for n, r in result["rows"].items()},
                   {n: get(r, "ssim") for n, r in result["rows"].items()},
                   int(result["data"]["n_test"]), int(result["noise_seed"]))


def spread_subset(n_total: int, n: int) -> np.ndarray:
    """`n` evenly spaced indices of `n_total` (the bundled splits are sorted by class)."""
    return np.unique(np.linspace(0, n_total - 1, min(n, n_total)).round().astype(int))


def noise_sweep(fn_by_name: dict[str, Callable[[np.ndarray], np.ndarray]], x_clean: np.ndarray,
                levels=SWEEP_LEVELS, seed: int = EVAL_SEED,
                subset: int | np.ndarray | None = None) -> Sweep:
    """Mean PSNR and SSIM of each function in `fn_by_name` ((N, 28, 28) -> (N, 28, 28): `model_fn`,
    `baselines.all_baselines`, `evaluate.model_fn`) on `x_clean` (N, 28, 28) at each noise level.

    The noise is `evaluate.noisy_test_sets(x_clean, ..., seed)`, drawn over all of `x_clean`
    before `subset` (None, a number of evenly spaced images, or indices) picks rows: each image
    gets its noise from `python -m ae_core evaluate`, and with no subset the figures at
    0.2 / 0.5 / 0.8 are the evaluation command's.
    """
    x = as_images(x_clean).reshape(-1, 28, 28)
    if subset is None:
        idx = np.arange(len(x))
    elif np.isscalar(subset):
        if int(subset) < 1:
            raise ValueError(f"subset must be a positive number of images. Received: subset={subset!r}")
        idx = spread_subset(len(x), int(subset))
    else:
        idx = np.asarray(subset, dtype=int)
    levels = tuple(float(lv) for lv in levels)
    psnr = {name: np.zeros(len(levels)) for name in fn_by_name}
    ssim = {name: np.zeros(len(levels)) for name in fn_by_name}
    for i, level in enumerate(levels):
        noisy = noisy_test_sets(x, (level,), seed)[level][idx]
        for name, fn in fn_by_name.items():
            rec = fn(noisy)
            psnr[name][i] = metrics.set_psnr(x[idx], rec)
            ssim[name][i] = metrics.ssim(x[idx], rec).mean()
    return Sweep(levels, psnr, ssim, len(idx), seed)


# Export

def to_png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """A grayscale PNG of one image (28, 28[, 1]) or a `tile` of them (H, W), in [0, 1],
    enlarged `scale` times (nearest neighbour: the pixels stay sharp squares)."""
    from PIL import Image

    if not isinstance(scale, (int, np.integer)) or not 1 <= scale <= 64:
        raise ValueError(f"scale must be an integer from 1 to 64. Received: scale={scale!r}")
    arr = numeric(image, "Image")  # a clear error for ragged or non-numeric input
    if arr.ndim == 2 and arr.shape != (28, 28):  # a row or grid of digits (`tile`)
        pixels = unit_range(arr, "Image")
    else:
        pixels = _one(image, "image")[0, :, :, 0]
    img = Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8))  # mode "L"
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
