"""Run stored models with ONNX Runtime: what the app does, with no TensorFlow in the process.

`ae_core.store.save` exports every model's encoder and decoder with Keras' own
`model.export(format="onnx")` beside its `.keras` file; `store.load_onnx` opens them here. The
result is an `Autoencoder`-shaped triple (`autoencoder`, `encoder`, `decoder`), each callable on
a float32 batch with `predict_on_batch`, `input_shape`, `output_shape` and `count_params`, so code
written for Keras models (`ae_core.analysis`) runs on it unchanged.

An encoder may have several outputs (a variational encoder gives the mean and the log-variance):
calling it returns the first, the code; `run_all` returns every output.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnxruntime as ort


class OnnxError(ValueError):
    """ONNX Runtime could not open a file (not ONNX, truncated, or an unsupported graph)."""


def _options() -> ort.SessionOptions:
    opts = ort.SessionOptions()
    # One thread each: the page runs many small models for several visitors at once, and a
    # session's own thread pool would compete with the others and with the server for the cores.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return opts


def _shape(dims) -> tuple:
    return (None, *(d if isinstance(d, int) else None for d in dims[1:]))


class OnnxNet:
    """One exported half (encoder or decoder): float32 batch in, its outputs out."""

    def __init__(self, path: Path | str, name: str, params: int | None = None):
        self.path = str(path)
        self.name = name
        try:
            self.session = ort.InferenceSession(self.path, _options(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own classes for bad files
            raise OnnxError(str(exc).strip() or type(exc).__name__) from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise OnnxError(f"expected one input. Received: {[i.name for i in inputs]}")
        self._input = inputs[0].name
        self.input_shape = _shape(inputs[0].shape)
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.output_shapes = [_shape(o.shape) for o in self.session.get_outputs()]
        self.output_shape = self.output_shapes[0]
        self._params = params

    def run_all(self, x: np.ndarray) -> list[np.ndarray]:
        """Every output of the graph, in the Keras model's output order."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        expected = self.input_shape[1:]
        if x.ndim != len(self.input_shape) or any(e is not None and e != d for e, d in zip(expected, x.shape[1:])):
            raise ValueError(f"{self.name} expects inputs of shape {self.input_shape}. Received: shape={x.shape}")
        return self.session.run(None, {self._input: x})

    def __call__(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        del training  # inference only (BatchNormalization uses its moving statistics)
        return self.run_all(x)[0]

    predict_on_batch = __call__

    def count_params(self) -> int | None:
        """The Keras model's parameter count, as recorded in the manifest (None if not recorded)."""
        return self._params


class Chain:
    """The whole autoencoder: the decoder applied to the encoder's code."""

    def __init__(self, encoder: OnnxNet, decoder: OnnxNet, name: str):
        self.name, self.encoder, self.decoder = name, encoder, decoder
        self.input_shape, self.output_shape = encoder.input_shape, decoder.output_shape

    def __call__(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self.decoder(self.encoder(x))

    predict_on_batch = __call__

    def count_params(self) -> int | None:
        parts = (self.encoder.count_params(), self.decoder.count_params())
        return None if None in parts else sum(parts)


class OnnxAutoencoder(NamedTuple):
    """The same fields as `ae_core.models.Autoencoder`, run by ONNX Runtime."""

    autoencoder: Chain
    encoder: OnnxNet
    decoder: OnnxNet

    @classmethod
    def join(cls, encoder: OnnxNet, decoder: OnnxNet, name: str) -> "OnnxAutoencoder":
        return cls(Chain(encoder, decoder, name), encoder, decoder)
