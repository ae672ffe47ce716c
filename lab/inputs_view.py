"""The input: draw, pick or upload a digit, and the noise settings the page reported.

The pad and the noise controls are part of the Lab's element (lab/lab_page.py); the page reports
the drawing and the noise settings into the session (`DRAWING`, "noise", "noise_kind",
"noise_seed", "noise_all"), and `current_digit()` / `current_noise()` read them for whatever
the server needs them for (the rows without the in-page runtime, Explore, downloads).
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

from . import kit, resources

DRAWING = "pad_drawing"  # session key: the drawing the page reported, {"size", "strokes"}
MODES = ("draw", "pick", "upload")
MODE_LABELS = {"draw": "Draw", "pick": "Test digit", "upload": "Upload"}  # no icons: one line in a narrow column
NOISE_LABELS = {"gaussian": "Gaussian", "salt_pepper": "Salt & pepper", "mask": "Masking"}
PREVIEW_SIDE = 280  # the upload preview's longest side
MAX_SEED = 2**31 - 1
EXAMPLE_INDEX = 426  # a clear held-out "2" (bundled split): the stand-in before anything is drawn
DEFAULTS = {"input_mode": "draw", "noise": 0.5, "noise_kind": "gaussian", "noise_seed": 0,
            "noise_all": False, "pick_set": "digits", "pick_label": "any", "pick_index": EXAMPLE_INDEX}
PICK_SETS = {"digits": "Digits", "clothing": "Clothing"}


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


def drawing() -> dict | None:
    """The latest drawing the page reported ({"size", "strokes"}), or None before any."""
    value = st.session_state.get(DRAWING)
    return value if isinstance(value, dict) else None


# --- turning the current input into a digit (used by both fragments) ---------------------

def _cached(slot: str, raw: bytes, convert, errors: type[Exception] = preprocess.ImageInputError):
    """Convert `raw` once; reruns with the same bytes reuse the result.

    Returns the converted value, or the message (a `str`) of the error of type `errors` it
    raised: only the message is kept, never the exception, whose traceback would keep the raw
    bytes and the arrays of the failed attempt alive.
    """
    digest = hashlib.blake2b(raw, digest_size=16).digest()
    hit = st.session_state.get(slot)
    if hit is not None and hit[0] == digest:
        return hit[1]
    try:
        value = convert(raw)
    except errors as exc:
        value = str(exc)
    st.session_state[slot] = (digest, value)
    return value


def _upload_to_digit(raw: bytes) -> tuple[np.ndarray, bytes]:
    """The 28x28 digit and a small PNG preview, both from one decoding of the upload (so reruns
    never resend a large photo, and the photo is never decoded at full size twice)."""
    img = preprocess.decode_photo(raw)  # checks size, format and integrity first
    digit = preprocess.from_photo(img)
    preview = img.copy()
    preview.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    buf = io.BytesIO()
    preview.save(buf, format="PNG")
    return digit, buf.getvalue()


DRAWN = "your drawing, cropped, fitted into 20×20 and centred by centre of mass"
EMPTY_PAD = "Draw a digit on the pad: until then the models show an example."


def example(hint: str = "") -> Digit:
    """What the models show before anything is drawn or uploaded: a held-out test digit."""
    image, label = resources.test_digit(EXAMPLE_INDEX)
    return Digit(image, f"an example test digit (label {label}); draw or upload your own to replace it",
                 example=True, hint=hint)


def current_digit() -> Digit | str:
    """The digit the models should see now, or why an upload cannot be read (a message)."""
    mode = _value("input_mode")
    if mode == "pick":
        index, kind = int(_value("pick_index")), str(_value("pick_set"))
        image, label = resources.test_digit(index, kind)
        if kind == "clothing":
            from ae_core.data import CLOTHING_CLASSES

            return Digit(image, f"held-out clothing item #{index} (never seen in training): "
                                f"{CLOTHING_CLASSES[label].lower()}, not a digit")
        return Digit(image, f"held-out test digit #{index} (never seen in training), label {label}")
    if mode == "upload":
        value = _upload()
        if value is None:
            return example()
        if isinstance(value, str):
            return value
        return Digit(value[1], f"{value[0]}, converted to a 28×28 MNIST-style digit")
    sent = drawing()
    if not sent or not sent.get("strokes"):
        return example(EMPTY_PAD)
    try:
        raw = json.dumps([sent.get("size"), sent.get("strokes")]).encode()
    except (TypeError, ValueError):
        raw = b"unreadable"
    value = _cached("_pad_digit", raw, _pad_digit, ValueError)  # bad values: a message, not a crash
    if isinstance(value, str):
        return example(value)
    return Digit(value, DRAWN)


def current_input() -> Digit:
    """`current_digit()`, with the example standing in for an upload that cannot be read (the
    uploader says why)."""
    digit = current_digit()
    return example("The models show an example until the upload can be read.") if isinstance(digit, str) else digit


def _pad_digit(raw: bytes) -> np.ndarray:
    try:
        size, strokes = json.loads(raw)
    except ValueError:
        raise ValueError("The pad sent a drawing that cannot be read: clear the pad and draw again.") from None
    return preprocess.from_strokes(strokes, size)


UPLOAD_KEPT = "_upload_kept"  # session key: (file name, digit, preview PNG) of the last good upload


def _upload() -> tuple[str, np.ndarray, bytes] | str | None:
    """(file name, digit, preview) of the upload, a message if it cannot be read, or None.

    The last good upload is kept while the uploader is not drawn (in Draw or Test digit mode,
    Streamlit forgets a file uploader's file), until the visitor removes it."""
    file = st.session_state.get("upload")
    if file is None:
        return st.session_state.get(UPLOAD_KEPT)
    value = _cached("_upload_digit", file.getvalue(), _upload_to_digit)
    if isinstance(value, str):
        return value
    kept = st.session_state[UPLOAD_KEPT] = (file.name, *value)
    return kept


def _upload_changed() -> None:
    if st.session_state.get("upload") is None:  # the visitor removed the file
        st.session_state.pop(UPLOAD_KEPT, None)


def current_noise() -> NoiseChoice:
    return NoiseChoice(float(_value("noise")), str(_value("noise_kind")), int(_value("noise_seed")),
                       bool(_value("noise_all")))


# --- the widgets ---------------------------------------------------------------------------

def _new_sample() -> None:
    st.session_state["pick_index"] = resources.random_test_index(st.session_state.get("pick_label", "any"),
                                                                 str(_value("pick_set")))


def _new_set() -> None:
    st.session_state["pick_label"] = "any"
    _new_sample()


def pick_ui() -> None:
    from ae_core.data import class_names

    st.session_state.setdefault("pick_index", EXAMPLE_INDEX)
    kit.keep(("pick_set", "pick_label"))  # the index is kept, so its set and class are too
    kind = st.segmented_control("Test set", list(PICK_SETS), default="digits", required=True, key="pick_set",
                                format_func=PICK_SETS.get, on_change=_new_set,
                                help="Clothing (Fashion-MNIST) is not what the digit models learned: an "
                                     "autoencoder only works on the kind of data it was trained on.")
    names = class_names(kind)
    left, right = st.columns([1, 1], vertical_alignment="bottom")
    left.selectbox("Class", ["any", *range(10)], key="pick_label", on_change=_new_sample,
                   format_func=lambda v: ("any digit" if kind == "digits" else "any item") if v == "any" else names[v])
    right.button("Another", icon=":material/casino:", key="pick_random", on_click=_new_sample,
                 width="stretch", help="A random held-out image of the chosen class")
    st.caption("From the held-out test split, never seen in training.")


def upload_ui() -> None:
    file = st.file_uploader("A photo or scan of one handwritten digit", type=["png", "jpg", "jpeg"],
                            key="upload", on_change=_upload_changed,
                            help="Dark ink on light paper works; the digit is found, inverted and "
                                 "centred like MNIST's.")
    value = _upload()
    if value is None:
        st.caption(":material/upload: Upload a PNG or JPEG of a single handwritten digit. Until "
                   "then, the models show an example.")
    elif isinstance(value, str):
        st.error(f"**{file.name}**: {value}", icon=":material/error:")
    else:
        note = "" if file is not None else " (kept from before; upload another to replace it)"
        st.image(value[2], width=140, caption=f"{value[0]}{note}: the models see the 28×28 version")


def input_ui() -> None:
    """Draw, pick or upload. The chosen digit is read with `current_digit()`."""
    mode = st.segmented_control("Input", MODES, default="draw", required=True, key="input_mode",
                                format_func=MODE_LABELS.get, label_visibility="collapsed")
    if mode == "pick":
        pick_ui()
    elif mode == "upload":
        upload_ui()
