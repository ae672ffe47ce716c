"""Section "Bottleneck ladder": the input through the same dense recipe at code sizes 2 to 64,
beside PCA with as many components, and the rate-distortion curve of the evaluation report."""
from __future__ import annotations

import streamlit as st

from .. import figures
from . import data, pictures

COLOURS = ("#1f77b4", "#ff7f0e")


def ladder_figure(report: dict) -> figures.PrebuiltFigure:
    """Test BCE and PSNR against code size, autoencoder vs PCA, from evaluate's report."""
    sizes = [int(v) for v in report["sizes"]]
    traces = []
    for j, (who, label, dash) in enumerate((("autoencoder", "autoencoder", "solid"), ("pca", "PCA", "dot"))):
        rows = report.get(who, {})
        xs = [sz for sz in sizes if str(sz) in rows]
        for metric, axis in (("bce", ""), ("psnr", "2")):
            traces.append({"type": "scatter", "mode": "lines+markers", "name": label, "legendgroup": label,
                           "showlegend": axis == "", "x": xs, "y": [round(rows[str(sz)][metric], 4) for sz in xs],
                           "xaxis": "x" + axis, "yaxis": "y" + axis,
                           "line": {"color": COLOURS[j], "width": 2, "dash": dash},
                           "hovertemplate": f"{label}, code %{{x}}: %{{y:.3f}}<extra></extra>"})
    axis = {"fixedrange": True, "type": "log", "title": {"text": "code size"}, "tickvals": sizes}
    layout = {"height": 320, "margin": {"l": 48, "r": 8, "t": 16, "b": 40}, "font": figures.FONT,
              "xaxis": {**axis, "domain": [0, 0.45]}, "xaxis2": {**axis, "domain": [0.55, 1]},
              "yaxis": {"fixedrange": True, "title": {"text": "test BCE (lower is better)"}},
              "yaxis2": {"fixedrange": True, "title": {"text": "PSNR of the mean MSE, dB (higher is better)"}, "anchor": "x2"},
              "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
              "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "#f7f7f9", "dragmode": False}
    return figures.PrebuiltFigure({"data": traces, "layout": layout})


def ladder(ctx) -> None:
    from ae_core.presets import LADDER_SIZES

    if ctx.digit is not None:
        image = ctx.digit.image
        with st.spinner("Loading the ladder's six models and fitting PCA (once)…"):
            models = {size: data.pretrained(ctx.settings, f"ladder_{size}") for size in LADDER_SIZES}
            pca = data.pca_ladder()
        shown = [size for size, m in models.items() if m is not None]
        if shown:
            pictures.show([image, *(models[size].run(image[None])[1][0] for size in shown)],
                          ["input", *(f"{size} values" for size in shown)], key="ladder_ae", width=64)
            st.caption("Your digit through a dense autoencoder with each code size (the same recipe for all).")
        else:
            st.info("The ladder's autoencoders are not in the pretrained folder.", icon=":material/folder_off:")
        pictures.show([image, *(pca[size](image[None])[0] for size in LADDER_SIZES)],
                      ["input", *(f"PCA {size}" for size in LADDER_SIZES)], key="ladder_pca", width=64)
        st.caption("The same digit through PCA with as many components: the best linear code of each size.")
    report = data.ladder_report()
    if report:
        st.plotly_chart(ladder_figure(report), key="ladder_curve", config=figures.CONFIG, theme=None)
        st.caption(f"Rate and distortion on the {data.n_test()} held-out test digits, clean: the figures of "
                   "the evaluation report, so the page and the command line agree.")
    else:
        st.info("The rate-distortion curve appears once the evaluation report includes the ladder.",
                icon=":material/query_stats:")
