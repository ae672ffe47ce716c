"""How to train: the `TrainConfig` dataclass (no Keras here, so presets load without TensorFlow)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

MAX_EPOCHS = 500
OPTIMIZERS = ("adam", "adadelta")
LOSSES = ("binary_crossentropy", "mse")
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """How to train. The defaults are the tutorial's dense run, with Adam (see README)."""

    epochs: int = 25
    batch_size: int = 128
    optimizer: str = "adam"  # "adam", or "adadelta" (the tutorial's; learning rate 1.0 by default)
    learning_rate: float | None = None  # None: 1e-3 for Adam, 1.0 for Adadelta
    schedule: str = "constant"  # or "cosine": decay the learning rate to 0 over the run
    loss: str = "binary_crossentropy"  # or "mse"
    noise_factor: float = 0.0  # Gaussian noise on the inputs, fixed once as in the tutorial
    noise_max: float | None = None  # if set: fresh noise each batch, level ~ U(0, noise_max) per image
    noise_kind: str = "gaussian"  # the fixed copy's noise (ae_core.noise.KINDS); fresh noise is Gaussian
    augment: float = 0.0  # share of the digits replaced by a fresh `ae_core.augment` variant each batch
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or not 1 <= self.epochs <= MAX_EPOCHS:
            raise ValueError(f"epochs must be an integer from 1 to {MAX_EPOCHS}. Received: epochs={self.epochs!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer. Received: batch_size={self.batch_size!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}. Received: optimizer={self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}. Received: schedule={self.schedule!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}. Received: loss={self.loss!r}")
        lr = self.learning_rate
        if lr is not None and (isinstance(lr, (bool, str)) or not (np.isfinite(lr) and lr > 0)):
            raise ValueError(f"learning_rate must be a positive number. Received: learning_rate={lr!r}")
        for name in ("noise_factor", "noise_max"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, (bool, str)) or not (np.isfinite(value) and 0.0 <= value <= 1.0)):
                raise ValueError(f"{name} must be in [0, 1]. Received: {name}={value!r}")
        from .noise import KINDS

        if self.noise_kind not in KINDS:
            raise ValueError(f"noise_kind must be one of {KINDS}. Received: noise_kind={self.noise_kind!r}")
        if self.noise_kind != "gaussian" and self.noise_max is not None:
            raise ValueError("fresh noise every batch (noise_max) is Gaussian; other kinds make the tutorial's "
                             f"fixed noisy copy (noise_factor). Received: noise_kind={self.noise_kind!r}")
        a = self.augment
        if isinstance(a, (bool, str)) or not isinstance(a, (int, float)) or not (np.isfinite(a) and 0.0 <= a <= 1.0):
            raise ValueError(f"augment is the share of digits to vary, a number in [0, 1]. Received: augment={a!r}")
        if a > 0 and self.noise_factor > 0:
            raise ValueError("augment makes fresh digits every batch, so it cannot use the tutorial's one "
                             "fixed noisy copy (noise_factor): use noise_max for fresh noise instead. "
                             f"Received: augment={a!r}, noise_factor={self.noise_factor!r}")

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return float(self.learning_rate)
        return 1.0 if self.optimizer == "adadelta" else 1e-3

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
