"""Re-save stored models' `.keras` files without their optimizer state; nothing else changes.

    python scripts/strip_optimizer.py ladder_2 ladder_4 [--models pretrained]

A model saved compiled keeps Adam's two moment arrays per weight: three times the weights, and
nothing resumes from them (retraining compiles afresh). For each name this loads the `.keras`
file (checked against its manifest), saves the weights alone under a new content-named file,
checks that its outputs are bit-identical on the bundled test digits, and commits the manifest
with the new file's name and checksum (`store.atomic_write`); the ONNX files stay as they are,
and caches named after the old file (`NAME-<hash>.tsne.npz`) are renamed with it. A model
without optimizer state is left alone.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def has_optimizer(keras_file: Path) -> bool:
    import h5py

    with zipfile.ZipFile(keras_file) as z, z.open("model.weights.h5") as w:
        with h5py.File(io.BytesIO(w.read())) as h5:
            return "optimizer" in h5


def strip(folder: Path, name: str) -> str:
    import keras
    import numpy as np

    from ae_core import store
    from ae_core.data import load_bundled
    from ae_core.store import model_format

    manifest_path = folder / f"{name}.json"
    manifest = json.loads(manifest_path.read_text())
    old = folder / manifest["model_file"]
    if not has_optimizer(old):
        return f"{name}: no optimizer state, left as it was"
    x = load_bundled().x_test.reshape(-1, 28, 28, 1)
    model = store.load(folder, name).model.autoencoder  # checks the file against its manifest
    new = store.atomic_write(folder / f"{name}.keras", lambda tmp: model_format._write_keras(model, tmp),
                             suffix=".keras", final=lambda tmp: folder / f"{name}-{store.sha256(tmp)[:12]}.keras")
    try:
        assert not has_optimizer(new), new
        reloaded = keras.saving.load_model(new, compile=False, safe_mode=True)
        np.testing.assert_array_equal(model.predict(x, batch_size=500, verbose=0),
                                      reloaded.predict(x, batch_size=500, verbose=0))
        manifest["model_file"], manifest["model_sha256"] = new.name, store.sha256(new)
        text = json.dumps(manifest, indent=2, allow_nan=False)
        store.atomic_write(manifest_path, lambda tmp: tmp.write_text(text))  # the commit
    except BaseException:
        new.unlink(missing_ok=True)
        raise
    old_stem, new_stem = old.name[: -len(".keras")], new.name[: -len(".keras")]
    for cache in folder.glob(f"{old_stem}.*.npz"):  # keyed by the model file's name
        cache.rename(folder / (new_stem + cache.name[len(old_stem):]))
    old.unlink()
    store.load(folder, name)
    store.load_onnx(folder, name)
    return f"{name}: {old.name} -> {new.name} ({new.stat().st_size:,} bytes)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+")
    parser.add_argument("--models", type=Path, default=ROOT / "pretrained")
    args = parser.parse_args(argv)
    for name in args.names:
        print(strip(args.models, name), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
