"""Small pieces every part of the page uses: one guard for page sections, one keeper of widget
values, and what an element sent."""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import streamlit as st

from .errors import oops


@contextlib.contextmanager
def section(doing: str) -> Iterator[None]:
    """`with section("drawing the sidebar"): ...`, or `@section(...)` on a view function: an
    unexpected error in it becomes one calm line on the page (and a traceback in the log), and
    the rest of the page still runs. Streamlit's own stop and rerun signals are not
    `Exception`s and pass through."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - shown calmly, logged in full
        oops(doing, exc)


KEPT = "_kept_widgets"  # session_state: widget key -> its last value, for widgets not drawn


def keep(keys: Iterable[str]) -> None:
    """Call before drawing the widgets with these keys: their values survive runs that do not
    draw them (a closed tab, a form hidden while a run trains).

    Streamlit drops a keyed widget's value at the end of a run that does not draw it. At the start
    of a run, a drawn widget's value is in session_state, so it is copied aside; a widget that was
    not drawn last time finds its key missing and gets the copy back, before it is drawn."""
    kept = st.session_state.setdefault(KEPT, {})
    for key in keys:
        if key in st.session_state:
            kept[key] = st.session_state[key]
        elif key in kept:
            st.session_state[key] = kept[key]


def sent(key: str, name: str):
    """The value `name` that the element `key` (a Components v2 element) sent last, or None."""
    state = st.session_state.get(key)
    return state.get(name) if hasattr(state, "get") else None
