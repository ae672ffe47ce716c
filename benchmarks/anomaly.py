"""Is this a digit? How well the reconstruction error separates digits from things that are not.

    python benchmarks/anomaly.py [--models pretrained/] [--names dense_seed conv_seed ...]

For each stored model, the reference is the error of every other held-out digit (1,000, the
even positions of the bundled test split), as the app's reference would be; the digits scored
are the other 1,000, which neither the model nor the reference has seen. The non-digits are
made here, deterministically, with no download:

    font digits  0-9 in Pillow's default font, MNIST-style (not non-digits:
                 they show how typed or neatly drawn digits fare)
    letters      A-Z and a-z in Pillow's default font, MNIST-style; both at three stroke
                 widths that bracket MNIST's ink (2, 4, 6 px at 80 px: about 85-140 pixels
                 above 0.5 after fitting; MNIST digits average 104)
    shapes       circles, discs, squares, filled squares, triangles, lines, crosses, MNIST-style
    noise        uniform random pixels
    blank        pages of one grey level, 0.0 to 1.0
    photo        scikit-image's bundled photos (camera, astronaut, coins, ...) and random crops
                 of them, downscaled to 28x28
    photo upload the same photos as PNG files through `preprocess.from_image_bytes`, as if
                 uploaded in the app (photos it refuses as blank are left out)

MNIST-style is `preprocess.mnistify`, the app's own path for drawings: ink cropped, fitted
into 20x20, centred by centre of mass. Printed per model: ROC AUC (the chance that a non-digit
scores a higher error than a held-out digit) per category and for all non-digits, and the
share of each category that `analysis.check_image` calls "unusual" or worse (above the 95th
percentile) and "not a digit" or "blank" (above the 99th). Then the AUC of the candidate error
measures, which is why the score is BCE: against held-out digits and, to tell content from
style, letters against digits typed in the same font.
"""
from __future__ import annotations

import argparse
import io
import os
import string
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402
from scipy.stats import rankdata  # noqa: E402

from ae_core import analysis, metrics, preprocess, store  # noqa: E402
from ae_core.data import load_bundled  # noqa: E402

PHOTOS = ("camera", "astronaut", "coins", "moon", "text", "page", "brick", "grass", "gravel",
          "coffee", "chelsea", "rocket", "clock", "horse", "hubble_deep_field", "retina")
NON_DIGITS = ("letters", "shapes", "noise", "blank", "photo", "photo upload")


def _canvas(draw, side: int = 140) -> np.ndarray:
    img = Image.new("L", (side, side), 0)
    draw(ImageDraw.Draw(img))
    return np.asarray(img, np.float32) / 255.0


def glyphs(chars: str, strokes=(2, 4, 6)) -> np.ndarray:
    """Characters in Pillow's default font (80 px), MNIST-style: (len(chars) * len(strokes), 28, 28)."""
    font = ImageFont.load_default(size=80)
    return np.stack([preprocess.mnistify(_canvas(lambda d: d.text(
        (30, 10), ch, fill=255, font=font, stroke_width=w, stroke_fill=255)))
        for w in strokes for ch in chars])


