"""How fast the app answers: server-side work per interaction, and (with --browser) real-browser
timings from mouse-up / slider key to updated images, plus cold start.

    python benchmarks/app_latency.py                      # server-side figures only
    python benchmarks/app_latency.py --browser            # and Debian Chromium via Playwright
    python benchmarks/app_latency.py --models all         # all four presets instead of the default two

Targets (issue 3): server-side p95 <= 30 ms; browser stroke-to-reconstruction median <= 300 ms
and p95 <= 450 ms; slider p95 <= 250 ms; cold start <= 6 s. The figures depend on the machine and
on whatever else it runs: the report prints the load average next to them.
"""
from __future__ import annotations

import argparse
import io
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
from PIL import Image, ImageDraw  # noqa: E402

DEFAULT = ["dense_seed", "conv_seed"]
ALL = ["dense_seed", "conv_seed", "dense_deep", "conv_denoiser"]


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def line(name: str, values: list[float], target: str = "") -> str:
    return (f"  {name:44s} p50 {pct(values, 50):7.1f} ms   p95 {pct(values, 95):7.1f} ms   "
            f"(n={len(values)}){'   target ' + target if target else ''}")


def canvas_png(rng: np.random.Generator) -> bytes:
    """A random digit-like stroke on a black 280x280 canvas, as the component sends it."""
    img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    pts = [tuple(int(v) for v in rng.integers(40, 240, 2)) for _ in range(4)]
    ImageDraw.Draw(img).line(pts, fill=(255, 255, 255, 255), width=22, joint="curve")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def server_side(folder: Path, names: list[str], n: int) -> dict:
    """Per interaction: preprocess + noise + every model + metrics + figures through the same
    serialisation `st.plotly_chart` does."""
    import plotly.graph_objects as go
    import plotly.io
    import plotly.tools

    from ae_core import preprocess
    from ae_core.data import load_bundled
    from lab import engine, figures
    from lab.models_view import _code_title

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

    def st_serialise(fig) -> str:  # what st.plotly_chart does with a figure
        return plotly.io.to_json(plotly.tools.return_figure_from_figure_or_data(fig, True), validate=False)

    def render(inter, fast=True) -> None:
        clean = figures.image_panel(inter.clean, "Clean 28×28")
        noisy = figures.image_panel(inter.noisy, "Noisy input")
        for out in inter.outputs:
            panels = [clean, noisy, figures.code_panel(out.code, out.model.summary_range, _code_title(out.model)),
                      figures.image_panel(out.recon, "Reconstruction")]
            fig = figures.panels_figure(panels)
            st_serialise(fig if fast else go.Figure(fig.to_dict()))

    rng = np.random.default_rng(0)
    pngs = [canvas_png(rng) for _ in range(n)]
    timings: dict[str, list[float]] = {k: [] for k in (
        "preprocess", "models + metrics", "figures (prebuilt dicts)", "figures (go.Figure, validated)",
        "canvas interaction total", "slider interaction total")}
    for _ in range(3):  # warm up
        render(engine.interact(data.x_test[0], models, 0.5, 0, "gaussian"))
    for i, png in enumerate(pngs):
        t0 = time.perf_counter()
        digit = preprocess.from_canvas(np.asarray(Image.open(io.BytesIO(png))))
        t1 = time.perf_counter()
        inter = engine.interact(digit, models, 0.5, i, "gaussian")
        t2 = time.perf_counter()
        render(inter)
        t3 = time.perf_counter()
        render(inter, fast=False)
        t4 = time.perf_counter()
        inter = engine.interact(digit, models, float(rng.choice(np.arange(0, 1.01, 0.05))), i, "gaussian")
        render(inter)
        t5 = time.perf_counter()
        for key, value in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t3 - t0, t5 - t4)):
            timings[key].append(value)
    return timings


