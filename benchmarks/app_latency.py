"""How fast the Lab answers, and what it costs the server.

    python benchmarks/app_latency.py                  # the server path's work per interaction
    python benchmarks/app_latency.py --browser        # and one Debian Chromium via Playwright
    python benchmarks/app_latency.py --browser --root /tmp/before   # another checkout's app, same figures
    python benchmarks/app_latency.py --no-server-side --browser --openings 5   # only the opening, 5 times

Server side: what the server computes per interaction when the page has no in-page runtime
(strokes -> 28x28, noise, every model, metrics, the element's data as JSON).

With --browser (the in-page runtime fetched first, as on any start after the first):
- opening the page: from `streamlit run` to the pad, to the first reconstruction and to the first
  one computed in the page; the page weight of a first and a second visit (bytes transferred,
  from the Chrome DevTools protocol, the browser cache on for the second);
- pointer-up to the final reconstruction on screen (the first animation frame after the page's
  last paint, both in the page's clock), median and p95;
- reconstruction updates a second while drawing at a human pace (a point every 16 ms, strokes of
  about 1 s), with the two default models and with four;
- noise slider key to updated images, p95;
- server CPU per second of drawing: utime + stime of the server process (/proc/PID/stat) over a
  drawing session, divided by the seconds the pen was down.

Targets (issue 16): pointer-up median <= 33 ms, p95 <= 60 ms; >= 30 updates/s with two models,
>= 20 with four; slider p95 <= 50 ms; <= 10 ms of server CPU per second of drawing; first
in-page reconstruction <= 4 s after `streamlit run`. The figures depend on the machine and on
whatever else runs on it: the report prints the load average next to them.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

DEFAULT = ["dense_seed", "conv_denoiser"]
ALL = ["dense_seed", "conv_seed", "dense_deep", "conv_denoiser"]
MORE = ["Conv denoiser 7×7×32 (tutorial)", "Deep dense, 32-value code"]  # added for the four-model figure

# In the page from its start: every pointer-down, pointer-up and arrow key, the pointer moves,
# and each animation frame in which the Lab's paint counter (window.__aeLab.paints) has moved,
# with a hash of every reconstruction's pixels then and the page's own time of its last paint
# where it keeps one. The reconstruction canvases live in the elements' shadow roots; their list
# is refreshed at most once a second.
TIMELINE = """(() => {
  const w = window, L = w.__lat = {downs: [], ups: [], keys: [], frames: [], moves: 0, movesAt: []};
  let seen = 0, canvases = [], found = 0;
  const recons = () => {
    if (performance.now() - found > 1000 || canvases.some(c => !c.isConnected)) {
      found = performance.now();
      canvases = Array.from(document.querySelectorAll('*')).filter(e => e.shadowRoot)
        .flatMap(e => Array.from(e.shadowRoot.querySelectorAll('canvas[aria-label^="Reconstruction"]')));
    }
    return canvases;
  };
  const hash = () => {
    let h = 0;
    for (const c of recons()) {
      if (!c.width) continue;
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 4) h = (h * 31 + d[i]) | 0;
    }
    return h;
  };
  const tick = () => {
    const lab = w.__aeLab, p = (lab && lab.paints) || 0;
    if (p !== seen) {
      seen = p;
      L.frames.push({t: performance.now(), paints: p, hash: hash(),
                     last: lab.lastPaint === undefined ? null : lab.lastPaint});
      if (L.frames.length > 20000) L.frames.splice(0, 10000);
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  document.addEventListener('pointerdown', () => { L.downs.push(performance.now()); L.movesAt.push(L.moves); }, true);
  document.addEventListener('pointermove', () => { L.moves++; }, true);
  document.addEventListener('pointerup', () => { L.ups.push(performance.now()); L.movesAt.push(L.moves); }, true);
  document.addEventListener('keydown', (e) => { if (e.key.startsWith('Arrow')) L.keys.push(performance.now()); }, true);
})()"""
# Per stroke, in the page's clock: updates while the pen was down, pointer moves, and the final
# reconstruction: the first frame after pointer-up from which the pixels stay as they end.
STROKE = """() => {
  const L = window.__lat, d = L.downs[L.downs.length - 1], u = L.ups[L.ups.length - 1];
  const moves = L.movesAt[L.movesAt.length - 1] - L.movesAt[L.movesAt.length - 2];
  const before = L.frames.filter(f => f.t <= d), during = L.frames.filter(f => f.t > d && f.t <= u);
  const after = L.frames.filter(f => f.t > u);
  const p0 = before.length ? before[before.length - 1].paints : 0;
  const p1 = during.length ? during[during.length - 1].paints : p0;
  let final = null;
  if (after.length) {
    const end = after[after.length - 1].hash;
    let i = after.length - 1;
    while (i > 0 && after[i - 1].hash === end) i--;
    final = after[i];
  }
  return {down_s: (u - d) / 1000, updates: p1 - p0, moves, repaints_after_up: after.length,
          frame_ms: final ? final.t - u : null, paint_ms: final && final.last !== null ? final.last - u : null};
}"""


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values, float), q)) if values else float("nan")


def line(name: str, values: list[float], unit: str = "ms", target: str = "") -> str:
    return (f"  {name:40s} median {pct(values, 50):7.1f} {unit}   p95 {pct(values, 95):7.1f} {unit}   "
            f"(n={len(values)}){'   target ' + target if target else ''}")


def random_strokes(rng: np.random.Generator, size: float = 320) -> list[list[list[float]]]:
    """A digit-like pen path on a `size` px pad, as the page sends it (about 80 points)."""
    corners = rng.uniform(0.15 * size, 0.85 * size, (4, 2))
    t = np.linspace(0, 1, 27)[:, None]
    path = np.concatenate([a + (b - a) * t for a, b in zip(corners[:-1], corners[1:])])
    return [np.round(path, 1).tolist()]


def server_side(folder: Path, names: list[str], n: int) -> dict:
    """The server path (no in-page runtime): per pen-up or release, strokes -> 28x28, noise,
    every model, metrics, and the element's result data as JSON."""
    from ae_core import preprocess
    from ae_core.data import load_bundled
    from lab import engine, lab_page, models_view
    from lab.inputs_view import DRAWN, Digit, NoiseChoice

    data = load_bundled()
    models = []
    for name in names:
        m = engine.load_stored(folder, name, "pretrained", data.x_test)
        if isinstance(m, engine.LoadFailure):
            print(f"  skipped {name}: {m.message}")
            continue
        models.append(m)
    if not models:
        raise SystemExit(f"No usable models in {folder}; train some with `python -m ae_core train PRESET`.")
    print(f"  models: {', '.join(m.name for m in models)} from {folder}")

    def answer(image, noise: NoiseChoice) -> None:
        json.dumps(lab_page._result(Digit(image, DRAWN), noise, models, models_view.clean_for(noise, models)))

    rng = np.random.default_rng(0)
    drawings = [random_strokes(rng) for _ in range(n)]
    timings: dict[str, list[float]] = {k: [] for k in ("strokes -> 28x28", "pen-up total", "slider release total")}
    for _ in range(3):  # warm up
        answer(data.x_test[0], NoiseChoice(0.5, "gaussian", 0))
    for i, strokes in enumerate(drawings):
        t0 = time.perf_counter()
        digit = preprocess.from_strokes(strokes, 320)
        t1 = time.perf_counter()
        answer(digit, NoiseChoice(0.5, "gaussian", i))
        t2 = time.perf_counter()
        answer(digit, NoiseChoice(float(rng.choice(np.arange(0, 1.01, 0.05))), "gaussian", i))
        t3 = time.perf_counter()
        for key, value in zip(timings, (t1 - t0, t2 - t0, t3 - t2)):
            timings[key].append(value * 1000)
    return timings


class Network:
    """Bytes a page transferred (CDP Network: encodedDataLength of each finished request, 0 for
    one the browser cache answered; and the payload bytes of the websocket frames received)."""

    def __init__(self, page):
        self.http = self.ws = self.requests = 0
        self.urls, self.sizes = {}, {}
        cdp = page.context.new_cdp_session(page)
        cdp.on("Network.responseReceived", lambda e: self.urls.__setitem__(e["requestId"], e["response"]["url"]))
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.webSocketFrameReceived", self._frame)
        cdp.send("Network.enable")
        self.cdp = cdp

    def _finished(self, e):
        self.http += e.get("encodedDataLength", 0)
        self.sizes[self.urls.get(e["requestId"], e["requestId"])] = e.get("encodedDataLength", 0)
        self.requests += 1

    def _frame(self, e):
        data = e["response"].get("payloadData", "")
        binary = e["response"].get("opcode") == 2  # CDP gives a binary frame's payload in base64
        self.ws += len(base64.b64decode(data)) if binary else len(data.encode())

    def summary(self) -> dict:
        big = sorted(self.sizes.items(), key=lambda kv: -kv[1])[:8]
        return {"http_bytes": self.http, "websocket_bytes": self.ws, "requests": self.requests,
                "largest": [[url.split("/", 3)[-1][:70], n] for url, n in big]}


def settle(page, quiet_ms: int = 400, limit_s: float = 30) -> None:
    """Waits until no frame has shown a new paint for `quiet_ms`."""
    deadline = time.monotonic() + limit_s
    n = page.evaluate("() => window.__lat.frames.length")
    while time.monotonic() < deadline:
        page.wait_for_timeout(quiet_ms)
        m = page.evaluate("() => window.__lat.frames.length")
        if m == n:
            return
        n = m


STROKE_S = 1.0  # a stroke's duration; the pointer moves as often as the browser takes them, at most
MOVE_MS = 16  # every 16 ms, as a mouse reports


def draw_one(page, box: dict, i: int, rng) -> dict:
    """One stroke of STROKE_S (a point every MOVE_MS, or as often as the browser takes them), then
    the figures of that stroke in the page's clock (STROKE)."""
    side = box["width"]
    x = box["x"] + side * (0.15 + 0.17 * (i % 5)) + rng.integers(-5, 5)
    y0, y1 = box["y"] + side * 0.12, box["y"] + side * rng.uniform(0.75, 0.9)
    page.mouse.move(x, y0)
    page.mouse.down()
    start = time.perf_counter()
    while (t := (time.perf_counter() - start) / STROKE_S) < 1:  # where a hand would be now
        page.mouse.move(x + 0.08 * side * np.sin(3 * t), y0 + (y1 - y0) * t)
        # The next move MOVE_MS after this one was sent, or at once if the browser took longer.
        time.sleep(max(0.0, MOVE_MS / 1000 - (time.perf_counter() - start - t * STROKE_S)))
    page.mouse.move(x + 0.08 * side * np.sin(3), y1)
    page.mouse.up()
    settle(page)
    return page.evaluate(STROKE)


def press_keys(page, slider, n: int) -> list[float]:
    """Arrow keys on the noise slider; per key, ms to the first frame with a new paint."""
    slider.focus()
    out = []
    for i in range(n):
        page.keyboard.press("ArrowRight" if (i // 4) % 2 == 0 else "ArrowLeft")
        settle(page, 300)
        ms = page.evaluate("""() => { const L = window.__lat, k = L.keys[L.keys.length - 1];
                                       const f = L.frames.find(f => f.t > k); return f ? f.t - k : null; }""")
        out.append(float("nan") if ms is None else ms)
    return out


def noise_slider(page):
    """The noise level slider: the Lab element's range input, or an older page's Streamlit slider."""
    own = page.get_by_role("slider", name="Noise level")
    if own.count():
        return own.first
    return page.locator('[data-testid="stSlider"]:has([aria-label="Noise level"]) [role="slider"]').first


def add_models(page, titles: list[str], rows: int) -> None:
    chooser = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Models to show")
    for t in titles:
        chooser.locator("input").click()
        page.get_by_role("option", name=t, exact=True).click()
        page.keyboard.press("Escape")
    recons = page.locator('canvas[aria-label^="Reconstruction"]')  # pierces the element's shadow root
    deadline = time.monotonic() + 120
    while recons.count() < rows:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the page shows {recons.count()} reconstructions, not {rows}")
        page.wait_for_timeout(200)
    settle(page)


def start_and_open(page, folder: Path, root: Path):
    """Start `root`'s app and open it in `page`: (server process, port, the opening's seconds
    from `streamlit run` to the server's health, the pad, the first reconstruction and the first
    one computed in the page, where the page computes)."""
    from tests.browser_support import PAD, free_port, start_server, stop_server

    port = free_port()
    t0 = time.perf_counter()
    proc = start_server({"AE_PRETRAINED_DIR": str(folder), "AE_MODELS_DIR": "/tmp/app_latency_models"},
                        port, Path("/tmp") / f"app_latency_streamlit_{port}.log", root=root)
    try:
        opening = {"healthy_s": time.perf_counter() - t0}
        page.goto(f"http://127.0.0.1:{port}/")
        page.locator(PAD).wait_for(timeout=120_000)
        opening["pad_s"] = time.perf_counter() - t0
        page.wait_for_function("() => (window.__aeLab || {}).paints > 0", timeout=120_000)
        opening["first_reconstruction_s"] = time.perf_counter() - t0
        if page.evaluate("() => 'computes' in window.__aeLab"):
            page.wait_for_function("() => window.__aeLab.computes > 0", timeout=120_000)
            opening["first_in_page_reconstruction_s"] = time.perf_counter() - t0
    except BaseException:
        stop_server(proc)
        raise
    return proc, port, opening


def browser(folder: Path, root: Path, n: int, n4: int, shots: Path | None) -> dict:
    from tests.browser_support import CHROMIUM_ARGS, CHROMIUM, PAD, cpu_seconds, stop_server
    from playwright.sync_api import sync_playwright

    out: dict = {}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = b.new_context(viewport={"width": 1366, "height": 900})
        ctx.add_init_script(TIMELINE)
        page = ctx.new_page()
        net = Network(page)
        proc, port, out["opening"] = start_and_open(page, folder, root)
        try:
            page.wait_for_timeout(3000)  # whatever else the first visit loads
            out["first_visit"] = net.summary()
            second = ctx.new_page()  # same context: the browser cache is on
            net2 = Network(second)
            second.goto(f"http://127.0.0.1:{port}/")
            second.wait_for_function("() => (window.__aeLab || {}).paints > 0", timeout=120_000)
            second.wait_for_timeout(3000)
            out["second_visit"] = net2.summary()
            page.close()
            page = second

            box = page.locator(PAD).bounding_box()
            clear = page.get_by_role("button", name="Clear", exact=True)
            rng = np.random.default_rng(1)
            settle(page)
            strokes, cpu0, wall0 = [], cpu_seconds(proc.pid), time.perf_counter()
            for i in range(n):
                if i and i % 5 == 0:  # a fresh pad: a stroke over old ink changes little
                    clear.click()
                    settle(page)
                strokes.append(draw_one(page, box, i, rng))
            page.wait_for_timeout(1500)  # the last drawing's report to the server
            cpu1, wall1 = cpu_seconds(proc.pid), time.perf_counter()
            pen_s = sum(s["down_s"] for s in strokes)
            out["drawing"] = {"cpu_s": cpu1 - cpu0, "session_s": wall1 - wall0, "pen_down_s": pen_s,
                              "cpu_ms_per_drawing_s": 1000 * (cpu1 - cpu0) / pen_s,
                              "cpu_ms_per_session_s": 1000 * (cpu1 - cpu0) / (wall1 - wall0)}
            out["strokes"] = strokes
            out["slider_ms"] = press_keys(page, noise_slider(page), n)
            if shots:
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / "latency_final.png"))
            if n4:
                add_models(page, MORE, 4)
                clear.click()
                settle(page)
                out["strokes4"] = []
                for i in range(n4):
                    if i and i % 5 == 0:
                        clear.click()
                        settle(page)
                    out["strokes4"].append(draw_one(page, box, i, rng))
            out["exceptions_on_page"] = page.locator('[data-testid="stException"]').count()
        finally:
            stop_server(proc)
            b.close()
    return out


def report_browser(bt: dict) -> dict:
    o = bt["opening"]
    print(f"  opening: server healthy {o['healthy_s']:.1f} s, pad {o['pad_s']:.1f} s, first reconstruction "
          f"{o['first_reconstruction_s']:.1f} s after `streamlit run`")
    if "first_in_page_reconstruction_s" in o:
        print(f"           first in-page reconstruction {o['first_in_page_reconstruction_s']:.1f} s   target <= 4 s")
    for name in ("first_visit", "second_visit"):
        v = bt[name]
        print(f"  page weight, {name.replace('_', ' ')}: {v['http_bytes'] / 1e6:.2f} MB over HTTP in {v['requests']} "
              f"requests, websocket {v['websocket_bytes'] / 1e3:.0f} kB")
    up = [s["frame_ms"] for s in bt["strokes"] if s["frame_ms"] is not None]
    paint = [s["paint_ms"] for s in bt["strokes"] if s["paint_ms"] is not None]
    print(line("pointer-up -> final reconstruction (frame)", up, target="median <= 33, p95 <= 60"))
    if paint:
        print(line("pointer-up -> the page's last paint", paint))
    rate = [s["updates"] / s["down_s"] for s in bt["strokes"] if s["down_s"] > 0]
    print(line("updates while drawing, 2 models", rate, "/s", ">= 30 /s"))
    moves = [s["moves"] / s["down_s"] for s in bt["strokes"] if s["down_s"] > 0]
    print(line("  (pointer moves the page received)", moves, "/s"))
    if bt.get("strokes4"):
        rate4 = [s["updates"] / s["down_s"] for s in bt["strokes4"] if s["down_s"] > 0]
        print(line("updates while drawing, 4 models", rate4, "/s", ">= 20 /s"))
        moves4 = [s["moves"] / s["down_s"] for s in bt["strokes4"] if s["down_s"] > 0]
        print(line("  (pointer moves the page received)", moves4, "/s"))
    slider = [v for v in bt["slider_ms"] if v == v]
    print(line("slider key -> updated images", slider, target="p95 <= 50"))
    d = bt["drawing"]
    print(f"  server CPU while drawing: {d['cpu_ms_per_drawing_s']:.1f} ms per second of drawing "
          f"({d['cpu_s'] * 1000:.0f} ms over {d['pen_down_s']:.1f} s with the pen down; "
          f"{d['cpu_ms_per_session_s']:.1f} ms per second of the {d['session_s']:.0f} s session)   target <= 10 ms")
    print(f"  exception elements on the page: {bt['exceptions_on_page']}")
    return bt


def openings(folder: Path, root: Path, n: int) -> dict:
    """Only the opening, `n` times: a fresh server and a fresh browser (empty caches) each time,
    so one slow start on a shared machine does not stand for all."""
    from tests.browser_support import CHROMIUM_ARGS, CHROMIUM, stop_server
    from playwright.sync_api import sync_playwright

    runs: dict[str, list[float]] = {}
    with sync_playwright() as p:
        for _ in range(n):
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                proc, _port, opening = start_and_open(b.new_context(viewport={"width": 1366, "height": 900}).new_page(),
                                                      folder, root)
                stop_server(proc)
            finally:
                b.close()
            for key, seconds in opening.items():
                runs.setdefault(key, []).append(seconds)
    for key, values in runs.items():
        print(f"  {key:34s} median {statistics.median(values):5.2f} s   min {min(values):5.2f}   "
              f"max {max(values):5.2f}   (n={len(values)})" + ("   target <= 4 s" if "in_page" in key else ""))
    return {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)} for k, v in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models-dir", default=os.environ.get("AE_PRETRAINED_DIR", str(ROOT / "pretrained")))
    ap.add_argument("--models", choices=["default", "all"], default="all",
                    help="server side: all four presets, or the page's default two")
    ap.add_argument("-n", type=int, default=60, help="server-side interactions per measurement")
    ap.add_argument("--browser", action="store_true", help="also measure in headless Chromium")
    ap.add_argument("--browser-n", type=int, default=20, help="strokes (and slider keys) with two models")
    ap.add_argument("--browser-n4", type=int, default=10, help="strokes with four models (0: skip)")
    ap.add_argument("--root", default=str(ROOT), help="the checkout whose app.py the browser measures")
    ap.add_argument("--no-server-side", action="store_true")
    ap.add_argument("--screenshots", default=str(ROOT / "test-artifacts"))
    ap.add_argument("--json", help="write the figures here as JSON")
    ap.add_argument("--openings", type=int, default=0,
                    help="with --browser: only open the page this many times, each from a fresh start")
    args = ap.parse_args()
    folder = Path(args.models_dir)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    report: dict = {"load_before": os.getloadavg()[0]}
    if not args.no_server_side:
        print("server path (no in-page runtime), work per interaction:")
        t = server_side(folder, DEFAULT if args.models == "default" else ALL, args.n)
        for key, values in t.items():
            print(line(key, values))
        report["server_side"] = {k: {"p50_ms": pct(v, 50), "p95_ms": pct(v, 95)} for k, v in t.items()}
    if args.browser:
        from tests.runtime_support import ort_ready

        status = ort_ready()  # fetched before `streamlit run`, so the first visit can use it
        print(f"real browser (Debian Chromium, Playwright; {args.root}; in-page runtime "
              f"{'ready' if status.ready else 'absent: ' + status.message}):")
        if args.openings:
            report["openings"] = openings(folder, Path(args.root), args.openings)
        else:
            report["browser"] = report_browser(browser(folder, Path(args.root), args.browser_n, args.browser_n4,
                                                       Path(args.screenshots) if args.screenshots else None))
    report["load_after"] = os.getloadavg()[0]
    print(f"load average {report['load_after']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
