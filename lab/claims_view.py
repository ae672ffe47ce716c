"""Explore sections for what the tutorial claims: an autoencoder is lossy and data-specific.

- `vs_jpeg_section`: the current input as the autoencoder's 8-bit code, JPEG and WebP at the
  same (or nearest) byte budget, PNG and zlib; the pictures side by side with PSNR and SSIM;
  below, the rate-distortion chart of the evaluation report (digits, clothing, letters and
  shapes), so the page and `python -m ae_core evaluate` show the same numbers.
- `data_specific_section`: the 2x2 table (digit model and clothing model on both test sets).
- `tutorial_figures_section`: the tutorial's two figures for a batch of test images, with
  "Another batch" and a captioned PNG download.
- `strip_html` / `replay`: "Watch it learn": one epoch's snapshot strip (`ae_core.snapshots`),
  each picture named "Epoch N, reconstruction of ...", and a slider that replays the epochs.

Every function takes plain values (a 28x28 image in [0, 1], models with the `Autoencoder`
fields such as `store.load_onnx(...).model`, arrays, the report dict), so a section table can
call them and a test can run them with `AppTest`. No TensorFlow: the models run on ONNX Runtime.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
from pathlib import Path

import numpy as np
import streamlit as st

from ae_core import compress, figures
from ae_core.data import class_names

EVALUATION = Path(__file__).resolve().parents[1] / "benchmarks" / "evaluation.json"
SET_LABELS = {"digits": "Digits", "clothing": "Clothing", "nondigits": "Letters and shapes"}
COLOURS = {"JPEG": "#d62728", "WebP": "#ff7f0e", "PCA (digits)": "#7f7f7f", "Ladder (digits)": "#1f77b4"}
POINT_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2")


# --- data -------------------------------------------------------------------------------------

@st.cache_data(show_spinner=False)
def _report(path: str, stamp: float) -> dict | None:
    del stamp
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def load_report(path: Path | str = EVALUATION) -> dict | None:
    """The evaluation report (`python -m ae_core evaluate`), re-read when the file changes."""
    try:
        stamp = Path(path).stat().st_mtime
    except OSError:
        return None
    return _report(str(path), stamp)


@st.cache_resource(show_spinner=False, max_entries=8)
def _codec(key: str, _model, _fit_images: np.ndarray, name: str) -> compress.ModelCodec:
    del key
    return compress.ModelCodec(_model, _fit_images, name)


def codec(key: str, model, fit_images: np.ndarray, name: str) -> compress.ModelCodec:
    """The model as an 8-bit codec, its code range fitted on `fit_images` (training and
    validation images, never test); cached under `key` (say what the model is: its file hash)."""
    return _codec(key, model, fit_images, name)


@st.cache_data(show_spinner=False, max_entries=32)
def _compare(digest: str, key: str, count: str, _image: np.ndarray, _codec: compress.ModelCodec) -> list:
    del digest, key
    return compress.compare(_image, _codec, count)


def compare(image: np.ndarray, model_key: str, cod: compress.ModelCodec, count: str) -> list[compress.Coded]:
    """`compress.compare`, cached by the image's bytes, the model and what is counted (the
    budget search encodes the image at every JPEG and WebP quality)."""
    digest = hashlib.blake2b(np.asarray(image, np.float32).tobytes(), digest_size=8).hexdigest()
    return _compare(digest, model_key, count, image, cod)


# --- small pictures -----------------------------------------------------------------------------

def img_html(png: bytes, alt: str, width: int) -> str:
    """An inline PNG (a data URI: a rerun cannot delete it under the browser) with its alt text."""
    data = base64.b64encode(png).decode("ascii")
    return (f'<img src="data:image/png;base64,{data}" width="{width}" alt="{html.escape(alt)}" '
            'style="image-rendering:pixelated;display:block"/>')


def _pixels_png(image: np.ndarray, scale: int = 4) -> bytes:
    from ae_core.analysis import to_png_bytes

    return to_png_bytes(np.clip(image, 0, 1), scale)


def compare_cells(results: list[compress.Coded], clean: np.ndarray, count: str) -> str:
    """The methods' pictures side by side, each captioned with its bytes, PSNR and SSIM."""
    cells = []
    for coded in results:
        s = compress.scores(clean, coded)
        size = coded.file_bytes if count == "file" else coded.data_bytes
        psnr = "lossless" if coded.lossless else f"{s['psnr']:.1f} dB, SSIM {s['ssim']:.2f}"
        caption = f"{coded.method} ({coded.setting}): {size} bytes, {psnr}"
        cells.append('<figure style="margin:0 10px 6px 0;display:inline-block;width:112px;vertical-align:top">'
                     + img_html(_pixels_png(coded.image), caption, 112)
                     + f'<figcaption style="font-size:0.8rem;color:#555">{html.escape(caption)}</figcaption></figure>')
    return f'<div class="ae-compare">{"".join(cells)}</div>'


