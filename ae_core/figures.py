"""The tutorial's two figures as batches, and captioned PNG grids of small images (Pillow only).

- `codes_figure`: ten test images, the originals on top, their codes in the middle (a flat
  code as the tutorial's picture: 32 values as 8 rows x 4 columns) and the reconstructions below.
- `denoising_figure`: the source images, then for each noise level (0.2, 0.5, 0.8) a row of
  noisy inputs and a row of the denoiser's outputs.

Both take any model with the `Autoencoder` fields (`encoder`, `decoder`, each with
`predict_on_batch`): a Keras one or the app's `onnx_models.OnnxAutoencoder`. They return PNG
bytes with the captions drawn in, so the page shows and downloads the same picture.
"""
from __future__ import annotations

import functools
import io
import textwrap

import numpy as np

from . import analysis, metrics
from .noise import add_noise

SCALE = 3  # each 28x28 image is drawn 84 px wide
DENOISE_LEVELS = (0.2, 0.5, 0.8)  # the tutorial's figure
FIGURE_SEED = 2024  # the noise of the denoising figure (with the batch's seed added)
BACKGROUND, INK = 255, 0


@functools.lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size)  # Pillow's bundled font: no system fonts needed


def code_picture(code: np.ndarray) -> np.ndarray:
    """One code as a 2-D picture: a flat code of n values as ceil(n / 4) rows x 4 columns
    (32 values: the tutorial's 8x4, `reshape(4, 8).T`); a spatial code (H, W, C) as the mean of
    its channels (H, W). Cells past the end are NaN."""
    code = np.asarray(code, np.float64)
    if code.ndim == 3:
        return code.mean(axis=-1)
    flat = code.ravel()
    rows = -(-len(flat) // 4)
    padded = np.full(rows * 4, np.nan)
    padded[:len(flat)] = flat
    return padded.reshape(4, rows).T


def code_pictures(codes: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Codes (N, ...) as pictures in [0, 1] on one shared scale, and that scale (low, high)."""
    pics = np.stack([code_picture(c) for c in codes])
    lo, hi = float(np.nanmin(pics)), float(np.nanmax(pics))
    scaled = (pics - lo) / (hi - lo) if hi > lo else np.zeros_like(pics)
    return np.nan_to_num(scaled, nan=0.0), (lo, hi)


def grid_png(rows: list[tuple[str, np.ndarray]], title: str, column_labels: list[str] | None = None,
             scale: int = SCALE, optimize: bool = True) -> bytes:
    """A captioned grid as PNG bytes: `title` on top (wrapped), `column_labels` above the first
    row, each row's caption on its left. A row is (caption, images (N, h, w) in [0, 1]); images
    smaller than 28x28 (codes) are enlarged by a whole factor to fit a 28x28 cell, centred.
    `optimize=False` writes faster and a little larger (a strip after every epoch)."""
    from PIL import Image, ImageDraw

    cell = 28 * scale
    gap = 4
    n_cols = max(len(images) for _, images in rows)
    left = 130
    font, small = _font(13), _font(11)
    title_lines = textwrap.wrap(title, width=max(40, (left + n_cols * (cell + gap)) // 7))
    top = 8 + 17 * len(title_lines) + (16 if column_labels else 4)
    width = left + n_cols * (cell + gap) + gap
    height = top + len(rows) * (cell + gap) + gap
    canvas = Image.new("L", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(title_lines):
        draw.text((8, 6 + 17 * i), line, fill=INK, font=font)
    if column_labels:
        for c, label in enumerate(column_labels[:n_cols]):
            x = left + c * (cell + gap) + cell // 2
            draw.text((x, top - 3), str(label)[:14], fill=INK, font=small, anchor="md")
    for r, (caption, images) in enumerate(rows):
        y = top + r * (cell + gap)
        for j, line in enumerate(textwrap.wrap(caption, 18)[:4]):
            draw.text((8, y + 6 + 14 * j), line, fill=INK, font=small)
        for c, img in enumerate(np.asarray(images, np.float64)):
            img = np.clip(np.nan_to_num(img.reshape(img.shape[0], img.shape[1])), 0, 1)
            factor = max(1, min(cell // img.shape[0], cell // img.shape[1]))
            tile = Image.fromarray(np.round(img * 255).astype(np.uint8), "L").resize(
                (img.shape[1] * factor, img.shape[0] * factor), Image.NEAREST)
            x = left + c * (cell + gap)
            canvas.paste(tile, (x + (cell - tile.width) // 2, y + (cell - tile.height) // 2))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=optimize, compress_level=9 if optimize else 1)
    return buf.getvalue()


def pick_batch(labels: np.ndarray, seed: int = 0, n: int = 10) -> np.ndarray:
    """`n` indices into a split: batch 0 is the first image of each class in turn (one of each
    of the ten), every other seed a random draw of `n` distinct images. The same seed, the same
    batch ("Another batch" increases it)."""
    labels = np.asarray(labels)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer. Received: seed={seed!r}")
    if not 1 <= n <= len(labels):
        raise ValueError(f"n must be from 1 to the {len(labels)} images. Received: n={n!r}")
    if seed == 0:
        firsts = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]
        rest = [i for i in range(len(labels)) if i not in set(firsts)]
        return np.array((firsts + rest)[:n])
    return np.sort(np.random.default_rng(seed).choice(len(labels), n, replace=False))


def codes_figure(model, images: np.ndarray, labels: list[str] | None = None, model_name: str = "model",
                 scale: int = SCALE) -> bytes:
    """The tutorial's first figure for a batch: originals, codes, reconstructions (PNG bytes)."""
    x = analysis.as_images(images).reshape(-1, 28, 28)
    codes = analysis.encode(model, x)
    recon = analysis.decode(model, codes)
    pictures, (lo, hi) = code_pictures(codes)
    shape = "x".join(map(str, codes.shape[1:]))
    how = (f"{pictures.shape[1]}x{pictures.shape[2]} picture" if codes.ndim == 2
           else "mean over its channels")
    title = (f"{model_name}: {len(x)} test images (top), their {shape} codes ({how}, black {lo:.2f} "
             f"to white {hi:.2f}) and the reconstructions (bottom). PSNR of the mean MSE over the "
             f"batch: {metrics.set_psnr(x, recon):.2f} dB.")
    rows = [("Original", x), (f"Code ({shape})", pictures), ("Reconstruction", recon)]
    return grid_png(rows, title, labels, scale)


def denoising_figure(model, images: np.ndarray, labels: list[str] | None = None, model_name: str = "model",
                     levels=DENOISE_LEVELS, seed: int = FIGURE_SEED, kind: str = "gaussian",
                     scale: int = SCALE) -> bytes:
    """The tutorial's denoising figure for a batch: the sources, then for each level a row of
    noisy inputs (`noise.add_noise`, seed `seed` + level in thousandths) and the model's outputs."""
    x = analysis.as_images(images).reshape(-1, 28, 28)
    rows = [("Source", x)]
    scores = []
    for level in levels:
        noisy = add_noise(x, level, seed=seed + int(round(level * 1000)), kind=kind)
        out = analysis.reconstruct(model, noisy)
        rows += [(f"Noise {level:g}", noisy), (f"{model_name} output", out)]
        scores.append(f"{level:g}: {metrics.set_psnr(x, out):.1f} dB")
    title = (f"{model_name} denoising {len(x)} test images ({kind.replace('_', '-')} noise, seed {seed}). "
             "PSNR of the mean MSE against the sources, by noise level: " + ", ".join(scores) + ".")
    return grid_png(rows, title, labels, scale)
