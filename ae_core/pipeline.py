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


FLAT_GREY_BCE = float(np.log(2.0))  # the BCE of predicting 0.5 for every pixel: a model that learned nothing


def divergence_warning(history: dict, loss: str = "binary_crossentropy") -> str:
    """One line when a finished run's validation loss says it did not learn, else ''.

    It did not learn when the last validation loss is no lower than the first epoch's (after
    two or more epochs), or, for BCE, worse than predicting a flat grey image (ln 2).
    """
    val = [float(v) for v in history.get("val_loss", [])]
    if not val or not np.all(np.isfinite(val)):
        return "The loss became NaN or infinite: the run diverged."
    first, last = val[0], val[-1]
    if loss == "binary_crossentropy" and last > FLAT_GREY_BCE:
        return (f"The validation loss ended at {last:.3f}, worse than a flat grey image "
                f"({FLAT_GREY_BCE:.3f}): training diverged. Try a smaller learning rate.")
    if len(val) >= 2 and last >= first:
        return (f"The validation loss rose from {first:.4f} to {last:.4f}: training diverged. "
                "Try a smaller learning rate.")
    return ""


def train_and_save(spec: Spec, config: TrainConfig, data: Dataset, folder: Path | str, name: str, *,
                   preset: str | None = None, callbacks=()) -> tuple[TrainResult, Path | None]:
    """Train `spec` on `data` and save the run in `folder` as NAME (with its ONNX files).

    The one training entry point: the CLI calls it, and so does the app's trainer process
    (`ae_core.worker`). A run whose loss became NaN is not saved (the path is None).
    """
    from .training import train

    result = train(spec, config, data, callbacks=callbacks)
    if not result.ok:
        return result, None
    return result, save_result(result, spec, config, data, folder, name, preset=preset)
