"""The Lab as one page-side loop: the pad (or the chosen digit), the noise controls and a row per
shown model, in one Streamlit Components v2 element (lab_page.js with compute.js and ort_page.js
in front of it, and lab_page.css).

With the in-page runtime ready (lab/runtime.py), the page computes everything itself while the
pen moves or a control changes: strokes to the 28x28 input (compute.js, the twin of
`ae_core.preprocess.from_strokes`), the noise (from the fields of `ae_core.noise.field_json`,
sent once per seed), each model's code and reconstruction (onnxruntime-web on the model's own
ONNX files, served content-addressed), the metrics. It reports the drawing and the noise settings
once they have settled, so the server keeps the current input for Explore; a report reruns only
the element's fragment and computes nothing. Without the runtime, the server computes the rows
(`engine.interact`) from what the page sends on pen-up and on release, and says so in one line.
"""
from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import streamlit as st

from ae_core import noise
from ae_core.preprocess import PEN_FRACTION

from . import engine, kit, pagejs, runtime
from .inputs_view import DRAWING, DRAWN, MAX_SEED, NOISE_LABELS, Digit, NoiseChoice, drawing

KEY = "lab"  # the element's key; its state values are "drawing" and "noise"
SERVED = "_lab_served"  # session key: the server has drawn this session's rows once
FIELDS_SENT = "_noise_fields_sent"  # session key: the seeds whose noise fields the page has
NEXT_SEED = "_next_noise_seed"  # session key: the seed "New noise" gives next (its field is sent ahead)
HERE = Path(__file__).parent
METRIC_HELP = {
    "BCE": "Binary cross-entropy between the clean digit and this image, the loss the models are "
           "trained with. Lower is better.",
    "MSE": "Mean squared error per pixel against the clean digit (pixels from 0 to 1). Lower is "
           "better; 0 means identical.",
    "PSNR": "Peak signal-to-noise ratio against the clean digit, in decibels. Higher is better; about "
            "20 dB looks close, identical images have no finite PSNR.",
    "SSIM": "Structural similarity to the clean digit, from 0 to 1. Higher is better; 1 means identical.",
}
SERVER_NOTE = "The models run on the server here: the rows update when you lift the pen or release a control."


@functools.cache
def _component():
    return st.components.v2.component(
        "autoencoder_lab", js=pagejs.script("compute.js", "ort_page.js", "lab_page.js"),
        css=(HERE / "lab_page.css").read_text())


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, "<f4").tobytes()).decode("ascii")


def _changed() -> None:
    """The element's callback: keep what the page reported, in the session."""
    value = kit.sent(KEY, "drawing")
    if isinstance(value, dict):
        st.session_state[DRAWING] = {"size": value.get("size"), "strokes": value.get("strokes")}
    value = kit.sent(KEY, "noise")
    if isinstance(value, dict):
        try:
            level, seed = float(value["level"]), int(value["seed"])
            kind, everyone = str(value["kind"]), bool(value["all"])
        except (KeyError, TypeError, ValueError):
            return  # a message the page never sends: ignored
        if 0.0 <= level <= 1.0 and 0 <= seed <= MAX_SEED and kind in noise.KINDS:
            st.session_state.update(noise=level, noise_kind=kind, noise_seed=seed, noise_all=everyone)


@functools.lru_cache(maxsize=64)
def _fields(seed: int) -> dict:
    return {kind: noise.field_json(kind, seed) for kind in noise.KINDS}


def _next_seed(current: int) -> int:
    seed = st.session_state.get(NEXT_SEED)
    if not isinstance(seed, int) or seed == current:
        seed = st.session_state[NEXT_SEED] = int(np.random.default_rng().integers(0, 10_000))
    return seed


def code_grid(n: int) -> tuple[int, int]:
    """(rows, columns) of exactly `n` cells for a flat code: 32 -> the tutorial's 8x4."""
    cols = max(c for c in range(1, int(n**0.5) + 1) if n % c == 0)
    return n // cols, cols


