"""Keep Keras' state between script runs.

After every script run, Streamlit calls `keras.backend.clear_session()` (in
`streamlit.runtime.scriptrunner.script_runner._clean_problem_modules`, meant for scripts that
build a new model on every rerun). This app builds models once (cached) or in a training thread,
so the call only hurts: it empties TensorFlow's kernel cache, which makes the first call of
every model in the next run 10-100x slower (measured: dense 1 ms -> 15 ms, conv 5 ms -> 80 ms),
and it resets Keras' global state and kernel cache while a training thread may be running.
"""
from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)


def _clean_without_keras() -> None:
    """What Streamlit's cleanup does, minus the Keras reset: close matplotlib figures."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        try:
            plt.close("all")
        except Exception:  # noqa: BLE001 - as Streamlit: never fail a run over cleanup
            pass


_clean_without_keras.keeps_keras = True


def keep() -> bool:
    """Replace Streamlit's post-run cleanup with one that leaves Keras alone. True if installed."""
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:  # pragma: no cover - a Streamlit without this module
        return False
    current = getattr(script_runner, "_clean_problem_modules", None)
    if current is None:
        log.warning("Streamlit no longer has _clean_problem_modules; Keras may be reset after each run")
        return False
    if not getattr(current, "keeps_keras", False):
        script_runner._clean_problem_modules = _clean_without_keras
    return True
