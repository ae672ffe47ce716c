"""Five browser sessions draw and move the noise slider while a sixth trains.

Fetches the in-page runtime if needed, starts `streamlit run app.py` on a free loopback port,
drives Debian Chromium (one browser, one context per visitor, `tests/reliability_support.run_load`),
and prints the interaction latency (pointer-up or key press to the page's paint of the answer,
in the page's clock: the Lab computes in the page) while nobody trains and while another
session's run goes on in its trainer process, the server's CPU time over the campaign, and the
machine's load average, which the figures depend on (other work on the machine shows up in both
phases).

    python benchmarks/load.py [--users 5] [--idle 25] [--train 25]

Target: p95 while training at most 1.5x the idle p95, and no errors.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser_support import cpu_seconds, free_port, start_server, stop_server  # noqa: E402
from tests.reliability_support import run_load, summarise  # noqa: E402
from tests.runtime_support import ort_ready  # noqa: E402


def models_folder(tmp: Path) -> Path:
    """pretrained/ when it holds every preset, else untrained stand-ins saved the same way."""
    from ae_core.presets import PRESETS

    if all((ROOT / "pretrained" / f"{n}.json").is_file() for n in PRESETS):
        return ROOT / "pretrained"
    from tests.app_support import untrained_models

    return untrained_models(tmp / "pretrained")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--idle", type=float, default=25.0, help="seconds of the idle phase")
    parser.add_argument("--train", type=float, default=25.0, help="seconds of the training phase")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = models_folder(tmp)
        status = ort_ready()
        if not status.ready:
            print(f"the in-page runtime is not available ({status.message}): the Lab runs on the server")
        port = free_port()
        load_avg, stop = [], threading.Event()

        def sample():
            while not stop.wait(1.0):
                load_avg.append(os.getloadavg()[0])

        before = os.getloadavg()[0]
        proc = start_server({"AE_PRETRAINED_DIR": str(models), "AE_MODELS_DIR": str(tmp / "saved")}, port,
                            tmp / "server.log")
        threading.Thread(target=sample, daemon=True).start()
        started, cpu0 = time.perf_counter(), cpu_seconds(proc.pid)
        try:
            load = run_load(f"http://127.0.0.1:{port}/", users=args.users, idle_s=args.idle, train_s=args.train)
            cpu = cpu_seconds(proc.pid) - cpu0
        finally:
            stop.set()
            stop_server(proc)
        log = (tmp / "server.log").read_text()
    figures = summarise(load)
    idle, training = figures.get("idle", {}), figures.get("training", {})
    print(f"{args.users} sessions interacting, {args.idle:.0f} s idle then {args.train:.0f} s while a sixth trains; "
          f"{time.perf_counter() - started:.0f} s in all")
    print(f"machine: {os.cpu_count()} CPUs, load average {before:.1f} before, "
          f"{min(load_avg, default=0):.1f} to {max(load_avg, default=0):.1f} during")
    for phase in ("idle", "training"):
        row = figures.get(phase)
        if row:
            kinds = ", ".join(f"{k} p50 {v['p50']:.0f} / p95 {v['p95']:.0f} ms (n={v['n']})"
                              for k, v in row.items() if isinstance(v, dict))
            print(f"  {phase:9s} p50 {row['p50']:5.0f} ms  p95 {row['p95']:5.0f} ms  n={row['n']:3d}   {kinds}")
    clock = load.get("clock", {})
    if "t_click" in clock and "t_train" in clock:
        print(f"  Train click -> the progress bar shows an epoch (the trainer's first event): "
              f"{clock['t_train'] - clock['t_click']:.1f} s")
    print(f"  server process CPU: {cpu:.1f} s over {time.perf_counter() - started:.0f} s "
          "(the trainer runs in its own process)")
    if idle and training:
        print(f"  p95 ratio training / idle: {training['p95'] / idle['p95']:.2f} (target <= 1.5)")
    print(f"  errors: {len(load['errors'])}" + "".join(f"\n    {e}" for e in load["errors"][:10]))
    if "Traceback" in log:
        print("  the server log has a traceback:\n" + log[-2000:])
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": figures, "errors": load["errors"],
                                               "load_average": load_avg}, indent=1))
    return 0 if load["errors"] == [] and idle and training else 1


if __name__ == "__main__":
    sys.exit(main())
