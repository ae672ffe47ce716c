"""Shared by the real-browser tests and benchmarks: a Streamlit server on loopback, Debian
Chromium through Playwright, and the Lab element's canvases (lab/lab_page.js).

The element renders in an open shadow root; Playwright's locators and CSS selectors pierce it,
`document.querySelector` does not.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
DEFAULT_TITLES = 2  # the models the Lab shows before anyone chooses

PAD = 'canvas[aria-label="Drawing pad"]'
RECONS = 'section.row canvas[aria-label^="Reconstruction by "]'
INPUTS = 'section.row canvas[aria-label^="Input to "]'
PREVIEW = 'canvas[aria-label^="Preview: "]'
# The red channel of every pixel of a canvas: what is on screen, comparable between samples.
PIXELS = "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0))"
ALL_PIXELS = f"els => els.map({PIXELS})"
STATS = "() => Object.assign({paints: 0, computes: 0}, window.__aeLab || {})"


def browser_required() -> list:
    """pytest marks for a browser test: it skips without Chromium, unless AE_REQUIRE_BROWSER=1
    (CI) makes that a failure."""
    marks = [pytest.mark.browser, pytest.mark.slow]
    if not Path(CHROMIUM).exists() and os.environ.get("AE_REQUIRE_BROWSER") != "1":
        marks.append(pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)"))
    return marks


def require_chromium() -> None:
    """Fails (not skips) with a clear message when the browser is missing."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is not installed, and AE_REQUIRE_BROWSER=1 asks for the browser tests: "
                    "apt-get install chromium")


# --- a real server -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict, port: int, log_path: Path, timeout: float = 60, root: Path = ROOT) -> subprocess.Popen:
    """`streamlit run app.py` (of the checkout at `root`) on 127.0.0.1:port; returns once
    /_stcore/health answers ok."""
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    cmd = [str(Path(sys.executable).parent / "streamlit"), "run", str(Path(root) / "app.py"), "--server.headless",
           "true", "--server.port", str(port), "--server.address", "127.0.0.1"]
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early; see {log_path}")
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"streamlit did not become healthy in {timeout:.0f} s; see {log_path}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def served(env: dict, log_path: Path):
    """A server for the duration of a `with`: yields (url, process)."""
    port = free_port()
    proc = start_server(env, port, log_path)
    try:
        yield f"http://127.0.0.1:{port}/", proc
    finally:
        stop_server(proc)


# --- a browser ---------------------------------------------------------------------------------

@contextlib.contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def script_page():
    """A blank Chromium page to load scripts into and call (no app). Afterwards: no uncaught
    exception."""
    with chromium() as browser:
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page
        assert not errors, errors


class Problems(list):
    """Console errors and uncaught exceptions of a page, as text."""

    def watch(self, page) -> "Problems":
        page.on("console", lambda m: self.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.append(f"pageerror: {e}"))
        return self


def check_page(page, log: Path | None = None) -> None:
    """No exception element, no 'something went wrong' and (when given) no traceback in the log."""
    tail = log.read_text()[-3000:] if log else ""
    assert page.locator('[data-testid="stException"]').count() == 0, tail
    assert page.get_by_text("Something went wrong").count() == 0
    if log:
        assert "Traceback" not in log.read_text(), tail


# --- the Lab element ---------------------------------------------------------------------------

def stats(page) -> dict:
    return page.evaluate(STATS)


def recon_pixels(page) -> list[list[int]]:
    return page.locator(RECONS).evaluate_all(ALL_PIXELS)


def pixels(page, selector: str) -> list[list[int]]:
    return page.locator(selector).evaluate_all(ALL_PIXELS)


# On the pad's canvas: whether the element computes in the page, and how often it has (the
# element keeps its state on its root; a session's first rows may come from the server).
IN_PAGE = "c => { const s = c.getRootNode().__lab; return s ? [!!s.inPage, !!s.computed] : [false, false]; }"


