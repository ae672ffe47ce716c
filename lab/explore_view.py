"""The Explore tab: latent playground, interpolation, a map of the code space (PCA or t-SNE),
"is this a digit?", a 2-D VAE's digit manifold, the bottleneck ladder, baselines and a noise
sweep, training curves and PNG export, on the Lab's current input where they need one.

The input comes from `inputs_view.current_digit()` / `current_noise()` (the Lab's own state);
a click on the map sets it the way the "Test digit" picker does. The tab has six sections
(`st.tabs`, only the open one runs) and each panel is a fragment, so moving a control reruns
that panel only; the heavy work is cached in `explore_data`. Pictures are inline PNGs
(`png_html`), never `st.image` media files, which a fragment's rerun deletes under the browser.
"""
from __future__ import annotations

import base64
import hashlib
from typing import Callable

import numpy as np
import streamlit as st

from ae_core import analysis, metrics, score, vae

from . import engine, explore_data, figures, inputs_view, models_view, resources
from .settings import Settings

DENSE_DEFAULT = ("pretrained:dense_seed", "pretrained:dense_deep")
SMALL = 92  # height of a row of small images
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
MAP_KEY, PG = "code_map", "pg_"  # the map's widget key; prefix of the 32 playground sliders


# --- the models the tab works with ---------------------------------------------------------

def shown_models(settings: Settings) -> list[engine.LoadedModel]:
    """The models chosen in the Lab (its multiselect), loaded (cached)."""
    labels, _ = models_view.catalog(settings)
    keys = [k for k in st.session_state.get("models", models_view.DEFAULT_MODELS) if k in labels]
    return models_view.load(settings, keys)[0]


def dense_models(settings: Settings, shown: list[engine.LoadedModel]) -> dict[str, engine.LoadedModel]:
    """Models with a flat code (the playground's sliders, the map, the digit check): shown first."""
    out = {m.key: m for m in shown if not m.spatial}
    for key in DENSE_DEFAULT:
        if key not in out:
            m = resources.model(settings.pretrained_dir, key.partition(":")[2], "pretrained")
            if isinstance(m, engine.LoadedModel):
                out[key] = m
    return out


def _digest(image: np.ndarray) -> str:
    return hashlib.blake2b(np.asarray(image, np.float32).tobytes(), digest_size=8).hexdigest()


def _row(images, titles=None, height: int = SMALL):
    panels = [figures.image_panel(im, "") for im in images]
    return figures.panels_figure(panels, height, titles=False)


def png_html(images, captions=(), width: int = 84, scale: int = 4, key: str = "") -> str:
    """Images as inline PNGs (data URIs) with captions. `st.image` serves each picture as a
    media file that the next rerun of a fragment deletes, and the browser, still loading it,
    logs 404s and "Image source error"; an inline image cannot go missing."""
    cells = []
    for i, im in enumerate(images):
        data = base64.b64encode(analysis.to_png_bytes(im, scale)).decode()
        cap = captions[i] if i < len(captions) else ""
        cells.append(f'<figure style="margin:0 8px 4px 0;display:inline-block;text-align:center">'
                     f'<img src="data:image/png;base64,{data}" width="{width}" alt="{cap}" '
                     f'style="image-rendering:pixelated;display:block"/>'
                     f'<figcaption style="font-size:0.8rem;color:#555">{cap}</figcaption></figure>')
    return f'<div class="ae-images" data-key="{key}">{"".join(cells)}</div>'


def _images(images, captions=(), width: int = 84, scale: int = 4, key: str = "") -> None:
    st.markdown(png_html(images, captions, width, scale, key), unsafe_allow_html=True)


def _titles(titles: list[str]) -> None:
    st.markdown(figures.panel_titles_html(titles), unsafe_allow_html=True)


def _chart(fig, key: str, **kw):
    return st.plotly_chart(fig, key=key, config=figures.CONFIG, theme=None, **kw)


def guarded(where: str, oops: Callable[[str, Exception], None]):
    """A panel as a fragment whose errors become app.py's calm one-line message."""
    def wrap(fn):
        def run(*args):
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001
                oops(where, exc)
        return st.fragment(run)
    return wrap


# --- 1. latent playground ------------------------------------------------------------------

def playground_set(values: np.ndarray, lo: float, hi: float) -> None:
    """Put a code on the sliders (each value rounded to the slider step, kept in its range)."""
    for i, v in enumerate(np.clip(np.asarray(values, np.float64).ravel(), lo, hi)):
        st.session_state[f"{PG}{i}"] = float(round(v, 2))


def _reset(model_key: str) -> None:
    st.session_state.pop(f"_pg_source_{model_key}", None)  # the panel reloads the input's code


