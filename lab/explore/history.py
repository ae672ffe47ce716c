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
    """Downloads of the current images: the whole row as one captioned PNG, each image alone
    (enlarged, sharp), and each model's code as a captioned picture."""
    from ae_core import figures as pictures

    from ..inputs_view import NOISE_LABELS

    models, digit, noise = ctx.shown, ctx.digit, ctx.noise
    noisy = engine.corrupt(digit.image, noise.level, noise.seed, noise.kind)
    outputs = [m.run(noisy[None]) for m in models]
    recons = [recon[0] for _, recon in outputs]
    size = 28 * ENLARGE
    how = f"{NOISE_LABELS.get(noise.kind, noise.kind)} noise {noise.level:.2f}, seed {noise.seed}"
    row = pictures.grid_png([("", np.stack([digit.image, noisy, *recons]))],
                            f"Input: {digit.caption}. {how}. Each model's reconstruction of the noisy input.",
                            ["input", "noisy", *[m.name for m in models]])
    st.download_button(f"The whole row ({2 + len(models)} images, captioned)", row, "row.png", "image/png",
                       key="dl_row", icon=":material/download:",
                       help="Input, noisy input and every shown model's reconstruction side by side in one "
                            "PNG, with what each one is written above it")
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
    st.markdown("**The codes**")
    cols = st.columns(max(1, len(models)))
    for col, m, (code, _) in zip(cols, models, outputs):
        picture, (lo, hi) = pictures.code_pictures(code[:1])
        shape = "×".join(map(str, m.code_shape))
        png = pictures.grid_png([(f"Code ({shape})", picture)],
                                f"{m.title}: the code of the noisy input, {shape} values"
                                + (" (their mean over channels)" if m.spatial else "")
                                + f", black {lo:.2f} to white {hi:.2f}.")
        col.download_button(f"Code of {m.title}", png, f"{m.name}-code.png", "image/png", key=f"dl_code_{m.key}",
                            icon=":material/download:", width="stretch",
                            help="The code as a picture with its scale written above it")
