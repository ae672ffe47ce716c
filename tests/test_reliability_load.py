"""Many users at once: browser sessions (one Chromium, a context each) draw and move the noise
slider while another session trains; bounded in time, loopback only, stops by itself.

The Lab computes in each page (onnxruntime-web), so a draw or a slider key is answered when that
page has painted after the pointer-up or the key and has nothing left to compute; the latency is
measured in the page's own clock. Reports p50/p95 with and without the training run, and the
errors (timeouts, console errors, exceptions on the page, a pad that moved under the pen).
Goals: zero errors; p95 while training at most 3x the idle p95. benchmarks/load.py runs the same
campaign with more options.
"""
from __future__ import annotations

import json

from tests.browser_support import ROOT, browser_required, require_chromium, served
from tests.reliability_support import run_load, summarise
from tests.runtime_support import ort_ready

pytestmark = browser_required()
USERS = 6


def test_sessions_drawing_while_another_trains(tmp_path, pretrained_dir):
    require_chromium()
    status = ort_ready()
    assert status.ready, f"the in-page runtime is needed: {status.message}"
    log = tmp_path / "server.log"
    with served({"AE_PRETRAINED_DIR": str(pretrained_dir), "AE_MODELS_DIR": str(tmp_path / "saved")}, log) as (url, _):
        load = run_load(url, users=USERS, idle_s=20, train_s=20)
    figures = summarise(load)
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "reliability_load.json").write_text(
        json.dumps({"summary": figures, "errors": load["errors"]}, indent=1))
    assert load["sessions_ready"] == USERS, load["errors"]
    assert figures["idle"]["n"] >= USERS and figures["training"]["n"] >= USERS, figures
    assert load["errors"] == [], load["errors"]
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    assert figures["training"]["p95"] <= 3 * figures["idle"]["p95"], figures