def shapes(rng: np.random.Generator, n_each: int = 10) -> np.ndarray:
    """Outlined and filled geometric shapes of random size and stroke, MNIST-style: (7 n_each, 28, 28)."""
    out = []
    for _ in range(n_each):
        w = int(rng.integers(6, 16))
        x0, y0 = (int(v) for v in rng.integers(10, 45, 2))
        x1, y1 = (int(v) for v in 130 - rng.integers(10, 45, 2))
        a = rng.uniform(0, np.pi)
        line = [(70 - 55 * np.cos(a), 70 - 55 * np.sin(a)), (70 + 55 * np.cos(a), 70 + 55 * np.sin(a))]
        out += [_canvas(lambda d: d.ellipse([x0, y0, x1, y1], outline=255, width=w)),
                _canvas(lambda d: d.ellipse([x0, y0, x1, y1], fill=255)),
                _canvas(lambda d: d.rectangle([x0, y0, x1, y1], outline=255, width=w)),
                _canvas(lambda d: d.rectangle([x0, y0, x1, y1], fill=255)),
                _canvas(lambda d: d.polygon([(x0, y1), (x1, y1), ((x0 + x1) // 2, y0)], outline=255,
                                            width=w)),
                _canvas(lambda d: d.line(line, fill=255, width=w)),
                _canvas(lambda d: (d.line([(x0, y0), (x1, y1)], fill=255, width=w),
                                   d.line([(x0, y1), (x1, y0)], fill=255, width=w)))]
    return np.stack([preprocess.mnistify(img) for img in out])


def _gray_photos() -> list[np.ndarray]:
    from skimage import color, data

    out = []
    for name in PHOTOS:
        img = np.asarray(getattr(data, name)(), np.float32)
        if img.ndim == 3:
            img = color.rgb2gray(img[..., :3] / 255.0)
        out.append(img / 255.0 if img.max() > 1 else img)
    return out


def photos(rng: np.random.Generator, crops: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(downscaled (N, 28, 28), uploaded (M, 28, 28)): each photo whole and `crops` random crops."""
    from skimage.transform import resize

    scaled, uploaded = [], []
    for img in _gray_photos():
        views = [img]
        for _ in range(crops):
            s = int(rng.integers(min(img.shape) // 4, min(img.shape) // 2))
            y, x = int(rng.integers(0, img.shape[0] - s)), int(rng.integers(0, img.shape[1] - s))
            views.append(img[y:y + s, x:x + s])
        for v in views:
            scaled.append(resize(v, (28, 28), anti_aliasing=True))
            buf = io.BytesIO()
            Image.fromarray(np.round(v * 255).astype(np.uint8)).save(buf, format="PNG")
            try:
                uploaded.append(preprocess.from_image_bytes(buf.getvalue()))
            except preprocess.EmptyImageError:
                pass
    return np.clip(np.stack(scaled), 0, 1).astype(np.float32), np.stack(uploaded)


def inputs(x_digits: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    scaled, uploaded = photos(rng)
    return {"digits": x_digits,
            "font digits": glyphs(string.digits),
            "letters": glyphs(string.ascii_letters),
            "shapes": shapes(rng),
            "noise": rng.uniform(0, 1, (100, 28, 28)).astype(np.float32),
            "blank": np.stack([np.full((28, 28), v, np.float32) for v in np.linspace(0, 1, 11)]),
            "photo": scaled,
            "photo upload": uploaded}


def auc(digits: np.ndarray, others: np.ndarray) -> float:
    """ROC AUC of `others` (positives) against `digits`: P(other > digit), ties count half."""
    ranks = rankdata(np.concatenate([digits, others]))[len(digits):]
    return float((ranks.sum() - len(others) * (len(others) + 1) / 2) / (len(digits) * len(others)))


MEASURES = {"bce": metrics.bce, "mse": metrics.mse,
            "mae": lambda x, r: np.abs(x - r).reshape(len(x), -1).mean(1),
            "1-ssim": lambda x, r: 1.0 - metrics.ssim(x, r)}


def report(name: str, model, reference_x: np.ndarray, sets: dict[str, np.ndarray]) -> None:
    reference = analysis.reconstruction_errors(model, reference_x)
    errors = {k: analysis.reconstruction_errors(model, v) for k, v in sets.items()}
    non = np.concatenate([errors[k] for k in NON_DIGITS])
    print(f"\n## {name}: AUC, all non-digits vs held-out digits = {auc(errors['digits'], non):.3f}\n")
    print("| inputs | n | AUC vs digits | median percentile | unusual or worse (>95th) | "
          "not a digit or blank (>99th) |")
    print("|---|---|---|---|---|---|")
    for k, x in sets.items():
        checks = [analysis.check_image(model, img, reference) for img in x]
        flagged = np.mean([c.verdict != "digit" for c in checks])
        rejected = np.mean([c.verdict in ("not a digit", "blank") for c in checks])
        cell = "-" if k == "digits" else f"{auc(errors['digits'], errors[k]):.3f}"
        pct = np.median([c.percentile for c in checks])
        print(f"| {k} | {len(x)} | {cell} | {pct:.1f} | {flagged:.0%} | {rejected:.0%} |")
    recs = {k: analysis.reconstruct(model, v) for k, v in sets.items()}
    print("\n| error measure | AUC, non-digits vs digits | AUC, letters vs font digits |\n|---|---|---|")
    for m, fn in MEASURES.items():
        score = {k: fn(sets[k], recs[k]) for k in sets}
        non = np.concatenate([score[k] for k in NON_DIGITS])
        print(f"| {m} | {auc(score['digits'], non):.3f} | "
              f"{auc(score['font digits'], score['letters']):.3f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=str(ROOT / "pretrained"))
    parser.add_argument("--names", nargs="*", help="models to measure (default: all in --models)")
    args = parser.parse_args(argv)
    names = args.names or store.list_models(args.models)
    if not names:
        print(f"No models in {args.models}. Train some (`python -m ae_core train dense_seed`) or "
              "pass --models FOLDER.", file=sys.stderr)
        return 1
    data = load_bundled()
    sets = inputs(data.x_test[1::2])
    print(f"# Is this a digit? Reference: {len(data.x_test[0::2])} held-out digits; models from "
          f"{args.models}")
    for name in names:
        report(name, store.load(args.models, name).model, data.x_test[0::2], sets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
