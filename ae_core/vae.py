"""The variational autoencoder's training objective: a sampled code and the KL term.

A VAE encoder returns two outputs, the code's mean and log-variance (B, D) each; the code is
the first. The saved model is the deterministic path (image -> mean -> decoder), built from
Keras' own layers only, so it loads with `safe_mode=True` and exports to ONNX like every other
model. Training wraps it (`training_model`) with `Posterior`, a layer that draws
z = mean + exp(log_var / 2) * eps and adds the KL divergence to N(0, I) as a loss; that
wrapper is never saved.

The loss is the negative ELBO per pixel: Keras' BCE is a mean over the 784 pixels, so the KL
(a sum over the code, per image) is divided by 784 too. Minimising BCE + KL / 784 is minimising
the per-image ELBO (784 * BCE + KL), scaled.

`kl_divergence` and `posterior_sample` are NumPy: the page uses them without Keras.
"""
from __future__ import annotations

import numpy as np

PIXELS = 784


def kl_divergence(mean: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """KL(N(mean, exp(log_var)) || N(0, I)) per row: (N, D), (N, D) -> (N,), in nats."""
    mean, log_var = np.asarray(mean, np.float64), np.asarray(log_var, np.float64)
    if mean.shape != log_var.shape:
        raise ValueError(f"mean and log_var must have the same shape. Received: {mean.shape} and {log_var.shape}")
    return -0.5 * np.sum(1.0 + log_var - mean**2 - np.exp(log_var), axis=-1)


def posterior_sample(mean: np.ndarray, log_var: np.ndarray,
                     seed: int | np.random.Generator | None = None) -> np.ndarray:
    """One draw z = mean + exp(log_var / 2) * eps, eps ~ N(0, I), shaped like `mean` (float32)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    mean, log_var = np.asarray(mean, np.float32), np.asarray(log_var, np.float32)
    return (mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)).astype(np.float32)


def prior_sample(n: int, size: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """`n` codes (n, size) from the prior N(0, I): what "Dream up a digit" decodes."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer. Received: n={n!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return rng.standard_normal((int(n), int(size))).astype(np.float32)


def training_model(model, kl_weight: float = 1.0):
    """The model `fit` trains for a VAE: image -> sampled code -> decoder, KL added as a loss.

    `model` is an `Autoencoder` whose encoder returns (mean, log_var); the wrapper shares its
    layers (training it trains `model`) and is not saved.
    """
    import keras
    from keras import ops

    class Posterior(keras.layers.Layer):
        """z ~ N(mean, exp(log_var)) while training, the mean otherwise; adds KL / 784 as a loss."""

        def __init__(self, kl_weight: float, **kwargs):
            super().__init__(**kwargs)
            self.kl_weight = float(kl_weight)
            self.seed_generator = keras.random.SeedGenerator(0)

        def call(self, inputs, training=None):
            mean, log_var = inputs
            kl = -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)
            self.add_loss(self.kl_weight * ops.mean(kl) / PIXELS)
            if not training:
                return mean
            eps = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
            return mean + ops.exp(0.5 * log_var) * eps

    inputs = keras.Input(shape=model.autoencoder.input_shape[1:], name="image")
    mean, log_var = model.encoder(inputs)
    z = Posterior(kl_weight, name="posterior")([mean, log_var])
    return keras.Model(inputs, model.decoder(z), name=f"{model.autoencoder.name}_training")
