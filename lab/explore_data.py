"""The Explore tab's heavy work, done once per model version and cached: held-out codes, their
map, reference errors, the baselines and the noise sweep. `ae_core.analysis` computes; this
module only caches; a `LoadedModel.net` is the `Autoencoder`-shaped triple `analysis` expects.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import streamlit as st

from ae_core import analysis, score

from . import engine, resources

SWEEP_IMAGES = 100  # held-out digits per noise level in the app's sweep (evenly spread over classes)
EVALUATION = Path(__file__).resolve().parents[1] / "benchmarks" / "evaluation.json"


def cache_key(model: engine.LoadedModel) -> tuple:
    """Names one version of one model: its key and its model file's hash (a retrained file or a
    new session model gets a new key; an object's id() could be reused by another model)."""
    m = model.manifest or {}
    return (model.key, m.get("model_sha256") or m.get("model_file") or m.get("created") or str(model.path))


def autoencoder(model: engine.LoadedModel):
    """The model's `Autoencoder`-shaped triple (NumPy: `ae_core.analysis` runs on it as on Keras)."""
    return model.net


def held_out() -> tuple[np.ndarray, np.ndarray]:
    """The held-out digits (N, 28, 28) and labels (N,), shared read only."""
    d = resources.dataset()
    return d.x_test, d.y_test


@st.cache_resource(show_spinner=False, max_entries=16)
def _codes(key: tuple, _model: engine.LoadedModel) -> np.ndarray:
    del key
    return analysis.encode(autoencoder(_model), held_out()[0])


def codes(model: engine.LoadedModel) -> np.ndarray:
    """Codes (N, *code_shape) of every held-out digit."""
    return _codes(cache_key(model), model)


@st.cache_resource(show_spinner=False, max_entries=16)
def _stats(key: tuple, _model: engine.LoadedModel) -> analysis.CodeStats:
    del key
    return analysis.code_stats(codes(_model))


def stats(model: engine.LoadedModel) -> analysis.CodeStats:
    return _stats(cache_key(model), model)


@st.cache_resource(show_spinner=False, max_entries=16)
def _code_map(key: tuple, _model: engine.LoadedModel) -> analysis.CodeMap:
    del key
    return analysis.project_codes(codes(_model), "pca")


def code_map(model: engine.LoadedModel) -> analysis.CodeMap:
    """PCA of the held-out codes: `.points` (N, 2), `.transform` for a new code."""
    return _code_map(cache_key(model), model)


@st.cache_resource(show_spinner=False)
def baselines() -> dict:
    """Name -> (N, 28, 28) -> (N, 28, 28): PCA-32 (fitted on the training split) and the filters."""
    from ae_core import baselines as b

    return {k: v for k, v in b.all_baselines(resources.dataset().x_train).items() if k != "noisy input"}


@st.cache_resource(show_spinner=False, max_entries=8)
def _sweep(keys: tuple, _models: tuple) -> analysis.Sweep:
    fns = {"noisy input": lambda x: np.asarray(x, np.float32).reshape(-1, 28, 28)}
    fns.update({m.key: analysis.model_fn(autoencoder(m)) for m in _models})  # keys: names can repeat
    fns.update(baselines())
    return analysis.noise_sweep(fns, held_out()[0], subset=SWEEP_IMAGES)


def sweep(models: list[engine.LoadedModel]) -> analysis.Sweep:
    """PSNR and SSIM against noise 0..1 for each model (by its key: `saved:conv_seed` and
    `pretrained:conv_seed` are two lines) and each baseline (by name), on `SWEEP_IMAGES` digits."""
    return _sweep(tuple(cache_key(m) for m in models), tuple(models))


@st.cache_data(show_spinner=False)
def _evaluation(stamp: float) -> dict | None:
    del stamp
    try:
        return json.loads(EVALUATION.read_text())
    except (OSError, ValueError):
        return None


def evaluation() -> analysis.Sweep | None:
    """The figures of `python -m ae_core evaluate` (benchmarks/evaluation.json), if it is there."""
    try:
        stamp = EVALUATION.stat().st_mtime
    except OSError:
        return None
    result = _evaluation(stamp)
    try:
        return analysis.Sweep.from_evaluation(result) if result else None
    except (KeyError, TypeError, ValueError):
        return None


# --- issue 13: the digit manifold, the ladder, t-SNE, the digit score ---------------------

MANIFOLD_N, MANIFOLD_SPAN = 15, 2.5  # the manifold grid: 15 x 15 codes over [-2.5, 2.5]^2


def pretrained(settings, name: str) -> engine.LoadedModel | None:
    """A pretrained model by name, loaded (cached), or None when it is missing or broken."""
    m = resources.model(settings.pretrained_dir, name, "pretrained")
    return m if isinstance(m, engine.LoadedModel) else None


@st.cache_resource(show_spinner=False, max_entries=8)
def _manifold(key: tuple, _model: engine.LoadedModel) -> np.ndarray:
    del key
    codes = analysis.latent_grid(MANIFOLD_N, MANIFOLD_SPAN)
    return analysis.decode(autoencoder(_model), codes).reshape(MANIFOLD_N, MANIFOLD_N, 28, 28)


def manifold(model: engine.LoadedModel) -> np.ndarray:
    """The 2-D VAE's decoded grid (n, n, 28, 28), row 0 at the top (largest z2)."""
    return _manifold(cache_key(model), model)


@st.cache_resource(show_spinner=False, max_entries=8)
def _tsne(key: tuple, _model: engine.LoadedModel) -> analysis.CodeMap:
    folder = Path(_model.path).parent if _model.path else None
    stem = Path(str((_model.manifest or {}).get("model_file", ""))).stem
    if folder is None or not stem:  # a model that was never saved: memory only
        return analysis.project_codes(codes(_model), "tsne")
    return analysis.cached_map(codes(_model), folder / f"{stem}.tsne.npz", "tsne")


def tsne_map(model: engine.LoadedModel) -> analysis.CodeMap:
    """t-SNE of the held-out codes, computed once per model file and kept beside it on disk
    (`NAME-<hash>.tsne.npz`: the hash names the model file, so a retrained model gets a new map)."""
    return _tsne(cache_key(model), model)


SCORE_MODELS = tuple(dict.fromkeys(m for m, _ in score.DEFAULT_PARTS))  # the models the digit score reads


@st.cache_resource(show_spinner=False, max_entries=4)
def _scorer(keys: tuple, _models: tuple) -> score.DigitScorer:
    del keys
    d = resources.dataset()
    nets = {m.name: autoencoder(m) for m in _models}
    return score.DigitScorer.fit(nets, *score.training_digits(d.x_train, d.y_train),
                                 score.validation_digits(d.x_val))


def scorer(settings):
    """The digit score (`ae_core.score.DigitScorer`) over the pretrained models it needs, or
    None with the names of those missing."""
    models = [pretrained(settings, name) for name in SCORE_MODELS]
    missing = [n for n, m in zip(SCORE_MODELS, models) if m is None]
    if missing:
        return None, missing
    return _scorer(tuple(cache_key(m) for m in models), tuple(models)), []


def ladder_report() -> dict | None:
    """The ladder of `python -m ae_core evaluate` (evaluation.json "ladder"), if it is there."""
    try:
        stamp = EVALUATION.stat().st_mtime
    except OSError:
        return None
    result = _evaluation(stamp)
    lad = (result or {}).get("ladder")
    return lad if isinstance(lad, dict) and lad.get("sizes") else None


def n_test() -> int:
    return len(held_out()[0])


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
