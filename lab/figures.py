"""Plotly figures for digits and codes, built as plain dicts (fast) with one colour scale.

Building a `go.Figure` from traces validates every value and costs 5-15 ms per figure; these
dicts are valid by construction, and `PrebuiltFigure` hands them to `st.plotly_chart`
without a second validation pass (see benchmarks/app_latency.py for the figures).
"""
from __future__ import annotations

import base64
import html
import io

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

GRAY = [[0.0, "#000000"], [1.0, "#ffffff"]]  # the one colour scale: 0 black, top of range white
PANEL_GAP = 0.04
CONFIG = {"displayModeBar": False, "scrollZoom": False, "doubleClick": False, "responsive": False}
FONT = {"family": "Source Sans Pro, sans-serif", "size": 12, "color": "#31333f"}


class PrebuiltFigure(go.Figure):
    """A Figure around a dict that is already a valid figure: `to_dict` returns it as is.

    `st.plotly_chart` calls `to_dict()` on a Figure and serialises the result; it re-validates
    plain dicts. This keeps the cheap path and still satisfies its type check.
    """

    def __new__(cls, spec: dict):
        fig = object.__new__(cls)
        object.__setattr__(fig, "_spec", spec)
        return fig

    def __init__(self, spec: dict):
        """Deliberately not go.Figure.__init__ (about 1.5 ms): only `to_dict` is ever used."""

    def to_dict(self) -> dict:
        return self._spec

    def to_plotly_json(self) -> dict:
        return self._spec


def _z(a: np.ndarray, decimals: int = 3) -> list:
    """Rounded nested lists (NaN -> None, which Plotly leaves blank): small JSON, exact hover."""
    a = np.round(np.asarray(a, np.float64), decimals)
    out = a.tolist()
    if np.isnan(a).any():
        out = [[None if v != v else v for v in row] for row in out]
    return out


