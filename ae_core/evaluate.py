"""One table: every stored model and every baseline on the held-out digits.

Columns: test-split BCE and MSE on clean inputs, then PSNR (dB) and SSIM against the clean
digit at Gaussian noise 0.2 / 0.5 / 0.8 (the tutorial's figure); then the canvas-style set
(test digits re-drawn as the Lab's pad draws them, scripts/build_canvas_set.py): BCE and PSNR
on clean inputs and PSNR at noise 0.5. The noise seed is fixed, so the figures are the same on
every run.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from . import baselines, metrics, noise, store
from .data import Dataset, load_canvas_test

NOISE_LEVELS = (0.2, 0.5, 0.8)
EVAL_SEED = 2024


def model_fn(stored: store.StoredModel) -> Callable[[np.ndarray], np.ndarray]:
    """(N, 28, 28) -> (N, 28, 28) through a stored autoencoder, in batches."""
    def run(x: np.ndarray) -> np.ndarray:
        out = stored.model.autoencoder.predict(np.asarray(x, np.float32).reshape(-1, 28, 28, 1),
                                               batch_size=500, verbose=0)
        return out.reshape(-1, 28, 28)
    return run


def noisy_test_sets(x_test: np.ndarray, levels=NOISE_LEVELS, seed: int = EVAL_SEED) -> dict:
    return {level: noise.gaussian(x_test, level, seed=seed + int(round(level * 1000)))
            for level in levels}


def evaluate_fn(fn: Callable[[np.ndarray], np.ndarray], x_test: np.ndarray, noisy: dict) -> dict:
    """The metrics of one reconstruction function on clean and noisy inputs."""
    start = time.perf_counter()
    clean_rec = fn(x_test)
    row = {"bce": float(metrics.bce(x_test, clean_rec).mean()),
           "mse": float(metrics.mse(x_test, clean_rec).mean())}
    for level, x_noisy in noisy.items():
        rec = fn(x_noisy)
        row[f"psnr@{level}"] = float(metrics.psnr(x_test, rec).mean())
        row[f"ssim@{level}"] = float(metrics.ssim(x_test, rec).mean())
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


CANVAS_LEVEL = 0.5


def canvas_row(fn: Callable[[np.ndarray], np.ndarray], canvas: np.ndarray, noisy: np.ndarray) -> dict:
    """BCE and PSNR on the clean canvas-style digits and PSNR at noise CANVAS_LEVEL."""
    clean_rec = fn(canvas)
    return {"canvas_bce": float(metrics.bce(canvas, clean_rec).mean()),
            "canvas_psnr": float(metrics.psnr(canvas, clean_rec).mean()),
            f"canvas_psnr@{CANVAS_LEVEL}": float(metrics.psnr(canvas, fn(noisy)).mean())}


def evaluate_all(data: Dataset, models_dir: Path | str, with_baselines: bool = True,
                 progress: Callable[[str], None] = lambda name: None) -> dict:
    """{"rows": {name: {metric: value}}, "kinds": {name: "model"|"baseline"}, "errors": {...}}."""
    noisy = noisy_test_sets(data.x_test)
    canvas, _ = load_canvas_test()
    canvas_noisy = noisy_test_sets(canvas, (CANVAS_LEVEL,))[CANVAS_LEVEL]
    rows, kinds, errors = {}, {}, {}
    for name in store.list_models(models_dir):
        progress(name)
        try:
            stored = store.load(models_dir, name)
        except store.ModelFileError as exc:
            errors[name] = str(exc)
            continue
        fn = model_fn(stored)
        rows[name] = {**evaluate_fn(fn, data.x_test, noisy), **canvas_row(fn, canvas, canvas_noisy)}
        kinds[name] = "model"
    if with_baselines:
        for name, fn in baselines.all_baselines(data.x_train).items():
            progress(name)
            rows[name] = {**evaluate_fn(fn, data.x_test, noisy), **canvas_row(fn, canvas, canvas_noisy)}
            kinds[name] = "baseline"
    return {"data": {"source": data.source, "sha256": data.sha256, "n_test": len(data.x_test),
                     "n_canvas": len(canvas)},
            "noise_levels": list(NOISE_LEVELS), "noise_seed": EVAL_SEED,
            "rows": rows, "kinds": kinds, "errors": errors, "ladder": ladder(data, models_dir)}


def ladder(data: Dataset, models_dir: Path | str) -> dict:
    """The bottleneck ladder: clean test BCE and PSNR against code size, autoencoder vs PCA.

    {"sizes": [2, 4, ...], "autoencoder": {size: {"bce", "psnr"}}, "pca": {size: {...}}}; a
    ladder model missing from `models_dir` is left out of "autoencoder" (sizes as strings in
    JSON). The autoencoders are the `presets.LADDER` models; PCA is fitted on the training digits.
    """
    from .presets import LADDER_SIZES

    def row(fn) -> dict:
        rec = fn(data.x_test)
        return {"bce": float(metrics.bce(data.x_test, rec).mean()),
                "psnr": float(metrics.psnr(data.x_test, rec).mean())}

    out = {"sizes": list(LADDER_SIZES), "autoencoder": {}, "pca": {}}
    available = set(store.list_models(models_dir))
    for size in LADDER_SIZES:
        out["pca"][str(size)] = row(baselines.PCA(data.x_train, size))
        if f"ladder_{size}" in available:
            try:
                out["autoencoder"][str(size)] = row(model_fn(store.load(models_dir, f"ladder_{size}")))
            except store.ModelFileError:
                continue  # evaluate_all reports it among its errors
    return out


def ladder_markdown(result: dict) -> str:
    """The ladder as a Markdown table (empty when the result has none)."""
    lad = result.get("ladder")
    if not lad:
        return ""
    lines = ["", "Bottleneck ladder (clean test digits):", "",
             "| code size | autoencoder BCE | PCA BCE | autoencoder PSNR | PCA PSNR |", "|---|---|---|---|---|"]
    for size in lad["sizes"]:
        ae, pca = lad["autoencoder"].get(str(size)), lad["pca"][str(size)]
        cells = [f"{ae['bce']:.4f}" if ae else "-", f"{pca['bce']:.4f}",
                 f"{ae['psnr']:.2f}" if ae else "-", f"{pca['psnr']:.2f}"]
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


COLUMNS = (["bce", "mse"] + [f"{m}@{lv}" for m in ("psnr", "ssim") for lv in NOISE_LEVELS]
           + ["canvas_bce", "canvas_psnr", f"canvas_psnr@{CANVAS_LEVEL}"])


def _db(value: float) -> str:
    """A PSNR cell: metrics.psnr caps a perfect match at PSNR_CAP, which reads as a real figure."""
    return "∞ (identical)" if value >= metrics.PSNR_CAP else f"{value:.2f}"


def to_markdown(result: dict) -> str:
    head = "| model | kind | test BCE | MSE | " + " | ".join(
        f"PSNR {lv}" for lv in NOISE_LEVELS) + " | " + " | ".join(f"SSIM {lv}" for lv in NOISE_LEVELS) + (
        f" | canvas BCE | canvas PSNR | canvas PSNR {CANVAS_LEVEL} |")
    lines = [head, "|" + "---|" * (2 + len(COLUMNS))]
    for name, row in result["rows"].items():
        cells = [f"{row['bce']:.4f}", f"{row['mse']:.4f}"]
        cells += [_db(row[f'psnr@{lv}']) for lv in NOISE_LEVELS]
        cells += [f"{row[f'ssim@{lv}']:.3f}" for lv in NOISE_LEVELS]
        cells += [f"{row['canvas_bce']:.4f}", _db(row['canvas_psnr']), _db(row[f'canvas_psnr@{CANVAS_LEVEL}'])]
        lines.append(f"| {name} | {result['kinds'][name]} | " + " | ".join(cells) + " |")
    for name, err in result["errors"].items():
        lines.append(f"| {name} | error | {err} |")
    return "\n".join(lines) + "\n" + ladder_markdown(result)


def write_reports(result: dict, out_dir: Path | str) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "evaluation.json", out_dir / "evaluation.md"
    # Atomic: the app reads evaluation.json while a new evaluation may be writing it.
    text = json.dumps(result, indent=2) + "\n"
    store.atomic_write(json_path, lambda tmp: tmp.write_text(text))
    d = result["data"]
    markdown = (
        f"# Evaluation on the {d['n_test']} test digits ({d['source']}, sha256 {d['sha256']})\n\n"
        "Test BCE and MSE: clean input, reconstruction against it. PSNR (dB) and SSIM: "
        f"Gaussian noise at each level (seed {result['noise_seed']}), output against the clean "
        f"digit. Canvas: {d.get('n_canvas', 0)} test digits re-drawn as the Lab's pad draws them "
        "(`scripts/build_canvas_set.py`), clean and at noise 0.5, against the re-drawn digit. "
        "Models were chosen on the validation split, never on these. "
        "Written by `python -m ae_core evaluate`.\n\n" + to_markdown(result))
    store.atomic_write(md_path, lambda tmp: tmp.write_text(markdown))
    return json_path, md_path
