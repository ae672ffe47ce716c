"""Server-side time per interaction in the Explore tab (AppTest, warm caches): p50 and p95.

Run: `TF_CPP_MIN_LOG_LEVEL=3 python benchmarks/explore_latency.py [repeats]`.

Each panel is a fragment: in the browser a control inside it reruns that panel only. AppTest
reruns the whole script instead, so the figure per interaction is the time spent in the panel
function that the control belongs to (its computation and its `st.*` calls, timed by wrapping
the function), plus, for a map click and for switching sections (full reruns of the app, in
which only the open Explore section runs), the whole `AppTest.run()`.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AE_PRETRAINED_DIR", str(ROOT / "pretrained"))
os.environ.setdefault("AE_MODELS_DIR", "/tmp/explore_latency_models")


def timed(at: AppTest, action) -> float:
    action(at)
    start = time.perf_counter()
    at.run()
    took = time.perf_counter() - start
    assert not at.exception, [e.message for e in at.exception]
    return 1000 * took


SPENT: dict[str, float] = {}


def instrument() -> None:
    from lab import explore_view

    for name in ("page", "playground", "interpolation", "map_section", "code_map", "digit_check", "manifold",
                 "ladder", "baselines", "noise_sweep", "history", "export"):
        fn = getattr(explore_view, name)

        def wrapped(*args, _fn=fn, _name=name):
            start = time.perf_counter()
            try:
                return _fn(*args)
            finally:
                SPENT[_name] = 1000 * (time.perf_counter() - start)
        setattr(explore_view, name, wrapped)


def main(repeats: int = 15) -> None:
    instrument()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    at.session_state["page_tab"] = next(t.label for t in at.tabs if "Explore" in t.label)
    at.run()  # warm: codes, map, reference errors, sweep
    rng = np.random.default_rng(0)
    # (section of the Explore tab, interaction, the panel (fragment) it reruns, the action)
    cases = [
        ("Playground", "playground slider", "playground", lambda a: a.slider(key=f"pg_{rng.integers(32)}").set_value(
            round(float(rng.uniform(0, 3)), 2))),
        ("Playground", "playground reset", "playground", lambda a: a.button(key="pg_reset").click()),
        ("Playground", "playground random", "playground", lambda a: a.button(key="pg_random").click()),
        ("Playground", "interpolation steps", "interpolation",
         lambda a: a.slider(key="interp_steps").set_value(int(rng.integers(3, 13)))),
        ("Playground", "interpolation another", "interpolation", lambda a: a.button(key="interp_random").click()),
        ("Playground", "interpolation class", "interpolation",
         lambda a: a.selectbox(key="interp_label").set_value(int(rng.integers(10)))),
        # A click on the manifold sets mf_z1/mf_z2 in its callback, then reruns the panel: the
        # sliders take the same path.
        ("Digit manifold", "manifold slider / click", "manifold",
         lambda a: a.slider(key=f"mf_z{rng.integers(1, 3)}").set_value(round(float(rng.uniform(-2.5, 2.5)), 2))),
        ("Digit manifold", "dream up a digit", "manifold", lambda a: a.button(key="mf_dream").click()),
        ("Digit manifold", "posterior sample", "manifold", lambda a: a.button(key="mf_posterior").click()),
        ("Code map", "map PCA / t-SNE", "code_map",
         lambda a: a.segmented_control(key="map_method").set_value(["pca", "tsne"][int(rng.integers(2))])),
        # A click runs explore_view._on_map_select (load_test_digit), then reruns the whole app,
        # in which only the open Explore section (the map) runs.
        ("Code map", "map click (full app rerun)", None, lambda a: [a.session_state.__setitem__(k, v) for k, v in
                                                            (("input_mode", "pick"), ("pick_index", int(rng.integers(2000))))]),
        ("Code map", "open another section", None, None),
    ]
    print(f"{'interaction':30s} {'panel':14s} {'p50 ms':>7s} {'p95 ms':>7s}   (whole AppTest run p50)")
    sections = [t.label for t in at.tabs if any(w in t.label for w in ("Playground", "Code map", "Digit manifold",
                                                                           "Bottleneck ladder", "Baselines", "History"))]
    for label in sections:  # warm every section's caches (codes, maps, manifold, score, sweep) once
        at.session_state["explore_section"] = label
        at.run()
        if "Code map" in label:  # and the t-SNE map (computed once per model, then read from disk)
            at.segmented_control(key="map_method").set_value("tsne").run()
    every: dict[str, list[float]] = {}  # each panel's own time, over every rerun that drew it
    for section, name, what, action in cases:
        if action is None:  # switching sections: a full rerun of the app with another section
            others = [lb for lb in sections if section not in lb]
            action = lambda a: a.session_state.__setitem__("explore_section", others[rng.integers(len(others))])  # noqa: E731
        else:
            at.session_state["explore_section"] = next(lb for lb in sections if section in lb)
            at.run()
        whole, part = [], {}
        for _ in range(repeats):
            whole.append(timed(at, action))
            for k, v in SPENT.items():
                part.setdefault(k, []).append(v)
                every.setdefault(k, []).append(v)
            SPENT.clear()
        times = part[what] if what else whole
        print(f"{name:30s} {what or 'whole app':14s} {np.percentile(times, 50):7.1f} "
              f"{np.percentile(times, 95):7.1f}   ({np.percentile(whole, 50):.0f})")
    print("each panel's own time over every run above that drew it (p50 / p95 ms):")
    for k, v in every.items():
        print(f"  {k:14s} {np.percentile(v, 50):7.1f} {np.percentile(v, 95):7.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
