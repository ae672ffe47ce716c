"""Named presets: an architecture, how to train it and one line for people."""
from __future__ import annotations

from dataclasses import dataclass

from .models import ConvSpec, DenseSpec, Spec, VaeSpec
from .config import TrainConfig


@dataclass(frozen=True)
class Preset:
    spec: Spec
    config: TrainConfig
    title: str
    description: str
    denoiser: bool  # trained on noisy inputs against clean targets
    data: str = "bundled"  # what it trains on by default (`data.load_mnist`): "bundled" digits or "clothing"


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
        "Conv denoiser 7×7×32 (tutorial)",
        "The tutorial's denoiser: two Conv2D(32)+MaxPool levels down to 7×7×32 and back up, "
        "trained on Gaussian noise 0.5.",
        denoiser=True),
    "dense_deep": Preset(
        DenseSpec(name="dense_deep", hidden=(512, 256), code_activation="linear"),
        TrainConfig(epochs=100, batch_size=128, noise_max=0.3, schedule="cosine", augment=0.5),
        "Deep dense, 32-value code",
        "Dense 512-256 layers on each side of a linear 32-value code, trained as a denoiser "
        "(fresh noise up to 0.3, which regularizes it) on digits half of which are re-drawn, "
        "re-shaped or blurred each batch (ae_core.augment), with a cosine learning-rate decay.",
        denoiser=False),
    "conv_denoiser": Preset(
        ConvSpec(name="conv_denoiser", filters=(32, 64), convs_per_level=2, refine_convs=1, batch_norm=True),
        TrainConfig(epochs=55, batch_size=64, noise_max=1.0, schedule="cosine", augment=0.25),
        "Conv denoiser, any noise level",
        "Two Conv2D(32) + MaxPool, two Conv2D(64) + MaxPool down to a 7×7×64 code, mirrored back "
        "up with one more full-resolution Conv2D(32) before the output, batch normalization after "
        "each convolution; trained on fresh Gaussian noise of a random level from 0 to 1 every batch, "
        "a quarter of the digits re-drawn, re-shaped or blurred (ae_core.augment), with a cosine "
        "learning-rate decay.",
        denoiser=True),
}


# The tutorial's dense recipe trained on clothing (Fashion-MNIST): beside dense_seed, it shows
# that an autoencoder is data-specific (`python -m ae_core evaluate`'s 2x2 table).
PRESETS["dense_clothing"] = Preset(
    DenseSpec(name="dense_clothing"),
    TrainConfig(epochs=25, batch_size=128),
    "Dense 784-32-784, clothing",
    "The tutorial's dense model (one Dense(32, relu) code layer, a Dense(784, sigmoid) output) "
    "trained on clothing images (Fashion-MNIST) instead of digits.",
    denoiser=False, data="clothing")

# The variational autoencoders (ae_core.vae): a 2-D code for the digit manifold, a 32-D one
# to set beside the dense models.
PRESETS.update({
    f"vae_{size}d": Preset(
        VaeSpec(name=f"vae_{size}d", code_size=size),
        TrainConfig(epochs=40, batch_size=128, schedule="cosine"),
        f"VAE, {size}-value code",
        f"A variational autoencoder: Dense 512-256 layers on each side of a {size}-value code "
        "given as a mean and a variance; trained on BCE plus the KL divergence to N(0, I), "
        "decoding a sampled code; the code shown is the mean.",
        denoiser=False)
    for size in (2, 32)})

# The bottleneck ladder: the same dense recipe at every code size (how small can the code be?).
LADDER_SIZES = (2, 4, 8, 16, 32, 64)
LADDER = tuple(f"ladder_{size}" for size in LADDER_SIZES)
PRESETS.update({
    f"ladder_{size}": Preset(
        DenseSpec(name=f"ladder_{size}", code_size=size, hidden=(512, 256), code_activation="linear"),
        TrainConfig(epochs=50, batch_size=128, noise_max=0.3, schedule="cosine"),
        f"Ladder, {size}-value code",
        f"The bottleneck ladder at {size} values: Dense 512-256 layers on each side of a linear "
        f"{size}-value code, trained like the deep dense model for fewer epochs.",
        denoiser=False)
    for size in LADDER_SIZES})

SEED_PRESETS = ("dense_seed", "conv_seed")


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"Unknown preset. Expected one of {sorted(PRESETS)}. Received: {name!r}")
    return PRESETS[name]