def _model(m: engine.LoadedModel, denoiser: bool, about: str, in_page: bool) -> dict:
    entry = {"key": m.key, "title": m.title, "about": about, "denoiser": denoiser,
             "vae": m.is_vae, "code_shape": list(m.code_shape), "range": list(m.summary_range),
             "channel_range": list(m.code_range), "code_title": "Code (" + "×".join(map(str, m.code_shape)) + ")"}
    if not m.spatial:
        entry["grid"] = list(code_grid(m.code_size))
    if in_page:
        entry["enc"], entry["dec"] = engine.page_url(m, "encoder"), engine.page_url(m, "decoder")
    return entry


def _result(digit: Digit, choice: NoiseChoice, models: list[engine.LoadedModel], plain: frozenset[str]) -> dict:
    """What the server computed for the page (the path without the in-page runtime)."""
    r = engine.interact(digit.image, models, choice.level, choice.seed, choice.kind, plain)
    return {"clean": _b64(r.clean), "noisy": _b64(r.noisy), "hint": digit.hint, "caption": digit.caption,
            "noisy_metrics": r.noisy_metrics,
            "outputs": [{"noisy": o.noisy, "code": _b64(o.code), "recon": _b64(o.recon), "metrics": o.metrics}
                        for o in r.outputs]}


def lab_ui(current: Callable[[], Digit], example: Digit, choice: NoiseChoice, models: list[engine.LoadedModel],
           denoisers: dict[str, bool], about: dict[str, str], plain: frozenset[str]) -> None:
    """The element. `current()` gives the input the server knows (the drawing the page reported, or
    the test digit or upload); `example` is the stand-in shown while the pad is empty.

    With the runtime and the pad, the page turns the strokes into the digit itself: the server
    does not convert the drawing it is told about here (Explore converts it when it is opened)."""
    status = runtime.status()
    entries = [_model(m, denoisers[m.key], about[m.key], status.ready) for m in models]
    in_page = status.ready and all(e.get("enc") and e.get("dec") for e in entries)
    mode = "draw" if st.session_state.get("input_mode", "draw") == "draw" else "image"
    digit = example if in_page and mode == "draw" else current()
    saved = drawing() or {}
    data = {
        "in_page": in_page, "note": "" if in_page else (status.message or SERVER_NOTE),
        "ort": runtime.page_info(),
        "pen": PEN_FRACTION, "mode": mode,
        "strokes": saved.get("strokes") or [], "size": saved.get("size") or 0,
        "image": _b64(digit.image), "caption": digit.caption,
        "example": _b64(example.image), "example_hint": example.hint, "example_caption": example.caption,
        "draw_caption": DRAWN,
        "noise": {"level": choice.level, "kind": choice.kind, "seed": choice.seed, "all": choice.for_all},
        "noise_kinds": [[k, NOISE_LABELS[k]] for k in noise.KINDS], "max_seed": MAX_SEED,
        "metric_help": METRIC_HELP, "models": entries,
    }
    if in_page:  # each seed's noise fields go to the page once; it keeps them
        nxt = _next_seed(choice.seed)
        sent = st.session_state.setdefault(FIELDS_SENT, set())
        data["next_seed"] = nxt
        data["fields"] = {str(seed): _fields(seed) for seed in (choice.seed, nxt) if seed not in sent}
        sent.update((choice.seed, nxt))
    if not in_page or not st.session_state.get(SERVED):
        # Also on a session's first run with the runtime: the rows show at once, drawn by the
        # server, while the page loads the runtime and the models (a second or two).
        data["result"] = _result(digit, choice, models, plain)
        st.session_state[SERVED] = True
    # In a list: Streamlit looks for dataframes among a dict's values, which imports pandas and
    # pyarrow (about 0.6 s) on a server's first page, before this element can be sent.
    _component()(key=KEY, data=[data], on_drawing_change=_changed, on_noise_change=_changed)
