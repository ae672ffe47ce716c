"""The input column: draw, pick or upload a digit; the noise controls.

The widgets live in the "inputs" fragment, the models in the "results" fragment. A drawing sent
by the pad (lab/pad.py, while the pen moves and on pointer-up) or a noise change reruns only
"results" (`st.rerun(RESULTS)` from the widget's callback), which reads the inputs from session
state through `current_digit()` and `current_noise()`: the input column is not redrawn on every
stroke or slider step.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

import numpy as np
import streamlit as st

from ae_core import preprocess
from ae_core.noise import KINDS

from . import pad, resources

RESULTS, INPUTS = "results", "inputs"  # fragment keys
MODES = ("draw", "pick", "upload")
MODE_LABELS = {"draw": "Draw", "pick": "Test digit", "upload": "Upload"}  # no icons: one line in a narrow column
NOISE_LABELS = {"gaussian": "Gaussian", "salt_pepper": "Salt & pepper", "mask": "Masking"}
PREVIEW_SIDE = 280  # the upload preview's longest side
MAX_SEED = 2**31 - 1
EXAMPLE_INDEX = 426  # a clear held-out "2" (bundled split): the stand-in before anything is drawn
DEFAULTS = {"input_mode": "draw", "noise": 0.5, "noise_kind": "gaussian", "noise_seed": 0,
            "noise_all": False, "pick_label": "any", "pick_index": EXAMPLE_INDEX}


@dataclass(frozen=True)
class Digit:
    image: np.ndarray  # (28, 28) float32 in [0, 1]: what the models see
    caption: str
    example: bool = False  # a stand-in shown until the user draws or uploads
    hint: str = ""  # what to do next, when the input is not (yet) a digit


@dataclass(frozen=True)
class NoiseChoice:
    level: float
    kind: str
    seed: int
    for_all: bool = False  # noise for the models that are not denoisers too


def _value(key: str):
    return st.session_state.get(key, DEFAULTS.get(key))


def rerun_results() -> None:
    """Widget callback: rerun only the results fragment (not this column)."""
    st.rerun(RESULTS)


def rerun_both() -> None:
    st.rerun([INPUTS, RESULTS])


# --- turning the current input into a digit (used by both fragments) ---------------------

def _cached(slot: str, raw: bytes, convert, errors: type[Exception] = preprocess.ImageInputError):
    """Convert `raw` once; reruns with the same bytes (a slider move) reuse the result.

    Returns the converted value or the error (of type `errors`) it raised.
    """
    digest = hashlib.blake2b(raw, digest_size=16).digest()
    hit = st.session_state.get(slot)
    if hit is not None and hit[0] == digest:
        return hit[1]
    try:
        value = convert(raw)
    except errors as exc:
        value = exc
    st.session_state[slot] = (digest, value)
    return value


def _upload_to_digit(raw: bytes) -> tuple[np.ndarray, bytes]:
    """The 28x28 digit and a small PNG preview (so reruns never resend a large photo)."""
    from PIL import Image, ImageOps

    digit = preprocess.from_image_bytes(raw)  # checks size, format and integrity first
    img = ImageOps.exif_transpose(Image.open(io.BytesIO(raw)))
    img.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")  # transparent -> white paper, as the digit reader sees it
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="PNG")
    return digit, buf.getvalue()


def example(hint: str = "") -> Digit:
    """What the models show before anything is drawn or uploaded: a held-out test digit."""
    image, label = resources.test_digit(EXAMPLE_INDEX)
    return Digit(image, f"an example test digit (label {label}); draw or upload your own to replace it",
                 example=True, hint=hint)


def current_digit() -> Digit | preprocess.ImageInputError:
    """The digit the models should see now, or the reason an upload cannot be read."""
    mode = _value("input_mode")
    if mode == "pick":
        index = int(_value("pick_index"))
        image, label = resources.test_digit(index)
        return Digit(image, f"held-out test digit #{index} (never seen in training), label {label}")
    if mode == "upload":
        file = st.session_state.get("upload")
        if file is None:
            return example()
        value = _cached("_upload_digit", file.getvalue(), _upload_to_digit)
        if isinstance(value, preprocess.ImageInputError):
            return value
        return Digit(value[0], f"{file.name}, converted to a 28×28 MNIST-style digit")
    drawing = pad.drawing()
    if not drawing or not drawing.get("strokes"):
        return example("Draw a digit on the pad: until then the models show an example.")
    try:
        raw = json.dumps([drawing.get("size"), drawing.get("strokes")]).encode()
    except (TypeError, ValueError):
        raw = b"unreadable"
    value = _cached("_pad_digit", raw, _pad_digit, ValueError)  # bad values: a message, not a crash
    if isinstance(value, ValueError):
        return example(str(value))
    return Digit(value, "your drawing, cropped, fitted into 20×20 and centred by centre of mass")


def _pad_digit(raw: bytes) -> np.ndarray:
    try:
        size, strokes = json.loads(raw)
    except ValueError:
        raise ValueError("The pad sent a drawing that cannot be read: clear the pad and draw again.") from None
    return preprocess.from_strokes(strokes, size)


def current_noise() -> NoiseChoice:
    return NoiseChoice(float(_value("noise")), str(_value("noise_kind")), int(_value("noise_seed")),
                       bool(_value("noise_all")))


# --- the widgets ---------------------------------------------------------------------------

def draw_ui() -> None:
    pad.pad_ui(rerun_results)  # its own line under the pad says what to do


def _new_sample() -> None:
    labels = resources.test_labels()
    wanted = st.session_state.get("pick_label", "any")
    pool = np.arange(len(labels)) if wanted == "any" else np.flatnonzero(labels == int(wanted))
    st.session_state["pick_index"] = int(np.random.default_rng().choice(pool))
    rerun_results()


def pick_ui() -> None:
    st.session_state.setdefault("pick_index", EXAMPLE_INDEX)
    left, right = st.columns([1, 1], vertical_alignment="bottom")
    left.selectbox("Digit", ["any", *range(10)], key="pick_label", on_change=_new_sample,
                   format_func=lambda v: "any digit" if v == "any" else str(v))
    right.button("Another", icon=":material/casino:", key="pick_random", on_click=_new_sample,
                 width="stretch", help="A random held-out digit of the chosen class")
    st.caption("Digits from the held-out test split, never seen in training.")


def upload_ui() -> None:
    file = st.file_uploader("A photo or scan of one handwritten digit", type=["png", "jpg", "jpeg"],
                            key="upload", on_change=rerun_both,
                            help="Dark ink on light paper works; the digit is found, inverted and "
                                 "centred like MNIST's.")
    if file is None:
        st.caption(":material/upload: Upload a PNG or JPEG of a single handwritten digit. Until "
                   "then, the models show an example.")
        return
    value = _cached("_upload_digit", file.getvalue(), _upload_to_digit)
    if isinstance(value, preprocess.ImageInputError):
        st.error(f"**{file.name}**: {value}", icon=":material/error:")
        return
    st.image(value[1], width=140, caption="your photo; the models see the 28×28 version →")


def input_ui() -> None:
    """Draw, pick or upload. The chosen digit is read with `current_digit()`."""
    mode = st.segmented_control("Input", MODES, default="draw", required=True, key="input_mode",
                                format_func=MODE_LABELS.get, label_visibility="collapsed",
                                on_change=rerun_both)
    if mode == "pick":
        pick_ui()
    elif mode == "upload":
        upload_ui()
    else:
        draw_ui()


def _new_noise() -> None:
    st.session_state["noise_seed"] = int(np.random.default_rng().integers(0, 10_000))
    rerun_both()  # the Seed field in this column shows the seed in use


NOISE_BOX = "noise_box"  # its container's key: lab/style.py moves it below the results on phones


def noise_ui() -> None:
    with st.container(key=NOISE_BOX):
        st.slider("Noise level", 0.0, 1.0, 0.5, 0.05, key="noise", on_change=rerun_results,
                  help="0 leaves the digit clean; 0.5 is the tutorial's noise factor.")
        st.segmented_control("Noise type", KINDS, default="gaussian", required=True, key="noise_kind",
                             format_func=NOISE_LABELS.get, width="stretch", on_change=rerun_results)
        left, right = st.columns([1, 1], vertical_alignment="bottom")
        left.number_input("Seed", 0, MAX_SEED, 0, 1, key="noise_seed", on_change=rerun_results,
                          help="Same seed, same noise: the picture is reproducible.")
        right.button("New noise", key="new_noise", on_click=_new_noise, width="stretch",
                     help="A fresh random seed")
        st.toggle("Noise for every model", key="noise_all", on_change=rerun_results,
                  help="Off: models that are not denoisers get the clean digit, so each model shows the job "
                       "it was trained for. On: every model gets the noisy input.")
