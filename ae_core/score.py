"""Is this a digit? A digit score (higher = more digit-like) and one verdict per image.

A reconstruction error alone calls letters digits: an autoencoder trained on digits rebuilds
any few strokes fairly well. The score adds how typical the code is among real digits' codes,
and, for a VAE, how likely the code is under the prior (its ELBO). Each part is a "surprise"
per image, higher for stranger inputs:

    bce          per-pixel BCE of the image against its reconstruction
    mahalanobis  squared Mahalanobis distance of the code from the training digits' codes
                 (their mean and Ledoit-Wolf shrunk covariance)
    class        the same from the nearest class: the smallest squared Mahalanobis distance
                 to one digit class's codes (each class its own mean and covariance)
    elbo         a VAE's negative ELBO with the mean code: 784 * BCE + KL(q(z|x) || N(0, I))

Each surprise is logged and standardised on validation digits (median and spread), the parts
are averaged, and the score is minus that: a typical validation digit scores about 0. Which
parts, of which models, was chosen by measurement (benchmarks/anomaly.py, on the canvas-style
non-digit set of scripts/build_nondigit_set.py); `DEFAULT_PARTS` is the choice: the nearest
class's distance in five models' codes (each code space misplaces other letters) plus two
reconstruction errors. The distance to the codes as a whole, one Gaussian, and the VAE's ELBO
separate less (the benchmark prints every candidate).

Verdicts: "not a digit" below the score of all but `NOT_A_DIGIT_SHARE` of validation digits,
"unusual" below all but `UNUSUAL_SHARE`, "digit" otherwise. Thresholds come from validation
digits only (MNIST ones and the same digits redrawn with the pad's pen); test digits never.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import analysis, metrics

NONDIGIT_SET = Path(__file__).resolve().parent / "data" / "nondigit_set.npz"
PARTS = ("bce", "mahalanobis", "class", "elbo")
DEFAULT_PARTS = (("dense_deep", "bce"), ("dense_deep", "class"), ("vae_32d", "bce"), ("vae_32d", "class"),
                 ("dense_seed", "class"), ("ladder_16", "class"), ("ladder_32", "class"), ("ladder_64", "class"))
NOT_A_DIGIT_SHARE = 0.005  # validation digits scoring below "not a digit"'s threshold
UNUSUAL_SHARE = 0.10  # ... and below "unusual"'s
VERDICTS = ("digit", "unusual", "not a digit")
MEANINGS = {
    "digit": "Looks like a digit: it scores like the real digits do.",
    "unusual": f"Unusual for a digit: it scores below {1 - UNUSUAL_SHARE:.0%} of real digits, but not far below.",
    "not a digit": f"Does not look like a digit: it scores below {1 - NOT_A_DIGIT_SHARE:.1%} of real digits.",
}


def ordinal(n: int) -> str:
    """1 -> "1st", 2 -> "2nd", 3 -> "3rd", 11 -> "11th", 93 -> "93rd", 112 -> "112th"."""
    n = int(n)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _codes_flat(model, x: np.ndarray) -> np.ndarray:
    return analysis.encode(model, x).reshape(len(x), -1).astype(np.float64)


@dataclass(frozen=True, eq=False)
class CodeGauss:
    """Mean (D,) and precision (D, D) of real digits' codes: `mahalanobis` measures from them."""

    mean: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, codes: np.ndarray) -> "CodeGauss":
        """Mean and Ledoit-Wolf shrunk covariance: a code value that is dead (constant) in a
        class gets a share of the average variance, instead of a near-zero one whose inverse
        would let that value alone decide the distance."""
        from sklearn.covariance import LedoitWolf

        codes = np.asarray(codes, np.float64).reshape(len(codes), -1)
        lw = LedoitWolf().fit(codes)
        return cls(lw.location_, lw.precision_)

    def distance2(self, codes: np.ndarray) -> np.ndarray:
        d = np.asarray(codes, np.float64).reshape(len(codes), -1) - self.mean
        return np.einsum("nd,de,ne->n", d, self.precision, d)


