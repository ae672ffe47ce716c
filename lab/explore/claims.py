"""The tutorial's claims, shown: an autoencoder against JPEG at the same bytes, digits against
clothing (data-specific), and the tutorial's two batch figures. The views are in lab/claims_view.py;
the figures behind them come from `python -m ae_core evaluate`."""
from __future__ import annotations

import streamlit as st

from .. import claims_view, resources
from . import data


@st.cache_resource(show_spinner=False, max_entries=2)  # shared and read only: no 25 MB copy per run
def _fit_images(kind: str):
    from ae_core.evaluate import fit_images

    return fit_images(kind, resources.dataset())


def vs_jpeg(ctx) -> None:
    from ae_core.data import kind_of

    kind = kind_of((ctx.model.manifest.get("data") or {}).get("source"))
    claims_view.vs_jpeg_section(ctx.digit.image, ctx.model.net, ctx.model.title, "|".join(map(str, data.version(ctx.model))),
                                _fit_images(kind), claims_view.load_report())


def data_specific(ctx) -> None:
    claims_view.data_specific_section(claims_view.load_report())


def tutorial_figures(ctx) -> None:
    models = {m.title: m.net for m in ctx.shown}
    source = st.radio("Test images", ["bundled", "clothing"], horizontal=True, key="claims_fig_source",
                      format_func={"bundled": "digits", "clothing": "clothing"}.get)
    d = resources.dataset() if source == "bundled" else resources.clothing()
    claims_view.tutorial_figures_section(models, d.x_test, d.y_test, source)
