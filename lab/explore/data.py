"""The Explore tab's heavy work, each value computed once per version of the models it depends
on: held-out codes, their statistics and maps, the manifold's grid, the digit score, the
baselines and the noise sweep. `ae_core.analysis` computes; this module only caches.

`per_model` is the one cache for values of models: the key is the function and each model's
version (its key and the hashes of the files the server runs), never an object's id().
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import streamlit as st

from ae_core import analysis, score

from .. import engine, resources

SWEEP_IMAGES = 100  # held-out digits per noise level in the app's sweep (evenly spread over classes)
EVALUATION = Path(__file__).resolve().parents[2] / "benchmarks" / "evaluation.json"
MANIFOLD_N, MANIFOLD_SPAN = 15, 2.5  # the manifold grid: 15 x 15 codes over [-2.5, 2.5]^2
RANGE_SHARE = 0.5  # a playground slider spans its unit's held-out values but this % at each end


def version(model: engine.LoadedModel) -> tuple:
    """Names one version of one model: its key and the hashes of its ONNX files (what the server
    runs), else of its model file. A retrained file gets a new version; the same file loaded
    again keeps it."""
    m = model.manifest or {}
    onnx = m.get("onnx") or {}
    hashes = (m.get("model_sha256"), *((onnx.get(part) or {}).get("sha256") for part in ("encoder", "decoder")))
    if not any(hashes):  # a manifest without hashes (written by hand): its file's name, then its path
        hashes = (m.get("model_file") or str(model.path),)
    return (model.key, *hashes)


@st.cache_resource(show_spinner=False, max_entries=64)
def _computed(what: str, versions: tuple, _fn, _models: tuple):
    del what, versions  # the key: which value, of which model versions
    return _fn(*_models)


def per_model(fn):
    """Decorator: `fn(*models)` computed once per version of its models and kept."""
    what = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def cached(*models: engine.LoadedModel):
        return _computed(what, tuple(version(m) for m in models), fn, models)
    return cached


def held_out() -> tuple[np.ndarray, np.ndarray]:
    """The held-out digits (N, 28, 28) and labels (N,), shared read only."""
    d = resources.dataset()
    return d.x_test, d.y_test


def n_test() -> int:
    return len(held_out()[0])


def pretrained(settings, name: str) -> engine.LoadedModel | None:
    """A pretrained model by name, loaded (cached), or None when it is missing or broken."""
    m = resources.model(settings.pretrained_dir, name, "pretrained")
    return m if isinstance(m, engine.LoadedModel) else None


# --- values of one model ----------------------------------------------------------------------

@per_model
def codes(model: engine.LoadedModel) -> np.ndarray:
    """Codes (N, *code_shape) of every held-out digit."""
    return analysis.encode(model.net, held_out()[0])


@per_model
def slider_ranges(model: engine.LoadedModel) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), each (D,): where each code value lies for the held-out digits, the extreme
    `RANGE_SHARE` % at each end left out; a unit that never varies gets a span of 1."""
    flat = codes(model).reshape(n_test(), -1)
    lo, hi = np.percentile(flat, [RANGE_SHARE, 100 - RANGE_SHARE], axis=0)
    lo = np.where(flat.min(axis=0) >= 0, 0.0, lo)  # a relu unit starts at 0
    hi = np.maximum(hi, lo + 1.0 * (hi - lo < 1e-6))
    return lo.astype(np.float32), hi.astype(np.float32)


@per_model
def pca_map(model: engine.LoadedModel) -> analysis.CodeMap:
    """PCA of the held-out codes: `.points` (N, 2), `.transform` for a new code."""
    return analysis.project_codes(codes(model), "pca")


@per_model
def tsne_map(model: engine.LoadedModel) -> analysis.CodeMap:
    """t-SNE of the held-out codes, computed once per model file and kept beside it on disk
    (`NAME-<hash>.tsne.npz`: the hash names the model file, so a retrained model gets a new map)."""
    folder = Path(model.path).parent if model.path else None
    stem = Path(str((model.manifest or {}).get("model_file", ""))).stem
    if folder is None or not stem:  # a model that was never saved: memory only
        return analysis.project_codes(codes(model), "tsne")
    return analysis.cached_map(codes(model), folder / f"{stem}.tsne.npz", "tsne")


