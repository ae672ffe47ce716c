"""Every shipped model run by the page (onnxruntime-web, through lab/ort_page.js) against the same
ONNX files run by onnxruntime in Python: codes and reconstructions within 1e-5.

A tiny loopback server serves the repository's static/ folder at /app/static/ as Streamlit does,
after `lab.runtime` has fetched and published the runtime and the model files.
"""
from __future__ import annotations

import base64
import functools
import http.server
import os
import threading

import numpy as np
import pytest

from ae_core import noise, store
from lab import runtime
from tests.browser_support import ROOT, browser_required, require_chromium, script_page
from tests.helpers import bundled

TOLERANCE = 1e-5

pytestmark = browser_required()


class _Static(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".wasm": "application/wasm", ".onnx": "application/octet-stream"}

    def translate_path(self, path):
        return str(ROOT / "static" / path.split("?")[0].removeprefix("/app/static/"))

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page():
    require_chromium()
    status = runtime.ensure()
    if not status.ready:
        if os.environ.get("AE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the in-page runtime is not available: {status.message}")
        pytest.skip(f"the in-page runtime is not available: {status.message}")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Static)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with script_page() as pg:
            pg.goto(f"http://127.0.0.1:{server.server_address[1]}/app/static/ort/.stamp.json")
            pg.add_script_tag(content=(ROOT / "lab" / "ort_page.js").read_text())
            yield pg
    finally:
        server.shutdown()


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, "<f4").tobytes()).decode("ascii")


RUN = """async ([enc, dec, x, n, codeShape, info]) => {
  const bytes = Uint8Array.from(atob(x), (c) => c.charCodeAt(0));
  const input = new Float32Array(bytes.buffer);
  const outs = await ortRunAll(enc, info, input, [n, 28, 28, 1]);
  const recon = await ortRun(dec, info, outs[0], [n, ...codeShape]);
  return { outs: outs.map((o) => Array.from(o)), recon: Array.from(recon) };
}"""


@functools.cache
def _inputs() -> np.ndarray:
    """Eight test digits, clean and with each kind of noise, and two blank and full extremes."""
    x = bundled().x_test[:8]
    noisy = [noise.add_noise(x, 0.5, seed=3, kind=k) for k in noise.KINDS]
    return np.concatenate([x, *noisy, np.zeros((1, 28, 28), np.float32), np.ones((1, 28, 28), np.float32)])


def shipped() -> list[str]:
    return sorted(store.list_models(ROOT / "pretrained"))


@pytest.mark.parametrize("name", shipped())
def test_the_page_runs_every_shipped_model_as_python_does(page, name):
    stored = store.load_onnx(ROOT / "pretrained", name)
    manifest = stored.manifest
    urls = [runtime.publish_model(ROOT / "pretrained" / manifest["onnx"][part]["file"],
                                  manifest["onnx"][part]["sha256"]) for part in ("encoder", "decoder")]
    assert all(urls)
    x = _inputs()
    expected_outs = stored.model.encoder.run_all(x.reshape(-1, 28, 28, 1))
    expected_recon = np.asarray(stored.model.decoder(expected_outs[0])).reshape(len(x), -1)
    info = runtime.page_info()
    got = page.evaluate(RUN, [urls[0], urls[1], _b64(x), len(x), list(expected_outs[0].shape[1:]), info])
    assert len(got["outs"]) == len(expected_outs)  # a VAE's mean and log-variance too
    for out, want in zip(got["outs"], expected_outs):
        want = want.reshape(len(x), -1)
        diff = np.abs(np.asarray(out, np.float32).reshape(want.shape) - want)
        assert (diff <= TOLERANCE * np.maximum(1.0, np.abs(want))).all(), f"{name}: code off by {diff.max():.2e}"
    diff = np.abs(np.asarray(got["recon"], np.float32).reshape(expected_recon.shape) - expected_recon)
    assert diff.max() <= TOLERANCE, f"{name}: reconstruction off by {diff.max():.2e}"
