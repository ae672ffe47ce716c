"""One element for Explore's pictures that follow a pointer or a slider (lab/explore/decoder.js):
the latent playground, the interpolation and the digit manifold.

Where the in-page runtime is ready (`lab.runtime`), the element gets the URL of the model's
decoder (its ONNX file, published under its hash) and decodes in the page with onnxruntime-web
on every move: no server round trip. Otherwise the server decodes and sends the pictures'
bytes, and the element sends its values on release. Either way the values come back to Python
(`values`, `z`) once the pointer rests, so the server knows them.
"""
from __future__ import annotations

import base64
import functools
from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st

from .. import engine, pagejs, runtime

HERE = Path(__file__).parent


@functools.cache
def _component():
    return st.components.v2.component("autoencoder_lab_decoder", js=pagejs.script("ort_page.js", "explore/decoder.js"),
                                      css=(HERE / "decoder.css").read_text())


def in_page(model: engine.LoadedModel) -> dict | None:
    """{"decoder": URL, "ort": runtime.page_info()} when the page can decode with `model`'s
    decoder itself, else None (the runtime is not there yet, or the file cannot be served)."""
    url = runtime.status().ready and engine.page_url(model, "decoder")
    return {"decoder": url, "ort": runtime.page_info()} if url else None


def px(image: np.ndarray) -> str:
    """A (28, 28) picture in [0, 1] as base64 grey bytes (0 black, 255 white)."""
    pixels = np.rint(np.clip(np.asarray(image, np.float32).reshape(28, 28), 0.0, 1.0) * 255).astype(np.uint8)
    return base64.b64encode(pixels.tobytes()).decode("ascii")


def show(key: str, data: dict, on_value: tuple[str, Callable[[], None]] | None = None) -> None:
    """The element under `key`; `on_value` = (name, callback) for the value it sends back."""
    callbacks = {f"on_{on_value[0]}_change": on_value[1]} if on_value else {}
    _component()(key=key, data=data, **callbacks)
