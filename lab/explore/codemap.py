"""Section "Code map": a map of the code space (PCA or t-SNE; a click loads that digit), the
nearest held-out digits, and "is this a digit?"."""
from __future__ import annotations

import logging

import numpy as np
import streamlit as st

from ae_core import analysis, score

from .. import figures, naming, resources
from . import data, pictures

MAP_KEY = "code_map"
MAP_METHODS = {"pca": "PCA", "tsne": "t-SNE"}
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
log = logging.getLogger("autoencoder_lab")


def load_test_digit(index: int) -> None:
    """Make held-out digit `index` the Lab's input, as the "Test digit" picker does."""
    st.session_state["input_mode"] = "pick"
    st.session_state["pick_index"] = int(index)
    st.session_state["pick_label"] = "any"
    st.session_state["pick_set"] = "digits"


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
    with the new choice in this run, or the browser would send their old values back."""
    index = selected_index(st.session_state.get(MAP_KEY))
    if index is not None and 0 <= index < len(resources.test_labels()):
        load_test_digit(index)
        st.rerun(scope="app")


def _class_traces(cmap: analysis.CodeMap) -> list[dict]:
    labels = data.held_out()[1]
    pts = np.round(cmap.points.astype(np.float64), 3)
    traces = []
    for d in range(10):
        idx = np.flatnonzero(labels == d)
        traces.append({"type": "scattergl", "mode": "markers", "name": str(d), "x": pts[idx, 0].tolist(),
                       "y": pts[idx, 1].tolist(), "customdata": idx.tolist(),
                       "marker": {"size": 5, "color": COLOURS[d], "opacity": 0.7},
                       "hovertemplate": f"digit {d} · #%{{customdata}}<br>click to load<extra></extra>"})
    return traces


@data.per_model
def _pca_traces(model) -> list[dict]:
    return _class_traces(data.pca_map(model))


@data.per_model
def _tsne_traces(model) -> list[dict]:
    return _class_traces(data.tsne_map(model))


def _map(model, method: str) -> tuple[analysis.CodeMap, list[dict], str]:
    """The map, its traces and its method: a t-SNE map that cannot be made or read gives the PCA
    map and a calm line (the details go to the log)."""
    if method == "tsne":
        try:
            with st.spinner("Placing 2,000 codes with t-SNE (once per model; it is kept for next time)…"):
                return data.tsne_map(model), _tsne_traces(model), "tsne"
        except Exception:  # noqa: BLE001 - a damaged or unreadable map file, a failed fit
            log.exception("the t-SNE map of %s", model.key)
            st.warning("The t-SNE map could not be made for this model, so the PCA map is shown. "
                       "Try t-SNE again later.", icon=":material/scatter_plot:")
    return data.pca_map(model), _pca_traces(model), "pca"


def code_map(ctx) -> None:
    model, digit = ctx.model, ctx.digit
    if digit is not None:
        st.caption(f"Input: {digit.caption}.")
    method = st.segmented_control("Map", list(MAP_METHODS), default="pca", required=True, key="map_method",
                                  format_func=MAP_METHODS.get,
                                  help="PCA: the two directions the codes vary most (exact, instant). "
                                       "t-SNE: neighbours stay neighbours (computed once per model).") or "pca"
    cmap, traces, method = _map(model, method)
    traces = list(traces)
    code = None
    if digit is not None:
        code = analysis.encode(model.net, digit.image)[0]
        here = cmap.transform(code)[0]
        traces.append({"type": "scatter", "mode": "markers", "name": "input", "x": [float(here[0])],
                       "y": [float(here[1])], "hoverinfo": "skip",
                       "marker": {"symbol": "star", "size": 18, "color": "#000",
                                  "line": {"color": "#fff", "width": 1.5}}})
    ex = cmap.explained or (0, 0)
    axes = (f"PC 1 ({ex[0]:.0%})", f"PC 2 ({ex[1]:.0%})") if method == "pca" else ("t-SNE 1", "t-SNE 2")
    layout = {"height": 380, "margin": {"l": 40, "r": 8, "t": 8, "b": 36}, "font": figures.FONT,
              "xaxis": {"title": {"text": axes[0]}, "zeroline": False},
              "yaxis": {"title": {"text": axes[1]}, "zeroline": False},
              "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "itemclick": False},
              "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "#f7f7f9", "dragmode": "pan",
              "clickmode": "event+select"}
    st.plotly_chart(figures.PrebuiltFigure({"data": traces, "layout": layout}), key=MAP_KEY, config=figures.CONFIG,
                    theme=None, on_select=_on_map_select, selection_mode="points")
    st.caption(f"The held-out digits' codes in 2-D ({MAP_METHODS[method]}), coloured by class"
               f"{'; ★ is the current input' if digit is not None else ''}. Click a point to load that digit.")
    if code is None:
        return
    idx, dist = analysis.nearest_digits(data.codes(model), code, k=5)
    x, y = data.held_out()
    pictures.show(x[idx], [f"#{i} · {y[i]} · d={d:.1f}" for i, d in zip(idx, dist)], key="nearest")
    st.caption("The 5 nearest held-out digits in code space (index · label · distance).")


def share_lower(pct: float) -> str:
    """Where a score lies among real digits', in the one phrasing the panel uses."""
    share = float(np.clip(pct, 0, 100))
    if share <= 0:
        return "No real digit scores lower."
    if share >= 100:
        return "Every real digit scores lower."
    return f"{int(share)}% of real digits score lower." if share >= 1 else f"{share:.1f}% of real digits score lower."


