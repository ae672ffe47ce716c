"""Shared by the reliability tests and benchmarks: bad uploads and arrays, the load campaign,
a spy on file writes. (The kill campaign is tests/kill_support.py.)
"""
from __future__ import annotations

import io
import os
import time

import numpy as np
from PIL import Image, ImageDraw

from ae_core import analysis, metrics, noise, preprocess


# --- bad arrays reaching ae_core directly (the test's cases, and the benchmark's table) -------

BAD_ARRAYS = {
    "wrong shape": (np.zeros((2, 27, 28), np.float32), r"shape"),
    "strings": (np.full((28, 28), "a"), r"Received: dtype=<U1"),
    "objects": (np.array([None] * 784, dtype=object).reshape(28, 28), r"Received: dtype=object"),
    "complex": (np.zeros((28, 28), np.complex64), r"Received: dtype=complex64"),
    "NaN": (np.full((28, 28), np.nan, np.float32), r"Received: 784 NaN or inf"),
    "inf": (np.where(np.eye(28) > 0, np.inf, 0.0), r"Received: 28 NaN or inf"),
    "0-255 pixels": (np.full((28, 28), 255.0), r"divide by 255\)\. Received: values from 255 to 255"),
    "negative": (np.full((28, 28), -0.5), r"Received: values from -0.5 to -0.5"),
    "ragged list": ([[0.0] * 28] * 27 + [[0.0] * 3], r"must be a numeric array\. Received: list"),
}

ENTRY_POINTS = {
    "noise.add_noise": lambda x: noise.add_noise(x, 0.5, 0),
    "noise.mask": lambda x: noise.add_noise(x, 0.5, 0, kind="mask"),
    "metrics.bce(clean)": lambda x: metrics.bce(x, np.zeros((1, 28, 28), np.float32)),
    "metrics.ssim(recon)": lambda x: metrics.ssim(np.zeros((28, 28)), x),
    "metrics.all_metrics": lambda x: metrics.all_metrics(x, x),
    "analysis.as_images": analysis.as_images,
    "analysis.to_png_bytes": analysis.to_png_bytes,
    "preprocess.mnistify": preprocess.mnistify,
}


# --- bad inputs for the app ----------------------------------------------------------------