BROWSER_JS = """
() => {
  const w = window;
  w.__lat = {pending: null, results: []};
  const hrefs = (which) => Array.from(document.querySelectorAll('.stPlotlyChart, [data-testid="stPlotlyChart"]'))
      .filter(el => !el.closest('[data-testid="stSidebar"]') && !el.closest('.st-key-plotly_warmup'))
      .map(el => Array.from(el.querySelectorAll('g.subplot')).filter((_, i) => which.includes(i))
      .map(sp => { const img = sp.querySelector('image');
                   return img ? (img.getAttribute('href') || img.getAttribute('xlink:href') || '') : ''; }).join('|'));
  w.__lat.hrefs = hrefs;
  const watch = (kind, which) => {
    const before = hrefs(which).join('#');
    const start = performance.now();
    w.__lat.pending = {kind, start};
    w.__lat.msgs = [];
    const tick = () => {
      const now = hrefs(which);
      if (now.length && now.every(h => h.length) && now.join('#') !== before) {
        const end = performance.now(), m = w.__lat.msgs;
        w.__lat.results.push({kind, ms: end - start, first_msg: m.length ? m[0] - start : -1,
                              last_msg: m.length ? m[m.length - 1] - start : -1});
        w.__lat.pending = null;
        return;
      }
      if (performance.now() - start > 15000) { w.__lat.results.push({kind, ms: -1}); w.__lat.pending = null; return; }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  };
  w.__lat.msgs = [];
  for (const ws of (w.__sockets || [])) ws.addEventListener('message', () => w.__lat.msgs.push(performance.now()));
  document.addEventListener('pointerup', () => { if (!w.__lat.paused) watch('stroke', [3]); }, true);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') watch('slider', [1, 3]);
  }, true);
}
"""