# --- the rate-distortion chart --------------------------------------------------------------------

def rd_figure(report: dict, kind: str, count: str = "file") -> dict:
    """A Plotly figure (dict): bytes per image (log axis) against PSNR of the mean MSE, for
    every series of the report's set `kind`; `count` "file" (whole files) or "data" (coded
    data alone, tables counted once)."""
    entry = report["rate_distortion"]["sets"][kind]
    key = "bytes" if count == "file" else "data_bytes"
    data, extra = [], 0
    for name, points in entry["series"].items():
        single = len(points) == 1
        colour = COLOURS.get(name) or POINT_COLOURS[extra % len(POINT_COLOURS)]
        extra += single
        data.append({"type": "scatter", "mode": "markers" if single else "lines+markers", "name": name,
                     "x": [p[key] for p in points], "y": [p["psnr"] for p in points],
                     "text": [p["setting"] for p in points],
                     "marker": {"size": 12 if single else 7, "color": colour,
                                "symbol": "star" if single else "circle"},
                     "line": {"color": colour},
                     "hovertemplate": f"{name}, %{{text}}<br>%{{x:.0f}} bytes, %{{y:.2f}} dB<extra></extra>"})
    what = "bytes per image (whole file)" if count == "file" else "bytes per image (coded data alone)"
    layout = {"height": 380, "margin": {"l": 50, "r": 10, "t": 30, "b": 45},
              "title": {"text": f"{entry['title']}, {entry['n']} images", "font": {"size": 13}},
              "xaxis": {"title": {"text": what}, "type": "log"},
              "yaxis": {"title": {"text": "PSNR of the mean MSE (dB)"}},
              "legend": {"font": {"size": 11}}}
    return {"data": data, "layout": layout}


def rd_chart(report: dict | None, key: str = "claims_rd") -> None:
    """The report's rate-distortion chart with a choice of image set and of what is counted."""
    rd = (report or {}).get("rate_distortion")
    if not rd or not rd.get("sets"):
        st.info("The rate-distortion chart appears once `python -m ae_core evaluate` has written "
                "its report.", icon=":material/info:")
        return
    left, right = st.columns(2)
    kinds = [k for k in SET_LABELS if k in rd["sets"]]
    kind = left.radio("Images", kinds, format_func=SET_LABELS.get, horizontal=True, key=f"{key}_set")
    count = right.radio("Count", ["file", "data"], horizontal=True, key=f"{key}_count",
                        format_func={"file": "whole files", "data": "coded data alone"}.get,
                        help="Whole files include each format's headers and tables. Coded data "
                             "alone counts JPEG's abbreviated stream (its tables sent once for a "
                             "whole set) and WebP's VP8 bitstream. An 8-bit code is its own file; "
                             "its decoder is shared once, like JPEG's tables.")
    st.plotly_chart(rd_figure(report, kind, count), key=f"{key}_chart", config={"displayModeBar": False})
    loss = rd["sets"][kind]["lossless"]
    st.caption("Lossless, per image: " + ", ".join(
        f"{n} {v['bytes']:.0f} bytes ({v['data_bytes']:.0f} coded data alone)" for n, v in loss.items())
        + ". Figures from `python -m ae_core evaluate` (benchmarks/evaluation.json); PSNR over a "
          "set is the PSNR of its mean MSE.")


# --- the sections -------------------------------------------------------------------------------

def vs_jpeg_section(image: np.ndarray, model, model_name: str, model_key: str, fit_images: np.ndarray,
                    report: dict | None, key: str = "claims_vs") -> list[compress.Coded]:
    """The "Autoencoder vs JPEG" section for the current input (28, 28) in [0, 1]; returns what it showed."""
    count = st.radio("Budget counts", ["file", "data"], horizontal=True, key=f"{key}_count",
                     format_func={"file": "whole files", "data": "coded data alone"}.get)
    cod = codec(model_key, model, fit_images, model_name)
    results = compare(image, model_key, cod, count)
    n = cod.bytes_per_image
    st.markdown(f"**{model_name}** sends its code: {n} values at 8 bits are **{n} bytes** "
                f"(at float32 they would be {4 * n}). JPEG and WebP get the same budget, or the "
                "smallest they can make; PNG and zlib keep every pixel.")
    st.markdown(compare_cells(results, image, count), unsafe_allow_html=True)
    jpeg = results[1]
    if (jpeg.file_bytes if count == "file" else jpeg.data_bytes) > n:
        st.caption(f"JPEG cannot get down to {n} bytes: its smallest here is "
                   f"{jpeg.file_bytes if count == 'file' else jpeg.data_bytes} bytes ({jpeg.setting}).")
    rd_chart(report, key=f"{key}_rd")
    return results


