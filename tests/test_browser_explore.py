"""Explore in a real browser: the digit manifold follows the pointer, the playground logs no
missing pictures.

`streamlit run app.py` with Debian Chromium driven by Playwright (the server and page helpers of
tests/test_browser.py). Clicks two points of the 2-D VAE's plane and checks that the large decoded
digit changes each time; moves a playground slider and checks the console has no 404 or image
error; screenshots go to test-artifacts/.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.test_browser import ARTIFACTS, CHROMIUM, LAPTOP, PHONE, browser_page, server  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason=f"{CHROMIUM} is not installed (apt-get install chromium)")]
BIG = '[data-key="manifold_big"] img'
PLANE = '.stPlotlyChart .nsewdrag'  # Plotly's drag/click surface of the manifold chart


def open_explore(page, section: str) -> None:
    page.get_by_role("tab", name="Explore").click()
    page.get_by_role("tab", name=section).wait_for(timeout=120_000)
    page.get_by_role("tab", name=section).click()


def big_src(page) -> str:
    return page.locator(BIG).first.get_attribute("src")


def wait_changed(page, before: str, seconds: float = 30.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = big_src(page)
        if now and now != before:
            return now
        page.wait_for_timeout(50)
    raise AssertionError("the large decoded digit did not change")


def test_the_large_digit_follows_clicks_on_the_manifold(server):  # noqa: F811
    url, log = server
    with browser_page(url, log, LAPTOP) as page:
        open_explore(page, "Digit manifold")
        page.locator(BIG).first.wait_for(timeout=120_000)
        plane = page.locator(PLANE).first
        plane.wait_for(timeout=60_000)
        plane.scroll_into_view_if_needed()
        box = plane.bounding_box()
        first = big_src(page)
        for fx, fy in ((0.2, 0.25), (0.8, 0.7)):  # two points far apart on the plane
            page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            first = wait_changed(page, first)
        page.screenshot(path=str(ARTIFACTS / "browser_manifold.png"))


def test_playground_sliders_log_no_missing_pictures(server):  # noqa: F811
    url, log = server
    with browser_page(url, log, PHONE, touch=True) as page:
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status == 404 else None)
        open_explore(page, "Playground & interpolation")
        pictures = page.locator('[data-key="pg"] img')
        pictures.first.wait_for(timeout=120_000)
        before = pictures.first.get_attribute("src")
        # The slider furthest down the page (on a phone the 8 columns stack into one): the view
        # scrolls to it, and the sticky picture must come along.
        slider = page.locator('[class*="st-key-pg_"] input[type="range"]').last
        slider.scroll_into_view_if_needed()
        slider.focus()
        for _ in range(6):
            page.keyboard.press("ArrowRight")
            page.wait_for_timeout(150)
        deadline = time.monotonic() + 30
        while pictures.first.get_attribute("src") == before:
            assert time.monotonic() < deadline, "the decoded picture did not change"
            page.wait_for_timeout(50)
        view = page.locator(".st-key-pg_view").bounding_box()
        assert page.evaluate("() => window.scrollY || document.querySelector('[data-testid=stMain]').scrollTop") > 0 \
            or slider.bounding_box()["y"] > PHONE["height"] / 2
        assert 0 <= view["y"] < PHONE["height"], view  # the picture stays on screen while a slider moves
        page.screenshot(path=str(ARTIFACTS / "browser_playground_phone.png"))
        assert not [p for p in problems if "/media/" in p or "Image source error" in p], problems