@per_model
def manifold(model: engine.LoadedModel) -> np.ndarray:
    """The 2-D VAE's decoded grid (n, n, 28, 28), row 0 at the top (largest z2)."""
    grid = analysis.latent_grid(MANIFOLD_N, MANIFOLD_SPAN)
    return analysis.decode(model.net, grid).reshape(MANIFOLD_N, MANIFOLD_N, 28, 28)


# --- values of several models -------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def baselines() -> dict:
    """Name -> (N, 28, 28) -> (N, 28, 28): PCA-32 (fitted on the training split) and the filters."""
    from ae_core import baselines as b

    return {k: v for k, v in b.all_baselines(resources.dataset().x_train).items() if k != "noisy input"}


@per_model
def _sweep(*models: engine.LoadedModel) -> analysis.Sweep:
    fns = {"noisy input": lambda x: np.asarray(x, np.float32).reshape(-1, 28, 28)}
    fns.update({m.key: analysis.model_fn(m.net) for m in models})  # keys: names can repeat
    fns.update(baselines())
    return analysis.noise_sweep(fns, held_out()[0], subset=SWEEP_IMAGES)


def sweep(models: list[engine.LoadedModel]) -> analysis.Sweep:
    """PSNR and SSIM against noise 0..1 for each model (by its key: `saved:conv_seed` and
    `pretrained:conv_seed` are two lines) and each baseline (by name), on `SWEEP_IMAGES` digits."""
    return _sweep(*models)


SCORE_MODELS = tuple(dict.fromkeys(m for m, _ in score.DEFAULT_PARTS))  # the models the digit score reads


@per_model
def _scorer(*models: engine.LoadedModel) -> score.DigitScorer:
    d = resources.dataset()
    return score.DigitScorer.fit({m.name: m.net for m in models}, *score.training_digits(d.x_train, d.y_train),
                                 score.validation_digits(d.x_val))


def scorer(settings) -> tuple[score.DigitScorer | None, list[str]]:
    """The digit score over the pretrained models it needs, or None with the names of those missing."""
    models = [pretrained(settings, name) for name in SCORE_MODELS]
    missing = [n for n, m in zip(SCORE_MODELS, models) if m is None]
    return (None, missing) if missing else (_scorer(*models), [])


@st.cache_resource(show_spinner=False)
def pca_ladder() -> dict:
    """Code size -> PCA with that many components (fitted on the training digits, one SVD)."""
    import copy

    from ae_core import baselines as b
    from ae_core.presets import LADDER_SIZES

    full = b.PCA(resources.dataset().x_train, max(LADDER_SIZES))
    out = {}
    for size in LADDER_SIZES:
        out[size] = copy.copy(full)
        out[size].components = full.components[:size]
    return out


# --- the evaluation report ------------------------------------------------------------------------

@st.cache_data(show_spinner=False)
def _evaluation(stamp: float) -> dict | None:
    del stamp  # the file's modification time: a new report is read again
    try:
        return json.loads(EVALUATION.read_text())
    except (OSError, ValueError):
        return None


def _report() -> dict | None:
    try:
        return _evaluation(EVALUATION.stat().st_mtime)
    except OSError:
        return None


def evaluation() -> analysis.Sweep | None:
    """The figures of `python -m ae_core evaluate` (benchmarks/evaluation.json), if it is there."""
    result = _report()
    try:
        return analysis.Sweep.from_evaluation(result) if result else None
    except (KeyError, TypeError, ValueError):
        return None


def ladder_report() -> dict | None:
    """The ladder of `python -m ae_core evaluate` (evaluation.json "ladder"), if it is there."""
    lad = (_report() or {}).get("ladder")
    return lad if isinstance(lad, dict) and lad.get("sizes") else None