def fit_gauss(part: str, codes: np.ndarray, labels: np.ndarray) -> list[CodeGauss] | None:
    """What a part needs from the training digits' codes (N, D): one Gaussian, one per class, or None."""
    if part == "mahalanobis":
        return [CodeGauss.fit(codes)]
    if part == "class":
        return [CodeGauss.fit(codes[labels == c]) for c in np.unique(labels)]
    return None


def surprise(part: str, model, x: np.ndarray, gauss: list[CodeGauss] | None = None) -> np.ndarray:
    """One part's surprise (N,) for images (N, 28, 28[, 1]); higher is stranger."""
    images = analysis.as_images(x)
    if part == "bce":
        return analysis.reconstruction_errors(model, images)
    if part in ("mahalanobis", "class"):
        if not gauss:
            raise ValueError(f"The {part!r} part needs the training digits' code statistics (gauss=).")
        codes = _codes_flat(model, images)
        return np.min(np.stack([g.distance2(codes) for g in gauss]), axis=0)
    if part == "elbo":
        from .vae import PIXELS, kl_divergence

        outputs = analysis.encode_all(model, images)
        if len(outputs) < 2:
            raise ValueError("The 'elbo' part needs a VAE (an encoder with mean and log-variance outputs).")
        mean, log_var = outputs[0], outputs[1]
        rec = analysis.decode(model, mean)
        return PIXELS * metrics.bce(images, rec) + kl_divergence(mean, log_var)
    raise ValueError(f"Unknown score part. Expected one of {PARTS}. Received: {part!r}")


@dataclass(frozen=True)
class Judgement:
    score: float  # higher = more digit-like; a typical validation digit is about 0
    verdict: str  # one of VERDICTS
    percentile: float  # share (0-100) of validation digits that score lower
    sentence: str  # one plain sentence for people


@dataclass(frozen=True, eq=False)
class DigitScorer:
    """A fitted digit score: `scores(x)` (N,), `judge(x)` a `Judgement` per image."""

    parts: tuple[tuple[str, str], ...]  # (model name, part)
    models: dict  # model name -> Autoencoder-shaped triple
    gauss: dict  # (model name, part) -> [CodeGauss] for the parts that measure codes
    centre: np.ndarray  # (P,) validation median of each part's log surprise
    spread: np.ndarray  # (P,) and its spread (half the 16th-84th percentile range)
    validation: np.ndarray  # (V,) sorted validation digits' scores
    not_a_digit: float  # thresholds on the score
    unusual: float

    @classmethod
    def fit(cls, models: dict, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
            parts=DEFAULT_PARTS) -> "DigitScorer":
        """Fit on real digits: code statistics on `x_train` (labels `y_train`), scaling and
        thresholds on `x_val`."""
        parts = tuple((str(m), str(p)) for m, p in parts)
        missing = sorted({m for m, _ in parts} - set(models))
        if missing:
            raise ValueError(f"The digit score needs the models {missing}. Received: {sorted(models)}")
        train = analysis.as_images(x_train)
        gauss = {(m, p): fit_gauss(p, _codes_flat(models[m], train), np.asarray(y_train))
                 for m, p in parts if p in ("mahalanobis", "class")}
        raw = np.stack([_log(surprise(p, models[m], x_val, gauss.get((m, p)))) for m, p in parts])
        centre = np.median(raw, axis=1)
        lo, hi = np.percentile(raw, [16, 84], axis=1)
        spread = np.maximum((hi - lo) / 2, 1e-9)
        val = np.sort(-((raw - centre[:, None]) / spread[:, None]).mean(axis=0))
        return cls(parts, dict(models), gauss, centre, spread, val,
                   float(np.quantile(val, NOT_A_DIGIT_SHARE)), float(np.quantile(val, UNUSUAL_SHARE)))

    def scores(self, x: np.ndarray) -> np.ndarray:
        """The digit score (N,) of images (N, 28, 28[, 1]) or one image; higher = more digit-like."""
        raw = np.stack([_log(surprise(p, self.models[m], x, self.gauss.get((m, p)))) for m, p in self.parts])
        return -((raw - self.centre[:, None]) / self.spread[:, None]).mean(axis=0)

    def verdicts(self, scores: np.ndarray) -> list[str]:
        return [VERDICTS[2] if s < self.not_a_digit else VERDICTS[1] if s < self.unusual else VERDICTS[0]
                for s in np.asarray(scores, np.float64).ravel()]

    def judge(self, x: np.ndarray) -> list[Judgement]:
        """A `Judgement` per image. A blank page (contrast below `analysis.BLANK_CONTRAST`) is
        "not a digit" whatever it scores: an empty page is easy to reconstruct."""
        images = analysis.as_images(x)
        scores = self.scores(images)
        out = []
        for img, s, verdict in zip(images, scores, self.verdicts(scores)):
            pct = 100.0 * np.searchsorted(self.validation, s) / len(self.validation)
            blank = float(img.max() - img.min()) < analysis.BLANK_CONTRAST
            sentence = ("Does not look like a digit: the page is blank." if blank else
                        f"{MEANINGS[verdict]} ({_share(pct)} of real digits score lower.)")
            out.append(Judgement(float(s), VERDICTS[2] if blank else verdict, float(pct), sentence))
        return out


