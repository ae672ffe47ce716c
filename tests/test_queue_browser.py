"""Two real Streamlit servers on two ports, one Redis, two RQ workers, Chromium as three visitors.

A run from each server; the second server's page shows the first server's run in the queue; a
third visitor with the first one's settings joins that run; both runs train on the workers and
every page gets its model; the server processes never loaded TensorFlow (no TensorFlow library
in their memory maps).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.app_support import CHROMIUM, CHROMIUM_ARGS, free_port, start_server, stop_server
from tests.jobs_support import Workers

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("AE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing; CI requires the browser test")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def visit(browser, port: int, epochs: int):
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.goto(f"http://127.0.0.1:{port}/")
    page.get_by_text("Retrain a model").wait_for(timeout=90_000)
    box = page.get_by_label("Epochs", exact=True)
    box.fill(str(epochs))
    box.press("Enter")
    page.wait_for_timeout(1500)  # the rerun with the new value
    return page


def tensorflow_loaded(pid: int) -> bool:
    return "tensorflow" in Path(f"/proc/{pid}/maps").read_text()


def test_two_streamlit_servers_share_the_queue(chromium, redis_url, tmp_path, pretrained_dir):
    env = {"AE_QUEUE_URL": redis_url, "AE_PRETRAINED_DIR": str(pretrained_dir),
           "AE_MODELS_DIR": str(tmp_path / "models"), "AE_TRAIN_DIGITS": "256"}
    workers = Workers(redis_url, tmp_path)
    servers = []
    try:
        servers = [start_server(env, free_port(), tmp_path / f"server-{i}.log") for i in range(2)]
        ports = [int(s.args[s.args.index("--server.port") + 1]) for s in servers]
        first = visit(chromium, ports[0], 1)
        first.get_by_role("button", name="Train", exact=True).click()
        first.get_by_text("Queued: position 1").wait_for(timeout=60_000)
        second = visit(chromium, ports[1], 2)  # the other server sees the first one's run queued
        second.get_by_text("1 queued: yours would be queued at position 2").wait_for(timeout=60_000)
        second.get_by_role("button", name="Train", exact=True).click()
        second.get_by_text("Queued: position 2").wait_for(timeout=60_000)
        twin = visit(chromium, ports[1], 1)  # the first visitor's settings, on the other server
        twin.get_by_role("button", name="Train", exact=True).click()
        twin.get_by_text("joined a run already training").wait_for(timeout=60_000)
        workers.start(2)
        for page in (first, second, twin):
            page.get_by_text("Your retrained models").wait_for(timeout=300_000)
            assert page.locator('[data-testid="stException"]').count() == 0
        assert not any(tensorflow_loaded(s.pid) for s in servers)
    finally:
        for s in servers:
            stop_server(s)
        workers.stop()
