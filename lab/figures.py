"""Plotly figures for digits and codes, built as plain dicts (fast) with one colour scale.

Building a `go.Figure` from traces validates every value and costs 5-15 ms per figure; these
dicts are valid by construction, and `PrebuiltFigure` hands them to `st.plotly_chart`
without a second validation pass (see benchmarks/app_latency.py for the figures).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

GRAY = [[0.0, "#000000"], [1.0, "#ffffff"]]  # the one colour scale: 0 black, top of range white
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
    """Every channel of a spatial code (H, W, C) as a tiled grey heatmap with square cells, no
    axes, its title above; hover names the channel and the value."""
    values, index = channel_grid(code)
    trace = {"type": "heatmap", "z": _z(values, 2), "zmin": code_range[0], "zmax": code_range[1],
             "colorscale": GRAY, "showscale": False, "customdata": index.tolist(), "xgap": 0, "ygap": 0,
             "hovertemplate": "channel %{customdata}<br>value %{z:.2f}<extra></extra>"}
    layout = {"height": max(int(22 + 8.5 * values.shape[0]), 120), "margin": {"l": 2, "r": 2, "t": 22, "b": 2},
              "xaxis": {"visible": False, "fixedrange": True, "constrain": "domain"},
              "yaxis": {"visible": False, "fixedrange": True, "autorange": "reversed", "scaleanchor": "x",
                        "scaleratio": 1, "constrain": "domain"},
              "annotations": [{"text": title, "x": 0.5, "y": 1.0, "xref": "paper", "yref": "paper",
                               "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": 12}}],
              "showlegend": False, "dragmode": False, "paper_bgcolor": "rgba(0,0,0,0)",
              "plot_bgcolor": "rgba(0,0,0,0)", "font": FONT, "hoverlabel": {"font": {"size": 12}}}
    return PrebuiltFigure({"data": [trace], "layout": layout})


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
