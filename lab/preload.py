"""Start importing TensorFlow/Keras in the background once the first page has been drawn.

The page itself never needs TensorFlow (models run with NumPy, see `ae_core.runner`); training
does, and importing it takes 5-7 s. When training is allowed, the app calls `start()` at the end
of its first run, so a Train click a little later does not wait; `import keras` in a training
thread that comes earlier simply waits for this import to finish.
"""
import threading

_started = threading.Event()


def _import() -> None:
    try:
        import keras  # noqa: F401  (imports tensorflow)
    except Exception:  # noqa: BLE001 - the real import in the training thread reports any problem
        pass


def start() -> None:
    if not _started.is_set():
        _started.set()
        threading.Thread(target=_import, name="preload-keras", daemon=True).start()
