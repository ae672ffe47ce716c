"""Section "History": each shown model's training curves, and 280x280 PNG downloads of the
current images (one image or the whole row)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ae_core import analysis

from .. import engine, figures

ENLARGE = 10  # downloads: 28x28 digits enlarged to 280x280, nearest neighbour (sharp pixels)


def history(ctx) -> None:
    cols = st.columns(max(1, min(len(ctx.shown), 2)))
    for i, m in enumerate(ctx.shown):
        with cols[i % len(cols)]:
            hist = m.manifest.get("history") or {}
            st.markdown(f"**{m.title}**")
            if hist.get("loss"):
                st.plotly_chart(figures.loss_figure(hist, height=180), key=f"history_{m.key}",
                                config=figures.CONFIG, theme=None)
            else:
                st.caption("No training history in this model's manifest.")


def export(ctx) -> None:
    models, digit, noise = ctx.shown, ctx.digit, ctx.noise
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
