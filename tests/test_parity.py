"""The page's arithmetic (lab/compute.js) against its Python twins, on the same inputs.

Chromium (Debian's, driven by Playwright) loads compute.js into a blank page; each batch of
inputs goes in with one `evaluate` call. Checked: the pad's strokes to the 28x28 digit
(`preprocess.from_strokes`, within 1/255 and the same errors), the noise (`noise.apply` with
`noise.field_json`, the same float32 bits) and the metrics (`metrics`, within 1e-4 relative).
Without /usr/bin/chromium the module is skipped, unless AE_REQUIRE_BROWSER=1 (CI), where that fails.
"""
from __future__ import annotations

import base64
import inspect
import json
import os
from pathlib import Path

import numpy as np
import pytest

from ae_core import metrics, noise
from ae_core import preprocess as pp
from tests.browser_support import CHROMIUM, ROOT, script_page
from tests.helpers import bundled

COMPUTE_JS = ROOT / "lab" / "compute.js"
PIXEL = 1 / 255

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page():
    """A blank Chromium page with lab/compute.js loaded, for the whole module."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is not installed (apt-get install chromium): the page's arithmetic is untested"
        if os.environ.get("AE_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " and AE_REQUIRE_BROWSER=1 requires it")
        pytest.skip(message)
    with script_page() as pg:
        pg.set_content("<!doctype html><html><body></body></html>")
        pg.add_script_tag(content=COMPUTE_JS.read_text())
        yield pg


def test_the_page_uses_pythons_constants(page):
    js = page.evaluate("({...PREPROCESS, ...METRICS})")
    assert js == {"SIZE": pp.SIZE, "BOX": pp.BOX, "INK_LEVEL": pp.INK_LEVEL, "RASTER": pp.RASTER,
                  "MIN_SPAN_PENS": pp.MIN_SPAN_PENS, "MAX_STROKES": pp.MAX_STROKES,
                  "MAX_POINTS": pp.MAX_POINTS, "MAX_INK_PADS": pp.MAX_INK_PADS, "EPS": metrics.EPS,
                  "PSNR_CAP": metrics.PSNR_CAP,
                  "SSIM_WIN": inspect.signature(metrics.ssim).parameters["win_size"].default}


# --- strokes -> 28x28 ---------------------------------------------------------------------

def _pointer_path(rng: np.random.Generator, start, steps: int, speed: float, size: float) -> np.ndarray:
    """A smooth hand-like path: a heading that turns a little at every pointer event."""
    heading = rng.uniform(0, 2 * np.pi)
    turn = rng.normal(0, 0.25, steps).cumsum() * 0.3 + rng.normal(0, 0.05, steps)
    angles = heading + turn
    step = speed * size * rng.uniform(0.6, 1.4, steps)
    return np.asarray(start) + np.stack([np.cos(angles) * step, np.sin(angles) * step], axis=1).cumsum(axis=0)


def random_drawings(n: int, seed: int = 2026) -> list[tuple[list, float]]:
    """`n` seeded digit-like drawings: 1-4 strokes of pointer-spaced points on pads of 150-700 px,
    some rounded to 0.1 px as the pad sends them, some left as raw floats."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        size = float(rng.uniform(150, 700)) if i % 3 else float(rng.integers(150, 701))
        strokes = []
        for _ in range(int(rng.integers(1, 5))):
            start = rng.uniform(0.2, 0.8, 2) * size
            path = _pointer_path(rng, start, int(rng.integers(1, 150)), float(rng.uniform(0.004, 0.02)), size)
            if i % 2:
                path = np.round(path, 1)
            strokes.append(path.tolist())
        out.append((strokes, size))
    return out


def _line(a, b, n):
    return [[a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t] for t in np.linspace(0, 1, n)]


