"""The reliability campaign, written to benchmarks/reliability.md:

1. bad input: odd uploads through ae_core.preprocess, bad arrays through every ae_core entry
   point, and the app's own tests of them (AppTest);
2. faults: SIGKILL at each step of a save and of an ONNX export, at random moments while saving,
   and while training then saving (real processes; tests/kill_support.py), full or read-only
   disk on save, model files broken while the app runs;
3. load: 10 browser sessions drawing and moving the slider while another session trains.

    python benchmarks/reliability.py                    # everything (about 6-8 minutes on 2 cores)
    python benchmarks/reliability.py --skip-load        # no browser
    python benchmarks/reliability.py --users 10 --idle 30 --train 30 --random-kills 8

Everything runs on loopback with temporary folders; pretrained/ is only read (copied for faults).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "benchmarks" / "reliability.md"


def bad_inputs() -> list[str]:
    import numpy as np

    from ae_core import preprocess
    from tests.reliability_support import BAD_ARRAYS, ENTRY_POINTS, uploads

    def outcome(fn, *args):
        try:
            x = fn(*args)
            return f"a 28x28 digit in [{x.min():.0f}, {x.max():.0f}]" if np.ndim(x) == 2 else "accepted"
        except preprocess.ImageInputError as exc:
            return f"{type(exc).__name__}: {str(exc)[:110]}"
        except ValueError as exc:
            return f"ValueError: {str(exc)[:110]}"

    lines = ["## 1. Bad input", "",
             "### Uploads (`preprocess.from_image_bytes`; the app names the file in the message)", "",
             "| upload | bytes | expected | outcome |", "|---|---|---|---|"]
    for case, (_, data, expected) in uploads().items():
        got = outcome(preprocess.from_image_bytes, data)
        ok = got.startswith(expected) or (expected == "digit" and got.startswith("a 28x28"))
        lines.append(f"| {case} | {len(data):,} | {expected} | {'✅' if ok else '❌'} {got.replace('|', '/')} |")
    lines += ["", "### Arrays reaching `ae_core` directly", "",
              f"{len(BAD_ARRAYS)} bad arrays x {len(ENTRY_POINTS)} entry points "
              f"({', '.join(f'`{e}`' for e in sorted(ENTRY_POINTS))}):", "",
              "| array | message (from `noise.add_noise`) |", "|---|---|"]
    for case, (x, _) in BAD_ARRAYS.items():
        lines.append(f"| {case} | {outcome(ENTRY_POINTS['noise.add_noise'], x)} |")
    failures = 0
    for entry, fn in ENTRY_POINTS.items():
        for case, (x, _) in BAD_ARRAYS.items():
            try:
                fn(x)
                failures += 1
            except ValueError as exc:
                failures += "Received" not in str(exc)
    lines += ["", f"Every pair raised a `ValueError` that says what was received: "
              f"{'yes' if not failures else f'NO, {failures} did not'}.", ""]
    return lines


def kill_campaign(random_kills: int) -> list[str]:
    from tests.kill_support import EXPORT_STEPS, STEPS, check_store, expected, make_store, restore, trial

    lines = ["## 2. Faults", "", "### SIGKILL of a real process while it saves, exports or trains", "",
             "A models folder holds `dense_seed` (a copy of the shipped one) and `other`. A process writing "
             "over `dense_seed` logs each step it reaches and is killed with SIGKILL: by itself at a step, or "
             "from outside a random delay after the log shows a step. Then `other` must be byte-identical, "
             "`dense_seed` must load (checksums, spec, code shape; Keras and ONNX) and be byte-identical to "
             "before or a complete new save, as the steps reached say, and `list_models` must list exactly "
             "the two names.", "",
             "| kill | signal | steps reached | folder after the kill |", "|---|---|---|---|"]
    survived = total = 0
    rng = random.Random(1)
    trials = ([("save", {"point": p}) for p in STEPS] + [("export", {"point": p}) for p in EXPORT_STEPS]
              + [("save", {"wait_for": rng.choice(STEPS), "delay": round(rng.uniform(0.0, 0.3), 3)})
                 for _ in range(random_kills)]
              + [("train", {"point": p}) for p in ("epoch-1", "model-rename", "manifest-rename")])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "models"
        original = make_store(folder)
        for job, how in trials:
            result = trial(folder, job, **how)
            total += 1
            try:
                state = check_store(folder, original)
                ok = result["signal"] == 9 and state in expected(result["steps"])
                survived += ok
                state = state if ok else f"❌ {state}, expected {' or '.join(sorted(expected(result['steps'])))}"
            except AssertionError as exc:
                state = f"❌ {exc}"
            label = (f"{job}: at step `{how['point']}`" if "point" in how else
                     f"{job} in a loop: {how['delay']} s after step `{how['wait_for']}`")
            reached = " → ".join(dict.fromkeys(result["steps"]))
            lines.append(f"| {label} | {result['signal']} | {reached} | {state} |")
            restore(folder, original)
    lines += ["", f"Survived: {survived} of {total} kills.", ""]
    return lines


def pytest_campaign() -> tuple[list[str], str]:
    """Run the reliability tests (core, kill, app) and list each one with its outcome."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "report.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
               "tests/test_reliability_core.py", "tests/test_reliability_kill.py", "tests/test_reliability_app.py"]
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        tree = ET.parse(xml)
    cases = []
    for tc in tree.iter("testcase"):
        failed = tc.find("failure") is not None or tc.find("error") is not None
        skipped = tc.find("skipped") is not None
        cases.append((tc.get("classname").split(".")[-1], tc.get("name"), "skipped" if skipped else
                      "FAILED" if failed else "passed"))
    wanted = ("full_or_read_only", "broken_while", "diverged", "full_disk", "isolated", "never_change",
              "odd_", "sigkill", "safe_mode", "code_in_it", "never_written", "size_is_capped", "unsafe_html",
              "capped_per_visitor", "huge_learning_rate", "nan_history", "larger_than_the_data")
    lines = ["### Faults and abuse checked by the test suite", "",
             "| test | outcome |", "|---|---|"]
    for module, name, outcome in cases:
        if any(w in name for w in wanted):
            lines.append(f"| `{module}::{name}` | {outcome} |")
    passed = sum(1 for c in cases if c[2] == "passed")
    summary = (f"{passed} of {len(cases)} reliability tests passed "
               f"({sum(1 for c in cases if c[2] == 'FAILED')} failed) in {seconds:.0f} s")
    return lines + ["", summary + ".", ""], summary


