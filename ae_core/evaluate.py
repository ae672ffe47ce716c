"""One table: every stored model and every baseline on the held-out digits.

Columns: validation BCE and MSE on clean inputs, then PSNR (dB) and SSIM against the clean
digit at Gaussian noise 0.2 / 0.5 / 0.8 (the tutorial's figure). The noise seed is fixed, so
the figures are the same on every run.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from . import baselines, metrics, noise, store
from .data import Dataset

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


def evaluate_all(data: Dataset, models_dir: Path | str, with_baselines: bool = True,
                 progress: Callable[[str], None] = lambda name: None) -> dict:
    """{"rows": {name: {metric: value}}, "kinds": {name: "model"|"baseline"}, "errors": {...}}."""
    noisy = noisy_test_sets(data.x_test)
    rows, kinds, errors = {}, {}, {}
    for name in store.list_models(models_dir):
        progress(name)
        try:
            stored = store.load(models_dir, name)
        except store.ModelFileError as exc:
            errors[name] = str(exc)
            continue
        rows[name], kinds[name] = evaluate_fn(model_fn(stored), data.x_test, noisy), "model"
    if with_baselines:
        for name, fn in baselines.all_baselines(data.x_train).items():
            progress(name)
            rows[name], kinds[name] = evaluate_fn(fn, data.x_test, noisy), "baseline"
    return {"data": {"source": data.source, "sha256": data.sha256, "n_test": len(data.x_test)},
            "noise_levels": list(NOISE_LEVELS), "noise_seed": EVAL_SEED,
            "rows": rows, "kinds": kinds, "errors": errors}


COLUMNS = ["bce", "mse"] + [f"{m}@{lv}" for m in ("psnr", "ssim") for lv in NOISE_LEVELS]


def to_markdown(result: dict) -> str:
    head = "| model | kind | val BCE | MSE | " + " | ".join(
        f"PSNR {lv}" for lv in NOISE_LEVELS) + " | " + " | ".join(f"SSIM {lv}" for lv in NOISE_LEVELS) + " |"
    lines = [head, "|" + "---|" * (2 + len(COLUMNS))]
    for name, row in result["rows"].items():
        cells = [f"{row['bce']:.4f}", f"{row['mse']:.4f}"]
        cells += [f"{row[f'psnr@{lv}']:.2f}" for lv in NOISE_LEVELS]
        cells += [f"{row[f'ssim@{lv}']:.3f}" for lv in NOISE_LEVELS]
        lines.append(f"| {name} | {result['kinds'][name]} | " + " | ".join(cells) + " |")
    for name, err in result["errors"].items():
        lines.append(f"| {name} | error | {err} |")
    return "\n".join(lines) + "\n"


def write_reports(result: dict, out_dir: Path | str) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "evaluation.json", out_dir / "evaluation.md"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    d = result["data"]
    md_path.write_text(
        f"# Evaluation on {d['n_test']} held-out digits ({d['source']}, sha256 {d['sha256']})\n\n"
        "Validation BCE and MSE: clean input, reconstruction against it. PSNR (dB) and SSIM: "
        f"Gaussian noise at each level (seed {result['noise_seed']}), output against the clean "
        "digit. Written by `python -m ae_core evaluate`.\n\n" + to_markdown(result))
    return json_path, md_path
