"""Start importing TensorFlow/Keras in the background on the app's first run.

Importing TensorFlow takes seconds; the page can draw its title and inputs meanwhile. When the
models are needed, `import keras` in the script thread waits for this import to finish.
"""
import threading

_started = threading.Event()


def _import() -> None:
    try:
        import keras  # noqa: F401  (imports tensorflow)
    except Exception:  # noqa: BLE001 - the real import in the script reports any problem
        pass


def start() -> None:
    if not _started.is_set():
        _started.set()
        threading.Thread(target=_import, name="preload-keras", daemon=True).start()
