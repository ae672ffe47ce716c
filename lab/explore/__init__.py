"""The Explore tab: seven sections, each a module of this package, drawn from one table.

    playground  the latent playground and the interpolation (decoded in the page)
    codemap     a map of the code space (PCA or t-SNE), the nearest digits, "is this a digit?"
    manifold    a 2-D VAE's digit manifold (the large digit follows the pointer)
    ladder      the bottleneck ladder beside PCA, and its rate-distortion curve
    baselines   the models against classical denoisers, and the noise sweep
    history     training curves and PNG downloads
    claims      an autoencoder against JPEG at the same bytes, digits against clothing, the
                tutorial's batch figures

`page(settings)` draws the tab; only the open section runs, and each panel is a fragment under
the page's one section guard (`kit.section`): an error in it becomes one calm line. The panels
work on the Lab's input (`inputs_view.current_digit()` / `current_noise()`); heavy values are
computed once per model version (`data.per_model`); small digits are shown one way
(`pictures.show`) unless the page decodes them itself (`decoder`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import streamlit as st

from .. import engine, inputs_view, kit, resources
from ..settings import Settings
from . import baselines, claims, codemap, data, history, ladder, manifold, pictures, playground

DENSE_DEFAULT = ("pretrained:dense_seed", "pretrained:dense_deep")
# The choices kept while the tab, or their section, is closed (kit.keep).
KEPT = ("explore_section", "explore_model", "map_method", "interp_label", "interp_steps", "claims_fig_source")
NEED_INPUT = "This panel works on the Lab's input: load a readable digit there."


@dataclass(frozen=True)
class Context:
    """What a panel works on."""

    settings: Settings
    digit: inputs_view.Digit | None  # None: the Lab's input cannot be read
    noise: inputs_view.NoiseChoice
    shown: list[engine.LoadedModel]  # the models chosen in the Lab
    model: engine.LoadedModel | None  # the flat-code model chosen above the sections


@dataclass(frozen=True)
class Panel:
    title: str
    draw: Callable[[Context], None]
    where: str  # "while <where>" in the calm error line
    needs_digit: bool = False
    needs_model: bool = False  # a model with a flat code


@dataclass(frozen=True)
class Section:
    label: str
    panels: tuple[Panel, ...]
    side_by_side: bool = False


SECTIONS = (
    Section(":material/tune: Playground", (
        Panel("Latent playground", playground.playground, "drawing the latent playground", True, True),
        Panel("Interpolation", playground.interpolation, "interpolating", True, True)), side_by_side=True),
    Section(":material/scatter_plot: Code map", (
        Panel("A map of the code space", codemap.code_map, "drawing the code map", needs_model=True),
        Panel("Is this a digit?", codemap.digit_check, "checking the digit", needs_digit=True))),
    Section(":material/blur_on: Manifold", (
        Panel("The digit manifold of a 2-D variational autoencoder", manifold.manifold,
              "drawing the digit manifold"),)),
    Section(":material/stairs: Ladder", (
        Panel("The bottleneck ladder: how small can the code be?", ladder.ladder, "drawing the ladder"),)),
    Section(":material/compare: Baselines", (
        Panel("Models vs classical baselines", baselines.baselines, "running the baselines", needs_digit=True),
        Panel("Noise sweep", baselines.noise_sweep, "measuring the noise sweep"))),
    Section(":material/compress: vs JPEG", (
        Panel("Autoencoder vs JPEG: the same bytes", claims.vs_jpeg, "comparing with JPEG", True, True),
        Panel("Data-specific: digits and clothing", claims.data_specific, "drawing the digits-and-clothing table"),
        Panel("The tutorial's figures", claims.tutorial_figures, "drawing the tutorial's figures"))),
    Section(":material/history: History", (
        Panel("Training history", history.history, "drawing the training history"),
        Panel("Download the current images", history.export, "preparing the downloads", needs_digit=True))),
)


def dense_models(settings: Settings, shown: list[engine.LoadedModel]) -> dict[str, engine.LoadedModel]:
    """Models with a flat code (the playground, the map): the shown ones first, then the defaults."""
    out = {m.key: m for m in shown if not m.spatial}
    for key in DENSE_DEFAULT:
        if key not in out:
            m = resources.model(settings.pretrained_dir, key.partition(":")[2], "pretrained")
            if isinstance(m, engine.LoadedModel):
                out[key] = m
    return out


def _panel(panel: Panel, ctx: Context) -> None:
    st.subheader(panel.title, divider="gray")
    if panel.needs_digit and ctx.digit is None:
        st.info(NEED_INPUT, icon=":material/arrow_back:")
        return
    if panel.needs_model and ctx.model is None:
        return

    def run() -> None:  # a fragment: a control inside the panel reruns this panel only
        with kit.section(panel.where):
            panel.draw(ctx)
    st.fragment(run)()


def _model_choice(dense: dict[str, engine.LoadedModel]) -> engine.LoadedModel | None:
    if not dense:
        st.warning("The playground and the map need a model with a flat code (the tutorial's dense model or the "
                   "deep dense one), and none could be loaded.", icon=":material/folder_off:")
        return None
    keys = list(dense)
    if st.session_state.get("explore_model") not in keys:
        st.session_state.pop("explore_model", None)
    key = st.segmented_control("Dense model for the code panels", keys, default=keys[0], required=True,
                               key="explore_model", format_func=lambda k: dense[k].title)
    model = dense.get(key) or dense[keys[0]]
    with st.spinner("Encoding the held-out digits (once per model)…"):
        data.codes(model)
    return model


def page(settings: Settings, shown: list[engine.LoadedModel]) -> None:
    """The whole tab; app.py calls it only while the tab is open, with the models the Lab shows."""
    kit.keep(KEPT)
    st.html(pictures.STYLE)
    digit = inputs_view.current_digit()
    if not isinstance(digit, inputs_view.Digit):
        st.info("The Lab's input cannot be read, so the panels that work on it wait; the map, the manifold, "
                "the ladder's curve and the training history are below. Draw, pick or upload a digit in the Lab.",
                icon=":material/arrow_back:")
        digit = None
    noise = inputs_view.current_noise()
    with st.spinner("Loading models…"):
        dense = dense_models(settings, shown)
    if digit is not None:
        st.caption(f"Everything here works on the Lab's current input (draw, pick or upload it there) and its "
                   f"noise: noise {noise.level:.2f} ({inputs_view.NOISE_LABELS.get(noise.kind, noise.kind)}, "
                   f"seed {noise.seed}). A click on the code map loads that digit.")
    tabs = st.tabs([s.label for s in SECTIONS], key="explore_section", on_change="rerun")  # only the open one runs
    for section, tab in zip(SECTIONS, tabs):
        if not tab.open:
            continue
        with tab:
            choose = any(p.needs_model for p in section.panels)  # the chooser only where a panel uses it
            ctx = Context(settings, digit, noise, shown, _model_choice(dense) if choose else None)
            if section.side_by_side:
                for column, panel in zip(st.columns(len(section.panels), gap="large"), section.panels):
                    with column:
                        _panel(panel, ctx)
            else:
                for panel in section.panels:
                    _panel(panel, ctx)
