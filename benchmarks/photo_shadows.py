"""Photos of a digit with a hard shadow across the page, through the upload path.

    python benchmarks/photo_shadows.py
    python benchmarks/photo_shadows.py --root /tmp/before     # another checkout's preprocess, same photos

Each photo is a validation digit (never the test split) written 10x large in the middle of 600x600
paper (225) with ink 30 and sensor noise (sigma 4), saved as PNG. The shadow darkens the paper and
ink beyond a straight line at an angle (8 angles), at a distance from the centre (5 positions:
beside the digit, through it, and covering most of the page) to a shade (160, 120, 80). The
result is compared with the same photo without a shadow: a case is "wrong" when the digit's
height differs by more than 1 px or the correlation is below 0.9, and an "error" when the upload
is refused. Also printed: the time of one 12-megapixel JPEG upload, median of 7.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ANGLES = (0, 30, 45, 60, 90, 135, 200, 300)
EDGES = (160, 40, 0, -40, -200)  # px from the centre; 160: beside the digit; -200: most of the page
SHADES = (160, 120, 80)


def photo(digit: np.ndarray, angle=None, shade=None, edge=0.0, side=600, paper=225.0, ink=30.0) -> bytes:
    big = np.asarray(Image.fromarray((digit * 255).astype(np.uint8)).resize((280, 280), Image.Resampling.BICUBIC),
                     np.float32) / 255
    a = np.full((side, side), paper, np.float32)
    o = (side - 280) // 2
    a[o:o + 280, o:o + 280] = paper - (paper - ink) * big
    if angle is not None:
        y, x = np.mgrid[0:side, 0:side] - side / 2
        t = np.deg2rad(angle)
        a = np.where(y * np.cos(t) - x * np.sin(t) > edge, a * (shade / paper), a)
    a += np.random.default_rng(0).normal(0, 4.0, a.shape)
    out = io.BytesIO()
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def height(x: np.ndarray) -> int:
    rows = np.flatnonzero(x.max(axis=1) > 0.2)
    return int(rows[-1] - rows[0] + 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="the checkout to measure")
    ap.add_argument("--digits", type=int, default=5, help="validation digits")
    args = ap.parse_args()
    sys.path.insert(0, args.root)
    from ae_core import data, preprocess

    x_val = data.load_bundled().x_val
    counts = {"cases": 0, "wrong": 0, "error": 0}
    by_edge: dict[int, int] = {e: 0 for e in EDGES}
    for i in range(args.digits):
        plain = preprocess.from_image_bytes(photo(x_val[i]))
        for edge in EDGES:
            for angle in ANGLES:
                for shade in SHADES:
                    counts["cases"] += 1
                    try:
                        x = preprocess.from_image_bytes(photo(x_val[i], angle, shade, edge))
                    except preprocess.ImageInputError:
                        counts["error"] += 1
                        by_edge[edge] += 1
                        continue
                    if abs(height(x) - height(plain)) > 1 or np.corrcoef(x.ravel(), plain.ravel())[0, 1] < 0.9:
                        counts["wrong"] += 1
                        by_edge[edge] += 1
    print(f"{args.root}: {counts['cases']} shadowed photos: {counts['wrong']} wrong, {counts['error']} refused")
    print("  not right, by the shadow edge's distance from the centre (px): "
          + ", ".join(f"{e}: {n}" for e, n in by_edge.items()))

    rng = np.random.default_rng(1)
    big = Image.fromarray(np.clip(rng.normal(215, 6, (3000, 4000)), 0, 255).astype(np.uint8))
    big.paste(Image.open(io.BytesIO(photo(x_val[0], 30, 120))).resize((1800, 1800)), (1100, 600))
    jpeg = io.BytesIO()
    big.save(jpeg, format="JPEG", quality=90)
    preprocess.from_photo(preprocess.decode_photo(jpeg.getvalue()))  # imports (SciPy, scikit-image)
    times = []
    for _ in range(7):
        t = time.perf_counter()
        preprocess.from_photo(preprocess.decode_photo(jpeg.getvalue()))
        times.append((time.perf_counter() - t) * 1000)
    print(f"  one 12-megapixel JPEG upload: median {statistics.median(times):.0f} ms "
          f"(min {min(times):.0f}, max {max(times):.0f})")


if __name__ == "__main__":
    main()
