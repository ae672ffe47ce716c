"""The Explore tab: latent playground, interpolation, a map of the code space, baselines and a
noise sweep, "is this a digit?", training curves and PNG export, all on the Lab's current input.

The input comes from `inputs_view.current_digit()` / `current_noise()` (the Lab's own state);
a click on the map sets it the way the "Test digit" picker does. The tab has four sections
(`st.tabs`, only the open one runs) and each panel is a fragment, so moving a control reruns
that panel only; the heavy work is cached in `explore_data`.
"""
from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np
import streamlit as st

from ae_core import analysis, metrics

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
    left, right = st.columns([0.7, 0.3], gap="small")
    with left:
        # One column per column of the 8x4 picture, its sliders stacked: the same grid as a row of
        # columns per picture row, with 1 `st.columns` call instead of 8. `value=` is only the
        # default (the sliders' state is set above); passing it spares Streamlit a scan of the
        # whole session state per slider (about 0.15 ms each, 32 per move).
        _, index = figures.flat_code_grid(np.zeros(model.code_size))
        for col, column_index in zip(st.columns(index.shape[1], gap="small"), index.T):
            for i in (int(i) for i in column_index if i >= 0):
                col.slider(f"code[{i}]", lo, hi, value=lo, step=0.05, key=f"{PG}{i}",
                           label_visibility="collapsed", help=f"code[{i}]")
    values = np.array([st.session_state[f"{PG}{i}"] for i in range(model.code_size)], np.float32)
    decoded = analysis.decode(ae, np.stack([values, code.astype(np.float32)]))  # one forward pass
    with right:
        st.image([analysis.to_png_bytes(im, 4) for im in decoded], caption=["from the sliders", "input's code"],
                 width=84, output_format="PNG")
        st.button("Reset", icon=":material/restart_alt:", key="pg_reset", on_click=_reset,
                  args=(model.key,), width="stretch", help="Back to the current input's code")
        st.button("Random", icon=":material/casino:", key="pg_random", on_click=_random,
                  args=(model, lo, hi), width="stretch",
                  help="A code drawn like real digits' codes (their mean and covariance), not noise")
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
                        format_func=lambda v: "any digit" if v == "any" else str(v))
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


def map_section(model: engine.LoadedModel, digit: inputs_view.Digit) -> None:
    """The map, the nearest digits and the digit check, in one fragment."""
    st.caption(f"Input: {digit.caption}.")
    code_map(model, digit)
    st.subheader("Is this a digit?", divider="gray")
    digit_check(model, digit)


def code_map(model: engine.LoadedModel, digit: inputs_view.Digit) -> None:
    cmap = explore_data.code_map(model)
    code = _input_code(explore_data.autoencoder(model), model, digit)[1]
    here = cmap.transform(code)[0]
    traces = list(_map_traces(explore_data.cache_key(model), cmap))
    traces.append({"type": "scatter", "mode": "markers", "name": "input", "x": [float(here[0])],
                   "y": [float(here[1])], "hoverinfo": "skip",
                   "marker": {"symbol": "star", "size": 18, "color": "#000", "line": {"color": "#fff", "width": 1.5}}})
    ex = cmap.explained or (0, 0)
    layout = {"height": 380, "margin": {"l": 40, "r": 8, "t": 8, "b": 36}, "font": figures.FONT,
              "xaxis": {"title": {"text": f"PC 1 ({ex[0]:.0%})"}, "zeroline": False},
              "yaxis": {"title": {"text": f"PC 2 ({ex[1]:.0%})"}, "zeroline": False},
              "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "itemclick": False},
              "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "#f7f7f9", "dragmode": "pan",
              "clickmode": "event+select"}
    _chart(figures.PrebuiltFigure({"data": traces, "layout": layout}), MAP_KEY, on_select=_on_map_select,
           selection_mode="points")
    st.caption("The held-out digits' codes in 2-D (PCA), coloured by class; ★ is the current input. "
               "Click a point to load that digit.")
    idx, dist = analysis.nearest_digits(explore_data.codes(model), code, k=5)
    x, y = explore_data.held_out()
    _titles([f"#{i} · {y[i]} · d={d:.1f}" for i, d in zip(idx, dist)])
    _chart(_row(x[idx]), "nearest")
    st.caption("The 5 nearest held-out digits in code space.")


# --- 4. baselines and the noise sweep ------------------------------------------------------

def baselines(models: list[engine.LoadedModel], digit: inputs_view.Digit,
              noise: inputs_view.NoiseChoice) -> None:
    noisy = engine.corrupt(digit.image, noise.level, noise.seed, noise.kind)
    outs = {m.name: m.run(noisy[None])[1][0] for m in models}
    outs.update({name: fn(noisy[None])[0] for name, fn in explore_data.baselines().items()})
    names, recons = list(outs), np.stack(list(outs.values()))
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


