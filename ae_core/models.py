"""Model specs, named presets and small builders.

Every model takes images of shape (batch, 28, 28, 1) in [0, 1] and returns the same shape.
A builder returns an `Autoencoder`: the full model and its `encoder` and `decoder` halves
(the app shows the code and decodes edited codes).

Specs and presets are plain data; Keras (and TensorFlow, seconds to import) is imported only
when a model is built, so the app can read them before TensorFlow has loaded.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import keras

IMAGE_SHAPE = (28, 28, 1)


@dataclass(frozen=True)
class DenseSpec:
    """A fully connected autoencoder: 784 -> hidden... -> code -> ...hidden -> 784."""

    name: str = "dense"
    code_size: int = 32  # values in the code (32 draws as the tutorial's 8x4 image)
    hidden: tuple[int, ...] = ()  # encoder widths before the code; the decoder mirrors them
    code_activation: str = "relu"  # the tutorial uses relu on the code
    type: str = "dense"


@dataclass(frozen=True)
class ConvSpec:
    """A convolutional autoencoder: Conv + MaxPool per level down, Conv + UpSampling per level up.

    With `code_size=None` the code is the last feature map (7x7x`filters[-1]` for two levels);
    with an integer, a Dense layer squeezes it to that many values.
    """

    name: str = "conv"
    filters: tuple[int, ...] = (32, 32)  # filters per level (each level halves 28 -> 14 -> 7)
    convs_per_level: int = 1  # 3x3 convolutions per level on each side
    batch_norm: bool = False  # BatchNormalization after each convolution
    code_size: int | None = None  # None: spatial code; int: a dense code of that size
    refine_convs: int = 0  # extra 3x3 convolutions at full 28x28 resolution before the output
    type: str = "conv"


@dataclass(frozen=True)
class VaeSpec:
    """A dense variational autoencoder: 784 -> hidden... -> (mean, log-variance) of the code
    -> ...hidden -> 784, trained on BCE plus the KL divergence to N(0, I) (`ae_core.vae`).

    The encoder has two outputs, mean and log-variance (B, code_size) each; the code is the
    mean (the first). The saved autoencoder decodes the mean.
    """

    name: str = "vae"
    code_size: int = 2  # 2 draws the digit manifold; 32 compares with the dense models
    hidden: tuple[int, ...] = (512, 256)  # encoder widths before the code; the decoder mirrors them
    kl_weight: float = 1.0  # 1 is the ELBO; other values make a beta-VAE
    type: str = "vae"


Spec = DenseSpec | ConvSpec | VaeSpec


class Autoencoder(NamedTuple):
    autoencoder: keras.Model  # (B, 28, 28, 1) -> (B, 28, 28, 1)
    encoder: keras.Model  # (B, 28, 28, 1) -> (B, *code_shape)
    decoder: keras.Model  # (B, *code_shape) -> (B, 28, 28, 1)


def spec_to_dict(spec: Spec) -> dict:
    return dataclasses.asdict(spec)


def spec_from_dict(d: dict) -> Spec:
    """Inverse of `spec_to_dict` (lists become tuples)."""
    kinds = {"dense": DenseSpec, "conv": ConvSpec, "vae": VaeSpec}
    if d.get("type") not in kinds:
        raise ValueError(f"Unknown spec type. Expected one of {sorted(kinds)}. Received: {d.get('type')!r}")
    cls = kinds[d["type"]]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})


def code_size_settable(spec: Spec) -> bool:
    """Whether the spec's code is a flat vector whose size can be chosen (a VAE's keeps the size
    its manifold or comparison needs; a spatial code has no single size)."""
    return isinstance(getattr(spec, "code_size", None), int) and spec.type != "vae"


def with_code_size(spec: Spec, size: int) -> Spec:
    """The spec with a code of `size` values; ValueError when its code size cannot be chosen."""
    if not code_size_settable(spec):
        raise ValueError(f"A {spec.type} model with this code has no flat code whose size could be set.")
    return dataclasses.replace(spec, code_size=int(size))


def _conv(x, filters: int, spec: ConvSpec, activation: str = "relu"):
    from keras import layers

    if not spec.batch_norm:
        return layers.Conv2D(filters, (3, 3), activation=activation, padding="same")(x)
    x = layers.Conv2D(filters, (3, 3), padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation(activation)(x)


def _dense_decoder(code_size: int, hidden: tuple[int, ...]) -> keras.Model:
    """code -> ...hidden (mirrored) -> Dense(784, sigmoid) -> 28x28x1: the dense models' decoder."""
    import keras
    from keras import layers

    code_in = keras.Input(shape=(code_size,), name="code_in")
    x = code_in
    for width in reversed(hidden):
        x = layers.Dense(width, activation="relu")(x)
    x = layers.Dense(784, activation="sigmoid")(x)
    return keras.Model(code_in, layers.Reshape(IMAGE_SHAPE)(x), name="decoder")


