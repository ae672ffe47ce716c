"""Run a saved autoencoder with NumPy alone: no TensorFlow import, about 0.1 ms per dense image.

Importing TensorFlow takes 5-7 s on a small machine and a Keras call costs about 1 ms per model
and image; the app's page and every interaction only need forward passes of a few small layer
chains. This module reads a `.keras` file as data (its `config.json` as JSON, its weights as
arrays from `model.weights.h5`; nothing in the file is ever executed) and runs the layers the
presets use: InputLayer, Dense, Conv2D (stride 1, "same"), MaxPooling2D, UpSampling2D
(nearest), BatchNormalization, Flatten, Reshape and Activation, with relu / sigmoid / linear.

A model with anything else raises `Unsupported`; the caller then loads it with Keras instead.
`tests/test_runner.py` checks every preset against Keras to 1e-5.

The result is an `Autoencoder`-shaped triple of `Net`s (`autoencoder`, `encoder`, `decoder`),
each with `predict_on_batch`, `__call__` and `output_shape`, so code written for Keras models
(`ae_core.analysis`) runs on it unchanged.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0, dtype=np.float32),
    # exp(-logaddexp(0, -x)) is 1 / (1 + exp(-x)) without overflow for large negative x
    "sigmoid": lambda x: np.exp(-np.logaddexp(np.float32(0), -x)).astype(np.float32),
}
IM2COL_MAX = 1 << 21  # patch-matrix values up to which a convolution gathers patches (8 MB)


class Unsupported(ValueError):
    """The model uses a layer or an option this runner does not implement (use Keras)."""


@dataclass
class Layer:
    """One step of a chain: `fn` maps a float32 batch to a float32 batch."""

    kind: str
    fn: Callable[[np.ndarray], np.ndarray]
    params: int


class Net:
    """A chain of layers from input shape to output shape, called on float32 batches."""

    def __init__(self, name: str, input_shape: tuple[int, ...], layers: list[Layer]):
        self.name = name
        self.input_shape = (None, *input_shape)
        self.layers = layers
        x = np.zeros((1, *input_shape), np.float32)
        for layer in layers:  # run once: checks that the weights fit and fixes the output shape
            x = layer.fn(x)
        self.output_shape = (None, *x.shape[1:])

    def __call__(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        del training  # inference only (BatchNormalization uses its moving statistics)
        x = np.asarray(x, np.float32)
        if x.shape[1:] != self.input_shape[1:]:
            raise ValueError(f"{self.name} expects inputs of shape {self.input_shape}. "
                             f"Received: shape={x.shape}")
        for layer in self.layers:
            x = layer.fn(x)
        return x

    predict_on_batch = __call__

    def count_params(self) -> int:
        return sum(layer.params for layer in self.layers)


class NumpyAutoencoder(NamedTuple):
    """The same fields as `ae_core.models.Autoencoder`, backed by NumPy."""

    autoencoder: Net
    encoder: Net
    decoder: Net


# ----------------------------------------------------------------------------- layers

def _conv2d(kernel: np.ndarray, bias: np.ndarray | None, activation) -> Callable:
    """Conv2D, stride 1, "same" padding, channels last.

    Small inputs (one image, or few input channels): gather every 3x3 patch and do one matmul
    (im2col). Large ones: one matmul per kernel tap, which needs no patch matrix. Both were
    measured faster than the other in their range (single image 0.7 vs 0.8 ms; 192 images with
    1 input channel 10x faster as im2col).
    """
    kh, kw, cin, cout = kernel.shape
    flat = np.ascontiguousarray(kernel.reshape(kh * kw * cin, cout))
    taps = [(i, j, kernel[i, j]) for i in range(kh) for j in range(kw)]
    top, left = (kh - 1) // 2, (kw - 1) // 2

    def fn(x: np.ndarray) -> np.ndarray:
        n, h, w, c = x.shape
        if c != cin:
            raise ValueError(f"Conv2D expects {cin} channels. Received: {c}")
        padded = np.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
        if n * h * w * kh * kw * c <= IM2COL_MAX:
            patches = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))
            out = patches.transpose(0, 1, 2, 4, 5, 3).reshape(n * h * w, kh * kw * c) @ flat
        else:
            out = np.zeros((n * h * w, cout), np.float32)
            for i, j, k in taps:
                out += np.ascontiguousarray(padded[:, i:i + h, j:j + w, :]).reshape(-1, c) @ k
        if bias is not None:
            out += bias
        return activation(out.reshape(n, h, w, cout))

    return fn


def _max_pool(ph: int, pw: int, padding: str) -> Callable:
    def fn(x: np.ndarray) -> np.ndarray:
        n, h, w, c = x.shape
        if padding == "same":
            oh, ow = -(-h // ph), -(-w // pw)
            # Keras/TF "same" pads at the end (and the start for an odd total) with -inf
            ph_total, pw_total = max(oh * ph - h, 0), max(ow * pw - w, 0)
            if ph_total or pw_total:
                x = np.pad(x, ((0, 0), (ph_total // 2, ph_total - ph_total // 2),
                               (pw_total // 2, pw_total - pw_total // 2), (0, 0)), constant_values=-np.inf)
        else:
            oh, ow = h // ph, w // pw
            x = x[:, :oh * ph, :ow * pw]
        return x.reshape(n, oh, ph, ow, pw, c).max(axis=(2, 4))

    return fn


def _batch_norm(weights: list[np.ndarray], cfg: dict) -> Callable:
    w = iter(weights)
    gamma = next(w) if cfg.get("scale", True) else None
    beta = next(w) if cfg.get("center", True) else None
    mean, var = next(w), next(w)
    scale = (1.0 / np.sqrt(var + np.float32(cfg.get("epsilon", 1e-3)))).astype(np.float32)
    if gamma is not None:
        scale = scale * gamma
    shift = -mean * scale + (beta if beta is not None else 0)
    return lambda x: x * scale + shift


def _activation(name) -> Callable:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise Unsupported(f"activation {name!r}")
    return ACTIVATIONS[name]


def _layer(kind: str, cfg: dict, weights: list[np.ndarray]) -> Layer:
    """The NumPy version of one Keras layer from its config and weights (Unsupported if not known)."""
    params = int(sum(np.size(w) for w in weights))
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise Unsupported(f"{kind} with data_format={cfg.get('data_format')!r}")
    if kind in ("InputLayer", "Dropout", "GaussianNoise", "ActivityRegularization"):  # identity at inference
        return Layer(kind, lambda x: x, 0)
    if kind == "Flatten":
        return Layer(kind, lambda x: x.reshape(len(x), -1), 0)
    if kind == "Reshape":
        shape = tuple(int(d) for d in cfg["target_shape"])
        return Layer(kind, lambda x: x.reshape(len(x), *shape), 0)
    if kind == "Activation":
        return Layer(kind, _activation(cfg["activation"]), 0)
    if kind == "Dense":
        act = _activation(cfg.get("activation", "linear"))
        kernel, bias = weights[0], (weights[1] if cfg.get("use_bias", True) else None)
        if bias is None:
            return Layer(kind, lambda x: act(x @ kernel), params)
        return Layer(kind, lambda x: act(x @ kernel + bias), params)
    if kind == "Conv2D":
        for key, ok in (("strides", [1, 1]), ("dilation_rate", [1, 1]), ("groups", 1), ("padding", "same")):
            value = cfg.get(key, ok)
            if (list(value) if isinstance(value, (list, tuple)) else value) != ok:
                raise Unsupported(f"Conv2D with {key}={value!r}")
        kernel = weights[0]
        if kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
            raise Unsupported(f"Conv2D with an even kernel {kernel.shape[:2]}")
        bias = weights[1] if cfg.get("use_bias", True) else None
        return Layer(kind, _conv2d(kernel, bias, _activation(cfg.get("activation", "linear"))), params)
    if kind == "MaxPooling2D":
        pool = [int(v) for v in cfg.get("pool_size", (2, 2))]
        strides = [int(v) for v in (cfg.get("strides") or pool)]
        if strides != pool or cfg.get("padding", "valid") not in ("same", "valid"):
            raise Unsupported(f"MaxPooling2D with strides={strides} padding={cfg.get('padding')!r}")
        return Layer(kind, _max_pool(pool[0], pool[1], cfg.get("padding", "valid")), 0)
    if kind == "UpSampling2D":
        if cfg.get("interpolation", "nearest") != "nearest":
            raise Unsupported(f"UpSampling2D with interpolation={cfg.get('interpolation')!r}")
        sh, sw = (int(v) for v in cfg.get("size", (2, 2)))
        return Layer(kind, lambda x: x.repeat(sh, axis=1).repeat(sw, axis=2), 0)
    if kind == "BatchNormalization":
        if cfg.get("axis", -1) not in (-1, [-1], 3, [3]):
            raise Unsupported(f"BatchNormalization over axis {cfg.get('axis')!r}")
        return Layer(kind, _batch_norm(weights, cfg), params)
    raise Unsupported(f"layer {kind}")


# ----------------------------------------------------------------------------- reading

def _snake(name: str) -> str:
    """Keras' `naming.to_snake_case` for class names: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _slots(class_names: list[str]) -> list[str]:
    """The weight-file folder of each item of a layer list: Keras names them by class, in order
    (conv2d, conv2d_1, ...), never by the layers' own names."""
    used: dict[str, int] = {}
    out = []
    for cls in class_names:
        name = _snake(cls)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        out.append(name)
    return out