def load_campaign(users: int, idle: float, train: float, app_dir: Path) -> list[str]:
    import tests.app_support as support
    from tests.reliability_support import run_load, summarise

    if not Path(support.CHROMIUM).exists():
        return ["## 3. Many users", "", f"Skipped: {support.CHROMIUM} is not installed.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        models = ROOT / "pretrained" if support.complete_pretrained() else support.untrained_models(Path(tmp) / "p")
        port = support.free_port()
        proc = support.start_server({"AE_PRETRAINED_DIR": str(models), "AE_MODELS_DIR": str(Path(tmp) / "saved")},
                                    port, Path(tmp) / "server.log", root=app_dir)
        start = time.perf_counter()
        try:
            load = run_load(f"http://127.0.0.1:{port}/", users=users, idle_s=idle, train_s=train)
        finally:
            support.stop_server(proc)
        seconds = time.perf_counter() - start
        tracebacks = (Path(tmp) / "server.log").read_text().count("Traceback")
    s = summarise(load)
    lines = ["## 3. Many users", "",
             f"{users} browser sessions (one headless Chromium, {users} contexts) on loopback, each drawing a "
             "short stroke or moving the noise slider and waiting for the answer, then pausing "
             f"0.4-1.2 s; {idle:.0f} s with nobody training, then an extra session starts a 50-epoch "
             f"run of the default preset and the others go on for {train:.0f} s; then it cancels. Latency: "
             "from mouse-up to the viewer painting that drawing, or from a key press to the changed "
             "pictures in the page (it includes the browser's own rendering: all on the same "
             f"2 cores). Campaign time {seconds:.0f} s; load average before: {_load()}.", "",
             "| phase | interactions | p50 ms | p95 ms | draw p50 / p95 ms | slider p50 / p95 ms |",
             "|---|---|---|---|---|---|"]
    for phase in ("idle", "starting training", "training", "after"):
        if phase not in s:
            continue
        r = s[phase]
        kinds = [f"{r[k]['p50']:.0f} / {r[k]['p95']:.0f}" if k in r else "–" for k in ("draw", "slider")]
        lines.append(f"| {phase} | {r['n']} | {r['p50']:.0f} | {r['p95']:.0f} | {kinds[0]} | {kinds[1]} |")
    ratio = s["training"]["p95"] / s["idle"]["p95"] if "training" in s and "idle" in s else float("nan")
    errors = load["errors"]
    lines += ["", f"- Sessions that loaded: {load.get('sessions_ready', 0)} of {users}.",
              f"- p95 while training / idle p95: **{ratio:.2f}x** (goal: at most 3x).",
              f"- Errors: **{len(errors)}** (goal: 0); tracebacks in the server log: {tracebacks}."]
    lines += [f"  - {e}" for e in errors[:20]]
    clock = load.get("clock", {})
    if "t_click" in clock:
        lines.append(f"- The Train click came at {clock['t_click']:.1f} s and the first progress bar at "
                     f"{clock.get('t_train', float('nan')):.1f} s of the campaign.")
    lines += ["- \"starting training\" is the few seconds between the Train click and the first progress "
              "bar (importing TensorFlow, which the page itself never loads, then model build and "
              "tf.function tracing); its interactions are reported apart.",
              "- Until this was fixed, every page froze for 20-30 s in that window: Streamlit's source "
              "watcher re-resolved the path of every module in `sys.modules` (about 6,000 with "
              "TensorFlow) on the server's event loop, once per session, each time TensorFlow imported "
              "a new module. `.streamlit/config.toml` now sets `server.fileWatcherType = \"none\"`.", ""]
    return lines


def _load() -> str:
    try:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--idle", type=float, default=25.0, help="seconds of load with nobody training")
    ap.add_argument("--train", type=float, default=25.0, help="seconds of load while a session trains")
    ap.add_argument("--random-kills", type=int, default=6)
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--skip-tests", action="store_true")
    ap.add_argument("--app-dir", type=Path, default=ROOT,
                    help="serve app.py from this folder (e.g. a `git archive HEAD` snapshot)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    started = time.perf_counter()
    lines = ["# Reliability: bad input, faults, many users", "",
             f"Written by `python benchmarks/reliability.py` on {dt.date.today()}; Python "
             f"{platform.python_version()}, {os.cpu_count()} CPU cores shared with other work "
             f"(load average at start {_load()}).", ""]
    print("bad inputs…", flush=True)
    lines += bad_inputs()
    print("kill campaign…", flush=True)
    lines += kill_campaign(args.random_kills)
    if not args.skip_tests:
        print("reliability tests…", flush=True)
        test_lines, summary = pytest_campaign()
        lines += test_lines
        print(" ", summary, flush=True)
    if not args.skip_load:
        print("load campaign…", flush=True)
        lines += load_campaign(args.users, args.idle, args.train, args.app_dir.resolve())
    lines += ["## Reproduce", "", "```bash",
              "python benchmarks/reliability.py                     # this report",
              "python -m pytest -q tests/test_reliability*.py        # the same checks as tests",
              "python -m pytest -q tests/test_reliability_load.py    # the load test alone (Chromium)",
              "```", "", f"Total time: {time.perf_counter() - started:.0f} s.", ""]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
