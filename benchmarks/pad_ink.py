"""Ink statistics of pad drawings (ae_core.preprocess.from_strokes) against the bundled MNIST digits.

    python benchmarks/pad_ink.py

Digits 0-9 drawn as simple pen paths at several pad sizes and at several digit heights (the
share of the pad's side the digit covers), then turned into 28x28 by `from_strokes`. Printed per
case: mean ink (mean pixel), ink fraction (share of pixels > 0.5) and stroke width in pixels
(2 x area / perimeter of the pixels > 0.5), each the mean over the ten digits; the same figures
for the 2,000 held-out bundled digits come first.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ae_core.preprocess import from_strokes  # noqa: E402

# Pen paths in a unit box (x right, y down); several strokes per digit where a hand lifts the pen.
ARC = lambda cx, cy, rx, ry, a0, a1, n=24: [(cx + rx * np.cos(t), cy + ry * np.sin(t))  # noqa: E731
                                             for t in np.linspace(np.radians(a0), np.radians(a1), n)]
DIGITS = {
    0: [ARC(0.5, 0.5, 0.32, 0.48, -90, 270, 40)],
    1: [[(0.35, 0.15), (0.55, 0.0), (0.55, 1.0)]],
    2: [ARC(0.5, 0.3, 0.35, 0.3, 200, 380) + [(0.15, 1.0), (0.9, 1.0)]],
    3: [ARC(0.5, 0.25, 0.35, 0.25, 200, 450) + ARC(0.5, 0.73, 0.38, 0.27, -90, 160)],
    4: [[(0.6, 0.0), (0.05, 0.7), (0.95, 0.7)], [(0.7, 0.35), (0.7, 1.0)]],
    5: [[(0.85, 0.0), (0.25, 0.0), (0.2, 0.45)] + ARC(0.5, 0.68, 0.36, 0.32, -120, 160)],
    6: [[(0.75, 0.0), (0.3, 0.45)] + ARC(0.5, 0.7, 0.32, 0.3, 200, 560)],
    7: [[(0.1, 0.0), (0.9, 0.0), (0.4, 1.0)]],
    8: [ARC(0.5, 0.25, 0.28, 0.25, 90, 450) + ARC(0.5, 0.73, 0.35, 0.27, -90, 270)],
    9: [ARC(0.5, 0.3, 0.33, 0.3, 0, 360) + [(0.83, 0.3), (0.7, 1.0)]],
}


def stats(x: np.ndarray) -> tuple[float, float, float]:
    """(mean ink, ink fraction, stroke width in pixels) of one (28, 28) digit."""
    b = x > 0.5
    area = b.sum()
    padded = np.pad(b, 1)
    perimeter = (np.abs(np.diff(padded.astype(int), axis=0)).sum() + np.abs(np.diff(padded.astype(int), axis=1)).sum())
    return float(x.mean()), float(b.mean()), float(2 * area / max(perimeter, 1))


def drawn(digit: int, pad: float, height: float) -> np.ndarray:
    side = height * pad
    x0, y0 = (pad - 0.7 * side) / 2, (pad - side) / 2  # digits are about 0.7 as wide as tall
    strokes = [[(x0 + 0.7 * side * x, y0 + side * y) for x, y in s] for s in DIGITS[digit]]
    return from_strokes(strokes, pad)


def main() -> None:
    from ae_core.data import load_bundled

    ref = np.array([stats(x) for x in load_bundled().x_test])
    print(f"{'case':34s} {'mean ink':>9s} {'ink > 0.5':>10s} {'stroke px':>10s}")
    m, s = ref.mean(axis=0), ref.std(axis=0)
    print(f"{'bundled MNIST (2000 held out)':34s} {m[0]:9.3f} {m[1]:10.3f} {m[2]:10.2f}   "
          f"(std {s[0]:.3f} / {s[1]:.3f} / {s[2]:.2f})")
    for pad in (240, 320, 480):
        for height in (0.4, 0.6, 0.8):
            a = np.array([stats(drawn(d, pad, height)) for d in DIGITS]).mean(axis=0)
            print(f"{f'pad {pad} px, digit {height:.0%} of its height':34s} {a[0]:9.3f} {a[1]:10.3f} {a[2]:10.2f}")


if __name__ == "__main__":
    main()