def browser(folder: Path, n: int, shots: Path | None) -> dict:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT / "tests"))
    from app_support import CHROMIUM, CHROMIUM_ARGS, free_port, start_server, stop_server

    port = free_port()
    out: dict[str, list[float]] = {"stroke": [], "slider": []}
    log = Path("/tmp") / f"app_latency_streamlit_{port}.log"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = b.new_page(viewport={"width": 1366, "height": 900})
        # Remember the app's websocket(s) so the timings can be split at the server's messages.
        page.add_init_script("""(() => { const Orig = window.WebSocket; window.__sockets = [];
            window.WebSocket = function(...a) { const ws = new Orig(...a); window.__sockets.push(ws); return ws; };
            window.WebSocket.prototype = Orig.prototype; Object.assign(window.WebSocket, Orig); })()""")
        t0 = time.perf_counter()
        proc = start_server({"AE_PRETRAINED_DIR": str(folder), "AE_MODELS_DIR": "/tmp/app_latency_models"}, port, log)
        try:
            t_health = time.perf_counter() - t0
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("""() => {
                const charts = Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]'))
    .filter(c => !c.closest('.st-key-plotly_warmup'));
                return charts.length >= 1 && charts.every(c => c.querySelectorAll('g.subplot image').length === 4)
                  && document.querySelector('[data-testid="stSidebar"] button') !== null; }""", timeout=120_000)
            cold = time.perf_counter() - t0
            print(f"  cold start: server healthy {t_health:.1f} s; first complete page {cold:.1f} s   target <= 6 s")
            page.evaluate(BROWSER_JS)
            canvas = page.locator('[data-testid="stBidiComponentIsolated"] canvas.upper-canvas')
            box = canvas.bounding_box()
            rng = np.random.default_rng(1)
            reset = page.locator('[data-testid="stBidiComponentIsolated"] button[title^="Reset canvas"]')
            for i in range(n):
                if i and i % 5 == 0:  # a fresh canvas: a stroke over old ink would change nothing
                    page.evaluate("() => { window.__lat.paused = true; }")
                    reset.click()
                    page.wait_for_timeout(1500)
                    page.evaluate("() => { window.__lat.paused = false; }")
                # Five strokes side by side, 40 px apart: each one adds new ink.
                x = box["x"] + 50 + 40 * (i % 5) + rng.integers(-5, 5)
                page.mouse.move(x, box["y"] + rng.integers(30, 80))
                page.mouse.down()
                page.mouse.move(x + rng.integers(-15, 15), box["y"] + rng.integers(190, 250), steps=8)
                page.mouse.up()
                page.wait_for_function("() => window.__lat.pending === null", timeout=20_000)
                page.wait_for_timeout(300)
            slider = page.locator('[data-testid="stSlider"]:has([aria-label="Noise level"]) input[type="range"]')
            slider.focus()
            for i in range(n):
                page.keyboard.press("ArrowRight" if (i // 4) % 2 == 0 else "ArrowLeft")
                page.wait_for_function("() => window.__lat.pending === null", timeout=20_000)
                page.wait_for_timeout(300)
            for r in page.evaluate("() => window.__lat.results"):
                out[r["kind"]].append(r["ms"] / 1000 if r["ms"] >= 0 else float("nan"))
                if r["ms"] >= 0 and r["first_msg"] >= 0:
                    out.setdefault(r["kind"] + "_split", []).append(
                        (r["first_msg"] / 1000, r["last_msg"] / 1000, r["ms"] / 1000))
            if shots:
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / "latency_final.png"), full_page=True)
            errors = page.locator('[data-testid="stException"]').count()
            print(f"  exception elements on the page: {errors}")
        finally:
            stop_server(proc)
            b.close()
    out["cold_start"] = [cold]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models-dir", default=os.environ.get("AE_PRETRAINED_DIR", str(ROOT / "pretrained")))
    ap.add_argument("--models", choices=["default", "all"], default="default",
                    help="the page's default two models, or all four presets")
    ap.add_argument("-n", type=int, default=60, help="interactions per measurement")
    ap.add_argument("--browser", action="store_true", help="also measure in headless Chromium")
    ap.add_argument("--browser-n", type=int, default=20)
    ap.add_argument("--screenshots", default=str(ROOT / "test-artifacts"))
    ap.add_argument("--json", help="write the figures here as JSON")
    args = ap.parse_args()
    folder = Path(args.models_dir)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("server-side work per interaction:")
    t = server_side(folder, DEFAULT if args.models == "default" else ALL, args.n)
    for key, values in t.items():
        print(line(key, values, "p95 <= 30 ms" if key.endswith("total") else ""))
    report = {k: {"p50_ms": pct(v, 50), "p95_ms": pct(v, 95)} for k, v in t.items()}
    if args.browser:
        print("real browser (Debian Chromium, Playwright):")
        bt = browser(folder, args.browser_n, Path(args.screenshots) if args.screenshots else None)
        stroke = [v for v in bt["stroke"] if v == v]
        slider = [v for v in bt["slider"] if v == v]
        if stroke:
            print(f"  mouse-up -> new reconstruction    median {statistics.median(stroke) * 1000:6.0f} ms   "
                  f"p95 {pct(stroke, 95):6.0f} ms   (n={len(stroke)}, timeouts {len(bt['stroke']) - len(stroke)})"
                  "   target median <= 300, p95 <= 450")
        if slider:
            print(f"  slider key -> updated images      median {statistics.median(slider) * 1000:6.0f} ms   "
                  f"p95 {pct(slider, 95):6.0f} ms   (n={len(slider)}, timeouts {len(bt['slider']) - len(slider)})"
                  "   target p95 <= 250")
        for kind, label in (("stroke", "mouse-up"), ("slider", "slider key")):
            split = bt.get(kind + "_split")
            if split:
                first, last, total = (np.median([row[i] for row in split]) * 1000 for i in range(3))
                print(f"    {label}: first server message {first:.0f} ms, last {last:.0f} ms, "
                      f"pixels {total:.0f} ms (medians; the browser renders for {total - last:.0f} ms)")
        report["browser"] = {"stroke_ms": [round(v * 1000) for v in stroke],
                             "slider_ms": [round(v * 1000) for v in slider], "cold_start_s": bt["cold_start"][0]}
    print(f"load average {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
