"""Small pieces every part of the page uses: one guard for page sections, and the models listed
once per run."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .errors import oops


@contextlib.contextmanager
def section(doing: str) -> Iterator[None]:
    """`with section("drawing the sidebar"): ...`: an unexpected error in the block becomes one
    calm line on the page (and a traceback in the log), and the rest of the page still runs.
    Streamlit's own stop and rerun signals are not `Exception`s and pass through."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - shown calmly, logged in full
        oops(doing, exc)
