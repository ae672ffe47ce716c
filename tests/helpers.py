"""Small shared test data: a slice of the bundled digits keeps training tests fast."""
from __future__ import annotations

import functools

import numpy as np

from ae_core.data import Dataset, load_bundled


@functools.lru_cache(maxsize=1)
def bundled() -> Dataset:
    return load_bundled()


def tiny(n_train: int = 1024, n_test: int = 256) -> Dataset:
    """A random (fixed) slice of every class: the split itself is sorted by class.

    Validation and test each get `n_test` digits (validation at most its 1,000).
    """
    d = bundled()
    rng = np.random.default_rng(0)
    tr = rng.choice(len(d.x_train), n_train, replace=False)
    va = rng.choice(len(d.x_val), min(n_test, len(d.x_val)), replace=False)
    te = rng.choice(len(d.x_test), n_test, replace=False)
    return d.subset(train=tr, val=va, test=te)


PRETRAINED_AT_START: dict[str, str] = {}  # pretrained/'s files when the session began (conftest)


def pretrained_hashes() -> dict[str, str]:
    """File name -> SHA-256 of every file in pretrained/."""
    from pathlib import Path

    from ae_core import store

    folder = Path(__file__).resolve().parents[1] / "pretrained"
    return {p.name: store.sha256(p) for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}


def missing_shipped_models(folder=None) -> list[str]:
    """The presets whose shipped model in pretrained/ is missing or incomplete: its manifest,
    the ONNX files it names, or its `.keras` file. Each entry names the preset and the file."""
    import json
    from pathlib import Path

    from ae_core import store
    from ae_core.presets import PRESETS

    folder = Path(folder or Path(__file__).resolve().parents[1] / "pretrained")
    missing = []
    for name in sorted(PRESETS):
        try:
            manifest = json.loads((folder / f"{name}.json").read_text())
        except (OSError, ValueError):
            missing.append(f"{name} (pretrained/{name}.json)")
            continue
        if not isinstance(manifest.get("onnx"), dict):
            missing.append(f"{name} (pretrained/{name}.json names no ONNX files)")
            continue
        absent = sorted(f for f in store.model_files(manifest) if not (folder / f).is_file())
        if absent:
            missing.append(f"{name} (pretrained/{', pretrained/'.join(absent)})")
    return missing


def shipped_models_required() -> bool:
    """In CI, or with AE_REQUIRE_BROWSER=1, a missing shipped model fails the tests instead of
    letting them fall back to untrained stand-ins or skip."""
    import os

    return bool(os.environ.get("CI")) or os.environ.get("AE_REQUIRE_BROWSER") == "1"


def missing_shipped_message(missing: list[str]) -> str:
    return (f"The shipped models are incomplete: {'; '.join(missing)}. Restore them with "
            "`git checkout -- pretrained/` (or train them: scripts/train_pretrained.sh).")
