"""The Explore tab's heavy work, done once per model version and cached: held-out codes, their
map, reference errors, the baselines and the noise sweep. `ae_core.analysis` computes; this
module only caches; a `LoadedModel.net` is the `Autoencoder`-shaped triple `analysis` expects.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import streamlit as st

from ae_core import analysis

from . import engine, resources

SWEEP_IMAGES = 100  # held-out digits per noise level in the app's sweep (evenly spread over classes)
EVALUATION = Path(__file__).resolve().parents[1] / "benchmarks" / "evaluation.json"


def cache_key(model: engine.LoadedModel) -> tuple:
    """Names one version of one model (a retrained file or a new session model gets a new key)."""
    return (model.key, id(model.net))


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


@st.cache_resource(show_spinner=False, max_entries=16)
def _reference(key: tuple, _model: engine.LoadedModel) -> np.ndarray:
    del key
    return analysis.reconstruction_errors(autoencoder(_model), held_out()[0])


def reference_errors(model: engine.LoadedModel) -> np.ndarray:
    """Each held-out digit's reconstruction error (N,): what "is this a digit?" compares with."""
    return _reference(cache_key(model), model)


@st.cache_resource(show_spinner=False)
def baselines() -> dict:
    """Name -> (N, 28, 28) -> (N, 28, 28): PCA-32 (fitted on the training split) and the filters."""
    from ae_core import baselines as b

    return {k: v for k, v in b.all_baselines(resources.dataset().x_train).items() if k != "noisy input"}


@st.cache_resource(show_spinner=False, max_entries=8)
def _sweep(keys: tuple, _models: tuple) -> analysis.Sweep:
    fns = {"noisy input": lambda x: np.asarray(x, np.float32).reshape(-1, 28, 28)}
    fns.update({m.name: analysis.model_fn(autoencoder(m)) for m in _models})
    fns.update(baselines())
    return analysis.noise_sweep(fns, held_out()[0], subset=SWEEP_IMAGES)


def sweep(models: list[engine.LoadedModel]) -> analysis.Sweep:
    """PSNR and SSIM against noise 0..1 for each model and baseline, on `SWEEP_IMAGES` digits."""
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
