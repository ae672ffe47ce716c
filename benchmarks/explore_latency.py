"""The Explore tab's latency: the server's time per interaction (AppTest, warm caches), and with
`--browser` what a person sees in Chromium: key press to the decoded picture in the latent
playground, in the page (onnxruntime-web) and through the server, and how many times a second
the digit manifold's large digit follows the pointer.

Run: `TF_CPP_MIN_LOG_LEVEL=3 python benchmarks/explore_latency.py [--repeats 15] [--browser] [--presses 40]`.

Server side: each panel is a fragment; AppTest reruns the whole script instead, so the figure per
interaction is the time spent in the panel the control belongs to (timed by wrapping the panel's
function in the table of sections), plus the whole run for a map click and for switching sections.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AE_PRETRAINED_DIR", str(ROOT / "pretrained"))
os.environ.setdefault("AE_MODELS_DIR", "/tmp/explore_latency_models")


def percentiles(values) -> str:
    return f"{np.percentile(values, 50):7.1f} {np.percentile(values, 95):7.1f}"


# --- the server, headless ------------------------------------------------------------------------

SPENT: dict[str, float] = {}


def instrument() -> None:
    """Time every panel's function (its computation and its `st.*` calls)."""
    from lab import explore

    for section in explore.SECTIONS:
        for panel in section.panels:
            def timed(ctx, _fn=panel.draw, _name=panel.draw.__name__):
                start = time.perf_counter()
                try:
                    return _fn(ctx)
                finally:
                    SPENT[_name] = 1000 * (time.perf_counter() - start)
            object.__setattr__(panel, "draw", timed)


def server(repeats: int) -> None:
    from streamlit.testing.v1 import AppTest

    instrument()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    at.session_state["page_tab"] = next(t.label for t in at.tabs if "Explore" in t.label)
    at.run()
    rng = np.random.default_rng(0)
    cases = [  # (section, interaction, the panel it reruns, the action)
        ("Playground", "playground reset", "playground", lambda a: a.button(key="pg_reset").click()),
        ("Playground", "playground random", "playground", lambda a: a.button(key="pg_random").click()),
        ("Playground", "interpolation steps", "interpolation",
         lambda a: a.slider(key="interp_steps").set_value(int(rng.integers(3, 13)))),
        ("Playground", "interpolation another", "interpolation", lambda a: a.button(key="interp_random").click()),
        ("Manifold", "manifold slider / click", "manifold",
         lambda a: a.slider(key=f"mf_z{rng.integers(1, 3)}").set_value(round(float(rng.uniform(-2.5, 2.5)), 2))),
        ("Manifold", "dream up a digit", "manifold", lambda a: a.button(key="mf_dream").click()),
        ("Code map", "map PCA / t-SNE", "code_map",
         lambda a: a.segmented_control(key="map_method").set_value(["pca", "tsne"][int(rng.integers(2))])),
        ("Code map", "map click (full app rerun)", None,  # what the click's callback sets, then a full run
         lambda a: [a.session_state.__setitem__(k, v)
                    for k, v in (("input_mode", "pick"), ("pick_index", int(rng.integers(2000))))]),
        ("Code map", "open another section", None, None),
    ]
    sections = [t.label for t in at.tabs if any(w in t.label for w in ("Playground", "Code map", "Manifold",
                                                                           "Ladder", "Baselines", "History"))]
    for label in sections:  # warm every section's caches (codes, maps, manifold, score, sweep) once
        at.session_state["explore_section"] = label
        at.run()
        if "Code map" in label:
            at.segmented_control(key="map_method").set_value("tsne").run()
    print(f"{'interaction':30s} {'panel':14s} {'p50 ms':>7s} {'p95 ms':>7s}   (whole AppTest run p50)")
    for section, name, what, action in cases:
        if action is None:
            others = [lb for lb in sections if section not in lb]
            def action(a, others=others):
                a.session_state["explore_section"] = others[rng.integers(len(others))]
        else:
            at.session_state["explore_section"] = next(lb for lb in sections if section in lb)
            at.run()
        whole, part = [], []
        for _ in range(repeats):
            SPENT.clear()
            action(at)
            start = time.perf_counter()
            at.run()
            whole.append(1000 * (time.perf_counter() - start))
            assert not at.exception, [e.message for e in at.exception]
            part.append(SPENT.get(what, np.nan) if what else whole[-1])
        print(f"{name:30s} {what or 'whole app':14s} {percentiles(part)}   ({np.percentile(whole, 50):.0f})")


# --- what a person sees, in Chromium ----------------------------------------------------------------

LIVE = 'canvas[aria-label="Decoded from the sliders"]'
BIG = 'canvas[aria-label="Decoded from the point"]'
PLANE = 'canvas[aria-label="Plane of 2-D codes"]'


