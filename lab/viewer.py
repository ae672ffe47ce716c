"""The Lab's results rows without Plotly: a Streamlit Components v2 element (lab/viewer.js and
lab/viewer.css, read once) that paints every panel into a small canvas with pixelated scaling.

The images travel as base64 bytes (784 of them for a digit), the code as its values with the
panel's colour range, so the browser only fills a few canvases; the 8×4 code shows each value
on hover. Every canvas has an accessible name: "Clean input", "Input to <model>", "Code of
<model>", "Reconstruction by <model>".
"""
from __future__ import annotations

import base64
import functools
from pathlib import Path

import numpy as np
import streamlit as st

HERE = Path(__file__).parent
KEY = "results_viewer"


@functools.cache
def _component():
    return st.components.v2.component("autoencoder_lab_viewer", js=(HERE / "viewer.js").read_text(),
                                      css=(HERE / "viewer.css").read_text())


def image_panel(img: np.ndarray, title: str, label: str) -> dict:
    """A (H, W) image in [0, 1] as a panel: grey bytes, 0 black and 1 white."""
    img = np.asarray(img, np.float32)
    pixels = np.rint(np.clip(img, 0.0, 1.0) * 255).astype(np.uint8)
    return {"title": title, "label": label, "w": int(img.shape[1]), "h": int(img.shape[0]),
            "px": base64.b64encode(pixels.tobytes()).decode("ascii")}


def _values(a: np.ndarray, decimals: int) -> list:
    a = np.round(np.asarray(a, np.float64).ravel(), decimals)
    return [None if v != v else v for v in a.tolist()]


def code_panel(code: np.ndarray, code_range: tuple[float, float], title: str, label: str) -> dict:
    """A flat code as the tutorial's picture (32 values -> 8 rows x 4 columns, `code[i]` on hover)
    or a spatial code (H, W, C) as its mean over channels (mean, max and active channels on hover)."""
    from .figures import flat_code_grid

    code = np.asarray(code)
    lo, hi = (float(v) for v in code_range)
    if code.ndim == 3:
        h, w, c = code.shape
        return {"title": title, "label": label, "w": w, "h": h, "lo": lo, "hi": hi, "hover": "spatial",
                "values": _values(code.mean(axis=-1), 3), "max": _values(code.max(axis=-1), 2),
                "active": (code > 1e-6).sum(axis=-1).ravel().tolist(), "channels": c}
    values, index = flat_code_grid(code)
    return {"title": title, "label": label, "w": int(values.shape[1]), "h": int(values.shape[0]),
            "lo": lo, "hi": hi, "hover": "flat", "values": _values(values, 3), "index": index.ravel().tolist()}


def viewer_ui(rows: list[dict], seq: int) -> None:
    """The rows: each {"key", "title", "about", "tag", "metrics": [{"name", "text", "help"}], "panels"}.

    `seq` is the drawing pad's sequence number for the drawing shown (see lab/pad.py).
    """
    _component()(key=KEY, data={"seq": int(seq), "rows": rows})