VERDICTS = {  # the same phrasing as `share_lower`, for each verdict's threshold
    "digit": "Looks like a digit: it scores like real digits do.",
    "unusual": f"Unusual for a digit: fewer than {score.UNUSUAL_SHARE:.0%} of real digits score lower, "
               "but it is not far off.",
    "not a digit": f"Does not look like a digit: fewer than {score.NOT_A_DIGIT_SHARE:.1%} of real digits "
                   "score lower.",
}


def digit_check(ctx) -> None:
    """Is this a digit? The judged input, its reconstruction, its score and one verdict."""
    digit = ctx.digit
    with st.spinner("Fitting the digit score on real digits' codes (once)…"):
        scorer, missing = data.scorer(ctx.settings)
    if scorer is None:
        st.warning(f"The digit check needs the pretrained models {', '.join(missing)}; they are missing "
                   "or could not be loaded.", icon=":material/folder_off:")
        return
    if digit.example:  # never judge the stand-in without saying so
        st.info(f"{digit.hint + ' ' if digit.hint else ''}Until then, the check judges the example test digit.",
                icon=":material/info:")
    judged = scorer.judge(digit.image)[0]
    first = scorer.parts[0][0]
    recon = analysis.reconstruct(scorer.models[first], digit.image)[0]
    left, right = st.columns([0.45, 0.55], vertical_alignment="center")
    with left:
        who = naming.title("pretrained", first)
        pictures.show([digit.image, recon], ["the example digit" if digit.example else "judged input",
                                             f"rebuilt by {who}"], key="check", width=96)
    with right:
        st.metric("Digit score", f"{judged.score:+.2f}",
                  help="Higher is more digit-like; a typical real digit scores about 0. It combines how well "
                       "the models rebuild the input with how typical its code is for one of the ten digits.")
        st.caption(share_lower(judged.percentile))
    blank = float(np.ptp(digit.image)) < analysis.BLANK_CONTRAST
    icon = {"digit": ":material/check_circle:", "unusual": ":material/help:"}.get(judged.verdict, ":material/block:")
    box = st.success if judged.verdict == "digit" else st.warning if judged.verdict == "unusual" else st.error
    box(f"**{judged.verdict.capitalize()}.** {judged.sentence if blank else VERDICTS[judged.verdict]}",
        icon=icon)