def _vars(h5, path: str) -> list[np.ndarray]:
    group = h5.get(f"{path}/vars")
    if group is None:
        return []
    return [np.asarray(group[str(i)], np.float32) for i in range(len(group))]


def _check_chain(layers: list[dict], where: str) -> None:
    """Every layer must take the previous layer's output (the presets are plain chains)."""
    for prev, layer in zip(layers, layers[1:]):
        nodes = layer.get("inbound_nodes") or []
        try:
            args = nodes[0]["args"]
            source = args[0]["config"]["keras_history"][0]
        except (IndexError, KeyError, TypeError):
            raise Unsupported(f"{where}: cannot follow the inputs of layer {layer.get('name')!r}") from None
        if len(nodes) != 1 or len(args) != 1 or source != prev["config"]["name"]:
            raise Unsupported(f"{where}: layer {layer.get('name')!r} is not fed by the layer before it")


def _chain_net(config: dict, h5, path: str) -> Net:
    """A Functional sub-model (encoder or decoder) from its config and weights folder."""
    layers = config["config"]["layers"]
    _check_chain(layers, config["config"].get("name", path))
    first = layers[0]
    if first["class_name"] != "InputLayer":
        raise Unsupported(f"{path}: the first layer is {first['class_name']}, not an InputLayer")
    input_shape = tuple(int(d) for d in first["config"]["batch_shape"][1:])
    slots = _slots([layer["class_name"] for layer in layers])
    built = [_layer(layer["class_name"], layer["config"], _vars(h5, f"{path}/layers/{slot}"))
             for layer, slot in zip(layers, slots)]
    return Net(config["config"].get("name", path), input_shape, built)


