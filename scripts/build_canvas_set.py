"""Build the canvas-style evaluation set: held-out test digits re-drawn as the Lab's pad draws them.

Each digit's skeleton (skimage) becomes pad strokes: one short line between every two touching
skeleton pixels, scaled to a random size and placed at a random spot on a pad of a random
displayed size. `ae_core.preprocess.from_strokes` then draws them with the pad's anti-aliased round
pen and fits them the way the app does, so the digits look like what people draw in the Lab.

The result is fixed by SEED: run `python scripts/build_canvas_set.py` to rebuild
ae_core/data/canvas_test.npz (uint8 images, their labels and which test digit each came from).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ae_core import augment, data, preprocess  # noqa: E402

SEED = 2026
EVERY = 4  # every 4th test digit: 500 digits of every class (the split is sorted by class)
PAD_SIZE_PX = (240.0, 600.0)  # the pad's displayed side, CSS pixels
DIGIT_FRACTION = (0.4, 0.9)  # the drawn digit's longest side as a share of the pad's
INK_LEVEL = 0.3
_NEIGHBOURS = ((0, 1), (1, -1), (1, 0), (1, 1))  # each pair of touching pixels once


def skeleton_strokes(image: np.ndarray) -> list[np.ndarray]:
    """The digit's skeleton as two-point strokes in (x, y) = (column, row) pixel units."""
    skeleton = augment.skeleton(image, INK_LEVEL)
    rows, cols = np.nonzero(skeleton)
    on = set(zip(rows.tolist(), cols.tolist()))
    strokes = []
    for r, c in zip(rows.tolist(), cols.tolist()):
        linked = False
        for dr, dc in _NEIGHBOURS:
            if (r + dr, c + dc) in on:
                strokes.append(np.array([[c, r], [c + dc, r + dr]], float))
                linked = True
        if not linked:  # an isolated pixel: a dot
            strokes.append(np.array([[c, r]], float))
    return strokes


def redraw(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One digit re-drawn on a pad of random size, at a random size and place, -> (28, 28)."""
    strokes = skeleton_strokes(image)
    points = np.concatenate(strokes)
    lo, extent = points.min(axis=0), max(float(np.ptp(points, axis=0).max()), 1.0)
    pad = rng.uniform(*PAD_SIZE_PX)
    scale = rng.uniform(*DIGIT_FRACTION) * pad / extent
    room = pad - np.ptp(points, axis=0) * scale
    offset = rng.uniform(0.0, 1.0, 2) * room
    return preprocess.from_strokes([(s - lo) * scale + offset for s in strokes], pad)


def build(images: np.ndarray, seed: int = SEED) -> np.ndarray:
    """(N, 28, 28) in [0, 1] -> the same digits re-drawn canvas-style, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    return np.stack([redraw(img, rng) for img in images]).astype(np.float32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(data.CANVAS_PATH))
    args = parser.parse_args(argv)
    d = data.load_bundled()
    index = np.arange(0, len(d.x_test), EVERY)
    images = build(d.x_test[index])
    np.savez_compressed(args.out, images=np.round(images * 255).astype(np.uint8),
                        labels=d.y_test[index], test_index=index.astype(np.int32))
    print(f"Wrote {len(images)} canvas-style digits from the test split to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
