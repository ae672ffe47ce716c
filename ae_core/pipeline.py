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
        out[f"psnr@{level}"] = metrics.set_psnr(x, rec)  # of the mean MSE over the set
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


FLAT_GREY_BCE = float(np.log(2.0))  # the BCE of predicting 0.5 for every pixel
RISE = 1.10  # a last validation loss this much above the run's best: it got worse, say so


def mean_image_loss(data: Dataset, loss: str = "binary_crossentropy") -> float:
    """The validation loss of a model that learned only the average training digit: it predicts
    the mean training image whatever the input. Anything that learned beats it (MNIST: BCE about
    0.26, where a flat grey image scores ln 2 = 0.69)."""
    mean = np.clip(data.x_train.reshape(len(data.x_train), -1).mean(axis=0), 1e-7, 1 - 1e-7)
    x = data.x_val.reshape(len(data.x_val), -1).astype(np.float64)
    if loss == "mse":
        return float(((x - mean) ** 2).mean())
    return float(-(x * np.log(mean) + (1 - x) * np.log(1 - mean)).mean())


def divergence_warning(history: dict, baseline: float) -> str:
    """One line when a finished run's validation loss says it did not learn, else ''.

    It did not learn when its last validation loss is no better than `baseline`, the loss of
    predicting the average training digit (`mean_image_loss`). A run that learned but ended more
    than 10% above its best epoch got worse at the end: that is said too, without calling it
    diverged. A last loss merely not below the first (a run cancelled after two epochs, a
    plateau) is no warning.
    """
    val = [float(v) for v in history.get("val_loss", [])]
    if not val or not np.all(np.isfinite(val)):
        return "The loss became NaN or infinite: the run diverged."
    last, best = val[-1], min(val)
    if last >= baseline:
        return (f"It did not learn: the validation loss ended at {last:.4f}, no better than predicting the "
                f"average digit ({baseline:.4f}). Try more epochs or a smaller learning rate.")
    if len(val) >= 2 and last > best * RISE:
        return (f"The validation loss rose from its best, {best:.4f}, to {last:.4f}: the model got worse "
                "at the end. Try a smaller learning rate.")
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