def _share(pct: float) -> str:
    if pct <= 0:
        return "None"
    if pct >= 100:
        return "All"
    return f"{pct:.1f}%" if pct < 1 or pct > 99 else f"{pct:.0f}%"


def _log(values: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(np.asarray(values, np.float64), 1e-12))


def _with_canvas(x: np.ndarray, key: str) -> np.ndarray:
    with np.load(NONDIGIT_SET) as f:
        canvas = f[key].astype(np.float32) / 255.0
    return np.concatenate([np.asarray(x, np.float32).reshape(-1, 28, 28), canvas])


def training_digits(x_train: np.ndarray, y_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The digits the code statistics come from: `x_train` and the canvas-style training digits."""
    with np.load(NONDIGIT_SET) as f:
        labels = f["digits_train_labels"]
    return _with_canvas(x_train, "digits_train"), np.concatenate([np.asarray(y_train), labels])


def validation_digits(x_val: np.ndarray) -> np.ndarray:
    """The digits thresholds are chosen on: `x_val` and the canvas-style validation digits."""
    return _with_canvas(x_val, "digits_val")


def fit_default(models_dir: Path | str, parts=DEFAULT_PARTS) -> DigitScorer:
    """The digit score over the models in `models_dir` (ONNX, no TensorFlow), fitted on the
    bundled digits. Raises `store.ModelFileError` for a missing or broken model."""
    from . import store
    from .data import load_bundled

    data = load_bundled()
    models = {m: store.load_onnx(models_dir, m).model for m in dict.fromkeys(m for m, _ in parts)}
    return DigitScorer.fit(models, *training_digits(data.x_train, data.y_train),
                           validation_digits(data.x_val), parts)


def read_images(path: Path | str) -> np.ndarray:
    """Images (N, 28, 28) float32 in [0, 1] from an `.npz` (key `x`: (N, 28, 28) floats in
    [0, 1] or uint8) or a PNG/JPEG photo or drawing (the Lab's upload path: ink found, fitted
    and centred like MNIST).

    Raises:
        ValueError: a missing or unreadable file, another format, or an `x` of another shape,
            dtype or range; the message names the file.
    """
    from . import preprocess

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file. Pass .npz, .png or .jpg files.")
    if path.suffix.lower() == ".npz":
        import zipfile

        try:
            with np.load(path, allow_pickle=False) as f:
                files = list(f.files)
                x = f["x"] if "x" in files else None
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}).") from None
        if x is None:
            raise ValueError(f"{path}: no array 'x' in this .npz (it has {sorted(files)}). "
                             "Save the images as x=(N, 28, 28).")
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
            raise ValueError(f"{path}: 'x' must have shape (N, 28, 28). Received: shape={x.shape}")
        if x.dtype == np.uint8:
            return x.astype(np.float32) / 255.0
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"{path}: 'x' must be uint8 or floats in [0, 1]. Received: dtype={x.dtype}")
        if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise ValueError(f"{path}: float images must be finite and in [0, 1]. Received: "
                             f"min={np.nanmin(x):.3g}, max={np.nanmax(x):.3g}")
        return x.astype(np.float32)
    try:
        return preprocess.from_image_bytes(path.read_bytes())[None].astype(np.float32)
    except (OSError, preprocess.ImageInputError) as exc:
        raise ValueError(f"{path}: {str(exc).splitlines()[0] or type(exc).__name__}") from None
