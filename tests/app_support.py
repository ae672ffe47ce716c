"""Shared by the app tests: model folders, pad drawings and page checks.

AppTest cannot run the page's JavaScript, so the app tests run the Lab on its server path
(`point_app_at` sets AE_RUNTIME_FETCH=0): the element's data then carries what the server
computed (`viewer_rows`). What the page computes itself is tested in Chromium.
"""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
from lab.errors import OOPS  # the page's message for an unexpected error
from lab.inputs_view import DRAWING as PAD_STATE  # session key of the drawing the page reported


def complete_pretrained() -> bool:
    from ae_core.presets import PRESETS

    return all((ROOT / "pretrained" / f"{n}.json").is_file() for n in PRESETS)


def untrained_models(folder: Path) -> Path:
    """Every preset, built but not trained, saved like the shipped ones (a stand-in for pretrained/)."""
    from ae_core import store
    from ae_core.models import build
    from ae_core.presets import PRESETS

    folder.mkdir(parents=True, exist_ok=True)
    for name, preset in PRESETS.items():
        if not (folder / f"{name}.json").is_file():
            store.save(build(preset.spec), preset.spec, folder, name, train_config=preset.config, preset=name)
    return folder


SEVEN = [[(70, 60), (200, 60), (130, 230)]]  # a "7" on a 280 px pad
DOT = [[(135, 135)]]


def pad_drawing(strokes=SEVEN, size: float = 280) -> dict:
    """What the page reports of its pad (lab/lab_page.js): inject it with `at.session_state[PAD_STATE] = ...`."""
    return {"size": size, "strokes": [[list(p) for p in s] for s in strokes]}


def charts(at) -> dict[str, dict]:
    """Plotly charts on the page: element id (the key, e.g. 'channels_pretrained:conv_seed') -> figure."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out[el.proto.id.split("-")[-1] if not el.key else el.key] = spec
    return out


def element(at, key: str):
    """The data the element `key` (a Components v2 element) was given in the last run, or None."""
    for el in at.get("bidi_component"):
        if el.key == key or el.proto.id.endswith(key):
            return json.loads(el.proto.json)
    return None


def lab_data(at) -> dict:
    """The data the Lab's element (lab/lab_page.py) was given in the last run."""
    from lab.lab_page import KEY

    data = element(at, KEY)
    assert data is not None, "the Lab's element is not on the page"
    return data[0]  # lab_page sends [data]


def floats(b64: str, shape=(28, 28)) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), "<f4").reshape(shape)


def viewer_rows(at) -> list[dict]:
    """The rows the server computed for the page, in order: each model's {"key", "title", "noisy"
    (it got the noisy input), "metrics", "panels": [clean, what it got, code, reconstruction]}."""
    data = lab_data(at)
    result = data["result"]
    clean, noisy = floats(result["clean"]), floats(result["noisy"])
    return [{**m, "noisy": o["noisy"], "metrics": o["metrics"],
             "panels": [clean, noisy if o["noisy"] else clean, floats(o["code"], m["code_shape"]),
                        floats(o["recon"])]}
            for m, o in zip(data["models"], result["outputs"])]


def z(row: dict, i: int) -> np.ndarray:
    """Panel `i` of a row: 0 the clean digit, 1 what the model got, 2 its code, 3 its reconstruction."""
    return row["panels"][i]


def assert_clean(at) -> None:
    """No exception element and no 'something went wrong' message on the page."""
    assert not at.exception, [e.message for e in at.exception]
    errors = [e.value for e in at.error]
    assert not any(OOPS in e for e in errors), errors


def texts(at) -> str:
    """All the text the page shows in markdown, captions, infos, warnings, errors, successes."""
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


# --- AppTest sessions ------------------------------------------------------------------------

APP_TIMEOUT = 120  # the first run in a process imports TensorFlow


def point_app_at(monkeypatch, pretrained: Path, tmp_path: Path) -> Path:
    """Settings for one test: these models, a fresh folder for saved versions, small training."""
    monkeypatch.setenv("AE_PRETRAINED_DIR", str(pretrained))
    monkeypatch.setenv("AE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("AE_TRAIN_DIGITS", "256")
    monkeypatch.delenv("AE_ALLOW_TRAINING", raising=False)
    monkeypatch.setenv("AE_RUNTIME_FETCH", "0")  # the server path: AppTest runs no JavaScript
    return tmp_path


def app():
    """A first run of the page, checked for exceptions."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT)
    at.run()
    assert_clean(at)
    return at


def rows(at) -> dict[str, dict]:
    """The model rows on the page by model key ("pretrained:dense_seed")."""
    return {r["key"]: r for r in viewer_rows(at)}


def wait_for(at, predicate, seconds=90.0):
    """Rerun the app (as the page's polling does) until `predicate(at)` holds."""
    if predicate(at):  # the last run may already show it (a fast run is collected at once)
        return at
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        at.run()
        assert_clean(at)
        if predicate(at):
            return at
        time.sleep(0.3)
    raise AssertionError(f"timed out; the page says:\n{texts(at)}")


EXPLORE_TIMEOUT = 300  # the first Explore run encodes the held-out digits


def explore(section: str = "Playground", **state):
    """The app with the Explore tab and its `section` open (and `state` set in session state first)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=EXPLORE_TIMEOUT)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert_clean(at)
    at.session_state["page_tab"] = next(t.label for t in at.tabs if "Explore" in t.label)
    at.run()
    assert_clean(at)
    return open_section(at, section)


def open_section(at, section: str):
    label = next(t.label for t in at.tabs if section in t.label)
    if at.session_state["explore_section"] != label:
        at.session_state["explore_section"] = label
        at.run()
        assert_clean(at)
    return at


# --- a real server and the browser: one copy, in tests/browser_support.py --------------------

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, free_port, start_server, stop_server  # noqa: E402,F401