def sweep_figure(sweep: analysis.Sweep, evaluation: analysis.Sweep | None) -> figures.PrebuiltFigure:
    data, baseline_names = [], {"noisy input", *explore_data.baselines()}
    for j, name in enumerate(sweep.psnr):
        colour = COLOURS[j % len(COLOURS)]
        dash = "dot" if name in baseline_names else "solid"  # baselines dotted, models solid
        for metric, axis in (("psnr", ""), ("ssim", "2")):
            data.append({"type": "scatter", "mode": "lines", "name": name, "legendgroup": name,
                         "showlegend": axis == "", "x": list(sweep.levels),
                         "y": _finite(getattr(sweep, metric)[name]), "xaxis": "x" + axis,
                         "yaxis": "y" + axis, "line": {"color": colour, "width": 2, "dash": dash},
                         "hovertemplate": f"{name}<br>noise %{{x}}: %{{y:.2f}}<extra></extra>"})
            if evaluation is not None and name in evaluation.psnr:
                data.append({"type": "scatter", "mode": "markers", "name": f"{name} (evaluate)",
                             "legendgroup": name, "showlegend": False, "x": list(evaluation.levels),
                             "y": _finite(getattr(evaluation, metric)[name]),
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
    _chart(sweep_figure(sweep, evaluation), "sweep")
    note = (f"Lines: mean over {sweep.n_images} held-out digits, Gaussian noise, seed {sweep.seed}, each "
            "digit with the evaluation command's noise. ◇: `python -m ae_core evaluate` on all "
            f"{evaluation.n_images} (benchmarks/evaluation.json)." if evaluation else
            f"Mean over {sweep.n_images} held-out digits. Run `python -m ae_core evaluate` to add its figures.")
    st.caption(note)


# --- 5. is this a digit? 6. history and export -------------------------------------------------

def digit_check(model: engine.LoadedModel, digit: inputs_view.Digit) -> None:
    check = analysis.check_image(explore_data.autoencoder(model), digit.image,
                                 explore_data.reference_errors(model))
    icon = {"digit": ":material/check_circle:", "unusual": ":material/help:"}.get(
        check.verdict, ":material/block:")
    box = st.success if check.verdict == "digit" else st.warning
    box(f"**{check.percentile:.1f}th percentile** of held-out digits' reconstruction error "
        f"({model.name}). {check.sentence}", icon=icon)


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


def export(models: list[engine.LoadedModel], digit: inputs_view.Digit, noise: inputs_view.NoiseChoice) -> None:
    noisy = engine.corrupt(digit.image, noise.level, noise.seed, noise.kind)
    cols = st.columns(2 + len(models))
    cols[0].download_button("Input 28×28", analysis.to_png_bytes(digit.image), "input.png", "image/png",
                            key="dl_input", icon=":material/download:", width="stretch")
    cols[1].download_button("Noisy input", analysis.to_png_bytes(noisy), "noisy.png", "image/png",
                            key="dl_noisy", icon=":material/download:", width="stretch")
    for col, m in zip(cols[2:], models):
        recon = m.run(noisy[None])[1][0]
        col.download_button(m.name, analysis.to_png_bytes(recon), f"{m.name}-reconstruction.png",
                            "image/png", key=f"dl_{m.key}", icon=":material/download:", width="stretch",
                            help=f"{m.title}: reconstruction of the noisy input, 28×28 PNG")


# --- the tab ---------------------------------------------------------------------------------

def page(settings: Settings, oops: Callable[[str, Exception], None]) -> None:
    """The whole tab; app.py calls it only while the tab is open."""
    digit = inputs_view.current_digit()
    if not isinstance(digit, inputs_view.Digit):
        st.info("Explore works on the Lab's input: load a readable digit there first.",
                icon=":material/arrow_back:")
        return
    noise = inputs_view.current_noise()
    with st.spinner("Loading models…"):
        shown = shown_models(settings)
        dense = dense_models(settings, shown)
    st.caption(f"Everything here works on the Lab's current input (draw, pick or upload it there) and its "
               f"noise: noise {noise.level:.2f} ({inputs_view.NOISE_LABELS.get(noise.kind, noise.kind)}, "
               f"seed {noise.seed}). A click on the code map loads that digit.")
    if not dense:
        st.warning("The playground, the map and the digit check need a dense model (dense_seed or "
                   "dense_deep) in the pretrained folder.", icon=":material/folder_off:")
    else:
        keys = list(dense)
        key = st.segmented_control("Dense model for the code panels", keys, default=keys[0], required=True,
                                   key="explore_model", format_func=lambda k: dense[k].name)
        model = dense.get(key) or dense[keys[0]]
        with st.spinner("Encoding the held-out digits (once per model)…"):
            explore_data.codes(model)
    sections = st.tabs([":material/tune: Playground & interpolation", ":material/scatter_plot: Code map & digit check",
                        ":material/compare: Baselines & noise sweep", ":material/history: History & export"],
                       key="explore_section", on_change="rerun")  # only the open section runs
    if dense and sections[0].open:
        with sections[0]:
            left, right = st.columns(2, gap="large")
            with left:
                st.subheader("Latent playground", divider="gray")
                guarded("drawing the latent playground", oops)(playground)(model, digit)
            with right:
                st.subheader("Interpolation", divider="gray")
                guarded("interpolating", oops)(interpolation)(model, digit)
    if dense and sections[1].open:
        with sections[1]:
            st.subheader("A map of the code space", divider="gray")
            guarded("drawing the code map", oops)(map_section)(model, digit)
    if sections[2].open:
        with sections[2]:
            left, right = st.columns(2, gap="large")
            with left:
                st.subheader("Models vs classical baselines", divider="gray")
                guarded("running the baselines", oops)(baselines)(shown, digit, noise)
            with right:
                st.subheader("Noise sweep", divider="gray")
                guarded("measuring the noise sweep", oops)(noise_sweep)(shown)
    if sections[3].open:
        with sections[3]:
            st.subheader("Training history", divider="gray")
            guarded("drawing the training history", oops)(history)(shown)
            st.subheader("Download the current images", divider="gray")
            guarded("preparing the downloads", oops)(export)(shown, digit, noise)
