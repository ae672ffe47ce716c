"""Section "Baselines": the shown models beside classical denoisers on the noisy input, and the
noise sweep (PSNR and SSIM against noise level, with the evaluation report's points)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ae_core import analysis, metrics

from .. import engine, figures
from . import data, pictures
from .codemap import COLOURS


def baselines(ctx) -> None:
    models, digit, noise = ctx.shown, ctx.digit, ctx.noise
    noisy = engine.corrupt(digit.image, noise.level, noise.seed, noise.kind)
    outs = {m.key: m.run(noisy[None])[1][0] for m in models}  # by key: two models may share a name
    outs.update({name: fn(noisy[None])[0] for name, fn in data.baselines().items()})
    names = [m.title for m in models] + list(outs)[len(models):]
    recons = np.stack(list(outs.values()))
    scores = metrics.all_metrics(np.broadcast_to(digit.image, recons.shape), recons)
    pictures.show([noisy, *recons], ["noisy input" if noise.level else "input", *names], key="baseline_images",
                  width=72)
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
    evaluation report's points for the pretrained models and baselines it measured. The legend
    sits at the right, clear of both axis titles."""
    traces, baseline_names = [], {"noisy input", *data.baselines()}
    titles = {m.key: m.title for m in models}
    report_names = {m.key: m.name for m in models if m.kind == "pretrained"}  # the report names files
    for j, key in enumerate(sweep.psnr):
        name, report_name = titles.get(key, key), report_names.get(key, key)
        colour = COLOURS[j % len(COLOURS)]
        dash = "dot" if key in baseline_names else "solid"  # baselines dotted, models solid
        for metric, axis in (("psnr", ""), ("ssim", "2")):
            traces.append({"type": "scatter", "mode": "lines", "name": name, "legendgroup": key,
                           "showlegend": axis == "", "x": list(sweep.levels),
                           "y": _finite(getattr(sweep, metric)[key]), "xaxis": "x" + axis,
                           "yaxis": "y" + axis, "line": {"color": colour, "width": 2, "dash": dash},
                           "hovertemplate": f"{name}<br>noise %{{x}}: %{{y:.2f}}<extra></extra>"})
            measured = key in report_names or key in baseline_names  # never a saved model's name
            if evaluation is not None and measured and report_name in evaluation.psnr:
                traces.append({"type": "scatter", "mode": "markers", "name": f"{name} (evaluate)",
                               "legendgroup": key, "showlegend": False, "x": list(evaluation.levels),
                               "y": _finite(getattr(evaluation, metric)[report_name]),
                               "xaxis": "x" + axis, "yaxis": "y" + axis,
                               "marker": {"color": colour, "size": 9, "symbol": "diamond-open",
                                          "line": {"width": 2}},
                               "hovertemplate": f"{name}, evaluate on {evaluation.n_images} digits<br>"
                                                "noise %{x}: %{y:.2f}<extra></extra>"})
    axis = {"fixedrange": True, "title": {"text": "noise level"}}
    layout = {"height": 340, "margin": {"l": 44, "r": 8, "t": 16, "b": 40}, "font": figures.FONT,
              "xaxis": {**axis, "domain": [0, 0.46]}, "xaxis2": {**axis, "domain": [0.56, 1]},
              "yaxis": {"fixedrange": True, "title": {"text": "PSNR of the mean MSE (dB)"}},
              "yaxis2": {"fixedrange": True, "title": {"text": "SSIM"}, "anchor": "x2"},
              "legend": {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1, "yanchor": "top",
                         "font": {"size": 11}},
              "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "#f7f7f9", "dragmode": False}
    return figures.PrebuiltFigure({"data": traces, "layout": layout})


def noise_sweep(ctx) -> None:
    with st.spinner(f"Measuring every model and baseline on {data.SWEEP_IMAGES} held-out digits (once)…"):
        sweep = data.sweep(ctx.shown)
    evaluation = data.evaluation()
    st.plotly_chart(sweep_figure(sweep, evaluation, ctx.shown), key="sweep", config=figures.CONFIG, theme=None)
    st.caption(f"Lines: mean over {sweep.n_images} held-out digits, Gaussian noise, seed {sweep.seed}, each "
               "digit with the evaluation report's noise. ◇: the evaluation report, on all "
               f"{evaluation.n_images} held-out digits." if evaluation else
               f"Mean over {sweep.n_images} held-out digits (the evaluation report's points appear once it is made).")