def hand_made_drawings() -> dict[str, tuple[list, float]]:
    rng = np.random.default_rng(7)
    circle = [[160 + 100 * np.cos(t), 160 + 100 * np.sin(t)] for t in np.linspace(0, 2 * np.pi, 300)]
    cases = {
        "empty": ([], 280),
        "single dot": ([[[140, 140]]], 280),
        "dot-sized scribble": ([(140 + rng.normal(0, 4, (60, 2))).tolist()], 280),
        "two dots close": ([[[10, 10]], [[12, 11]]], 280),
        "two dots far apart": ([[[60, 60]], [[200, 220]]], 280),
        "tiny stroke": ([[[140, 140], [145, 142]]], 280),
        "just over the dot limit": ([[[100, 100], [100 + 1.6 * pp.PEN_FRACTION * 280 + 0.5, 100]]], 280),
        "seven": ([[[60, 50], [200, 50], [120, 230]]], 280),
        "seven on a wide pad": ([[[x * 2.5, y * 2.5] for x, y in [[60, 50], [200, 50], [120, 230]]]], 700),
        "seven on an odd pad": ([[[x * 333.5 / 280, y * 333.5 / 280] for x, y in [[60, 50], [200, 50], [120, 230]]]],
                                333.5),
        "huge diagonal cross": ([[[0, 0], [320, 320]], [[0, 320], [320, 0]]], 320),
        "huge stroke around the pad": ([[[0, 0], [600, 0], [600, 600], [0, 600], [0, 0]]], 600),
        "strokes far outside": ([[[-5000, -5000], [1e6, 1e6]], [[-1e5, 280], [280, -1e5]]], 280),
        "all outside in one corner": ([[[-100, -100], [-50, -200]], [[-400, -3]]], 280),
        "partly outside": ([_line((200, 40), (400, 250), 40), _line((250, 100), (250, 500), 30)], 300),
        "centred vertical line": ([_line((140, 40), (140, 240), 50)], 280),
        "centred horizontal line": ([_line((40, 140), (240, 140), 50)], 280),
        "centred plus": ([_line((140, 40), (140, 240), 50), _line((40, 140), (240, 140), 50)], 280),
        "centred circle": ([circle], 320),
        # Symmetric drawings whose centre of mass is an exact half: NumPy's sums and the page's,
        # in another order, land on either side of it unless both snap it (preprocess._snap).
        "four dots in a centred square": ([[[96, 96]], [[224, 96]], [[96, 224]], [[224, 224]]], 320),
        "centred diagonal cross": ([[[30, 30], [370, 370]], [[30, 370], [370, 30]]], 400),
        "thin one, two points": ([[[150, 20], [150, 260]]], 300),
        "one-point strokes and lines": ([[[50, 50]], _line((60, 60), (200, 220), 20), [[230, 40]], [[100, 250]],
                                         _line((220, 60), (80, 200), 3)], 280),
        "many tiny strokes": ([[[float(x), float(y)], [float(x) + 1.5, float(y) + 0.5]] if k % 2 else [[float(x), float(y)]]
                               for k, (x, y) in enumerate(rng.uniform(20, 460, (400, 2)))], 480),
        "many tiny strokes in a ring": ([[[240 + 150 * np.cos(a), 240 + 150 * np.sin(a)]]
                                         for a in np.linspace(0, 2 * np.pi, 120, endpoint=False)], 480),
        "repeated points": ([[[100, 100]] * 30 + [[180, 200]] * 30 + _line((180, 200), (100, 250), 10)], 280),
        "integer-valued points": ([[[x, int(140 + 60 * np.sin(x / 20))] for x in range(40, 240, 3)]], 280),
        "a long scribble (the point limit)": ([(150 + 100 * np.stack([np.sin(np.arange(pp.MAX_POINTS) / 50),
                                                                     np.cos(np.arange(pp.MAX_POINTS) / 73)], 1)
                                                ).tolist()], 300),
        "too many points": ([[[float(i % 200), 100.0] for i in range(pp.MAX_POINTS + 1)]], 300),
        "too many strokes": ([[[1, 1], [2, 2]]] * (pp.MAX_STROKES + 1), 280),
        "too much ink": ([[[0, 0], [280, 280]] * 150], 280),
    }
    return cases


def _python(strokes, size):
    try:
        return pp.from_strokes(strokes, size), None
    except ValueError as exc:  # EmptyImageError included
        return None, str(exc)