def _random(model: engine.LoadedModel, lo: float, hi: float) -> None:
    """A code drawn like the held-out digits' codes (their mean and covariance), not noise."""
    playground_set(analysis.sample_code(explore_data.codes(model))[0], lo, hi)


def _input_code(ae, model: engine.LoadedModel, digit: inputs_view.Digit) -> tuple[str, np.ndarray]:
    """(digest of the input, its code), encoded once per input and model."""
    digest = f"{model.key}:{_digest(digit.image)}"
    hit = st.session_state.get("_pg_code")
    if hit is None or hit[0] != digest:
        hit = (digest, analysis.encode(ae, digit.image)[0])
        st.session_state["_pg_code"] = hit
    return hit


def playground(model: engine.LoadedModel, digit: inputs_view.Digit) -> None:
    ae, stats = explore_data.autoencoder(model), explore_data.stats(model)
    source = f"_pg_source_{model.key}"
    digest, code = _input_code(ae, model, digit)
    lo, hi = round(float(min(stats.min.min(), 0.0)), 2), round(float(stats.max.max()) + 0.05, 2)
    if st.session_state.get(source) != digest or f"{PG}0" not in st.session_state:
        playground_set(code, lo, hi)  # a new input (or Reset): start from its code
        st.session_state[source] = digest
    values = np.array([st.session_state[f"{PG}{i}"] for i in range(model.code_size)], np.float32)
    decoded = analysis.decode(ae, np.stack([values, code.astype(np.float32)]))  # one forward pass
    # The pictures come first, in a container that stays in view (CSS `st-key-pg_view`, sticky):
    # on a phone the 32 sliders become one long column, and the picture must stay on screen.
    with st.container(key="pg_view", horizontal=True, vertical_alignment="center"):
        _images(decoded, ["from the sliders", "input's code"], key="pg")
        with st.container(width=150):
            st.button("Reset", icon=":material/restart_alt:", key="pg_reset", on_click=_reset,
                      args=(model.key,), width="stretch", help="Back to the current input's code")
            st.button("Random", icon=":material/casino:", key="pg_random", on_click=_random,
                      args=(model, lo, hi), width="stretch",
                      help="A code drawn like real digits' codes (their mean and covariance), not noise")
    # One column per column of the 8x4 picture, its sliders stacked: the same grid as a row of
    # columns per picture row, with 1 `st.columns` call instead of 8. `value=` is only the
    # default (the sliders' state is set above); passing it spares Streamlit a scan of the
    # whole session state per slider.
    _, index = figures.flat_code_grid(np.zeros(model.code_size))
    for col, column_index in zip(st.columns(index.shape[1], gap="small"), index.T):
        for i in (int(i) for i in column_index if i >= 0):
            col.slider(f"code[{i}]", lo, hi, value=lo, step=0.05, key=f"{PG}{i}",
                       label_visibility="collapsed", help=f"code[{i}]")
    st.caption("Sliders laid out like the 8×4 code image (code[i] on hover); each move decodes live.")


# --- 2. interpolation ----------------------------------------------------------------------

def _other(label) -> None:
    labels = resources.test_labels()
    pool = np.arange(len(labels)) if label == "any" else np.flatnonzero(labels == int(label))
    st.session_state["interp_index"] = int(np.random.default_rng().choice(pool))


def interpolation(model: engine.LoadedModel, digit: inputs_view.Digit) -> None:
    st.session_state.setdefault("interp_index", 1)
    a, b, c = st.columns([1, 1, 2], vertical_alignment="bottom")
    label = a.selectbox("Second digit", ["any", *range(10)], key="interp_label",
                        format_func=lambda v: "any digit" if v == "any" else str(v),
                        on_change=lambda: _other(st.session_state["interp_label"]))  # picks at once
    b.button("Another", icon=":material/casino:", key="interp_random", on_click=_other, args=(label,),
             width="stretch", help="A random held-out digit of that class")
    steps = c.slider("Steps", 3, 12, 8, key="interp_steps")
    other, other_label = resources.test_digit(int(st.session_state["interp_index"]))
    ae = explore_data.autoencoder(model)
    path = analysis.interpolate(ae, digit.image, other, steps)
    fade = analysis.crossfade(digit.image, other, steps)
    st.caption(f"From the current input to held-out digit #{st.session_state['interp_index']} "
               f"(label {other_label}). Top: decoded from codes on a straight line; bottom: the pixels blended.")
    _chart(_row(path), "interp_path")
    _chart(_row(fade), "interp_fade")


# --- 3. the code map -----------------------------------------------------------------------

def load_test_digit(index: int) -> None:
    """Make held-out digit `index` the Lab's input, as the "Test digit" picker does."""
    st.session_state["input_mode"] = "pick"
    st.session_state["pick_index"] = int(index)
    st.session_state["pick_label"] = "any"