def image_panel(img: np.ndarray, title: str) -> dict:
    """A 28x28 image in [0, 1] as a grey PNG for a Plotly image trace: the browser only decodes
    it (a heatmap would colour 784 cells and re-encode them), and the JSON is about 1 KB."""
    pixels = np.rint(np.clip(np.asarray(img, np.float32), 0.0, 1.0) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG", compress_level=1)
    return {"title": title, "source": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")}


def flat_code_grid(code: np.ndarray, width: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """A flat code as the tutorial's image: 32 values -> 8 rows x 4 columns (reshape(4, 8).T).

    Returns (values, index of each cell); cells past the end are NaN / -1.
    """
    code = np.asarray(code, np.float64).ravel()
    n = len(code)
    rows = -(-n // width)
    padded = np.full(rows * width, np.nan)
    padded[:n] = code
    index = np.arange(rows * width)
    index[n:] = -1
    return padded.reshape(width, rows).T, index.reshape(width, rows).T


def panels_figure(panels: list[dict], height: int = 150, widths: list[float] | None = None,
                  titles: bool = True) -> PrebuiltFigure:
    """One figure, panels side by side left to right, square pixels, no axes.

    With `titles=False` the panel titles are left to the page (`panel_titles_html`): Plotly
    measures annotation text in the browser, which costs more than drawing the images.
    """
    widths = widths or [1.0] * len(panels)
    total = sum(widths) + PANEL_GAP * (len(panels) - 1)
    data, annotations, layout = [], [], {}
    x0 = 0.0
    for i, (panel, w) in enumerate(zip(panels, widths)):
        suffix = "" if i == 0 else str(i + 1)
        x1 = x0 + w / total
        if "source" in panel:  # a grey PNG, 0 black to 255 white: the same scale as GRAY
            trace = {"type": "image", "source": panel["source"], "xaxis": "x" + suffix,
                     "yaxis": "y" + suffix, "hoverinfo": "skip"}
        else:  # a heatmap with hover values (channels_figure)
            trace = {"type": "heatmap", "z": panel["z"], "zmin": panel["zmin"], "zmax": panel["zmax"],
                     "colorscale": GRAY, "showscale": False, "xaxis": "x" + suffix, "yaxis": "y" + suffix,
                     "hovertemplate": panel["hover"], "xgap": 0, "ygap": 0}
            if "customdata" in panel:
                trace["customdata"] = panel["customdata"]
        data.append(trace)
        layout["xaxis" + suffix] = {"domain": [x0, x1], "visible": False, "fixedrange": True,
                                    "constrain": "domain"}
        layout["yaxis" + suffix] = {"visible": False, "fixedrange": True, "autorange": "reversed",
                                    "scaleanchor": "x" + suffix, "scaleratio": 1, "constrain": "domain"}
        if titles:
            annotations.append({"text": panel["title"], "x": (x0 + x1) / 2, "y": 1.0, "xref": "paper",
                                "yref": "paper", "xanchor": "center", "yanchor": "bottom",
                                "showarrow": False, "font": {"size": 12}})
        x0 = x1 + PANEL_GAP / total
    layout.update({"height": height, "margin": {"l": 2, "r": 2, "t": 22 if titles else 2, "b": 2},
                   "annotations": annotations, "showlegend": False, "dragmode": False,
                   "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "font": FONT,
                   "hoverlabel": {"font": {"size": 12}}})
    return PrebuiltFigure({"data": data, "layout": layout})


def panel_titles_html(titles: list[str]) -> str:
    """The titles of a `panels_figure(..., titles=False)` row, as a grid that lines up with it."""
    gap = 100 * PANEL_GAP / (len(titles) + PANEL_GAP * (len(titles) - 1))
    cells = "".join(f"<span>{html.escape(t)}</span>" for t in titles)
    return (f"<div class='panel-titles' style='grid-template-columns: repeat({len(titles)}, 1fr); "
            f"column-gap: {gap:.2f}%'>{cells}</div>")


def channel_grid(code: np.ndarray, columns: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """A spatial code (H, W, C) as C tiles of H x W, `columns` per row, one blank cell apart.

    Returns (values, channel index per cell, -1 in the gaps)."""
    code = np.asarray(code, np.float64)
    h, w, c = code.shape
    rows = -(-c // columns)
    values = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1), np.nan)
    index = np.full(values.shape, -1)
    for k in range(c):
        r, q = divmod(k, columns)
        values[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = code[..., k]
        index[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = k
    return values, index


def channels_figure(code: np.ndarray, code_range: tuple[float, float], title: str) -> PrebuiltFigure:
    """Every channel of a spatial code as a tiled grid; hover names the channel and cell."""
    values, index = channel_grid(code)
    panel = {"title": title, "z": _z(values, 2), "zmin": code_range[0], "zmax": code_range[1],
             "customdata": index.tolist(),
             "hover": "channel %{customdata}<br>value %{z:.2f}<extra></extra>"}
    height = int(22 + 8.5 * values.shape[0])
    return panels_figure([panel], height=max(height, 120))


def loss_figure(history: dict[str, list[float]], height: int = 200) -> PrebuiltFigure:
    """Training and validation loss per epoch."""
    data = []
    for key, name, color in (("loss", "training", "#1f77b4"), ("val_loss", "validation", "#ff7f0e")):
        ys = history.get(key) or []
        if ys:
            data.append({"type": "scatter", "mode": "lines+markers", "name": name,
                         "x": list(range(1, len(ys) + 1)), "y": [round(float(v), 5) for v in ys],
                         "line": {"color": color, "width": 2}, "marker": {"size": 5}})
    layout = {"height": height, "margin": {"l": 40, "r": 8, "t": 8, "b": 32}, "font": FONT,
              "xaxis": {"title": {"text": "epoch"}, "fixedrange": True, "dtick": 1 if len(data) and
                        len(data[0]["x"]) <= 10 else None},
              "yaxis": {"title": {"text": "loss"}, "fixedrange": True},
              "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
              "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "dragmode": False}
    return PrebuiltFigure({"data": data, "layout": layout})