def _png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _digit(mode: str = "L", size=(300, 300), paper=235, ink=25) -> Image.Image:
    img = Image.new("L", size, paper)
    w, h = size
    ImageDraw.Draw(img).line([(w * 0.3, h * 0.2), (w * 0.7, h * 0.2), (w * 0.45, h * 0.85)], fill=ink,
                             width=max(2, min(size) // 15))
    return img if mode == "L" else img.convert(mode)


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A 100-byte PNG that declares width x height pixels: a decompression bomb."""
    import struct
    import zlib

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
            + chunk(b"IEND", b""))


def uploads() -> dict[str, tuple[str, bytes, str]]:
    """Name -> (file name, bytes, expected outcome: 'digit' or the start of the error's class name)."""
    rgba = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).line([(60, 40), (150, 40), (90, 170)], fill=(10, 10, 10, 255), width=14)
    sixteen = Image.fromarray(np.asarray(_digit(), np.uint16) * 257)
    png = _png(_digit())
    return {
        "not an image": ("scan.png", b"\x00\x01binary junk" * 50, "NotAnImage"),
        "truncated PNG": ("cut.png", png[: len(png) // 2], "BrokenImage"),
        "truncated PNG header": ("header.png", png[:40], "NotAnImage"),
        "renamed text file": ("digit.png", b"My favourite digit is 7.\n" * 20, "NotAnImage"),
        "decompression bomb": ("bomb.png", bomb_png(), "ImageTooLarge"),
        "over the size cap": ("big.png", b"\x89PNG\r\n\x1a\n" + bytes(8_000_001), "ImageTooLarge"),
        "1x1": ("dot.png", _png(Image.new("L", (1, 1), 0)), "EmptyImage"),
        "RGBA, transparent paper": ("rgba.png", _png(rgba), "digit"),
        "16-bit greyscale": ("sixteen.png", _png(sixteen), "digit"),
        "palette": ("palette.png", _png(_digit("RGB").convert("P", palette=Image.Palette.ADAPTIVE)), "digit"),
        "greyscale JPEG": ("grey.jpg", _png(_digit(), "JPEG"), "digit"),
        "all white": ("white.png", _png(Image.new("L", (200, 200), 255)), "EmptyImage"),
        "all black": ("black.png", _png(Image.new("L", (200, 200), 0)), "EmptyImage"),
        "very wide": ("wide.png", _png(_digit(size=(6000, 40))), "digit"),
        "very tall": ("tall.png", _png(_digit(size=(30, 5000))), "digit"),
        "HTML in the file name": ("<img src=x onerror=alert(1)>.png", b"<script>alert(1)</script>", "NotAnImage"),
    }


# --- load: many browser sessions drawing and moving the slider while another trains ----------

CANVAS = 'canvas[aria-label="Drawing pad"]'  # the Lab element's pad; Playwright's CSS pierces shadow roots
PICTURES = 'canvas[aria-label^="Reconstruction"]'
# In each page from its start: the page's time of the last pointer-up or arrow key (the moment an
# interaction asks for an answer).
ASKED = """(() => { const mark = (e) => { if (e.type === 'pointerup' || e.key.startsWith('Arrow'))
  window.__asked = performance.now(); };
  document.addEventListener('pointerup', mark, true); document.addEventListener('keydown', mark, true); })()"""
# An interaction is answered when the Lab element (lab/lab_page.js) has painted after it and has
# nothing left to compute (a computation that was running at pointer-up may paint a drawing
# without its last points first): then the ms from the question to that paint, else -1. Read
# through the pad's canvas, whose element keeps its state on its root (`__lab`).
ANSWER = """c => { const s = c.getRootNode().__lab, lab = window.__aeLab || {};
  const idle = s && !s.busy && !s.again && !s.frame;
  return idle && lab.lastPaint > window.__asked ? lab.lastPaint - window.__asked : -1; }"""
# Where the pad is in the page's layout (its box plus every scrolled ancestor's offset): a focused
# slider may scroll the page, which moves the pad on screen but is no layout shift.
LAYOUT_BOX = """c => { const r = c.getBoundingClientRect(); let x = r.left + window.scrollX, y = r.top + window.scrollY;
  for (let el = c.getRootNode().host; el; el = el.parentElement) { x += el.scrollLeft; y += el.scrollTop; }
  return {x, y, width: r.width}; }"""
PAGE_ERRORS = """() => document.querySelectorAll('[data-testid="stException"]').length +
  Array.from(document.querySelectorAll('[data-testid="stAlert"]')).filter(
    a => a.innerText.includes('Something went wrong')).length"""


async def _user(browser, url: str, index: int, clock: dict, out: dict, interaction_timeout: float) -> None:
    """One visitor: draws a stroke or moves the noise slider, waits for the page to paint the
    answer, pauses."""
    import asyncio
    import random

    rng = random.Random(index)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    await context.add_init_script(ASKED)
    page = await context.new_page()
    page.on("pageerror", lambda exc: out["errors"].append(f"user {index}: page error {exc}"))
    page.on("console", lambda m: out["errors"].append(f"user {index}: console error {m.text}")
            if m.type == "error" else None)
    try:
        await page.goto(url, timeout=180_000)
        await page.locator(CANVAS).wait_for(timeout=180_000)
        await page.wait_for_function("() => (window.__aeLab || {}).paints > 0", timeout=180_000)
        out["ready"] += 1
        layout = await page.locator(CANVAS).evaluate(LAYOUT_BOX)
        slider = page.get_by_role("slider", name="Noise level")
        direction, value, drawn, moved = "ArrowRight", 0.5, False, False
        while clock["phase"] != "done":
            phase = clock["phase"]
            kind = "draw" if rng.random() < 0.5 else "slider"
            if kind == "draw":
                # The first stroke is a whole "7" (a short first stroke is too little ink to be a
                # digit); later ones are short strokes somewhere new.
                # Where the pad is now (a person aims at what they see); it must not have moved
                # since the page was ready: nothing in the Lab should shift it under the pen.
                now = await page.locator(CANVAS).evaluate(LAYOUT_BOX)
                if not moved and any(abs(now[d] - layout[d]) > 1 for d in ("x", "y", "width")):
                    moved = True
                    out["errors"].append(f"user {index}: the pad moved from {layout} to {now} at "
                                         f"{time.perf_counter() - clock['t0']:.1f} s ({phase})")
                layout = now
                await page.locator(CANVAS).scroll_into_view_if_needed()
                box = await page.locator(CANVAS).bounding_box()
                k = box["width"] / 280
                if not drawn:
                    points = [(70, 60), (200, 60), (130, 230)]
                else:
                    x0, y0 = rng.uniform(20, 220), rng.uniform(20, 220)
                    points = [(x0, y0), (x0 + rng.uniform(30, 50), y0 + rng.uniform(-20, 40))]
                await page.mouse.move(box["x"] + points[0][0] * k, box["y"] + points[0][1] * k)
                await page.mouse.down()
                for x, y in points[1:]:
                    await page.mouse.move(box["x"] + x * k, box["y"] + y * k, steps=6)
                await page.mouse.up()
                drawn = True
            else:
                await slider.focus()
                if value >= 0.95:  # our own count of the steps (0.05 each) from the default 0.5
                    direction = "ArrowLeft"
                elif value <= 0.05:
                    direction = "ArrowRight"
                await page.keyboard.press(direction)
                value += 0.05 if direction == "ArrowRight" else -0.05
            start = time.perf_counter()
            try:
                ms = await _answered(page, interaction_timeout)
                if phase == clock["phase"]:  # an interaction that straddles two phases is not counted
                    out["latency"].setdefault(phase, {}).setdefault(kind, []).append(ms / 1000)
            except Exception as exc:  # noqa: BLE001 - a timeout is an error of the campaign
                t = start - clock["t0"]
                lab = await page.evaluate("() => JSON.stringify(window.__aeLab || null)")
                out["errors"].append(f"user {index}: {kind} at {t:.1f} s ({phase}; training started at "
                                     f"{clock.get('t_train', float('nan')):.1f} s) got no answer in "
                                     f"{interaction_timeout:.0f} s ({type(exc).__name__}: {exc}; page {lab})")
            bad = await page.evaluate(PAGE_ERRORS)
            if bad:
                out["errors"].append(f"user {index}: {bad} exception(s) or error message(s) on the page")
                break
            await asyncio.sleep(rng.uniform(0.4, 1.2))
    except Exception as exc:  # noqa: BLE001
        out["errors"].append(f"user {index}: {type(exc).__name__}: {str(exc)[:200]}")
    finally:
        await context.close()


async def _answered(page, timeout: float) -> float:
    """Waits until the page has painted after the last pointer-up or key and has nothing left to
    compute; returns the ms from that pointer-up or key to the paint, in the page's clock."""
    import asyncio

    deadline = time.perf_counter() + timeout
    while (ms := await page.locator(CANVAS).evaluate(ANSWER)) < 0:
        if time.perf_counter() > deadline:
            raise TimeoutError("no paint after the interaction")
        await asyncio.sleep(0.005)
    return ms


async def _trainer(browser, url: str, clock: dict, out: dict, epochs: int) -> None:
    """Another visitor who starts a long training run from the sidebar, then cancels it."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    try:
        await page.goto(url, timeout=180_000)
        await page.locator(PICTURES).first.wait_for(timeout=180_000)
        while clock["phase"] == "warmup" or clock["phase"] == "idle":
            await _sleep(0.2)
        epochs_box = page.locator('[data-testid="stSidebar"] [data-testid="stNumberInput"] input').first
        await epochs_box.fill(str(epochs))
        await epochs_box.press("Enter")
        await page.wait_for_timeout(500)
        clock["t_click"] = time.perf_counter() - clock["t0"]
        await page.locator('[data-testid="stSidebar"] button:has-text("Train")').first.click()
        await page.locator('[data-testid="stSidebar"] [data-testid="stProgress"]').wait_for(timeout=60_000)
        await page.locator('[data-testid="stSidebar"] [data-testid="stProgress"]:has-text("Epoch")').wait_for(
            timeout=120_000)  # the trainer process reports that Keras is fitting
        out["training_started"] = time.perf_counter()
        clock["t_train"] = time.perf_counter() - clock["t0"]
        clock["training"] = True
        while clock["phase"] not in ("done", "after"):
            await _sleep(0.2)
        out["training_still_running"] = await page.locator(
            '[data-testid="stSidebar"] [data-testid="stProgress"]').count() > 0
        cancel = page.locator('[data-testid="stSidebar"] button:has-text("Cancel")')
        if await cancel.count():
            await cancel.first.click()
    except Exception as exc:  # noqa: BLE001
        out["errors"].append(f"trainer: {type(exc).__name__}: {str(exc)[:200]}")
        clock["training"] = True  # let the campaign go on (the error is counted)
    finally:
        await context.close()


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


async def _campaign(url: str, users: int, idle_s: float, train_s: float, epochs: int,
                    interaction_timeout: float, warm_s: float) -> dict:
    import asyncio

    from playwright.async_api import async_playwright

    from tests.browser_support import CHROMIUM, CHROMIUM_ARGS

    clock = {"phase": "warmup", "training": False, "t0": time.perf_counter()}
    out = {"latency": {}, "errors": [], "ready": 0}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tasks = [asyncio.create_task(_user(browser, url, i, clock, out, interaction_timeout))
                     for i in range(users)]
            tasks.append(asyncio.create_task(_trainer(browser, url, clock, out, epochs)))
            deadline = time.perf_counter() + 240
            while out["ready"] < users and time.perf_counter() < deadline and not all(t.done() for t in tasks[:-1]):
                await asyncio.sleep(0.2)
            out["sessions_ready"] = out["ready"]
            out["clock"] = clock
            # A page that has just painted its first rows still compiles and loads (the runtime's
            # engine, each model's session): that belongs to opening the page, not to the idle
            # phase the training phase is compared with.
            await asyncio.sleep(warm_s)
            clock["phase"] = "idle"
            await asyncio.sleep(idle_s)
            clock["phase"] = "starting training"
            deadline = time.perf_counter() + 90
            while not clock["training"] and time.perf_counter() < deadline:
                await asyncio.sleep(0.2)
            clock["phase"] = "training"
            await asyncio.sleep(train_s)
            clock["phase"] = "after"
            await asyncio.sleep(1.0)
            clock["phase"] = "done"
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
        finally:
            await browser.close()
    return out


def run_load(url: str, users: int = 10, idle_s: float = 25.0, train_s: float = 25.0, epochs: int = 50,
             interaction_timeout: float = 30.0, warm_s: float = 10.0) -> dict:
    """The load campaign against a running app at `url`; bounded in time, stops by itself.

    Returns {"latency": {phase: {"draw"|"slider": [seconds]}}, "errors": [...], ...}; phases
    "idle" (nobody trains) and "training" (another session's run is going).
    """
    import asyncio

    return asyncio.run(_campaign(url, users, idle_s, train_s, epochs, interaction_timeout, warm_s))


def summarise(load: dict) -> dict:
    """p50 / p95 (ms) per phase over every interaction, and per kind."""
    rows = {}
    for phase, kinds in load["latency"].items():
        every = [v for vals in kinds.values() for v in vals]
        rows[phase] = {"n": len(every), "p50": 1000 * float(np.percentile(every, 50)),
                       "p95": 1000 * float(np.percentile(every, 95))}
        for kind, vals in kinds.items():
            rows[phase][kind] = {"n": len(vals), "p50": 1000 * float(np.percentile(vals, 50)),
                                 "p95": 1000 * float(np.percentile(vals, 95))}
    return rows


def spy_on_writes(patch) -> list:
    """Record every file opened for writing (`open` and `os.open`) while `patch` (a
    monkeypatch or its context) is active; returns the list it fills."""
    import builtins

    writes = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+"):
            writes.append(file)
        return real_open(file, mode, *a, **k)

    def spy_os_open(path, flags, *a, **k):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            writes.append(path)
        return real_os_open(path, flags, *a, **k)

    patch.setattr(builtins, "open", spy_open)
    patch.setattr(os, "open", spy_os_open)
    return writes