def selected_index(state) -> int | None:
    """The held-out digit index of the first clicked point in the map's selection state."""
    selection = state.get("selection", {}) if hasattr(state, "get") else {}
    for p in (selection.get("points", []) if hasattr(selection, "get") else []):
        index = p.get("customdata") if hasattr(p, "get") else None
        index = index[0] if isinstance(index, list) and index else index
        if isinstance(index, (int, float)) and not isinstance(index, bool):
            return int(index)
    return None


def _on_map_select() -> None:
    """Load the clicked digit and rerun the app: the Lab's (hidden) input widgets must be drawn
    with the new choice in this run, or the browser would send their old values back. Only the
    open Explore section runs, so this costs the map section plus the Lab's columns."""
    index = selected_index(st.session_state.get(MAP_KEY))
    if index is not None and 0 <= index < len(resources.test_labels()):
        load_test_digit(index)
        st.rerun(scope="app")


@st.cache_resource(show_spinner=False, max_entries=16)
def _map_traces(key: tuple, _cmap: analysis.CodeMap) -> list[dict]:
    del key
    labels = explore_data.held_out()[1]
    pts = np.round(_cmap.points.astype(np.float64), 3)
    traces = []
    for d in range(10):
        idx = np.flatnonzero(labels == d)
        traces.append({"type": "scattergl", "mode": "markers", "name": str(d), "x": pts[idx, 0].tolist(),
                       "y": pts[idx, 1].tolist(), "customdata": idx.tolist(),
                       "marker": {"size": 5, "color": COLOURS[d], "opacity": 0.7},
                       "hovertemplate": f"digit {d} · #%{{customdata}}<br>click to load<extra></extra>"})
    return traces


MAP_METHODS = {"pca": "PCA", "tsne": "t-SNE"}


def map_section(model: engine.LoadedModel, digit: inputs_view.Digit | None) -> None:
    """The map and the nearest digits, in one fragment (the digit check is its own)."""
    if digit is not None:
        st.caption(f"Input: {digit.caption}.")
    code_map(model, digit)


def code_map(model: engine.LoadedModel, digit: inputs_view.Digit | None) -> None:
    method = st.segmented_control("Map", list(MAP_METHODS), default="pca", required=True, key="map_method",
                                  format_func=MAP_METHODS.get,
                                  help="PCA: the two directions the codes vary most (exact, instant). "
                                       "t-SNE: neighbours stay neighbours (computed once per model).") or "pca"
    if method == "tsne":
        with st.spinner("Placing 2,000 codes with t-SNE (once per model; it is kept for next time)…"):
            cmap = explore_data.tsne_map(model)
    else:
        cmap = explore_data.code_map(model)
    traces = list(_map_traces((*explore_data.cache_key(model), method), cmap))
    code = None
    if digit is not None:
        code = _input_code(explore_data.autoencoder(model), model, digit)[1]
        here = cmap.transform(code)[0]
        traces.append({"type": "scatter", "mode": "markers", "name": "input", "x": [float(here[0])],
                       "y": [float(here[1])], "hoverinfo": "skip",
                       "marker": {"symbol": "star", "size": 18, "color": "#000",
                                  "line": {"color": "#fff", "width": 1.5}}})
    ex = cmap.explained or (0, 0)
    axes = ((f"PC 1 ({ex[0]:.0%})", f"PC 2 ({ex[1]:.0%})") if method == "pca" else ("t-SNE 1", "t-SNE 2"))
    layout = {"height": 380, "margin": {"l": 40, "r": 8, "t": 8, "b": 36}, "font": figures.FONT,
              "xaxis": {"title": {"text": axes[0]}, "zeroline": False},
              "yaxis": {"title": {"text": axes[1]}, "zeroline": False},
              "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "itemclick": False},
              "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "#f7f7f9", "dragmode": "pan",
              "clickmode": "event+select"}
    _chart(figures.PrebuiltFigure({"data": traces, "layout": layout}), MAP_KEY, on_select=_on_map_select,
           selection_mode="points")
    st.caption(f"The held-out digits' codes in 2-D ({MAP_METHODS[method]}), coloured by class"
               f"{'; ★ is the current input' if digit is not None else ''}. Click a point to load that digit.")
    if code is None:
        return
    idx, dist = analysis.nearest_digits(explore_data.codes(model), code, k=5)
    x, y = explore_data.held_out()
    _titles([f"#{i} · {y[i]} · d={d:.1f}" for i, d in zip(idx, dist)])
    _chart(_row(x[idx]), "nearest")
    st.caption("The 5 nearest held-out digits in code space.")


