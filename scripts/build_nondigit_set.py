"""Build ae_core/data/nondigit_set.npz: canvas-style non-digits and digits for the digit check.

    python scripts/build_nondigit_set.py

Everything is drawn the way the Lab's pad draws (`preprocess.from_strokes`: strokes in pad
pixels, a round pen, then the MNIST-style fitting), so the check is measured on what people
draw, not on typeset glyphs:

    letters     A-Z and a-z from the installed DejaVu and Liberation fonts (regular, bold,
                italic), skeletonised and redrawn with the pad's pen (`augment.pad_redraw`);
                the letters that look like digits (LOOK_LIKE_DIGITS) are left out
    shapes      squares, triangles, stars, hearts, arrows, spirals, zigzags, grids, crosses
                (no circles or plain lines: those are a 0 and a 1)
    scribbles   one to three random smooth strokes
    digits_train training digits redrawn the same way (2,000): the score's code statistics
                see pad-drawn digits too
    digits_val  validation digits (the split's x_val) redrawn the same way: thresholds are
                chosen on these
    digits_test held-out test digits redrawn the same way: the check is measured on these

Deterministic (fixed seeds, fonts in a fixed order); fonts that are not installed are skipped
and named. Arrays are uint8 (N, 28, 28).
"""
from __future__ import annotations

import string
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from ae_core import preprocess  # noqa: E402
from ae_core.augment import pad_redraw  # noqa: E402
from ae_core.data import load_bundled  # noqa: E402

OUT = ROOT / "ae_core" / "data" / "nondigit_set.npz"
FONT_DIR = Path("/usr/share/fonts/truetype")
FONTS = ("dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf", "dejavu/DejaVuSerif.ttf",
         "dejavu/DejaVuSerif-Italic.ttf", "dejavu/DejaVuSansMono.ttf",
         "liberation/LiberationSans-Regular.ttf", "liberation/LiberationSerif-Regular.ttf",
         "liberation/LiberationSerif-Bold.ttf", "liberation/LiberationMono-Regular.ttf",
         "liberation/LiberationSansNarrow-Italic.ttf")
LOOK_LIKE_DIGITS = "OoQDIlijJSsZzBbGgqT"  # 0, 1, 2, 5, 6, 8, 9, 7 in many hands
LETTERS = "".join(c for c in string.ascii_letters if c not in LOOK_LIKE_DIGITS)
GLYPH = 96  # glyphs are rendered this many pixels high before skeletonising
N_DIGITS = 1000  # canvas-style validation and test digits (evenly spread over classes)
N_TRAIN_DIGITS = 2000


