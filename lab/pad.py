"""The Lab's drawing pad: a Streamlit Components v2 element with its JS and CSS next to it.

lab/pad.js draws with a round pen on a square `<canvas aria-label="Drawing pad">` that fills its
column, with visible Undo and Clear buttons (and Ctrl/Cmd+Z). It sends the strokes, in its
displayed CSS pixels, while the pen moves (throttled) and at once on pointer-up; each message
carries a sequence number. The callback keeps the latest drawing in `st.session_state[DRAWING]`,
which outlives the element: switching to another input mode or tab and back redraws it.
`ae_core.preprocess.from_strokes` turns it into the 28x28 digit.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import streamlit as st

from ae_core.preprocess import PEN_FRACTION
from lab import style

KEY = "pad"  # the element's key; its state value is named "drawing"
DRAWING = "pad_drawing"  # session key: {"seq": int, "size": float, "strokes": [[[x, y], ...], ...]}
THROTTLE_MS = 40  # while the pen moves, at most one update per this many ms, and each one waits...
STALL_MS = 250  # ...until the previous one is painted, for at most this many ms
HERE = Path(__file__).parent


@functools.cache
def _component():
    return st.components.v2.component("autoencoder_lab_pad", js=(HERE / "pad.js").read_text(),
                                      css=(HERE / "pad.css").read_text())


def drawing() -> dict | None:
    """The latest drawing the pad sent ({"seq", "size", "strokes"}), or None before any."""
    value = st.session_state.get(DRAWING)
    return value if isinstance(value, dict) else None


def seq() -> int:
    """The sequence number of the latest drawing (0 before any): the viewer paints no older one."""
    value = drawing()
    try:
        return int(value["seq"]) if value else 0
    except (KeyError, TypeError, ValueError):
        return 0


def _keep(then: Callable[[], None]) -> Callable[[], None]:
    """The pad's callback: keep the drawing it sent (unless it is older than the one kept)."""
    def changed() -> None:
        state = st.session_state.get(KEY)
        value = state.get("drawing") if hasattr(state, "get") else None
        number = value.get("seq") if isinstance(value, dict) else None
        if isinstance(number, int) and number >= seq():
            st.session_state[DRAWING] = dict(value)
        then()
    return changed


def pad_ui(on_change: Callable[[], None]) -> None:
    """The pad; `on_change` runs (as a widget callback) after each drawing it sends."""
    saved = drawing() or {}
    _component()(key=KEY, on_drawing_change=_keep(on_change),
                 data={"pen": PEN_FRACTION, "throttle_ms": THROTTLE_MS, "stall_ms": STALL_MS,
                       "strokes": saved.get("strokes") or [], "size": saved.get("size") or 0,
                       "seq": seq(), "page_css": style.RULES})
