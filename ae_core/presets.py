"""Named presets: an architecture, how to train it and one line for people."""
from __future__ import annotations

from dataclasses import dataclass

from .models import ConvSpec, DenseSpec, Spec
from .config import TrainConfig


@dataclass(frozen=True)
class Preset:
    spec: Spec
    config: TrainConfig
    title: str
    description: str
    denoiser: bool  # trained on noisy inputs against clean targets


PRESETS: dict[str, Preset] = {
    "dense_seed": Preset(
        DenseSpec(name="dense_seed"),
        TrainConfig(epochs=25, batch_size=128),
        "Dense 784-32-784 (tutorial)",
        "The tutorial's model: one Dense(32, relu) code layer and a Dense(784, sigmoid) output.",
        denoiser=False),
    "conv_seed": Preset(
        ConvSpec(name="conv_seed"),
        TrainConfig(epochs=20, batch_size=256, noise_factor=0.5),
        "Conv denoiser 7x7x32 (tutorial)",
        "The tutorial's denoiser: two Conv2D(32)+MaxPool levels down to 7x7x32 and back up, "
        "trained on Gaussian noise 0.5.",
        denoiser=True),
    "dense_deep": Preset(
        DenseSpec(name="dense_deep", hidden=(512, 256), code_activation="linear"),
        TrainConfig(epochs=100, batch_size=128, noise_max=0.3, schedule="cosine"),
        "Deep dense, 32-value code",
        "Dense 512-256 layers on each side of a linear 32-value code, trained as a denoiser "
        "(fresh noise up to 0.3, which regularizes it) with a cosine learning-rate decay.",
        denoiser=False),
    "conv_denoiser": Preset(
        ConvSpec(name="conv_denoiser", filters=(32, 64), convs_per_level=2, refine_convs=1),
        TrainConfig(epochs=60, batch_size=64, noise_max=1.0, schedule="cosine"),
        "Conv denoiser, any noise level",
        "Two Conv2D(32) + MaxPool, two Conv2D(64) + MaxPool down to a 7x7x64 code, mirrored back "
        "up with one more full-resolution Conv2D(32) before the output; trained on fresh Gaussian noise of a "
        "random level from 0 to 1 every batch, with a cosine learning-rate decay.",
        denoiser=True),
}

SEED_PRESETS = ("dense_seed", "conv_seed")


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"Unknown preset. Expected one of {sorted(PRESETS)}. Received: {name!r}")
    return PRESETS[name]
