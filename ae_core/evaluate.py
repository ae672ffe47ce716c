"""The evaluation report: every stored model and every baseline on the held-out digits, the
bottleneck ladder, the 2x2 "data-specific" table and the rate-distortion data.

Columns: test-split BCE and MSE on clean inputs, then PSNR (dB) and SSIM against the clean
digit at Gaussian noise 0.2 / 0.5 / 0.8 (the tutorial's figure); then the canvas-style set
(test digits re-drawn as the Lab's pad draws them, scripts/build_canvas_set.py): BCE and PSNR
on clean inputs and PSNR at noise 0.5. The noise seed is fixed, so the figures are the same on
every run.

PSNR over a set is the PSNR of the set's mean MSE (`metrics.set_psnr`), not the mean of per-image dB:
a mean of logarithms rewards a method that is nearly exact on a few images (a per-image PSNR
near a perfect match is huge) whatever it does to the rest. BCE, MSE and SSIM are means.
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
        row[f"psnr@{level}"] = metrics.set_psnr(x_test, rec)
        row[f"ssim@{level}"] = float(metrics.ssim(x_test, rec).mean())
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


CANVAS_LEVEL = 0.5


def canvas_row(fn: Callable[[np.ndarray], np.ndarray], canvas: np.ndarray, noisy: np.ndarray) -> dict:
    """BCE and PSNR on the clean canvas-style digits and PSNR at noise CANVAS_LEVEL."""
    clean_rec = fn(canvas)
    return {"canvas_bce": float(metrics.bce(canvas, clean_rec).mean()),
            "canvas_psnr": metrics.set_psnr(canvas, clean_rec),
            f"canvas_psnr@{CANVAS_LEVEL}": metrics.set_psnr(canvas, fn(noisy))}


def evaluate_all(data: Dataset, models_dir: Path | str, with_baselines: bool = True,
                 progress: Callable[[str], None] = lambda name: None, with_claims: bool = True) -> dict:
    """{"rows": {name: {metric: value}}, "kinds": {name: "model"|"baseline"}, "errors": {...},
    "ladder": ..., and with `with_claims` "data_specific" and "rate_distortion" (`claims`)}."""
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
            "rows": rows, "kinds": kinds, "errors": errors, "ladder": ladder(data, models_dir),
            **(claims(data, models_dir, progress) if with_claims else {})}


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
                "psnr": metrics.set_psnr(data.x_test, rec)}

    out = {"sizes": list(LADDER_SIZES), "autoencoder": {}, "pca": {}}
    available = set(store.list_models(models_dir))
    for size, pca in zip(LADDER_SIZES, pca_family(data.x_train, LADDER_SIZES)):
        out["pca"][str(size)] = row(pca)
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


# --- what the tutorial claims: data-specific and lossy -----------------------------------------

DIGIT_MODEL, CLOTHING_MODEL = "dense_seed", "dense_clothing"  # the same recipe, two kinds of data
SET_TITLES = {"digits": "MNIST test digits", "clothing": "Fashion-MNIST test clothing",
              "nondigits": "letters and shapes (the non-digit set)"}


def claim_sets(data: Dataset) -> dict[str, np.ndarray]:
    """The test images of each set the claims are measured on: (N, 28, 28) float32."""
    from .data import load_clothing
    from .score import NONDIGIT_SET

    with np.load(NONDIGIT_SET) as f:
        nondigits = np.concatenate([f["letters"], f["shapes"]]).astype(np.float32) / 255.0
    return {"digits": data.x_test, "clothing": load_clothing().x_test, "nondigits": nondigits}


def fit_images(kind: str, data: Dataset | None = None) -> np.ndarray:
    """Training and validation images (never test) of "digits" or "clothing": what a model's
    8-bit code range is fitted on."""
    from .data import load_bundled, load_clothing

    d = load_clothing() if kind == "clothing" else (data or load_bundled())
    return np.concatenate([d.x_train, d.x_val])


def data_specific(data: Dataset, models: dict) -> dict:
    """The 2x2 table: each model (name -> Keras or ONNX autoencoder) on the digit and the
    clothing test sets: {"psnr": {model: {set: dB}}, "ssim": ..., "bce": ...}."""
    from .analysis import reconstruct  # analysis imports this module: imported when needed

    sets = claim_sets(data)
    out = {"sets": ["digits", "clothing"], "models": {}, "psnr": {}, "ssim": {}, "bce": {}}
    for name, (model, trained_on) in models.items():
        out["models"][name] = trained_on
        for key in ("psnr", "ssim", "bce"):
            out[key][name] = {}
        for kind in out["sets"]:
            x = sets[kind]
            rec = reconstruct(model, x)
            out["psnr"][name][kind] = round(metrics.set_psnr(x, rec), 3)
            out["ssim"][name][kind] = round(float(metrics.ssim(x, rec).mean()), 4)
            out["bce"][name][kind] = round(float(metrics.bce(x, rec).mean()), 4)
    return out


def rate_distortion(data: Dataset, codecs: dict, progress: Callable[[str], None] = lambda name: None) -> dict:
    """Bytes per image against PSNR (of the mean MSE) and SSIM on each claim set.

    `codecs`: series name -> list of `compress` codecs (8-bit codes) or one codec. Every set
    also gets the JPEG and WebP quality sweeps and the lossless PNG and zlib sizes.
    """
    from . import compress

    out = {"bits": compress.BITS, "qualities": list(compress.QUALITIES), "sets": {}}
    for kind, x in claim_sets(data).items():
        progress(f"rate-distortion on {kind}")
        series = {"JPEG": compress.sweep(x, "JPEG"), "WebP": compress.sweep(x, "WebP")}
        for name, family in codecs.items():
            series[name] = [compress.codec_point(x, c) for c in family]
        out["sets"][kind] = {"title": SET_TITLES[kind], "n": int(len(x)), "series": series,
                             "lossless": compress.lossless(x)}
    return out


def pca_family(x_train: np.ndarray, sizes) -> list[baselines.PCA]:
    """PCA with each number of components in `sizes`, from one fit (the leading components)."""
    full = baselines.PCA(x_train, max(sizes))
    return [full.first(k) for k in sizes]


def claims(data: Dataset, models_dir: Path | str, progress: Callable[[str], None] = lambda name: None) -> dict:
    """{"data_specific": the 2x2 table, "rate_distortion": ...} for the models in `models_dir`
    (those missing are left out): the ladder and dense_seed trained on digits, dense_clothing
    on clothing; PCA fitted on the training digits."""
    from . import compress
    from .data import kind_of
    from .presets import LADDER_SIZES

    available = set(store.list_models(models_dir))

    def loaded(name):
        if name not in available:
            return None
        try:
            stored = store.load(models_dir, name)
        except store.ModelFileError:
            return None  # evaluate_all reports it among its errors
        return stored.model, kind_of((stored.manifest.get("data") or {}).get("source"))

    fits = {"digits": fit_images("digits", data)}
    models = {n: m for n in (DIGIT_MODEL, CLOTHING_MODEL) if (m := loaded(n))}
    codecs = {}
    ladder_codecs = [compress.ModelCodec(m[0], fits["digits"], f"ladder_{k}")
                     for k in LADDER_SIZES if (m := loaded(f"ladder_{k}"))]
    if ladder_codecs:
        codecs["Ladder (digits)"] = ladder_codecs
    codecs["PCA (digits)"] = [compress.PcaCodec(pca, fits["digits"], f"PCA-{pca.components.shape[0]}")
                              for pca in pca_family(data.x_train, LADDER_SIZES)]
    for name, (model, kind) in models.items():
        if kind not in fits:
            fits[kind] = fit_images(kind, data)
        codecs[f"{name} ({kind})"] = [compress.ModelCodec(model, fits[kind], name)]
    progress("2x2 table")
    return {"data_specific": data_specific(data, models) if len(models) == 2 else {},
            "rate_distortion": rate_distortion(data, codecs, progress)}


def claims_markdown(result: dict) -> str:
    """The 2x2 table and the rate-distortion data as Markdown (empty without them)."""
    lines = []
    table = result.get("data_specific")
    if table:
        lines += ["", "Data-specific: the same recipe (Dense 784-32-784) trained on digits and on clothing, "
                  "each on both test sets. PSNR (dB, of the mean MSE) / mean SSIM; a model does well "
                  "only on the kind of images it was trained on.", "",
                  "| model (trained on) | " + " | ".join(SET_TITLES[k] for k in table["sets"]) + " |",
                  "|---|" + "---|" * len(table["sets"])]
        for name, kind in table["models"].items():
            cells = [f"{table['psnr'][name][k]:.2f} dB / {table['ssim'][name][k]:.3f}" for k in table["sets"]]
            lines.append(f"| {name} ({kind}) | " + " | ".join(cells) + " |")
    rd = result.get("rate_distortion")
    if rd:
        lines += ["", "Rate-distortion: bytes per image against PSNR (of the mean MSE) and mean SSIM. "
                  "Autoencoders and PCA send their code at 8 bits a value (the code is the whole file; "
                  "the decoder and the range table are shared once); JPEG and WebP are whole files, "
                  "with the coded data alone in brackets (JPEG's abbreviated format without its "
                  "tables; WebP's VP8 bitstream). JPEG never gets below its headers and tables, "
                  "while a code fitted on digits falls apart on other images."]
        for kind, entry in rd["sets"].items():
            lines += ["", f"{entry['title']} ({entry['n']} images):", "",
                      "| series | setting | bytes (data alone) | PSNR | SSIM |", "|---|---|---|---|---|"]
            for name, points in entry["series"].items():
                for p in points:
                    size = (f"{p['bytes']:.0f}" if p["bytes"] == p["data_bytes"]
                            else f"{p['bytes']:.1f} ({p['data_bytes']:.1f})")
                    lines.append(f"| {name} | {p['setting']} | {size} | {_db(p['psnr'])} | {p['ssim']:.3f} |")
            loss = entry["lossless"]
            lines.append("| lossless | " + "; ".join(
                f"{n}: {v['bytes']:.1f} ({v['data_bytes']:.1f})" for n, v in loss.items()) + " | | ∞ | 1 |")
    return "\n".join(lines) + ("\n" if lines else "")


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
    return "\n".join(lines) + "\n" + ladder_markdown(result) + claims_markdown(result)


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
        "PSNR over a set is the PSNR of the mean MSE (not the mean of per-image dB); SSIM, BCE "
        "and MSE are means. Models were chosen on the validation split, never on these. "
        "Written by `python -m ae_core evaluate`.\n\n" + to_markdown(result))
    store.atomic_write(md_path, lambda tmp: tmp.write_text(markdown))
    return json_path, md_path