def _painted(page, selector: str) -> int:
    return int(page.locator(selector).get_attribute("data-painted") or 0)


def _key_to_picture(page, presses: int) -> list[float]:
    """ms from each ArrowRight on a playground slider to the next paint of the decoded picture
    (polled every few ms from here; the page's own timestamps are printed beside it)."""
    slider = page.locator('input[aria-label="code[3]"]')
    slider.scroll_into_view_if_needed()
    out = []
    for i in range(presses):
        slider.focus()
        if i % 20 == 0:  # back to the left end now and then, so every press moves the value
            page.keyboard.press("Home")
            page.wait_for_timeout(600)
        before = _painted(page, LIVE)
        start = time.perf_counter()
        page.keyboard.press("ArrowRight")
        while _painted(page, LIVE) == before:
            if time.perf_counter() - start > 10:
                raise AssertionError("the decoded picture did not change within 10 s")
            page.wait_for_timeout(2)
        out.append(1000 * (time.perf_counter() - start))
        page.wait_for_timeout(120 if i % 5 else 700)  # a person's pace; now and then a rest (values go back)
    return out


def _hover_rate(page, seconds: float = 3.0) -> tuple[float, float]:
    """(large digit repaints a second, pointer moves a second) while the pointer sweeps the plane."""
    plane = page.locator(PLANE)
    plane.scroll_into_view_if_needed()
    box = plane.bounding_box()
    before, moves, start = _painted(page, BIG), 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = (time.perf_counter() - start) / seconds
        page.mouse.move(box["x"] + box["width"] * (0.05 + 0.9 * t),
                        box["y"] + box["height"] * (0.5 + 0.4 * np.sin(7 * t)))
        moves += 1
        page.wait_for_timeout(8)
    elapsed = time.perf_counter() - start
    page.wait_for_timeout(100)
    return (_painted(page, BIG) - before) / elapsed, moves / elapsed


def browser(presses: int) -> None:
    from playwright.sync_api import sync_playwright

    from tests.app_support import CHROMIUM, CHROMIUM_ARGS, free_port, start_server, stop_server
    from tests.runtime_support import ort_ready

    status = ort_ready()
    print(f"in-page runtime: {'ready' if status.ready else status.message}")
    for fetch, label in (("1", "in the page"), ("0", "through the server")):
        if fetch == "1" and not status.ready:
            continue
        port, log = free_port(), Path(f"/tmp/explore_latency_{'page' if fetch == '1' else 'server'}.log")
        proc = start_server({"AE_RUNTIME_FETCH": fetch}, port, log)
        try:
            with sync_playwright() as p:
                chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = chromium.new_page(viewport={"width": 1366, "height": 900})
                sent = []
                page.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(time.perf_counter())))
                page.goto(f"http://127.0.0.1:{port}/")
                page.get_by_role("tab", name="Explore").click()
                page.get_by_role("tab", name="Playground").wait_for(timeout=120_000)
                page.locator(LIVE).wait_for(timeout=120_000)
                page.wait_for_timeout(3000)
                n0 = len(sent)
                times = _key_to_picture(page, presses)
                print(f"playground key press to decoded picture, {label}: median {np.median(times):.1f} ms, "
                      f"p95 {np.percentile(times, 95):.1f} ms ({presses} presses; "
                      f"{len(sent) - n0} messages to the server)")
                if fetch == "1":
                    own = page.evaluate("window.__aeExplore.paints.filter(p => p.mode === 'playground')"
                                        ".slice(-%d).map(p => p.painted - p.started)" % presses)
                    print(f"  the page's own timestamps, input event to painted: median {np.median(own):.2f} ms, "
                          f"p95 {np.percentile(own, 95):.2f} ms")
                page.get_by_role("tab", name="Manifold").click()
                page.locator(BIG).wait_for(timeout=120_000)
                page.wait_for_timeout(2000)
                n0 = len(sent)
                rate, moves = _hover_rate(page)
                what = "hover" if fetch == "1" else "hover (the server path decodes on click only)"
                print(f"manifold {what}: {rate:.1f} large-digit updates a second for {moves:.1f} pointer moves "
                      f"a second; {len(sent) - n0} messages to the server")
                chromium.close()
        finally:
            stop_server(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="server side: runs per interaction")
    parser.add_argument("--browser", action="store_true", help="also measure in Chromium")
    parser.add_argument("--presses", type=int, default=40, help="browser: key presses on a playground slider")
    parser.add_argument("--browser-only", action="store_true", help="skip the server-side table")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.browser_only:
        server(args.repeats)
    if args.browser or args.browser_only:
        browser(args.presses)


if __name__ == "__main__":
    main()
