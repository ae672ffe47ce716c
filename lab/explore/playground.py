"""Section "Playground": the latent playground (a slider per code value) and the interpolation
between two digits in code space, beside the pixel cross-fade. Both decode in the page where the
runtime is ready (lab/explore/decoder.py)."""
from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from ae_core import analysis

from .. import engine, figures, kit, resources
from . import data, decoder

PG_STATE = "_pg"  # session: model key -> {"source": digest of the input, "values": [...], "nonce": n}
PG_KEY, INTERP_KEY = "pg_decoder", "interp_decoder"  # the elements' keys


def _digest(image: np.ndarray) -> str:
    return hashlib.blake2b(np.asarray(image, np.float32).tobytes(), digest_size=8).hexdigest()


def _mine(model: engine.LoadedModel) -> dict:
    """This model's playground state: every model keeps its own values."""
    return st.session_state.setdefault(PG_STATE, {}).setdefault(model.key, {"nonce": 0})


def set_values(model: engine.LoadedModel, values: np.ndarray, source: str | None = None) -> None:
    """Put a code on `model`'s sliders; the page takes it over (a new nonce)."""
    mine = _mine(model)
    mine["values"] = [round(float(v), 3) for v in np.asarray(values, np.float64).ravel()]
    mine["nonce"] += 1
    if source is not None:
        mine["source"] = source


def _reset(model: engine.LoadedModel, image: np.ndarray) -> None:
    set_values(model, analysis.encode(model.net, image)[0])


def _random(model: engine.LoadedModel) -> None:
    """A code drawn like the held-out digits' codes (their mean and covariance), not noise."""
    set_values(model, analysis.sample_code(data.codes(model))[0])


def _on_values() -> None:
    """The page sent its slider values (after a pause): keep them for the model they belong to."""
    value = kit.sent(PG_KEY, "values")
    if not isinstance(value, dict):
        return
    mine = st.session_state.get(PG_STATE, {}).get(value.get("model"))
    values = value.get("values")
    if mine is not None and isinstance(values, list) and len(values) == len(mine.get("values", ())) \
            and all(isinstance(v, (int, float)) and np.isfinite(v) for v in values):
        mine["values"] = [float(v) for v in values]


def values(model: engine.LoadedModel) -> np.ndarray | None:
    """The code on `model`'s sliders now (None before the playground was drawn for it)."""
    kept = st.session_state.get(PG_STATE, {}).get(model.key, {}).get("values")
    return None if kept is None else np.asarray(kept, np.float32)


def playground(ctx) -> None:
    model, image = ctx.model, ctx.digit.image
    code = analysis.encode(model.net, image)[0]
    mine = _mine(model)
    if mine.get("source") != _digest(image) or len(mine.get("values", ())) != model.code_size:
        set_values(model, code, _digest(image))  # a new input: start from its code
    now = values(model)
    lo, hi = data.slider_ranges(model)
    lo = np.floor(100 * np.minimum.reduce([lo, now, code])) / 100  # the input's own code always fits
    hi = np.ceil(100 * np.maximum.reduce([hi, now, code])) / 100
    _, index = figures.flat_code_grid(np.zeros(model.code_size))
    page = decoder.in_page(model)
    payload = {"mode": "playground", "model": model.key, "nonce": f"{model.key}:{mine['nonce']}",
               "values": mine["values"], "lo": lo.round(2).tolist(), "hi": hi.round(2).tolist(),
               "grid": index.tolist(), "layout": f"{model.key}:{model.code_size}", **(page or {})}
    if page:
        payload["input_code"] = code.round(5).tolist()
    else:
        decoded = analysis.decode(model.net, np.stack([now, code]))  # one forward pass
        payload.update(px=decoder.px(decoded[0]), input_px=decoder.px(decoded[1]))
    with st.container(horizontal=True):
        st.button("Reset", icon=":material/restart_alt:", key="pg_reset", on_click=_reset, args=(model, image),
                  help="Back to the current input's code")
        st.button("Random", icon=":material/casino:", key="pg_random", on_click=_random, args=(model,),
                  help="A code drawn like real digits' codes (their mean and covariance), not noise")
    st.caption(f"{model.title}: {model.code_size} code values, laid out like the code picture. Each slider "
               "spans where its value lies for 99% of held-out digits. "
               + ("The page decodes as you move." if page else "The picture follows when you let go."))
    decoder.show(PG_KEY, payload, ("values", _on_values))


# --- interpolation -----------------------------------------------------------------------------

def _other(label) -> None:
    st.session_state["interp_index"] = resources.random_test_index(label)


def interpolation(ctx) -> None:
    model, image = ctx.model, ctx.digit.image
    st.session_state.setdefault("interp_index", 1)
    a, b = st.columns([0.6, 0.4], vertical_alignment="bottom")
    label = a.selectbox("Second digit", ["any", *range(10)], key="interp_label",
                        format_func=lambda v: "any digit" if v == "any" else str(v),
                        on_change=lambda: _other(st.session_state["interp_label"]))  # picks at once
    b.button("Another", icon=":material/casino:", key="interp_random", on_click=_other, args=(label,),
             width="stretch", help="A random held-out digit of that class")
    steps = st.slider("Steps", 3, 12, 8, key="interp_steps")
    index = int(st.session_state["interp_index"])
    other, other_label = resources.test_digit(index)
    codes = analysis.encode(model.net, np.stack([image, other])).reshape(2, -1)
    page = decoder.in_page(model)
    payload = {"mode": "interpolation", "steps": steps, "a": codes[0].round(5).tolist(),
               "b": codes[1].round(5).tolist(), "ends": [decoder.px(image), decoder.px(other)], **(page or {})}
    if not page:
        payload["path_px"] = [decoder.px(im) for im in analysis.interpolate(model.net, image, other, steps)]
    st.caption(f"From the current input to held-out digit #{index} (label {other_label}). Top: decoded from "
               "codes on a straight line; below: the pixels blended"
               + ("; drag the position to walk the line." if page else "."))
    decoder.show(INTERP_KEY, payload)