def data_specific_section(report: dict | None) -> None:
    """The 2x2 table of the evaluation report, with one line saying what it shows."""
    table = (report or {}).get("data_specific")
    if not table:
        st.info("The table appears once `python -m ae_core evaluate` has measured dense_seed and "
                "dense_clothing.", icon=":material/info:")
        return
    rows = []
    for name, kind in table["models"].items():
        row = {"model (trained on)": f"{name} ({kind})"}
        for s in table["sets"]:
            row[f"{SET_LABELS[s]}: PSNR dB"] = round(table["psnr"][name][s], 2)
            row[f"{SET_LABELS[s]}: SSIM"] = round(table["ssim"][name][s], 3)
        rows.append(row)
    st.dataframe(rows, hide_index=True)
    st.caption("The same recipe (Dense 784-32-784) trained on digits and on clothing, each on both "
               "test sets: a model does well only on the kind of images it was trained on. PSNR of "
               "the mean MSE; from `python -m ae_core evaluate`.")


def _batch_seed(key: str) -> None:
    st.session_state[key] = st.session_state.get(key, 0) + 1


def tutorial_figures_section(models: dict, x_test: np.ndarray, y_test: np.ndarray, source: str = "bundled",
                             key: str = "claims_fig") -> bytes:
    """The tutorial's two figures for a batch of ten test images and a chosen model (name ->
    model), with "Another batch" and a PNG download. Returns the PNG shown."""
    if not models:
        st.info("No model to draw the figures with.", icon=":material/info:")
        return b""
    left, mid, right = st.columns([2, 2, 1])
    which = left.radio("Figure", ["codes", "denoising"], horizontal=True, key=f"{key}_which",
                       format_func={"codes": "Codes (originals, codes, reconstructions)",
                                    "denoising": "Denoising (noise 0.2, 0.5, 0.8)"}.get)
    name = mid.selectbox("Model", list(models), key=f"{key}_model")
    seed_key = f"{key}_seed"
    right.button("Another batch", key=f"{key}_another", on_click=_batch_seed, args=(seed_key,))
    seed = st.session_state.get(seed_key, 0)
    idx = figures.pick_batch(y_test, seed)
    names = class_names(source)
    labels = [names[int(c)] for c in np.asarray(y_test)[idx]]
    draw = figures.codes_figure if which == "codes" else figures.denoising_figure
    png = draw(models[name], np.asarray(x_test)[idx], labels, model_name=name)
    alt = f"Batch {seed}: the tutorial's {which} figure for {name} on ten test images ({', '.join(labels)})"
    st.markdown(img_html(png, alt, 760), unsafe_allow_html=True)
    st.download_button("Download PNG", png, file_name=f"{which}_{name}_batch{seed}.png", mime="image/png",
                       key=f"{key}_download")
    return png


# --- watch it learn -----------------------------------------------------------------------------

def strip_html(snapshot, captions: list[str], originals: np.ndarray | None = None, width: int = 56) -> str:
    """One epoch's strip (`ae_core.snapshots.Snapshot`) as inline pictures whose accessible
    names start with "Epoch N" ("Epoch 3, reconstruction of 7"); the originals on a row above
    when given. A ninth picture (the current input) is named "your input"."""
    names = list(captions) + ["your input"] * max(0, snapshot.n - len(captions))
    rows = []
    if originals is not None:
        rows.append("".join(img_html(_pixels_png(im, 2), f"Validation image {names[i]}", width)
                            .replace("display:block", "display:inline-block;margin-right:4px")
                            for i, im in enumerate(np.asarray(originals).reshape(-1, 28, 28))))
    rows.append("".join(img_html(_pixels_png(im, 2), f"Epoch {snapshot.epoch}, reconstruction of {names[i]}", width)
                        .replace("display:block", "display:inline-block;margin-right:4px")
                        for i, im in enumerate(snapshot.images())))
    return "".join(f'<div class="ae-strip">{r}</div>' for r in rows)


def replay(snapshots: list, captions: list[str], originals: np.ndarray | None = None,
           key: str = "claims_replay") -> int:
    """After a run: a slider over its epochs showing that epoch's strip; returns the epoch shown."""
    if not snapshots:
        return 0
    by_epoch = {s.epoch: s for s in snapshots}
    epochs = sorted(by_epoch)
    epoch = epochs[0] if len(epochs) == 1 else st.select_slider(
        "Replay the epochs", epochs, value=epochs[-1], key=key)
    st.markdown(strip_html(by_epoch[epoch], captions, originals), unsafe_allow_html=True)
    return epoch
