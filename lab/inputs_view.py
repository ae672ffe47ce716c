"""The input column: draw, pick or upload a digit; then the noise controls."""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
import streamlit as st

from ae_core import preprocess
from ae_core.noise import KINDS

from . import resources

MODES = ("draw", "pick", "upload")
MODE_LABELS = {"draw": ":material/draw: Draw", "pick": ":material/grid_view: Test digit",
               "upload": ":material/upload: Upload"}
NOISE_LABELS = {"gaussian": "Gaussian", "salt_pepper": "Salt & pepper", "mask": "Masking"}
CANVAS_SIZE = 280
STROKE_WIDTH = 22  # about MNIST's stroke: 2-3 px of a 20 px digit once shrunk
MAX_SEED = 2**31 - 1
EXAMPLE_INDEX = 426  # a clear held-out "2" (bundled split): the stand-in before anything is drawn


@dataclass(frozen=True)
class Digit:
    image: np.ndarray  # (28, 28) float32 in [0, 1]: what the models see
    caption: str
    example: bool = False  # a stand-in shown until the user draws or uploads


@dataclass(frozen=True)
class NoiseChoice:
    level: float
    kind: str
    seed: int


def _cached(slot: str, raw: bytes, convert) -> np.ndarray:
    """Convert `raw` once; reruns with the same bytes (a slider move) reuse the result."""
    digest = hashlib.blake2b(raw, digest_size=16).digest()
    hit = st.session_state.get(slot)
    if hit is not None and hit[0] == digest:
        return hit[1]
    try:
        value = convert(raw)
    except preprocess.ImageInputError as exc:
        value = exc
    st.session_state[slot] = (digest, value)
    return value


def _canvas_to_digit(raw: bytes) -> np.ndarray:
    from PIL import Image

    return preprocess.from_canvas(np.asarray(Image.open(io.BytesIO(raw))))


def draw_ui() -> Digit | None:
    from streamlit_drawable_canvas import st_canvas  # needs a running app: imported here

    st.space("small")  # room for the canvas toolbar (upload, undo, redo, edit, clear) above it
    result = st_canvas(stroke_width=STROKE_WIDTH, stroke_color="#FFFFFF", background_color="#000000",
                       height=CANVAS_SIZE, width=CANVAS_SIZE, drawing_mode="freedraw",
                       return_image_data=True, key="canvas")
    raw = result.image_bytes
    if not raw:
        st.caption(":material/draw: Draw a digit in the black square with your mouse or finger. "
                   "Until then, the models show an example.")
        return example()
    value = _cached("_canvas_digit", raw, _canvas_to_digit)
    if isinstance(value, preprocess.ImageInputError):
        st.info("Keep going: that is too little ink to read as a digit. Draw a whole digit, "
                "or use the bin icon above the canvas to start again.", icon=":material/draw:")
        return example()
    return Digit(value, "your drawing, cropped, fitted into 20×20 and centred by centre of mass")


def example() -> Digit:
    """What the models show before anything is drawn or uploaded: a held-out test digit."""
    image, label = resources.test_digit(EXAMPLE_INDEX)
    return Digit(image, f"an example test digit (label {label}); draw or upload your own to replace it",
                 example=True)


def _new_sample() -> None:
    labels = resources.test_labels()
    wanted = st.session_state.get("pick_label", "any")
    pool = np.arange(len(labels)) if wanted == "any" else np.flatnonzero(labels == int(wanted))
    rng = np.random.default_rng()
    st.session_state["pick_index"] = int(rng.choice(pool))


def pick_ui() -> Digit:
    left, right = st.columns([1, 1], vertical_alignment="bottom")
    left.selectbox("Digit", ["any", *range(10)], key="pick_label", on_change=_new_sample,
                   format_func=lambda v: "any digit" if v == "any" else str(v))
    right.button("Another", icon=":material/casino:", key="pick_random", on_click=_new_sample, width="stretch",
                 help="A random held-out digit of the chosen class")
    if "pick_index" not in st.session_state:
        st.session_state["pick_index"] = EXAMPLE_INDEX
    index = st.session_state["pick_index"]
    image, label = resources.test_digit(index)
    st.caption(f"Held-out test digit #{index} (never seen in training), labelled **{label}**.")
    return Digit(image, f"test digit #{index}, label {label}")


def upload_ui() -> Digit | None:
    file = st.file_uploader("A photo or scan of one handwritten digit", type=["png", "jpg", "jpeg"],
                            key="upload", help="Dark ink on light paper works; the digit is found, "
                            "inverted and centred like MNIST's.")
    if file is None:
        st.caption(":material/upload: Upload a PNG or JPEG of a single handwritten digit. Until "
                   "then, the models show an example.")
        return example()
    value = _cached("_upload_digit", file.getvalue(), _upload_to_digit)
    if isinstance(value, preprocess.ImageInputError):
        st.error(f"**{file.name}**: {value}", icon=":material/error:")
        return None
    digit, thumbnail = value
    st.image(thumbnail, width=140, caption="your photo; the models see the 28×28 version →")
    return Digit(digit, f"{file.name}, converted to a 28×28 MNIST-style digit")


def _upload_to_digit(raw: bytes) -> tuple[np.ndarray, bytes]:
    """The 28x28 digit and a small PNG preview (so reruns never resend a large photo)."""
    from PIL import Image, ImageOps

    digit = preprocess.from_image_bytes(raw)  # checks size, format and integrity first
    img = ImageOps.exif_transpose(Image.open(io.BytesIO(raw)))
    img.thumbnail((280, 280))
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="PNG")
    return digit, buf.getvalue()


def input_ui() -> Digit | None:
    """Draw, pick or upload; returns the 28x28 digit (an example until the user gives one), or
    None when an upload cannot be read (the message is already shown)."""
    mode = st.segmented_control("Input", MODES, default="draw", required=True, key="input_mode",
                                format_func=MODE_LABELS.get, label_visibility="collapsed")
    if mode == "pick":
        return pick_ui()
    if mode == "upload":
        return upload_ui()
    return draw_ui()


def _new_noise() -> None:
    st.session_state["noise_seed"] = int(np.random.default_rng().integers(0, 10_000))


def noise_ui() -> NoiseChoice:
    level = st.slider("Noise level", 0.0, 1.0, 0.5, 0.05, key="noise",
                      help="0 leaves the digit clean; 0.5 is the tutorial's noise factor.")
    kind = st.segmented_control("Noise type", KINDS, default="gaussian", required=True, key="noise_kind",
                                format_func=NOISE_LABELS.get, width="stretch")
    left, right = st.columns([1, 1], vertical_alignment="bottom")
    seed = left.number_input("Seed", 0, MAX_SEED, 0, 1, key="noise_seed",
                             help="Same seed, same noise: the picture is reproducible.")
    right.button("New noise", icon=":material/casino:", key="new_noise", on_click=_new_noise, width="stretch")
    return NoiseChoice(float(level), str(kind), int(seed))
