"""Explore in a real browser (`streamlit run app.py`, Debian Chromium driven by Playwright).

With the in-page runtime: a playground slider and the pointer over the digit manifold change the
decoded pictures in the page with no message to the server (every message the page sends over
Streamlit's websocket is counted), and the values reach the server once the pointer rests.
Without it: the server decodes when a slider is let go. At 1024x768 every section tab, the
interpolation's controls and the sweep's legend fit; on a phone the playground's pictures stay in
view. No console errors, no exceptions. Screenshots go to test-artifacts/.

Skipped without /usr/bin/chromium or the runtime, unless AE_REQUIRE_BROWSER=1 (CI): then they fail.
"""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest

from tests.app_support import complete_pretrained
from tests.browser_support import (ARTIFACTS, CHROMIUM, LAPTOP, PHONE, ROOT, browser_page, free_port, start_server,
                                   stop_server)

REQUIRED = bool(os.environ.get("AE_REQUIRE_BROWSER"))
pytestmark = [pytest.mark.browser, pytest.mark.slow]
LIVE = 'canvas[aria-label="Decoded from the sliders"]'
BIG = 'canvas[aria-label="Decoded from the point"]'
PLANE = 'canvas[aria-label="Plane of 2-D codes"]'
PIXELS = "c => c.toDataURL()"


def need(ok: bool, why: str) -> None:
    """Skip for a missing browser or runtime, unless CI requires them (then fail)."""
    if not ok:
        if REQUIRED:
            pytest.fail(f"AE_REQUIRE_BROWSER is set but {why}")
        pytest.skip(why)