def painted(page, rows: int = DEFAULT_TITLES, timeout: float = 120) -> list[list[int]]:
    """Waits until `rows` rows are on the page and painted (a reconstruction with some ink), by
    the page itself when it computes in the page, and nothing more is being painted; returns
    their reconstructions' pixels."""
    page.locator(PAD).first.wait_for(state="attached", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    now: list = []
    while time.monotonic() < deadline:
        now = recon_pixels(page)
        in_page, computed = page.locator(PAD).first.evaluate(IN_PAGE)
        if len(now) == rows and all(any(v > 0 for v in px) for px in now) and (computed or not in_page):
            last = stats(page)["paints"]
            page.wait_for_timeout(300)
            if stats(page)["paints"] == last:
                return recon_pixels(page)
            continue
        page.wait_for_timeout(100)
    raise AssertionError(f"expected {rows} painted rows, found {len(now)} "
                         f"({sum(any(px) for px in now)} painted)")


def wait_changed(page, before: list, selector: str = RECONS, seconds: float = 30.0, every: bool = True) -> list:
    """Polls until every (or, with every=False, any) canvas of `selector` differs from `before`."""
    deadline = time.monotonic() + seconds
    while True:
        now = pixels(page, selector)
        diff = [a != b for a, b in zip(now, before)]
        if len(now) == len(before) and (all(diff) if every else any(diff)):
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"{selector}: {sum(diff)} of {len(before)} canvases changed in {seconds} s")
        page.wait_for_timeout(20)


def pad_box(page) -> dict:
    pad = page.locator(PAD)
    pad.scroll_into_view_if_needed()
    return pad.bounding_box()


def seven(box: dict, n: int = 24) -> list[tuple[float, float]]:
    """A "7" across the pad in `n` points: the top bar left to right, then the stem down-left."""
    k = box["width"] / 280
    half = n // 2
    top = [(70 + 130 * i / half, 60) for i in range(half + 1)]
    stem = [(200 - 70 * i / (n - half), 60 + 170 * i / (n - half)) for i in range(1, n - half + 1)]
    return [(box["x"] + x * k, box["y"] + y * k) for x, y in top + stem]


class Mouse:
    """A pen on the pad driven by the mouse."""

    def __init__(self, page):
        self.page = page

    def down(self, x, y):
        self.page.mouse.move(x, y)
        self.page.mouse.down()

    def move(self, x, y):
        self.page.mouse.move(x, y)

    def up(self):
        self.page.mouse.up()


class Finger:
    """A pen on the pad driven by CDP touch events through Chromium's input pipeline (the page
    sees pointer events with pointerType "touch"); `page.mouse` sends mouse pointers only."""

    def __init__(self, page):
        self.page = page
        self.cdp = page.context.new_cdp_session(page)

    def _send(self, kind, points):
        self.cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    def down(self, x, y):
        self._send("touchStart", [{"x": x, "y": y}])

    def move(self, x, y):
        self._send("touchMove", [{"x": x, "y": y}])

    def up(self):
        self._send("touchEnd", [])


def stroke(page, pen, points, pause_ms: int = 25, sample=None) -> list:
    """Draws through `points` with `pen` (Mouse or Finger), pausing between moves as a hand does;
    `sample(i)` runs after each move with the pen still down. Returns what `sample` returned."""
    seen = []
    pen.down(*points[0])
    for i, (x, y) in enumerate(points[1:]):
        pen.move(x, y)
        page.wait_for_timeout(pause_ms)
        if sample:
            seen.append(sample(i))
    pen.up()
    return seen


@pytest.fixture(scope="module")
def server(tmp_path_factory, pretrained_dir):
    """One app server per test module, with the in-page runtime published: yields (url, log)."""
    from tests.runtime_support import ort_ready

    require_chromium()
    status = ort_ready()
    if not status.ready:
        pytest.fail(f"The in-page runtime is not available, so the Lab cannot run in the page: {status.message}")
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = {"AE_PRETRAINED_DIR": str(pretrained_dir), "AE_MODELS_DIR": str(tmp_path_factory.mktemp("saved"))}
    with served(env, log) as (url, _proc):
        yield url, log


@contextlib.contextmanager
def browser_page(url: str, log: Path, viewport: dict | None = None, touch: bool = False, prepare=None):
    """A page of the app in Debian Chromium (1366x900 unless told; `prepare(page)` runs before it
    loads). Afterwards: no console error, no uncaught exception, no exception element on the
    page and no traceback in the server's log."""
    require_chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        ctx = browser.new_context(viewport=viewport or LAPTOP, has_touch=touch, is_mobile=touch)
        page = ctx.new_page()
        problems = Problems().watch(page)
        if prepare:
            prepare(page)
        page.goto(url)
        yield page
        check_page(page, log)
        assert not problems, problems
