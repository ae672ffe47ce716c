"""Watch it learn, in Chromium: a 2-epoch run from the sidebar shows the validation strip rebuilt
after an epoch while it trains, and after the run the replay slider shows epoch 2 and then epoch 1,
whose pictures differ (the model changed between them). No console errors.

Without /usr/bin/chromium the module is skipped, unless AE_REQUIRE_BROWSER=1 (CI): then it fails.
"""
from __future__ import annotations

import re

import pytest

from tests.browser_support import (CHROMIUM, CHROMIUM_ARGS, browser_required, free_port, require_chromium,
                                   start_server, stop_server)

pytestmark = browser_required()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    tmp = tmp_path_factory.mktemp("training")
    port = free_port()
    proc = start_server({"AE_MODELS_DIR": str(tmp / "models"), "AE_TRAIN_DIGITS": "1024",
                         "AE_RUNTIME_FETCH": "0"}, port, tmp / "server.log")
    yield f"http://127.0.0.1:{port}/"
    stop_server(proc)


def strip_sources(page, epoch: int) -> list[str]:
    pictures = page.get_by_role("img", name=re.compile(rf"^Epoch {epoch}, reconstruction of "))
    return [pictures.nth(i).get_attribute("src") for i in range(pictures.count())]


def test_a_two_epoch_run_shows_the_strip_change_between_epochs(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 1000})
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server)
            sidebar = page.locator('[data-testid="stSidebar"]')
            epochs = sidebar.get_by_label("Epochs", exact=True).and_(sidebar.locator("input"))
            epochs.wait_for(timeout=120_000)
            epochs.fill("2")
            epochs.press("Enter")
            page.wait_for_timeout(800)
            sidebar.get_by_role("button", name="Train", exact=True).click()
            # While it trains (or at once after, on a fast machine): an epoch's strip is on the page.
            page.get_by_role("img", name=re.compile(r"^Epoch \d, reconstruction of ")).first.wait_for(timeout=240_000)
            replay = sidebar.get_by_role("slider", name="Replay the epochs")
            replay.wait_for(timeout=240_000)
            second = strip_sources(page, 2)
            assert len(second) == 9  # eight validation images and the Lab's input
            replay.focus()
            replay.press("ArrowLeft")
            page.get_by_role("img", name=re.compile(r"^Epoch 1, reconstruction of ")).first.wait_for(timeout=30_000)
            first = strip_sources(page, 1)
            assert len(first) == 9
            assert sum(a != b for a, b in zip(first, second)) >= 5  # the model changed between the epochs
            assert not errors, errors
        finally:
            browser.close()