def _join(encoder: Net, decoder: Net, name: str) -> NumpyAutoencoder:
    if encoder.output_shape != decoder.input_shape:
        raise ValueError(f"The encoder's output {encoder.output_shape} does not fit the decoder's "
                         f"input {decoder.input_shape}")
    return NumpyAutoencoder(Net(name, encoder.input_shape[1:], encoder.layers + decoder.layers),
                            encoder, decoder)


def read(path: Path | str) -> NumpyAutoencoder:
    """The autoencoder in a `.keras` file written by `ae_core.store.save`, as NumPy.

    Raises:
        Unsupported: a layer or option this runner does not implement.
        ValueError, KeyError, OSError, zipfile.BadZipFile: the file is not a readable model.
    """
    import h5py  # installed with Keras; about 0.2 s to import, TensorFlow is not needed

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        weights = archive.read("model.weights.h5")
    top = config["config"]["layers"]
    subs = [layer for layer in top if layer["class_name"] == "Functional"]
    names = [layer["config"].get("name") for layer in subs]
    if names != ["encoder", "decoder"] or len(top) != 3 or top[0]["class_name"] != "InputLayer":
        raise Unsupported(f"expected an input, an encoder and a decoder. Received: "
                          f"{[layer['class_name'] for layer in top]}")
    slots = _slots([layer["class_name"] for layer in top])
    with h5py.File(io.BytesIO(weights), "r") as h5:
        encoder = _chain_net(subs[0], h5, f"layers/{slots[1]}")
        decoder = _chain_net(subs[1], h5, f"layers/{slots[2]}")
    return _join(encoder, decoder, config["config"].get("name", Path(path).stem))


def from_keras(model) -> NumpyAutoencoder:
    """A NumPy copy of a live `ae_core.models.Autoencoder` (for example one just trained).

    Raises:
        Unsupported: a layer or option this runner does not implement.
    """
    def net(sub) -> Net:
        if sub.layers and type(sub.layers[0]).__name__ != "InputLayer":
            raise Unsupported(f"{sub.name}: the first layer is not an InputLayer")
        built = [_layer(type(layer).__name__, layer.get_config(),
                        [np.asarray(w, np.float32) for w in layer.get_weights()]) for layer in sub.layers]
        _check_chain(sub.get_config()["layers"], sub.name)
        return Net(sub.name, tuple(int(d) for d in sub.input_shape[1:]), built)

    return _join(net(model.encoder), net(model.decoder), model.autoencoder.name)