def _page(page, drawings: list[tuple[list, float]]) -> list[tuple[np.ndarray | None, str | None]]:
    """The page's `fromStrokes` on each drawing; JSON in and base64 out (Playwright's own
    serialisation of large nested arrays is slow)."""
    results = json.loads(page.evaluate("""([drawings, pen]) => JSON.stringify(JSON.parse(drawings).map(
        ([strokes, size]) => {
            const r = fromStrokes(strokes, size, pen);
            if (r.error !== undefined) return {error: r.error};
            return {image: btoa(String.fromCharCode(...new Uint8Array(r.image.buffer)))};
        }))""", [json.dumps(drawings), pp.PEN_FRACTION]))
    return [(None if "image" not in r else np.frombuffer(base64.b64decode(r["image"]), "<f4").reshape(28, 28),
             r.get("error")) for r in results]


def _compare(page, named: dict[str, tuple[list, float]]) -> int:
    """Asserts the page and Python agree on every drawing; returns how many became digits."""
    digits = 0
    for name, (image, error), (py, py_error) in zip(named, _page(page, list(named.values())),
                                                    (_python(s, z) for s, z in named.values())):
        assert error == py_error, f"{name}: page says {error!r}, Python {py_error!r}"
        if py is not None:
            digits += 1
            diff = float(np.abs(image - py).max())
            assert diff <= PIXEL, f"{name}: the page's digit differs from Python's by {diff:.4f}"
    return digits


def test_random_drawings_match_python(page):
    drawings = random_drawings(220)
    named = {f"random {i} (pad {size:.1f} px)": (s, size) for i, (s, size) in enumerate(drawings)}
    digits = sum(_compare(page, dict(list(named.items())[i:i + 60])) for i in range(0, len(named), 60))
    assert digits >= 200, "the generator should make digit-like drawings, not dots"


def test_hand_made_drawings_match_python(page):
    cases = hand_made_drawings()
    _compare(page, cases)
    expected_errors = {"empty": "Nothing drawn", "single dot": "a dot", "dot-sized scribble": "a dot",
                       "two dots close": "a dot", "tiny stroke": "a dot", "all outside in one corner": "a dot",
                       "too many points": "Too many points", "too many strokes": "Too many strokes",
                       "too much ink": "Too much ink"}
    for name, (strokes, size) in cases.items():  # the cases test what they are named for
        error = _python(strokes, size)[1]
        if name in expected_errors:
            assert error is not None and expected_errors[name] in error, (name, error)
        else:
            assert error is None, (name, error)


def test_the_page_converts_a_digit_within_3_ms(page):
    """A typical digit (300 pointer events) as the pen moves: the page runs this on every move."""
    strokes = [_pointer_path(np.random.default_rng(3), (200, 150), 300, 0.008, 400).tolist()]
    ms = page.evaluate("""([strokes, pen]) => {
        for (let i = 0; i < 20; i++) fromStrokes(strokes, 400, pen);  // warm up the JIT
        const times = [];
        for (let i = 0; i < 100; i++) {
            const t0 = performance.now();
            fromStrokes(strokes, 400, pen);
            times.push(performance.now() - t0);
        }
        times.sort((a, b) => a - b);
        return times[50];
    }""", [strokes, pp.PEN_FRACTION])
    print(f"fromStrokes, 300 points: median {ms:.2f} ms")
    assert ms <= 3.0


# --- noise ----------------------------------------------------------------------------------

def _tie_levels() -> list[float]:
    """Levels whose masked-cell count level * 7 * 7 is exactly k + 0.5 (round() goes to even)."""
    levels = []
    for k in (0, 1, 12, 24, 25, 47):
        lv = (k + 0.5) / 49
        for cand in (lv, np.nextafter(lv, 0), np.nextafter(lv, 1)):
            if float(cand) * 7 * 7 == k + 0.5:
                levels.append(float(cand))
                break
    return levels


LEVELS = [0.0, 0.05, 0.3, 0.5, 0.51, 0.999, 1.0]
SEEDS = [0, 1, 7, 12345, 2**31 + 5]


