"""The in-page runtime end to end: fetched and published by lab/runtime.py, served by Streamlit,
imported by Chromium, running a shipped ONNX model on zeros.

    python benchmarks/ort_smoke.py                                    # the dense model's encoder
    python benchmarks/ort_smoke.py --model pretrained/conv_denoiser-*.decoder.onnx --runs 200

Prints, per visit (a fresh page; the second one in the same browser profile): the time from the
`import()` to a ready InferenceSession (module, engine and model fetched, WebAssembly compiled),
what the runtime's files cost on the wire, the first run and the median and p95 of later runs,
and the largest difference from onnxruntime in Python on the same input.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

from lab import runtime  # noqa: E402

JS = """async ({moduleUrl, wasmBase, modelUrl, shape, runs}) => {
  const t0 = performance.now();
  const ort = await import(location.origin + moduleUrl);
  ort.env.wasm.wasmPaths = location.origin + wasmBase;
  const session = await ort.InferenceSession.create(location.origin + modelUrl);
  const load = performance.now() - t0;
  const size = shape.reduce((a, b) => a * b, 1);
  const feeds = {[session.inputNames[0]]: new ort.Tensor("float32", new Float32Array(size), shape)};
  const times = [];
  let out;
  for (let i = 0; i <= runs; i++) {
    const t = performance.now();
    out = await session.run(feeds);
    times.push(performance.now() - t);
  }
  const bytes = performance.getEntriesByType("resource").filter(e => e.name.includes("/app/static/"))
    .map(e => [e.name.split("/").pop(), e.transferSize, e.decodedBodySize]);
  return {load, times, bytes, threads: ort.env.wasm.numThreads, simd: ort.env.wasm.simd,
          output: Array.from(out[session.outputNames[0]].data)};
}"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "pretrained" / "dense_seed-*.encoder.onnx"))
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()

    import onnxruntime as ort
    from playwright.sync_api import sync_playwright

    from app_support import CHROMIUM, CHROMIUM_ARGS, free_port, start_server, stop_server

    status = runtime.ensure()
    if not status.ready:
        sys.exit(f"the in-page runtime is not ready: {status.message}")
    model = Path(sorted(glob.glob(args.model))[0])
    url = runtime.publish_model(model, hashlib.sha256(model.read_bytes()).hexdigest())
    py = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) else 1 for d in py.get_inputs()[0].shape]
    expected = py.run(None, {py.get_inputs()[0].name: np.zeros(shape, np.float32)})[0].ravel()
    print(f"{model.name} -> {url}, input {shape}, onnxruntime-web {runtime.VERSION}; "
          f"load average {os.getloadavg()[0]:.1f}")

    port = free_port()
    server = start_server({}, port, Path("/tmp") / f"ort_smoke_{port}.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context()
            for visit in ("first visit", "second visit"):
                page = context.new_page()
                errors = []
                page.on("console", lambda m: m.type == "error" and errors.append(m.text))
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
                r = page.evaluate(JS, {"moduleUrl": runtime.module_url(), "wasmBase": runtime.wasm_base_url(),
                                       "modelUrl": url, "shape": shape, "runs": args.runs})
                later = sorted(r["times"][1:])
                diff = float(np.max(np.abs(np.asarray(r["output"], np.float32) - expected)))
                wire = sum(b[1] for b in r["bytes"])
                print(f"{visit}: import to ready session {r['load']:.0f} ms; first run {r['times'][0]:.2f} ms; "
                      f"later runs median {statistics.median(later):.3f} ms, "
                      f"p95 {later[int(0.95 * (len(later) - 1))]:.3f} ms (n={len(later)}); "
                      f"threads {r['threads']}; max |web - python| {diff:.2e}")
                print(f"  on the wire {wire / 1e6:.2f} MB: "
                      + ", ".join(f"{n} {t / 1e3:.0f}/{d / 1e3:.0f} kB" for n, t, d in r["bytes"]))
                if errors:
                    print("  console errors:", *errors, sep="\n    ")
                page.close()
            browser.close()
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