def serve(tmp_path_factory, **env):
    need(Path(CHROMIUM).exists(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    need(complete_pretrained(), "the shipped models are missing from pretrained/")
    port, log = free_port(), tmp_path_factory.mktemp("streamlit") / "server.log"
    proc = start_server({"AE_PRETRAINED_DIR": str(ROOT / "pretrained"),
                         "AE_MODELS_DIR": str(tmp_path_factory.mktemp("saved")), **env}, port, log)
    return proc, (f"http://127.0.0.1:{port}/", log)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server whose page decodes itself (the runtime fetched and verified first)."""
    need(Path(CHROMIUM).exists(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    from tests.runtime_support import ort_ready

    status = ort_ready()
    need(status.ready, f"the in-page runtime is not available: {status.message}")
    proc, where = serve(tmp_path_factory, AE_RUNTIME_FETCH="1")
    try:
        yield where
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def server_only(tmp_path_factory):
    """A server that does not fetch the runtime: it decodes the pictures itself."""
    proc, where = serve(tmp_path_factory, AE_RUNTIME_FETCH="0")
    try:
        yield where
    finally:
        stop_server(proc)


class Watch:
    """Console errors and the messages the page sends to the server (widget changes, reruns)."""

    def __init__(self):
        self.errors, self.sent = [], 0

    def attach(self, page) -> None:
        """Passed to `browser_page` as `prepare`: it must listen before the page opens its websocket."""
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("websocket", lambda ws: ws.on("framesent", self._sent))

    def _sent(self, _frame) -> None:
        self.sent += 1


@contextlib.contextmanager
def watched(where: tuple, viewport: dict = LAPTOP, touch: bool = False):
    """A page of the app (`where`: a server fixture's (url, log)) with a `Watch` listening from
    the start: yields (page, watch). Afterwards the watch saw no console error and no uncaught
    exception, and `browser_page` makes its own checks."""
    url, log = where
    watch = Watch()
    with browser_page(url, log, viewport, touch=touch, prepare=watch.attach) as page:
        yield page, watch
        assert not watch.errors, watch.errors


def open_explore(page, section: str) -> None:
    page.get_by_role("tab", name="Explore").click()
    tab = page.get_by_role("tab", name=section)
    tab.wait_for(timeout=120_000)
    tab.click()


def painted(page, selector: str, seconds: float = 60.0) -> str:
    """Waits until the canvas has been painted at least once; returns its pixels."""
    canvas = page.locator(selector).first
    canvas.wait_for(timeout=120_000)
    deadline = time.monotonic() + seconds
    while not canvas.get_attribute("data-painted"):
        assert time.monotonic() < deadline, f"{selector} was never painted"
        page.wait_for_timeout(50)
    return canvas.evaluate(PIXELS)


def changed(page, selector: str, before: str, seconds: float = 10.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = page.locator(selector).first.evaluate(PIXELS)
        if now != before:
            return now
        page.wait_for_timeout(10)
    raise AssertionError(f"{selector} did not change")


def settle(page, watch: Watch, quiet_ms: int = 1500) -> None:
    """Waits until the page has sent nothing for `quiet_ms` (the first runs and values are done)."""
    last, since = watch.sent, time.monotonic()
    while (time.monotonic() - since) * 1000 < quiet_ms:
        page.wait_for_timeout(100)
        if watch.sent != last:
            last, since = watch.sent, time.monotonic()


def test_a_playground_slider_decodes_in_the_page(server):
    with watched(server) as (page, watch):
        open_explore(page, "Playground")
        assert page.locator('.decoder[data-mode="playground"]').get_attribute("data-decodes") == "page"
        before = painted(page, LIVE)
        painted(page, 'canvas[aria-label="Decoded, step 1 of 8"]')
        settle(page, watch)
        for i in (0, 13, 31):  # every slider has a visible label
            assert page.get_by_text(f"code[{i}]", exact=True).is_visible()
        slider = page.locator('input[aria-label="code[3]"]')
        slider.focus()
        sent = watch.sent
        for _ in range(4):  # four key presses: each one a new picture, none a message to the server
            page.keyboard.press("ArrowRight")
            before = changed(page, LIVE, before, seconds=2.0)
        assert watch.sent == sent, "the page asked the server while a slider moved"
        settle(page, watch, 800)
        assert watch.sent > sent  # then the values go back, once the key rests
        # The interpolation's scrubber decodes in the page too.
        scrub = page.locator('input[aria-label="Position on the line"]')
        at = painted(page, 'canvas[aria-label="Decoded at the scrubber"]')
        sent = watch.sent
        scrub.focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
            at = changed(page, 'canvas[aria-label="Decoded at the scrubber"]', at, seconds=2.0)
        assert watch.sent == sent
        page.screenshot(path=str(ARTIFACTS / "browser_playground.png"))


def test_the_manifolds_large_digit_follows_the_pointer_in_the_page(server):
    with watched(server) as (page, watch):
        open_explore(page, "Manifold")
        first = painted(page, BIG)
        plane = page.locator(PLANE)
        plane.scroll_into_view_if_needed()
        settle(page, watch)
        box = plane.bounding_box()
        width, height = plane.evaluate("c => [c.width, c.height]")
        assert abs(box["width"] - box["height"]) <= 1 and width == height  # the marks are drawn round
        sent, seen, now = watch.sent, set(), first
        for i in range(30):  # a slow sweep across the plane, about 60 frames a second
            page.mouse.move(box["x"] + box["width"] * (0.05 + 0.03 * i), box["y"] + box["height"] * 0.4)
            page.wait_for_timeout(16)
            now = page.locator(BIG).evaluate(PIXELS)
            seen.add(now)
        assert len(seen) >= 10, len(seen)  # the large digit followed the pointer
        assert watch.sent == sent, "hovering asked the server"
        page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.2)  # keep a point
        z1 = page.locator('[data-testid="stSlider"]', has_text="z1")
        deadline = time.monotonic() + 30
        while "0.00" in z1.inner_text():  # the click reached the server: its z1 slider moved
            assert time.monotonic() < deadline, z1.inner_text()
            page.wait_for_timeout(100)
        page.screenshot(path=str(ARTIFACTS / "browser_manifold.png"))


def test_without_the_runtime_the_server_decodes_on_release(server_only):
    with watched(server_only) as (page, watch):
        open_explore(page, "Playground")
        assert page.locator('.decoder[data-mode="playground"]').get_attribute("data-decodes") == "server"
        before = painted(page, LIVE)
        settle(page, watch)
        slider = page.locator('input[aria-label="code[3]"]')
        slider.scroll_into_view_if_needed()
        box = slider.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)  # a change on release
        changed(page, LIVE, before, seconds=30)
        assert watch.sent > 0


def test_explore_fits_a_1024_window(server):
    with watched(server) as (page, watch):
        open_explore(page, "Playground")
        tabs = page.get_by_role("tablist").nth(1)
        strip = tabs.bounding_box()
        for name in ("Playground", "Code map", "Manifold", "Ladder", "Baselines", "vs JPEG", "History"):
            box = page.get_by_role("tab", name=name).bounding_box()
            assert box["x"] + box["width"] <= strip["x"] + strip["width"] + 1, name  # no tab behind a scroll arrow
        select = page.locator('.st-key-interp_label input[aria-label="Second digit"]')
        select.wait_for(timeout=60_000)
        assert select.input_value() == "any digit"
        assert select.evaluate("e => e.scrollWidth <= e.clientWidth + 1")  # "any digit", not "an"
        for key in ("interp_random", "pg_reset", "pg_random"):
            label = page.locator(f'.st-key-{key} [data-testid="stMarkdownContainer"]').first
            assert label.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), key  # "Another", not "A…"
        page.get_by_role("tab", name="Baselines").click()
        chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="noise level").first
        legend = chart.locator(".legend").first
        legend.wait_for(timeout=180_000)
        titles = chart.locator(".g-xtitle, .g-x2title, .g-ytitle, .g-y2title")
        assert titles.count() == 4
        for i in range(titles.count()):
            a, b = legend.bounding_box(), titles.nth(i).bounding_box()
            apart = (a["x"] >= b["x"] + b["width"] or b["x"] >= a["x"] + a["width"]
                     or a["y"] >= b["y"] + b["height"] or b["y"] >= a["y"] + a["height"])
            assert apart, (a, b)  # the legend does not cover an axis title
        page.screenshot(path=str(ARTIFACTS / "browser_explore_1024.png"))


def test_the_playground_pictures_stay_in_view_on_a_phone(server):
    with watched(server, PHONE, touch=True) as (page, watch):
        open_explore(page, "Playground")
        before = painted(page, LIVE)
        slider = page.locator('input[aria-label="code[31]"]')  # the last one, far down the page
        slider.scroll_into_view_if_needed()
        slider.focus()
        page.keyboard.press("ArrowRight")
        changed(page, LIVE, before, seconds=5)
        live = page.locator(LIVE).bounding_box()
        assert 0 <= live["y"] and live["y"] + live["height"] <= PHONE["height"], live  # still on screen
        assert slider.bounding_box()["y"] > live["y"] + live["height"]
        page.screenshot(path=str(ARTIFACTS / "browser_playground_phone.png"))


def test_explore_still_shows_its_sections_after_new_noise_in_the_lab(server):
    with watched(server) as (page, watch):
        fresh = page.get_by_role("button", name="New noise", exact=True)
        fresh.wait_for(timeout=120_000)
        settle(page, watch)
        fresh.click()
        settle(page, watch, 800)
        open_explore(page, "Playground")
        painted(page, LIVE)  # the section's content, not only the tab strip