def letters(rng: np.random.Generator) -> tuple[np.ndarray, list[str], list[str]]:
    images, chars, fonts = [], [], []
    for name in FONTS:
        path = FONT_DIR / name
        if not path.is_file():
            print(f"font not installed, skipped: {path}")
            continue
        font = ImageFont.truetype(str(path), GLYPH)
        for ch in LETTERS:
            img = Image.new("L", (2 * GLYPH, 2 * GLYPH), 0)
            ImageDraw.Draw(img).text((GLYPH // 2, GLYPH // 4), ch, fill=255, font=font)
            out = pad_redraw(np.asarray(img, np.float32) / 255.0, rng)
            if out is not None:
                images.append(out)
                chars.append(ch)
                fonts.append(path.stem)
    return np.stack(images), chars, fonts


def _shape_strokes(kind: str, rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    """One shape's strokes on a 100 x 100 pad, with random size, placement and wobble."""
    c = rng.uniform(40, 60, 2)
    r = rng.uniform(22, 36)
    t = np.linspace(0, 2 * np.pi, 6)[:-1] - np.pi / 2
    if kind == "square":
        a = rng.uniform(0, np.pi / 2)
        pts = [c + r * np.array([np.cos(a + k * np.pi / 2), np.sin(a + k * np.pi / 2)]) for k in range(5)]
        return [pts]
    if kind == "triangle":
        a = rng.uniform(0, 2 * np.pi)
        return [[c + r * np.array([np.cos(a + k * 2 * np.pi / 3), np.sin(a + k * 2 * np.pi / 3)]) for k in range(4)]]
    if kind == "star":
        order = [0, 2, 4, 1, 3, 0]
        return [[c + r * np.array([np.cos(t[k]), np.sin(t[k])]) for k in order]]
    if kind == "heart":
        s = np.linspace(0, 2 * np.pi, 40)
        x, y = 16 * np.sin(s) ** 3, -(13 * np.cos(s) - 5 * np.cos(2 * s) - 2 * np.cos(3 * s) - np.cos(4 * s))
        return [list(c + r / 17 * np.stack([x, y], 1))]
    if kind == "arrow":
        a = rng.uniform(0, 2 * np.pi)
        d = np.array([np.cos(a), np.sin(a)])
        n = np.array([-d[1], d[0]])
        tip = c + r * d
        return [[c - r * d, tip], [tip - 0.45 * r * d + 0.35 * r * n, tip, tip - 0.45 * r * d - 0.35 * r * n]]
    if kind == "spiral":
        s = np.linspace(0, rng.uniform(3, 5) * np.pi, 60)
        return [list(c + (r * s / s[-1])[:, None] * np.stack([np.cos(s), np.sin(s)], 1))]
    if kind == "zigzag":
        k = int(rng.integers(3, 6))
        xs = np.linspace(c[0] - r, c[0] + r, k + 1)
        return [[(x, c[1] + (r / 2 if i % 2 else -r / 2)) for i, x in enumerate(xs)]]
    if kind == "grid":
        o = r / 3
        return [[(c[0] - r, c[1] - o), (c[0] + r, c[1] - o)], [(c[0] - r, c[1] + o), (c[0] + r, c[1] + o)],
                [(c[0] - o, c[1] - r), (c[0] - o, c[1] + r)], [(c[0] + o, c[1] - r), (c[0] + o, c[1] + r)]]
    if kind == "cross":
        return [[(c[0] - r, c[1]), (c[0] + r, c[1])], [(c[0], c[1] - r), (c[0], c[1] + r)]]
    raise ValueError(f"Unknown shape. Received: {kind!r}")


SHAPES = ("square", "triangle", "star", "heart", "arrow", "spiral", "zigzag", "grid", "cross")


def _wobbly(strokes, rng: np.random.Generator, scale: float) -> list[list[tuple[float, float]]]:
    """Strokes resampled every 2 pad pixels with a little hand tremor, scaled to the pad."""
    out = []
    for s in strokes:
        pts = np.asarray(s, np.float64)
        steps = np.maximum(2, (np.linalg.norm(np.diff(pts, axis=0), axis=1) / 2).astype(int))
        dense = np.concatenate([np.linspace(a, b, n, endpoint=False) for a, b, n in zip(pts[:-1], pts[1:], steps)]
                               + [pts[-1:]])
        dense += rng.normal(0, 0.5, dense.shape)
        out.append([tuple(p) for p in dense * scale])
    return out


def shapes(rng: np.random.Generator, n_each: int = 12) -> tuple[np.ndarray, list[str]]:
    images, kinds = [], []
    for kind in SHAPES:
        for _ in range(n_each):
            pad = float(rng.uniform(240, 420))
            images.append(preprocess.from_strokes(_wobbly(_shape_strokes(kind, rng), rng, pad / 100), pad))
            kinds.append(kind)
    return np.stack(images), kinds


def scribbles(rng: np.random.Generator, n: int = 120) -> np.ndarray:
    """Random smooth strokes: a random walk with momentum, one to three strokes."""
    images = []
    while len(images) < n:
        pad = float(rng.uniform(240, 420))
        strokes = []
        for _ in range(int(rng.integers(1, 4))):
            p, v = rng.uniform(25, 75, 2), rng.normal(0, 2, 2)
            pts = []
            for _ in range(int(rng.integers(25, 70))):
                v = 0.85 * v + rng.normal(0, 1.2, 2)
                p = np.clip(p + v, 5, 95)
                pts.append(tuple(p * pad / 100))
            strokes.append(pts)
        try:
            images.append(preprocess.from_strokes(strokes, pad))
        except preprocess.EmptyImageError:
            continue
    return np.stack(images)


def canvas_digits(x: np.ndarray, rng: np.random.Generator, n: int = N_DIGITS) -> tuple[np.ndarray, np.ndarray]:
    """`n` evenly spread digits of `x` (N, 28, 28), 4x enlarged, redrawn with the pen."""
    idx = np.unique(np.linspace(0, len(x) - 1, min(n, len(x))).round().astype(int))
    out, kept = [], []
    for i in idx:
        big = np.asarray(Image.fromarray(np.uint8(x[i] * 255)).resize((112, 112), Image.BILINEAR), np.float32) / 255
        img = pad_redraw(big, rng)
        if img is not None:
            out.append(img)
            kept.append(i)
    return np.stack(out), np.array(kept)


def _u8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    out = parser.parse_args(argv).out
    data = load_bundled()
    letter_x, chars, fonts = letters(np.random.default_rng(1))
    shape_x, kinds = shapes(np.random.default_rng(2))
    scribble_x = scribbles(np.random.default_rng(3))
    val_x, val_i = canvas_digits(data.x_val, np.random.default_rng(4))
    test_x, test_i = canvas_digits(data.x_test, np.random.default_rng(5))
    train_x, train_i = canvas_digits(data.x_train, np.random.default_rng(6), N_TRAIN_DIGITS)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, letters=_u8(letter_x), letter_chars=np.array(chars), letter_fonts=np.array(fonts),
                        shapes=_u8(shape_x), shape_kinds=np.array(kinds), scribbles=_u8(scribble_x),
                        digits_train=_u8(train_x), digits_train_labels=data.y_train[train_i],
                        digits_val=_u8(val_x), digits_val_labels=data.y_val[val_i],
                        digits_test=_u8(test_x), digits_test_labels=data.y_test[test_i])
    print(f"Wrote {out}: {len(letter_x)} letters from {len(set(fonts))} fonts, {len(shape_x)} shapes, "
          f"{len(scribble_x)} scribbles, {len(train_x)} training, {len(val_x)} validation and {len(test_x)} test digits "
          f"({out.stat().st_size // 1024} KB).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
