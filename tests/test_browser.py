"""End to end in a real browser: `streamlit run app.py`, Debian Chromium driven by Playwright.

Draws a digit with the mouse (laptop, 1024x768 with the sidebar open) and with CDP touch events
(phone, 390x844), checking that the reconstructions change while the pen moves and again after
it lifts, that the pad stays inside its column, and that no exception is on the page; moves the
noise slider; saves screenshots to test-artifacts/.
"""
from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import pytest

from tests.app_support import (CHROMIUM, CHROMIUM_ARGS, ROOT, complete_pretrained, free_port, start_server,
                               stop_server, untrained_models)

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason=f"{CHROMIUM} is not installed (apt-get install chromium)")]
ARTIFACTS = ROOT / "test-artifacts"
PAD = 'canvas[aria-label="Drawing pad"]'
RECONS = 'canvas[aria-label^="Reconstruction"]'  # Playwright's CSS selectors pierce the shadow roots
INPUTS = 'canvas[aria-label^="Input to"]'
PIXELS = "els => els.map(e => e.toDataURL())"
LAPTOP = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if complete_pretrained():
        models = ROOT / "pretrained"
    else:
        models = untrained_models(tmp_path_factory.mktemp("pretrained"))
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    proc = start_server({"AE_PRETRAINED_DIR": str(models),
                         "AE_MODELS_DIR": str(tmp_path_factory.mktemp("saved"))}, port, log)
    try:
        yield f"http://127.0.0.1:{port}/", log
    finally:
        stop_server(proc)


@contextlib.contextmanager
def browser_page(url: str, log: Path, viewport: dict | None = None, touch: bool = False, prepare=None):
    """A page of the app in Debian Chromium (laptop-sized unless told; `prepare(page)` runs before
    it loads); afterwards, checks that neither the page nor the server log shows an error."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport=viewport or {"width": 1366, "height": 900}, has_touch=touch,
                                      is_mobile=touch)
            page = ctx.new_page()
            if prepare:
                prepare(page)
            page.goto(url)
            yield page
            assert page.locator('[data-testid="stException"]').count() == 0, log.read_text()[-2000:]
            assert page.get_by_text("Something went wrong").count() == 0
        finally:
            browser.close()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def ready(page, rows: int = 2, pad: bool = True) -> list[str]:
    """Waits for the pad (unless told) and `rows` painted reconstructions; returns their pixels
    (data URLs)."""
    if pad:
        page.locator(PAD).wait_for(timeout=120_000)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        now = page.locator(RECONS).evaluate_all(PIXELS)
        if len(now) >= rows:
            return now
        page.wait_for_timeout(200)
    raise AssertionError(f"fewer than {rows} reconstructions painted")


def changed(page, before: list[str], seconds: float = 30.0, selector: str = RECONS) -> list[str]:
    """Polls until every reconstruction differs from `before`; returns the new pixels."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = page.locator(selector).evaluate_all(PIXELS)
        if len(now) == len(before) and all(a != b for a, b in zip(now, before)):
            return now
        page.wait_for_timeout(20)
    raise AssertionError("the reconstructions did not change")


def check_pad_fits(page) -> None:
    """The pad is square, inside its column and the window; nothing scrolls sideways."""
    pad = page.locator(PAD).bounding_box()
    column = page.locator('[data-testid="stColumn"]', has=page.locator(PAD)).first.bounding_box()
    assert abs(pad["width"] - pad["height"]) <= 1, pad
    assert pad["width"] >= 150, pad
    width = page.viewport_size["width"]
    if width > 640:  # phones flatten the columns (lab/style.py): the window is the bound there
        assert column["x"] - 1 <= pad["x"] and pad["x"] + pad["width"] <= column["x"] + column["width"] + 1
    assert pad["x"] >= 0 and pad["x"] + pad["width"] <= width
    scroll, client = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client


