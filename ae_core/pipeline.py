"""Glue used by the CLI and the app: measure a trained model and save it with its metadata."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import metrics, store
from .data import Dataset
from .evaluate import NOISE_LEVELS, noisy_test_sets
from .models import Autoencoder, Spec
from .training import TrainConfig, TrainResult


def summary_metrics(model: Autoencoder, data: Dataset) -> dict[str, float]:
    """Validation BCE/MSE on clean digits and PSNR at the tutorial's noise levels (validation split)."""
    x = data.x_val.reshape(-1, 28, 28, 1)
    rec = model.autoencoder.predict(x, batch_size=500, verbose=0)
    out = {"val_bce": float(metrics.bce(x, rec).mean()), "val_mse": float(metrics.mse(x, rec).mean())}
    for level, noisy in noisy_test_sets(x, NOISE_LEVELS).items():
        rec = model.autoencoder.predict(noisy, batch_size=500, verbose=0)
        out[f"psnr@{level}"] = float(metrics.psnr(x, rec).mean())
    return out


def data_info(data: Dataset) -> dict:
    return {"source": data.source, "sha256": data.sha256, "n_train": int(len(data.x_train)),
            "n_val": int(len(data.x_val)), "n_test": int(len(data.x_test))}


def save_result(result: TrainResult, spec: Spec, config: TrainConfig, data: Dataset,
                folder: Path | str, name: str, preset: str | None = None) -> Path:
    """Save a finished run with its metrics, history and data provenance; returns the manifest path."""
    if not result.ok:
        raise ValueError(f"Training diverged (loss became NaN); {name} was not saved.")
    history = {k: [float(v) for v in vals] for k, vals in result.history.items()}
    extra = {"status": result.status, "epochs_run": result.epochs_run,
             "train_seconds": round(result.seconds, 1)}
    if not all(np.isfinite(v) for vals in history.values() for v in vals):
        raise ValueError(f"Training history holds NaN or inf; {name} was not saved.")
    return store.save(result.model, spec, folder, name, train_config=config, data_info=data_info(data),
                      metrics=summary_metrics(result.model, data), history=history, preset=preset,
                      extra=extra)