def build_dense(spec: DenseSpec) -> Autoencoder:
    import keras
    from keras import layers

    # Encoder
    inputs = keras.Input(shape=IMAGE_SHAPE, name="image")
    x = layers.Flatten()(inputs)
    for width in spec.hidden:
        x = layers.Dense(width, activation="relu")(x)
    code = layers.Dense(spec.code_size, activation=spec.code_activation, name="code")(x)
    encoder = keras.Model(inputs, code, name="encoder")
    decoder = _dense_decoder(spec.code_size, spec.hidden)
    return _join(encoder, decoder, spec.name)


def build_conv(spec: ConvSpec) -> Autoencoder:
    import keras
    from keras import layers

    # Encoder
    inputs = keras.Input(shape=IMAGE_SHAPE, name="image")
    x = inputs
    for filters in spec.filters:
        for _ in range(spec.convs_per_level):
            x = _conv(x, filters, spec)
        x = layers.MaxPooling2D((2, 2), padding="same")(x)
    feature_shape = tuple(x.shape[1:])
    if spec.code_size is not None:
        x = layers.Dense(spec.code_size, name="code")(layers.Flatten()(x))
    encoder = keras.Model(inputs, x, name="encoder")
    # Decoder
    code_in = keras.Input(shape=tuple(encoder.output.shape[1:]), name="code_in")
    x = code_in
    if spec.code_size is not None:
        x = layers.Dense(int(feature_shape[0] * feature_shape[1] * feature_shape[2]),
                         activation="relu")(x)
        x = layers.Reshape(feature_shape)(x)
    for filters in reversed(spec.filters):
        for _ in range(spec.convs_per_level):
            x = _conv(x, filters, spec)
        x = layers.UpSampling2D((2, 2))(x)
    for _ in range(spec.refine_convs):
        x = _conv(x, spec.filters[0], spec)
    outputs = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    decoder = keras.Model(code_in, outputs, name="decoder")
    return _join(encoder, decoder, spec.name)


def build_vae(spec: VaeSpec) -> Autoencoder:
    import keras
    from keras import layers

    # Encoder: the code's mean and log-variance
    inputs = keras.Input(shape=IMAGE_SHAPE, name="image")
    x = layers.Flatten()(inputs)
    for width in spec.hidden:
        x = layers.Dense(width, activation="relu")(x)
    mean = layers.Dense(spec.code_size, name="code")(x)
    log_var = layers.Dense(spec.code_size, name="log_var")(x)
    encoder = keras.Model(inputs, [mean, log_var], name="encoder")
    decoder = _dense_decoder(spec.code_size, spec.hidden)
    # The saved path decodes the mean; training samples around it (ae_core.vae.training_model).
    autoencoder = keras.Model(inputs, decoder(encoder(inputs)[0]), name=spec.name)
    return Autoencoder(autoencoder, encoder, decoder)


def _join(encoder: keras.Model, decoder: keras.Model, name: str) -> Autoencoder:
    import keras

    inputs = keras.Input(shape=IMAGE_SHAPE, name="image")
    autoencoder = keras.Model(inputs, decoder(encoder(inputs)), name=name)
    return Autoencoder(autoencoder, encoder, decoder)


def build(spec: Spec) -> Autoencoder:
    """Build the (untrained) autoencoder that `spec` describes."""
    if isinstance(spec, DenseSpec):
        return build_dense(spec)
    if isinstance(spec, ConvSpec):
        return build_conv(spec)
    if isinstance(spec, VaeSpec):
        return build_vae(spec)
    raise ValueError(f"Expected a DenseSpec, ConvSpec or VaeSpec. Received: {spec!r}")


def split(autoencoder: keras.Model) -> Autoencoder:
    """The `Autoencoder` triple of a built or loaded autoencoder (its nested encoder/decoder)."""
    return Autoencoder(autoencoder, autoencoder.get_layer("encoder"), autoencoder.get_layer("decoder"))