def test_draw_with_the_mouse_and_the_reconstructions_follow_the_pen(server):
    url, log = server
    with browser_page(url, log, LAPTOP) as page:
        before = ready(page)
        sidebar = page.locator('[data-testid="stSidebar"]').bounding_box()
        assert sidebar["x"] >= 0 and sidebar["width"] > 200  # the sidebar is open
        assert page.get_by_text("an example test digit").count()
        check_pad_fits(page)
        page.locator('canvas[aria-label^="Code of Dense"]').hover()  # the 8x4 code shows its values
        tip = page.locator('[role="tooltip"]').first
        tip.wait_for(timeout=10_000)
        assert re.fullmatch(r"code\[\d+\] = -?\d+\.\d{3}", tip.inner_text()), tip.inner_text()
        box = page.locator(PAD).bounding_box()
        k = box["width"] / 280
        page.mouse.move(box["x"] + 70 * k, box["y"] + 60 * k)
        page.mouse.down()
        for i in range(1, 13):  # the top bar of a 7 at a human pace, pen still down
            page.mouse.move(box["x"] + (70 + 11 * i) * k, box["y"] + 60 * k)
            page.wait_for_timeout(25)
        during = changed(page, before)  # the rows follow before the pen lifts
        for i in range(1, 13):
            page.mouse.move(box["x"] + (200 - 6 * i) * k, box["y"] + (60 + 14 * i) * k)
            page.wait_for_timeout(25)
        page.mouse.up()
        changed(page, during)
        page.get_by_text("your drawing, cropped").wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "browser_drawn.png"))

        # The drawing survives a visit to the Explore tab.
        pad_pixels = page.locator(PAD).evaluate("e => e.toDataURL()")
        page.get_by_role("tab", name="Explore").click()
        page.get_by_role("tab", name="Code map").wait_for(timeout=120_000)
        page.get_by_role("tab", name="Lab").click()
        page.get_by_text("your drawing, cropped").wait_for(timeout=30_000)
        assert page.locator(PAD).evaluate("e => e.toDataURL()") == pad_pixels

        # A second stroke, then Ctrl+Z and Undo take the strokes back one by one.
        drawn = page.locator(RECONS).evaluate_all(PIXELS)
        page.mouse.move(box["x"] + 110 * k, box["y"] + 150 * k)
        page.mouse.down()
        page.mouse.move(box["x"] + 190 * k, box["y"] + 150 * k, steps=8)
        page.mouse.up()
        crossed = changed(page, drawn)
        page.keyboard.press("Control+z")
        changed(page, crossed)
        page.get_by_role("button", name="Undo", exact=True).click()
        page.get_by_text("Draw a digit on the pad").wait_for(timeout=30_000)  # an empty pad asks for one
        assert page.locator(RECONS).evaluate_all(PIXELS) != drawn

        inputs_before = page.locator(INPUTS).evaluate_all(PIXELS)
        slider = page.locator('[data-testid="stSlider"]:has([aria-label="Noise level"]) input[type="range"]')
        slider.focus()
        for _ in range(4):
            page.keyboard.press("ArrowRight")
        page.get_by_text("0.70").wait_for(timeout=30_000)  # 0.5 + 4 steps of 0.05
        deadline = time.monotonic() + 30
        while page.locator(INPUTS).evaluate_all(PIXELS) == inputs_before:  # the denoiser's noisy input
            assert time.monotonic() < deadline, "the noisy input did not change"
            page.wait_for_timeout(50)
        page.screenshot(path=str(ARTIFACTS / "browser_slider.png"))


STROKES = "c => c.parentElement.parentNode.__pad.strokes.length"  # on the pad's canvas (lab/pad.js)


