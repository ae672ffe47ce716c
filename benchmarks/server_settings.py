"""Why .streamlit/config.toml keeps `fileWatcherType = "none"` and `postScriptGC = false`:
what Streamlit's source-watcher scan and its post-run `gc.collect(2)` cost in a server that has
run the page, and what they cost with TensorFlow loaded (as the server was before training
moved into trainer processes).

    python benchmarks/server_settings.py
"""
from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def measure(label: str) -> None:
    from streamlit.watcher.local_sources_watcher import get_module_paths

    start = time.perf_counter()
    for module in dict(sys.modules).values():  # what the watcher does after a run that imported something
        get_module_paths(module)
    scan = time.perf_counter() - start
    collections = []
    for _ in range(5):
        start = time.perf_counter()
        gc.collect(2)  # what postScriptGC does after every run
        collections.append(time.perf_counter() - start)
    print(f"{label}: {len(sys.modules)} modules, watcher path scan {scan * 1000:.0f} ms, "
          f"gc.collect(2) median {sorted(collections)[2] * 1000:.1f} ms")


def main() -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.run()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    measure("page (no TensorFlow)")
    import keras  # noqa: F401  (imports TensorFlow: what the server held before)

    measure("page + TensorFlow/Keras")


if __name__ == "__main__":
    main()
