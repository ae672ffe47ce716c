"""Start importing TensorFlow/Keras in the background when someone shows an intent to train.

The page never needs TensorFlow (models run with NumPy, see `ae_core.runner`); training does,
and importing it takes 5-7 s of CPU. Imported at start-up it slowed the first page by 2 s (the
browser and the import share two cores), so it starts when a training setting is first touched
(the sidebar's widgets call `start`). A Train click before that imports it in the training
thread (its progress says so); `import keras` there waits for an import already under way.
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