def touch_drag(page, points: list[tuple[float, float]]):
    """A finger down and moving through Chromium's input pipeline (pointer events with pointerType
    "touch"); returns the CDP session to go on with and lift the finger."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]})
    for x, y in points[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        page.wait_for_timeout(25)
    return cdp


def test_draw_with_a_finger_on_a_phone(server):
    url, log = server
    with browser_page(url, log, PHONE, touch=True) as page:
        before = ready(page)
        title = page.get_by_role("heading", name="Autoencoder lab").bounding_box()
        header = page.locator('[data-testid="stHeader"]').bounding_box()
        assert title["y"] >= header["y"] + header["height"] - 1  # not clipped under the header
        page.locator(PAD).scroll_into_view_if_needed()
        check_pad_fits(page)
        pad = page.locator(PAD).bounding_box()
        rows = page.locator('[data-testid="stElementContainer"].st-key-results_viewer').bounding_box()
        chooser = page.locator(".st-key-models").bounding_box()
        noise = page.locator(".st-key-noise_box").bounding_box()
        assert pad["y"] + pad["height"] < rows["y"] < chooser["y"] < noise["y"]  # rows right below the pad
        for name in ("Undo", "Clear"):  # visible buttons, not hover-only tools
            assert page.get_by_role("button", name=name, exact=True).is_visible()

        k = pad["width"] / 280
        x0, y0 = pad["x"], pad["y"]
        top = [(x0 + (70 + 11 * i) * k, y0 + 60 * k) for i in range(13)]
        cdp = touch_drag(page, top)
        during = changed(page, before)  # while the finger is still down
        for i in range(1, 13):
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [
                {"x": x0 + (200 - 6 * i) * k, "y": y0 + (60 + 14 * i) * k}]})
            page.wait_for_timeout(25)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        changed(page, during)
        page.get_by_text("your drawing, cropped").wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "browser_phone.png"))
        # A second stroke, then a tap on Undo takes back exactly that one (the pad acts on the
        # finger's pointerup and ignores the click that may follow), and a tap on Clear the rest.
        cdp = touch_drag(page, [(x0 + 60 * k, y0 + (150 + 3 * i) * k) for i in range(10)])
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        page.wait_for_function(f"c => ({STROKES})(c) === 2", arg=page.locator(PAD).element_handle(),
                               timeout=10_000)
        page.get_by_role("button", name="Undo", exact=True).tap()
        page.wait_for_timeout(1000)  # past any click that follows the tap
        assert page.locator(PAD).evaluate(STROKES) == 1
        page.get_by_role("button", name="Clear", exact=True).tap()
        page.get_by_text("Draw a digit on the pad").wait_for(timeout=60_000)


# Every x the pad is seen at, each frame from the page's start (the pad is in a shadow root), and
# the page's left padding in the first frame it is seen (lab/style.py sets 1.6rem).
PAD_PLACES = ("window.__padX = new Set(); const tick = () => { const c = Array.from("
              "document.querySelectorAll('*')).map(e => e.shadowRoot && e.shadowRoot.querySelector("
              f"'{PAD}')).find(Boolean); if (c) {{ window.__padX.add(Math.round(c.getBoundingClientRect().x)); "
              "window.__padding = window.__padding || getComputedStyle(document.querySelector("
              "'.block-container')).paddingLeft; } requestAnimationFrame(tick); }; requestAnimationFrame(tick);")


def test_the_pad_never_moves_when_the_pages_css_comes_late(server):
    """Streamlit loads the script of each kind of element lazily. The page's CSS (lab/style.py)
    comes as a style-only st.html, whose script on a busy server arrived after the pad's, and the
    pad then moved 55 px under the pen (seen in the load test); the pad now brings that CSS too.
    Here the st.html script is held back 3 s: the page's CSS must be in place when the pad first
    shows, and the pad must stay where it appeared."""
    url, log = server
    held = []

    def hold_back_html(page):
        def slow(route):
            held.append(route.request.url)
            time.sleep(3)
            route.continue_()
        page.route(re.compile(r".*/Html\.[^/]*\.js$"), slow)
        page.add_init_script(PAD_PLACES)

    with browser_page(url, log, LAPTOP, prepare=hold_back_html) as page:
        ready(page)
        page.wait_for_timeout(4000)  # past the held-back script
        assert held, "the test held back no Html script: has Streamlit renamed it?"
        assert page.evaluate("window.__padding") == "25.6px"  # 1.6rem: the page's CSS, not Streamlit's
        places = page.evaluate("() => Array.from(window.__padX)")
        assert len(places) == 1, f"the pad was seen at x = {places}"
        check_pad_fits(page)


MAP_POINT = """() => {
  const gd = Array.from(document.querySelectorAll('.js-plotly-plot')).find(g => g.data && g.data.length === 11);
  if (!gd || !gd._fullLayout) return null;
  const t = gd.data[3], i = 5, xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const r = gd.getBoundingClientRect();
  return {x: r.left + xa._offset + xa.l2p(t.x[i]), y: r.top + ya._offset + ya.l2p(t.y[i]), index: t.customdata[i]};
}"""  # the code map: 10 classes and the input's star; a point of class 3, in page pixels


def test_click_a_point_on_the_code_map_loads_that_digit(server):
    url, log = server
    with browser_page(url, log) as page:
        page.get_by_role("tab", name="Explore").wait_for(timeout=120_000)
        ready(page)  # the Lab has drawn
        page.get_by_role("tab", name="Explore").click()
        page.get_by_role("tab", name="Code map").wait_for(timeout=300_000)
        page.get_by_role("tab", name="Code map").click()  # the Explore section with the map
        page.get_by_text("A map of the code space").wait_for(timeout=300_000)
        page.get_by_text("A map of the code space").scroll_into_view_if_needed()
        page.wait_for_function(f"() => ({MAP_POINT})() !== null", timeout=120_000)
        # The chart may still be re-laid out when the first click lands (seen once in a full
        # CI run under load): re-read the point's position and click again, up to 3 times.
        for attempt in range(3):
            page.wait_for_timeout(1000)
            point = page.evaluate(MAP_POINT)
            page.mouse.move(point["x"], point["y"])
            page.mouse.click(point["x"], point["y"])
            loaded = page.locator(f"text=Input: held-out test digit #{point['index']} >> visible=true").first
            try:
                loaded.wait_for(timeout=30_000)
                break
            except Exception:  # noqa: BLE001 - playwright's TimeoutError; try again
                if attempt == 2:
                    raise
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / "browser_map_click.png"))
        # Back in the Lab, the clicked digit is the input there too.
        page.get_by_role("tab", name="Lab").click()
        page.locator(f"text=Input: held-out test digit #{point['index']} >> visible=true").first.wait_for(timeout=60_000)
        ready(page, pad=False)  # the input is the clicked test digit now, not the pad
        assert page.locator('[data-testid="stException"]').count() == 0