def digit_check(settings: Settings, digit: inputs_view.Digit) -> None:
    """Is this a digit? The judged input, its reconstruction, its score and one verdict."""
    with st.spinner("Fitting the digit score on real digits' codes (once)…"):
        scorer, missing = explore_data.scorer(settings)
    if scorer is None:
        st.warning(f"The digit check needs the pretrained models {', '.join(missing)}; they are missing "
                   "or could not be loaded.", icon=":material/folder_off:")
        return
    judged = scorer.judge(digit.image)[0]
    first = scorer.models[scorer.parts[0][0]]
    recon = analysis.reconstruct(first, digit.image)[0]
    left, right = st.columns([0.45, 0.55], vertical_alignment="center")
    with left:
        _images([digit.image, recon], ["judged input", "reconstruction"], width=96, key="check")
    with right:
        pct = int(np.clip(np.floor(judged.percentile), 0, 100))
        st.metric("Digit score", f"{judged.score:+.2f}",
                  help="Higher is more digit-like; a typical real digit scores about 0. It combines how well "
                       "the models rebuild the input with how typical its code is for one of the ten digits.")
        where = ("below every real digit" if pct == 0 else
                 f"the {score.ordinal(pct)} percentile of real digits' scores")
        st.caption(f"At {where}.")
    icon = {"digit": ":material/check_circle:", "unusual": ":material/help:"}.get(judged.verdict, ":material/block:")
    box = st.success if judged.verdict == "digit" else st.warning if judged.verdict == "unusual" else st.error
    box(f"**{judged.verdict.capitalize()}.** {judged.sentence}", icon=icon)


# --- the digit manifold (a 2-D VAE) ------------------------------------------------------------

MF = "mf_"  # prefix of the manifold's state: mf_z1, mf_z2 (the point shown large)


def _mf_set(z) -> None:
    span = explore_data.MANIFOLD_SPAN
    z = np.clip(np.asarray(z, np.float64).ravel()[:2], -span, span)
    st.session_state[f"{MF}z1"], st.session_state[f"{MF}z2"] = round(float(z[0]), 2), round(float(z[1]), 2)


def manifold_point(state) -> tuple[float, float] | None:
    """(z1, z2) of the first clicked point in the manifold chart's selection state."""
    selection = state.get("selection", {}) if hasattr(state, "get") else {}
    for p in (selection.get("points", []) if hasattr(selection, "get") else []):
        x, y = (p.get("x"), p.get("y")) if hasattr(p, "get") else (None, None)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y)):
            return float(x), float(y)
    return None


def _on_manifold_select() -> None:
    point = manifold_point(st.session_state.get("manifold"))
    if point is not None:
        _mf_set(point)


def _dream() -> None:
    _mf_set(vae.prior_sample(1, 2)[0])  # a fresh draw each press


def _posterior(model: engine.LoadedModel, image: np.ndarray) -> None:
    mean, log_var = analysis.encode_all(explore_data.autoencoder(model), image)[:2]
    _mf_set(vae.posterior_sample(mean[0], log_var[0]))


