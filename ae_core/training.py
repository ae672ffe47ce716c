"""Training: one `train()` for every spec, reporting through Keras callbacks."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from . import augment, noise
from .config import MAX_EPOCHS, TrainConfig  # noqa: F401 (re-exported: the settings live in config.py)
from .data import Dataset
from .models import Autoencoder, Spec, VaeSpec, build


@dataclass
class TrainResult:
    model: Autoencoder
    history: dict[str, list[float]]  # "loss", "val_loss" per epoch
    epochs_run: int
    status: str  # "completed", "stopped" (by a callback) or "diverged" (loss became NaN)
    seconds: float

    @property
    def ok(self) -> bool:
        """True when the weights are usable (not NaN); a stopped run is usable."""
        return self.status != "diverged"


class Cancelled(Exception):
    """Raised by `StopOnEvent` when the run was cancelled before its first batch: nothing to keep."""


class StopOnEvent(keras.callbacks.Callback):
    """Stops training after the current batch once `event` is set (e.g. by a Cancel button).

    `on_stop()` is called once, when the batch loop has stopped: what is left (the epoch's
    validation pass, saving) is bounded, so whoever waits can start its grace period then.
    Set before training begins, it raises `Cancelled`: an untrained model is nothing to keep.
    """

    async_safe = True  # it only reads an Event: Keras may keep dispatching batches asynchronously

    def __init__(self, event: threading.Event, on_stop=None):
        super().__init__()
        self.event = event
        self.on_stop = on_stop
        self.stopped = False

    def on_train_begin(self, logs=None):
        if self.event.is_set():
            raise Cancelled("cancelled before training began")

    def on_train_batch_end(self, batch, logs=None):
        if self.event.is_set() and not self.stopped:
            self.stopped = True
            self.model.stop_training = True
            if self.on_stop is not None:
                self.on_stop()


class StopOnNaN(keras.callbacks.Callback):
    """Stops at the end of an epoch whose loss is NaN or inf.

    Checked per epoch, not per batch like `keras.callbacks.TerminateOnNaN`: a per-batch hook
    makes Keras wait for every batch's logs, which costs about a third of the training time
    of the small dense model on 2 CPU cores (benchmarks/train_speed.py).
    """

    def on_epoch_end(self, epoch, logs=None):
        if not np.isfinite((logs or {}).get("loss", 0.0)):
            self.model.stop_training = True


def make_optimizer(config: TrainConfig, steps_per_epoch: int = 1) -> keras.optimizers.Optimizer:
    lr = config.lr
    if config.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=config.epochs * steps_per_epoch)
    if config.optimizer == "adadelta":
        return keras.optimizers.Adadelta(learning_rate=lr)
    return keras.optimizers.Adam(learning_rate=lr)


def _images(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).reshape(-1, 28, 28, 1)


def _augmented(clean, seed, config: TrainConfig):
    """`augment.augment` on a batch inside tf.data (NumPy, so through `numpy_function`)."""
    def run(images, s):
        return augment.augment(images, seed=int(np.asarray(s).view(np.uint64)[0]), share=config.augment)

    out = tf.numpy_function(run, [clean, seed], tf.float32, stateful=False)
    return tf.ensure_shape(out, clean.shape)


def _fresh_stream(x: np.ndarray, config: TrainConfig) -> tf.data.Dataset:
    """Batches of (input, target), new every batch: augmented digits when `config.augment`,
    then Gaussian noise of a level ~ U(0, noise_max) on the input when `noise_max` is set."""
    images = tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=config.seed,
                                                           reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True).batch(2)
    batches = tf.data.Dataset.zip(images.batch(config.batch_size), seeds)

    def corrupt(clean, seed):
        if config.augment:
            clean = _augmented(clean, seed, config)
        if config.noise_max is None:
            return clean, clean
        n = tf.shape(clean)[0]
        level = tf.random.stateless_uniform([n, 1, 1, 1], seed=seed, maxval=config.noise_max)
        z = tf.random.stateless_normal(tf.shape(clean), seed=seed + 1)
        return tf.clip_by_value(clean + level * z, 0.0, 1.0), clean

    return batches.map(corrupt, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def training_arrays(config: TrainConfig, data: Dataset):
    """(train inputs, train targets or None, validation (inputs, targets)) for `fit`."""
    x_train, x_clean = _images(data.x_train), _images(data.x_val)
    if config.noise_max is not None:
        levels = np.random.default_rng(config.seed + 2).uniform(0, config.noise_max, (len(x_clean), 1, 1, 1))
        z = np.random.default_rng(config.seed + 3).standard_normal(x_clean.shape).astype(np.float32)
        x_val = np.clip(x_clean + levels.astype(np.float32) * z, 0, 1)
        return _fresh_stream(x_train, config), None, (x_val, x_clean)
    if config.augment:  # validation stays the plain digits: it measures what evaluation measures
        return _fresh_stream(x_train, config), None, (x_clean, x_clean)
    if config.noise_factor > 0:  # the tutorial: one fixed noisy copy of each set
        x_noisy = noise.gaussian(x_train, config.noise_factor, seed=config.seed)
        x_val = noise.gaussian(x_clean, config.noise_factor, seed=config.seed + 1)
        return x_noisy, x_train, (x_val, x_clean)
    return x_train, x_train, (x_clean, x_clean)


def fitted_net(spec: Spec, model: Autoencoder) -> keras.Model:
    """What `fit` trains: the autoencoder, or for a VAE its sampling wrapper that adds the KL
    term (`ae_core.vae.training_model`; it shares the autoencoder's layers)."""
    if isinstance(spec, VaeSpec):
        from .vae import training_model

        return training_model(model, spec.kl_weight)
    return model.autoencoder


def train(spec: Spec, config: TrainConfig, data: Dataset, callbacks=(), strategy=None,
          verbose: int = 0, initial: Autoencoder | None = None) -> TrainResult:
    """Build `spec` (or continue from `initial`) and train it on `data`.

    Args:
        spec: the architecture.
        config: epochs, batch size, optimizer, noise.
        data: digits; training watches `data.x_val` (never the test digits).
        callbacks: Keras callbacks (progress, loss curves, `StopOnEvent` to cancel).
        strategy: a `tf.distribute.Strategy` (e.g. `MirroredStrategy` over several GPUs);
            None uses the default strategy.
        verbose: passed to `fit`.
        initial: an already built model to continue training (fine-tuning).

    Returns:
        A `TrainResult`; `status` says whether training completed, was stopped or diverged.
    """
    keras.utils.set_random_seed(config.seed)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = initial if initial is not None else build(spec)
        steps = -(-len(data.x_train) // config.batch_size)
        net = fitted_net(spec, model)
        net.compile(optimizer=make_optimizer(config, steps), loss=config.loss)
    x, y, validation = training_arrays(config, data)
    fit_kwargs = dict(epochs=config.epochs, validation_data=validation, verbose=verbose,
                      callbacks=[StopOnNaN(), *callbacks])
    if y is None:  # a tf.data stream of (noisy, clean) batches
        fit_kwargs["validation_data"] = tf.data.Dataset.from_tensor_slices(validation).batch(config.batch_size)
        fit_kwargs["shuffle"] = False  # the stream shuffles itself
    else:
        fit_kwargs.update(y=y, batch_size=config.batch_size, shuffle=True)
    start = time.perf_counter()
    history = net.fit(x, **fit_kwargs).history
    seconds = time.perf_counter() - start
    history = {k: [float(v) for v in vals] for k, vals in history.items()}
    losses = history.get("loss", [])
    epochs_run = len(losses)
    if not losses or not np.all(np.isfinite(losses)):
        status = "diverged"
    elif epochs_run < config.epochs:
        status = "stopped"
    else:
        status = "completed"
    return TrainResult(model, history, epochs_run, status, seconds)
