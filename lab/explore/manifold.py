"""Section "Digit manifold": the 2-D VAE's plane of codes as a grid of decoded digits; the
large digit follows the pointer (decoded in the page where the runtime is ready), a click keeps
a point, and the z1/z2 sliders, "Dream up a digit" and "Sample from the posterior" set it."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ae_core import analysis, vae

from .. import engine, kit
from . import data, decoder, pictures

MF, KEY = "mf_", "mf_decoder"  # prefix of the point's sliders (mf_z1, mf_z2); the element's key


def _set(z) -> None:
    span = data.MANIFOLD_SPAN
    z = np.clip(np.asarray(z, np.float64).ravel()[:2], -span, span)
    st.session_state[f"{MF}z1"], st.session_state[f"{MF}z2"] = round(float(z[0]), 2), round(float(z[1]), 2)


def point(value) -> tuple[float, float] | None:
    """(z1, z2) of what the plane sent on a click ({"model", "z": [z1, z2]}), or None."""
    z = value.get("z") if isinstance(value, dict) else None
    if isinstance(z, list) and len(z) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                    and np.isfinite(v) for v in z):
        return float(z[0]), float(z[1])
    return None


def _on_click() -> None:
    z = point(kit.sent(KEY, "z"))
    if z is not None:
        _set(z)


def _dream() -> None:
    _set(vae.prior_sample(1, 2)[0])  # a fresh draw each press


def _posterior(model: engine.LoadedModel, image: np.ndarray) -> None:
    mean, log_var = analysis.encode_all(model.net, image)[:2]
    _set(vae.posterior_sample(mean[0], log_var[0]))


@data.per_model
def plane(model: engine.LoadedModel) -> str:
    """The decoded grid as one PNG data URI (28 px a digit)."""
    return pictures.data_uri(analysis.tile(data.manifold(model).reshape(-1, 28, 28), data.MANIFOLD_N), 1)


def manifold(ctx) -> None:
    model = data.pretrained(ctx.settings, "vae_2d")
    if model is None:
        st.warning("The 2-D VAE is not in the pretrained folder (or could not be loaded).",
                   icon=":material/folder_off:")
        return
    span, n = data.MANIFOLD_SPAN, data.MANIFOLD_N
    if f"{MF}z1" not in st.session_state:
        _set((0.0, 0.0))
    z = [float(st.session_state[f"{MF}z1"]), float(st.session_state[f"{MF}z2"])]
    page = decoder.in_page(model)
    payload = {"mode": "manifold", "model": model.key, "plane": plane(model), "span": span,
               "edge": span + span / (n - 1), "z": z, "nonce": f"{z[0]:.2f},{z[1]:.2f}", **(page or {})}
    if ctx.digit is not None:
        payload["mean"] = analysis.encode(model.net, ctx.digit.image)[0].round(4).tolist()
    if not page:
        payload["px"] = decoder.px(analysis.decode(model.net, np.array([z], np.float32))[0])
    decoder.show(KEY, payload, ("z", _on_click))
    left, right = st.columns(2)
    left.slider("z1", -span, span, step=0.05, key=f"{MF}z1")
    right.slider("z2", -span, span, step=0.05, key=f"{MF}z2")
    left.button("Dream up a digit", icon=":material/auto_awesome:", key="mf_dream", on_click=_dream,
                width="stretch", help="Decode a code drawn from the prior, N(0, I)")
    if ctx.digit is not None:
        right.button("Sample from the posterior", icon=":material/casino:", key="mf_posterior",
                     on_click=_posterior, args=(model, ctx.digit.image), width="stretch",
                     help="Draw a code from the VAE's posterior for the input, N(mean, variance), and decode it")
    follow = "Point at the plane and the large digit follows; click to keep a point" if page else \
        "Click the plane to decode that point"
    st.caption("Every small digit is decoded from its point of the plane; the VAE's prior, N(0, I), puts most "
               f"codes within ±2. {follow}, or use the sliders or dream one up."
               + (" The orange star is the input's mean code." if ctx.digit is not None else ""))