@st.cache_resource(show_spinner=False, max_entries=4)
def _manifold_figure(key: tuple, _grid: np.ndarray) -> dict:
    """The grid as one inline picture under a lattice of invisible points that take clicks."""
    del key
    n, span = explore_data.MANIFOLD_N, explore_data.MANIFOLD_SPAN
    step = 2 * span / (n - 1)
    picture = analysis.tile(_grid.reshape(-1, 28, 28), n)
    source = "data:image/png;base64," + base64.b64encode(analysis.to_png_bytes(picture)).decode()
    lattice = np.round(np.linspace(-span, span, 2 * n - 1), 3)  # the cells and the midpoints between them
    gx, gy = np.meshgrid(lattice, lattice)
    edge = span + step / 2
    return {"data": [{"type": "scattergl", "mode": "markers", "name": "plane", "x": gx.ravel().tolist(),
                      "y": gy.ravel().tolist(), "marker": {"size": 9, "color": "rgba(0,0,0,0)"},
                      "hovertemplate": "z = (%{x:.2f}, %{y:.2f})<br>click to decode<extra></extra>",
                      "showlegend": False}],
            "layout": {"height": 440, "width": 440, "margin": {"l": 36, "r": 8, "t": 8, "b": 32},
                       "font": figures.FONT, "dragmode": "pan", "clickmode": "event+select",
                       "xaxis": {"range": [-edge, edge], "fixedrange": True, "title": {"text": "z1"},
                                 "zeroline": False, "showgrid": False},
                       "yaxis": {"range": [-edge, edge], "fixedrange": True, "title": {"text": "z2"},
                                 "zeroline": False, "showgrid": False, "scaleanchor": "x"},
                       "images": [{"source": source, "xref": "x", "yref": "y", "x": -edge, "y": edge,
                                   "sizex": 2 * edge, "sizey": 2 * edge, "sizing": "stretch", "layer": "below"}],
                       "paper_bgcolor": "rgba(0,0,0,0)", "showlegend": True,
                       "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0}}}


def manifold(model: engine.LoadedModel, digit: inputs_view.Digit | None) -> None:
    """The 2-D latent plane as decoded digits; a click, the sliders or a dream put a digit large."""
    span = explore_data.MANIFOLD_SPAN
    if f"{MF}z1" not in st.session_state:
        _mf_set((0.0, 0.0))
    spec = dict(_manifold_figure(explore_data.cache_key(model), explore_data.manifold(model)))
    data = list(spec["data"])
    z = np.array([st.session_state[f"{MF}z1"], st.session_state[f"{MF}z2"]], np.float32)
    if digit is not None:
        mean = analysis.encode(explore_data.autoencoder(model), digit.image)[0]
        data.append({"type": "scatter", "mode": "markers", "name": "input's mean code", "x": [float(mean[0])],
                     "y": [float(mean[1])], "hoverinfo": "skip",
                     "marker": {"symbol": "star", "size": 18, "color": "#ff7f0e", "line": {"color": "#000", "width": 1}}})
    data.append({"type": "scatter", "mode": "markers", "name": "shown large", "x": [float(z[0])], "y": [float(z[1])],
                 "hoverinfo": "skip", "marker": {"symbol": "circle-open", "size": 16, "color": "#d62728",
                                                 "line": {"width": 3}}})
    left, right = st.columns([0.62, 0.38], gap="medium")
    with left:
        _chart(figures.PrebuiltFigure({"data": data, "layout": spec["layout"]}), "manifold",
               on_select=_on_manifold_select, selection_mode="points")
    with right:
        big = analysis.decode(explore_data.autoencoder(model), z[None])[0]
        _images([big], [f"z = ({z[0]:+.2f}, {z[1]:+.2f})"], width=196, scale=8, key="manifold_big")
        st.slider("z1", -span, span, step=0.05, key=f"{MF}z1")
        st.slider("z2", -span, span, step=0.05, key=f"{MF}z2")
        st.button("Dream up a digit", icon=":material/auto_awesome:", key="mf_dream", on_click=_dream,
                  width="stretch", help="Decode a code drawn from the prior, N(0, I)")
        if digit is not None:
            st.button("Sample from the posterior", icon=":material/casino:", key="mf_posterior",
                      on_click=_posterior, args=(model, digit.image), width="stretch",
                      help="Draw a code from the VAE's posterior for the input, N(mean, variance), and decode it")
    st.caption("Every small digit is decoded from its point of the plane; the VAE's prior, N(0, I), puts most "
               "codes within ±2. Click the plane, drag the sliders or dream one up: the large digit follows."
               + (" ★ is the input's mean code." if digit is not None else ""))


# --- the bottleneck ladder -------------------------------------------------------------------

def ladder_figure(report: dict) -> figures.PrebuiltFigure:
    """Test BCE and PSNR against code size, autoencoder vs PCA, from evaluate's report."""
    sizes = [int(v) for v in report["sizes"]]
    data = []
    for j, (who, label, dash) in enumerate((("autoencoder", "autoencoder", "solid"), ("pca", "PCA", "dot"))):
        rows = report.get(who, {})
        xs = [sz for sz in sizes if str(sz) in rows]
        for metric, axis in (("bce", ""), ("psnr", "2")):
            data.append({"type": "scatter", "mode": "lines+markers", "name": label, "legendgroup": label,
                         "showlegend": axis == "", "x": xs, "y": [round(rows[str(sz)][metric], 4) for sz in xs],
                         "xaxis": "x" + axis, "yaxis": "y" + axis,
                         "line": {"color": COLOURS[j], "width": 2, "dash": dash},
                         "hovertemplate": f"{label}, code %{{x}}: %{{y:.3f}}<extra></extra>"})
    axis = {"fixedrange": True, "type": "log", "title": {"text": "code size"}, "tickvals": sizes}
    layout = {"height": 320, "margin": {"l": 48, "r": 8, "t": 16, "b": 40}, "font": figures.FONT,
              "xaxis": {**axis, "domain": [0, 0.45]}, "xaxis2": {**axis, "domain": [0.55, 1]},
              "yaxis": {"fixedrange": True, "title": {"text": "test BCE (lower is better)"}},
              "yaxis2": {"fixedrange": True, "title": {"text": "PSNR dB (higher is better)"}, "anchor": "x2"},
              "legend": {"orientation": "h", "y": -0.25, "yanchor": "top", "x": 0},
              "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "#f7f7f9", "dragmode": False}
    return figures.PrebuiltFigure({"data": data, "layout": layout})


def ladder(settings: Settings, digit: inputs_view.Digit | None) -> None:
    from ae_core.presets import LADDER_SIZES

    if digit is not None:
        with st.spinner("Loading the ladder's six models and fitting PCA (once)…"):
            models = {size: explore_data.pretrained(settings, f"ladder_{size}") for size in LADDER_SIZES}
            pca = explore_data.pca_ladder()
        shown = [size for size, m in models.items() if m is not None]
        ae_row = [models[size].run(digit.image[None])[1][0] for size in shown]
        pca_row = [pca[size](digit.image[None])[0] for size in LADDER_SIZES]
        if shown:
            _titles(["input"] + [f"{size} values" for size in shown])
            _chart(_row([digit.image, *ae_row]), "ladder_ae")
            st.caption("Your digit through a dense autoencoder with each code size (the same recipe for all).")
        else:
            st.info("The ladder's autoencoders are not in the pretrained folder.", icon=":material/folder_off:")
        _titles(["input"] + [f"PCA {size}" for size in LADDER_SIZES])
        _chart(_row([digit.image, *pca_row]), "ladder_pca")
        st.caption("The same digit through PCA with as many components: the best linear code of each size.")
    report = explore_data.ladder_report()
    if report:
        _chart(ladder_figure(report), "ladder_curve")
        st.caption(f"Rate and distortion on the {explore_data.n_test()} held-out test digits, clean: the figures of "
                   "the evaluation report, so the page and the command line agree.")
    else:
        st.info("The rate-distortion curve appears once the evaluation report includes the ladder.",
                icon=":material/query_stats:")


# --- 4. baselines and the noise sweep ------------------------------------------------------

def baselines(models: list[engine.LoadedModel], digit: inputs_view.Digit,
              noise: inputs_view.NoiseChoice) -> None:
    noisy = engine.corrupt(digit.image, noise.level, noise.seed, noise.kind)
    outs = {m.key: m.run(noisy[None])[1][0] for m in models}  # by key: two models may share a name
    outs.update({name: fn(noisy[None])[0] for name, fn in explore_data.baselines().items()})
    names = [m.title for m in models] + list(outs)[len(models):]
    recons = np.stack(list(outs.values()))
    scores = metrics.all_metrics(np.broadcast_to(digit.image, recons.shape), recons)
    _titles(["Noisy input", *names])
    _chart(_row([noisy, *recons], height=SMALL + 8), "baseline_images")
    rows = ["| | PSNR | SSIM | MSE |", "|---|---|---|---|"]
    rows += [f"| {n}{' (model)' if i < len(models) else ''} | {scores['psnr'][i]:.1f} dB | "
             f"{scores['ssim'][i]:.2f} | {scores['mse'][i]:.4f} |" for i, n in enumerate(names)]
    st.markdown("\n".join(rows))


def _finite(values: np.ndarray, top: float = 60.0) -> list:
    """Rounded values; a PSNR past `top` (the clean input against itself: infinite) left out."""
    return [round(float(v), 3) if np.isfinite(v) and v <= top else None for v in values]


def sweep_figure(sweep: analysis.Sweep, evaluation: analysis.Sweep | None,
                 models: list[engine.LoadedModel] = ()) -> figures.PrebuiltFigure:
    """The sweep's lines (models by key, labelled by title; baselines by name), with the
    evaluation report's points for the pretrained models and baselines it measured."""
    data, baseline_names = [], {"noisy input", *explore_data.baselines()}
    titles = {m.key: m.title for m in models}
    report_names = {m.key: m.name for m in models if m.kind == "pretrained"}  # the report names files
    for j, key in enumerate(sweep.psnr):
        name, report_name = titles.get(key, key), report_names.get(key, key)
        colour = COLOURS[j % len(COLOURS)]
        dash = "dot" if key in baseline_names else "solid"  # baselines dotted, models solid
        for metric, axis in (("psnr", ""), ("ssim", "2")):
            data.append({"type": "scatter", "mode": "lines", "name": name, "legendgroup": key,
                         "showlegend": axis == "", "x": list(sweep.levels),
                         "y": _finite(getattr(sweep, metric)[key]), "xaxis": "x" + axis,
                         "yaxis": "y" + axis, "line": {"color": colour, "width": 2, "dash": dash},
                         "hovertemplate": f"{name}<br>noise %{{x}}: %{{y:.2f}}<extra></extra>"})
            measured = key in report_names or key in baseline_names  # never a saved model's name
            if evaluation is not None and measured and report_name in evaluation.psnr:
                data.append({"type": "scatter", "mode": "markers", "name": f"{name} (evaluate)",
                             "legendgroup": key, "showlegend": False, "x": list(evaluation.levels),
                             "y": _finite(getattr(evaluation, metric)[report_name]),
                             "xaxis": "x" + axis, "yaxis": "y" + axis,
                             "marker": {"color": colour, "size": 9, "symbol": "diamond-open",
                                        "line": {"width": 2}},
                             "hovertemplate": f"{name}, evaluate on {evaluation.n_images} digits<br>"
                                              "noise %{x}: %{y:.2f}<extra></extra>"})
    axis = {"fixedrange": True, "title": {"text": "noise level"}}
    layout = {"height": 380, "margin": {"l": 44, "r": 8, "t": 16, "b": 40}, "font": figures.FONT,
              "xaxis": {**axis, "domain": [0, 0.46]}, "xaxis2": {**axis, "domain": [0.54, 1]},
              "yaxis": {"fixedrange": True, "title": {"text": "PSNR (dB)"}},
              "yaxis2": {"fixedrange": True, "title": {"text": "SSIM"}, "anchor": "x2"},
              "legend": {"orientation": "h", "y": -0.24, "yanchor": "top", "x": 0, "font": {"size": 11}},
              "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "#f7f7f9", "dragmode": False}
    return figures.PrebuiltFigure({"data": data, "layout": layout})


def noise_sweep(models: list[engine.LoadedModel]) -> None:
    with st.spinner(f"Measuring every model and baseline on {explore_data.SWEEP_IMAGES} held-out digits "
                    "(once)…"):
        sweep = explore_data.sweep(models)
    evaluation = explore_data.evaluation()
    _chart(sweep_figure(sweep, evaluation, models), "sweep")
    note = (f"Lines: mean over {sweep.n_images} held-out digits, Gaussian noise, seed {sweep.seed}, each "
            "digit with the evaluation report's noise. ◇: the evaluation report, on all "
            f"{evaluation.n_images} held-out digits." if evaluation else
            f"Mean over {sweep.n_images} held-out digits (the evaluation report's points appear once it is made).")
    st.caption(note)


# --- 5. history and export -----------------------------------------------------------------

def history(models: list[engine.LoadedModel]) -> None:
    cols = st.columns(max(1, min(len(models), 2)))
    for i, m in enumerate(models):
        with cols[i % len(cols)]:
            hist = m.manifest.get("history") or {}
            st.markdown(f"**{m.title}**")
            if hist.get("loss"):
                _chart(figures.loss_figure(hist, height=180), f"history_{m.key}")
            else:
                st.caption("No training history in this model's manifest.")


ENLARGE = 10  # downloads: 28x28 digits enlarged to 280x280, nearest neighbour (sharp pixels)


def export(models: list[engine.LoadedModel], digit: inputs_view.Digit, noise: inputs_view.NoiseChoice) -> None:
    noisy = engine.corrupt(digit.image, noise.level, noise.seed, noise.kind)
    recons = [m.run(noisy[None])[1][0] for m in models]
    size = 28 * ENLARGE
    row = analysis.tile(np.stack([digit.image, noisy, *recons]), 2 + len(models), gap=1)
    st.download_button(f"The whole row ({2 + len(models)} images, ×{ENLARGE})", analysis.to_png_bytes(row, ENLARGE),
                       "row.png", "image/png", key="dl_row", icon=":material/download:",
                       help="Input, noisy input and every shown model's reconstruction side by side in one PNG")
    cols = st.columns(2 + len(models))
    cols[0].download_button("Input", analysis.to_png_bytes(digit.image, ENLARGE), "input.png", "image/png",
                            key="dl_input", icon=":material/download:", width="stretch",
                            help=f"{size}×{size} PNG (each pixel a {ENLARGE}×{ENLARGE} square)")
    cols[1].download_button("Noisy input", analysis.to_png_bytes(noisy, ENLARGE), "noisy.png", "image/png",
                            key="dl_noisy", icon=":material/download:", width="stretch",
                            help=f"{size}×{size} PNG")
    for col, m, recon in zip(cols[2:], models, recons):
        col.download_button(m.title, analysis.to_png_bytes(recon, ENLARGE), f"{m.name}-reconstruction.png",
                            "image/png", key=f"dl_{m.key}", icon=":material/download:", width="stretch",
                            help=f"{m.title}: reconstruction of the noisy input, {size}×{size} PNG")
    st.caption(f"Each image {size}×{size} pixels; the 28×28 originals enlarged without smoothing.")


# --- the tab ---------------------------------------------------------------------------------

SECTIONS = (":material/tune: Playground & interpolation", ":material/scatter_plot: Code map & digit check",
            ":material/blur_on: Digit manifold", ":material/stairs: Bottleneck ladder",
            ":material/compare: Baselines & noise sweep", ":material/history: History & export")
KEPT = ("explore_section", "explore_model")  # widget choices kept while the tab is closed
# Sticky on the wrapper Streamlit puts around the keyed container (sticky moves an element only
# within its parent, and the wrapper is exactly as tall as the container).
STICKY = ("<style>[data-testid=stLayoutWrapper]:has(> .st-key-pg_view){position:sticky;top:3.5rem;z-index:5;"
          "background:var(--st-background-color,#fff)}</style>")


def _keep(key: str) -> None:
    """Streamlit forgets a widget's value while it is not drawn (the tab closed); keep a copy
    under another name and put it back before the widget is drawn again."""
    copy = f"_kept_{key}"
    if key not in st.session_state and copy in st.session_state:
        st.session_state[key] = st.session_state[copy]


def _remember() -> None:
    for key in KEPT:
        if key in st.session_state:
            st.session_state[f"_kept_{key}"] = st.session_state[key]


def page(settings: Settings, oops: Callable[[str, Exception], None]) -> None:
    """The whole tab; app.py calls it only while the tab is open."""
    for key in KEPT:
        _keep(key)
    st.markdown(STICKY, unsafe_allow_html=True)
    digit = inputs_view.current_digit()
    if not isinstance(digit, inputs_view.Digit):
        st.info("The Lab's input cannot be read, so the panels that work on it wait; the map, the manifold, "
                "the ladder's curve and the training history are below. Draw, pick or upload a digit in the Lab.",
                icon=":material/arrow_back:")
        digit = None
    noise = inputs_view.current_noise()
    with st.spinner("Loading models…"):
        shown = shown_models(settings)
        dense = dense_models(settings, shown)
    if digit is not None:
        st.caption(f"Everything here works on the Lab's current input (draw, pick or upload it there) and its "
                   f"noise: noise {noise.level:.2f} ({inputs_view.NOISE_LABELS.get(noise.kind, noise.kind)}, "
                   f"seed {noise.seed}). A click on the code map loads that digit.")
    model = None
    if not dense:
        st.warning("The playground and the map need a model with a flat code (the tutorial's dense model or the "
                   "deep dense one), and none could be loaded.", icon=":material/folder_off:")
    else:
        keys = list(dense)
        if st.session_state.get("explore_model") not in keys:
            st.session_state.pop("explore_model", None)
        key = st.segmented_control("Dense model for the code panels", keys, default=keys[0], required=True,
                                   key="explore_model", format_func=lambda k: dense[k].title)
        model = dense.get(key) or dense[keys[0]]
        with st.spinner("Encoding the held-out digits (once per model)…"):
            explore_data.codes(model)
    sections = st.tabs(list(SECTIONS), key="explore_section", on_change="rerun")  # only the open one runs
    _remember()
    need_input = lambda: st.info("This panel works on the Lab's input: load a readable digit there.",  # noqa: E731
                                 icon=":material/arrow_back:")
    if sections[0].open:
        with sections[0]:
            if digit is None:
                need_input()
            elif model is not None:
                left, right = st.columns(2, gap="large")
                with left:
                    st.subheader("Latent playground", divider="gray")
                    guarded("drawing the latent playground", oops)(playground)(model, digit)
                with right:
                    st.subheader("Interpolation", divider="gray")
                    guarded("interpolating", oops)(interpolation)(model, digit)
    if sections[1].open:
        with sections[1]:
            if model is not None:
                st.subheader("A map of the code space", divider="gray")
                guarded("drawing the code map", oops)(map_section)(model, digit)
            st.subheader("Is this a digit?", divider="gray")
            if digit is None:
                need_input()
            else:
                guarded("checking the digit", oops)(digit_check)(settings, digit)
    if sections[2].open:
        with sections[2]:
            st.subheader("The digit manifold of a 2-D variational autoencoder", divider="gray")
            vae2 = explore_data.pretrained(settings, "vae_2d")
            if vae2 is None:
                st.warning("The 2-D VAE is not in the pretrained folder (or could not be loaded).",
                           icon=":material/folder_off:")
            else:
                guarded("drawing the digit manifold", oops)(manifold)(vae2, digit)
    if sections[3].open:
        with sections[3]:
            st.subheader("The bottleneck ladder: how small can the code be?", divider="gray")
            guarded("drawing the ladder", oops)(ladder)(settings, digit)
    if sections[4].open:
        with sections[4]:
            if digit is None:
                need_input()
            else:
                left, right = st.columns(2, gap="large")
                with left:
                    st.subheader("Models vs classical baselines", divider="gray")
                    guarded("running the baselines", oops)(baselines)(shown, digit, noise)
                with right:
                    st.subheader("Noise sweep", divider="gray")
                    guarded("measuring the noise sweep", oops)(noise_sweep)(shown)
    if sections[5].open:
        with sections[5]:
            st.subheader("Training history", divider="gray")
            guarded("drawing the training history", oops)(history)(shown)
            st.subheader("Download the current images", divider="gray")
            if digit is None:
                need_input()
            else:
                guarded("preparing the downloads", oops)(export)(shown, digit, noise)