def _clean_images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    negative_zero = bundled().x_test[3].copy()
    negative_zero[negative_zero == 0] = -0.0
    return {"digit": bundled().x_test[0], "another digit": bundled().x_test[1],
            "uniform": rng.random((28, 28), dtype=np.float32), "black": np.zeros((28, 28), np.float32),
            "white": np.ones((28, 28), np.float32), "with -0.0": negative_zero}


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


@pytest.mark.parametrize("kind", noise.KINDS)
def test_noise_is_bit_identical(page, kind):
    levels = LEVELS + _tie_levels()
    assert len(_tie_levels()) >= 5
    images = _clean_images()
    jobs = [(name, seed, lv) for name in images for seed in SEEDS for lv in levels]
    fields = {seed: noise.field_json(kind, seed) for seed in SEEDS}
    encoded = {name: base64.b64encode(_bits(x).astype("<u4").tobytes()).decode() for name, x in images.items()}
    out = page.evaluate("""([jobs, fields, images]) => {
        const decode = (b64) => new Float32Array(Uint8Array.from(atob(b64), c => c.charCodeAt(0)).buffer);
        const encode = (a) => btoa(String.fromCharCode(...new Uint8Array(a.buffer)));
        return jobs.map(([name, seed, level]) => encode(noiseApply(decode(images[name]), fields[seed], level)));
    }""", [jobs, {str(k): v for k, v in fields.items()}, encoded])
    for (name, seed, lv), b64 in zip(jobs, out):
        js = np.frombuffer(base64.b64decode(b64), "<f4")
        py = noise.apply(images[name], noise.field(kind, seed), lv)
        assert np.array_equal(_bits(js), _bits(py).ravel()), f"{kind} {name} seed {seed} level {lv!r}"
        # The server's path for one digit (engine.corrupt) is the same picture.
        assert np.array_equal(_bits(noise.add_noise(images[name][None], lv, seed, kind)[0]), _bits(py))


# --- metrics --------------------------------------------------------------------------------

def _metric_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    x = bundled().x_test
    blurred = np.clip((x[5] + np.roll(x[5], 1, 0) + np.roll(x[5], 1, 1)) / 3 + 0.02, 0, 1).astype(np.float32)
    pairs = {"identical digit": (x[0], x[0].copy()), "all black": (np.zeros((28, 28), np.float32),) * 2,
             "black vs digit": (np.zeros((28, 28), np.float32), x[1]), "digit vs black": (x[1], np.zeros((28, 28), np.float32)),
             "white vs black": (np.ones((28, 28), np.float32), np.zeros((28, 28), np.float32)),
             "blurred reconstruction": (x[5], blurred)}
    for kind in noise.KINDS:
        for lv in (0.1, 0.5, 1.0):
            pairs[f"{kind} {lv}"] = (x[2], noise.add_noise(x[2], lv, 3, kind))
    for i in range(20):
        pairs[f"random {i}"] = (rng.random((28, 28), dtype=np.float32), rng.random((28, 28), dtype=np.float32))
        pairs[f"digit {i} vs random"] = (x[10 + i], rng.random((28, 28), dtype=np.float32) ** 4)
    return pairs


def test_metrics_match_python(page):
    pairs = _metric_pairs()
    out = page.evaluate("""(pairs) => JSON.parse(pairs).map(([a, b]) => metrics(Float32Array.from(a), Float32Array.from(b)))""",
                        json.dumps([[a.ravel().tolist(), b.ravel().tolist()] for a, b in pairs.values()]))
    for (name, (a, b)), js in zip(pairs.items(), out):
        py = {k: float(v[0]) for k, v in metrics.all_metrics(a, b).items()}
        for key in ("bce", "mse", "psnr", "ssim"):
            assert js[key] == pytest.approx(py[key], rel=1e-4, abs=1e-12), f"{name}: {key}"
    same = out[list(pairs).index("identical digit")]
    assert same["psnr"] == metrics.PSNR_CAP and same["mse"] == 0 and same["ssim"] == 1.0
    black = out[list(pairs).index("all black")]
    assert black["psnr"] == metrics.PSNR_CAP and black["ssim"] == 1.0
