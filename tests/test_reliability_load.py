"""Many users at once (issue 5): 10 browser sessions (one Chromium, ten contexts) draw and move the
noise slider while an eleventh session trains; bounded in time, loopback only, stops by itself.

Reports p50/p95 interaction latency (from mouse-up to the viewer painting that drawing, or from a
key press to the new pictures on the page) with and without the training run, and the error
count. Goals: zero errors; p95 while training at most 3x the idle p95. benchmarks/reliability.py
runs the same campaign and writes the figures to benchmarks/reliability.md.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.app_support import CHROMIUM, ROOT, complete_pretrained, free_port, start_server, stop_server, untrained_models
from tests.reliability_support import run_load, summarise

REQUIRED = os.environ.get("AE_REQUIRE_BROWSER") == "1"
pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists() and not REQUIRED,
                                 reason=f"{CHROMIUM} is not installed (apt-get install chromium)")]
USERS = 10


def test_ten_sessions_drawing_while_another_trains(tmp_path):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is required (AE_REQUIRE_BROWSER=1)"
    models = ROOT / "pretrained" if complete_pretrained() else untrained_models(tmp_path / "pretrained")
    port = free_port()
    log = tmp_path / "server.log"
    proc = start_server({"AE_PRETRAINED_DIR": str(models), "AE_MODELS_DIR": str(tmp_path / "saved")}, port, log)
    try:
        load = run_load(f"http://127.0.0.1:{port}/", users=USERS, idle_s=20, train_s=20)
    finally:
        stop_server(proc)
    figures = summarise(load)
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "reliability_load.json").write_text(
        json.dumps({"summary": figures, "errors": load["errors"]}, indent=1))
    assert load["sessions_ready"] == USERS, load["errors"]
    assert figures["idle"]["n"] >= USERS and figures["training"]["n"] >= USERS, figures
    assert load["errors"] == [], load["errors"]
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    assert figures["training"]["p95"] <= 3 * figures["idle"]["p95"], figures
