import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ae_core import baselines, evaluate, metrics, noise
from ae_core.data import load_canvas_test
from tests.helpers import bundled

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _cli(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "ae_core", *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def test_baselines_shapes_and_sense():
    d = bundled()
    x = d.x_test[:32]
    for name, fn in baselines.all_baselines(d.x_train[:2000]).items():
        out = fn(noise.gaussian(x, 0.5, seed=1))
        assert out.shape == (32, 28, 28) and 0 <= out.min() and out.max() <= 1, name
    pca = baselines.PCA(d.x_train[:2000], 32)
    assert pca.encode(x).shape == (32, 32)
    assert metrics.mse(x, pca(x)).mean() < metrics.mse(x, np.zeros_like(x)).mean() / 3
    noisy = noise.gaussian(x, 0.5, seed=1)
    assert metrics.psnr(x, baselines.median3(noisy)).mean() > metrics.psnr(x, noisy).mean()


def test_noisy_test_sets_are_fixed():
    x = bundled().x_test[:8]
    a, b = evaluate.noisy_test_sets(x), evaluate.noisy_test_sets(x)
    assert list(a) == list(evaluate.NOISE_LEVELS)
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_cli_train_then_evaluate(tmp_path):
    out = _cli("train", "dense_seed", "--epochs", "1", "--out", str(tmp_path / "m"), "--name", "tiny")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Saved" in out.stdout and (tmp_path / "m" / "tiny.json").is_file()
    manifest = json.loads((tmp_path / "m" / "tiny.json").read_text())
    assert manifest["preset"] == "dense_seed" and manifest["train_config"]["epochs"] == 1
    assert manifest["data"]["source"] == "bundled" and len(manifest["history"]["loss"]) == 1
    assert 0 < manifest["metrics"]["val_bce"] < 0.7

    out = _cli("evaluate", "--models", str(tmp_path / "m"), "--no-baselines", "--no-claims",
               "--report-dir", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| tiny | model |" in out.stdout
    report = json.loads((tmp_path / "r" / "evaluation.json").read_text())
    assert set(report["rows"]["tiny"]) >= set(evaluate.COLUMNS)
    assert "rate_distortion" not in report and "PSNR of the mean MSE" in (tmp_path / "r" / "evaluation.md").read_text()

    (tmp_path / "m" / "tiny.json").write_text("{broken")
    out = _cli("evaluate", "--models", str(tmp_path / "m"), "--no-baselines", "--no-claims", "--report-dir", "")
    assert out.returncode == 1 and "not valid JSON" in out.stdout and "Traceback" not in out.stderr


def test_cli_bad_arguments_say_what_was_wrong():
    out = _cli("train", "no_such_preset", "--epochs", "1")
    assert out.returncode == 2 and "Unknown preset" in out.stderr and "Traceback" not in out.stderr
    out = _cli("train", "dense_seed", "--epochs", "0")
    assert out.returncode == 2 and "epochs" in out.stderr and "Traceback" not in out.stderr


def test_canvas_columns_measure_the_canvas_digits():
    canvas, _ = load_canvas_test()
    canvas = canvas[:40]
    noisy = evaluate.noisy_test_sets(canvas, (evaluate.CANVAS_LEVEL,))[evaluate.CANVAS_LEVEL]
    perfect = evaluate.canvas_row(lambda x: canvas if x is canvas else np.clip(x, 0, 1), canvas, noisy)
    blank = evaluate.canvas_row(lambda x: np.zeros_like(x), canvas, noisy)
    assert perfect["canvas_psnr"] > 60 and blank["canvas_psnr"] < 12
    assert perfect[f"canvas_psnr@{evaluate.CANVAS_LEVEL}"] < 15  # the noisy input itself
    row = {k: 0.5 for k in evaluate.COLUMNS}
    md = evaluate.to_markdown({"rows": {"m": row}, "kinds": {"m": "model"}, "errors": {}})
    assert "canvas PSNR 0.5 |" in md and md.splitlines()[2].endswith("| 0.500 | 0.5000 | 0.50 | 0.50 |")
    # A perfect match (metrics.psnr caps it) reads as identical, not as a 100 dB figure.
    row["canvas_psnr"] = float(metrics.psnr(canvas[:1], canvas[:1])[0])
    md = evaluate.to_markdown({"rows": {"m": row}, "kinds": {"m": "model"}, "errors": {}})
    assert md.splitlines()[2].endswith("| 0.5000 | ∞ (identical) | 0.50 |") and "100.00" not in md


@pytest.mark.parametrize("preset, field", [("conv_denoiser", "noise_max"), ("conv_seed", "noise_factor")])
def test_cli_noise_sets_the_noise_the_preset_trains_with(preset, field):
    from ae_core import cli, presets

    p = presets.get(preset)
    config = cli.train_config(p, cli.parser().parse_args(["train", preset, "--noise", "0.3"]))
    assert getattr(config, field) == 0.3
    other = "noise_factor" if field == "noise_max" else "noise_max"
    assert getattr(config, other) == getattr(p.config, other)  # the other one untouched


def test_evaluation_reports_are_written_atomically(tmp_path, monkeypatch):
    result = {"data": {"n_test": 1, "source": "bundled", "sha256": "x"}, "noise_seed": 1, "rows": {},
              "kinds": {}, "errors": {}, "noise_levels": []}
    monkeypatch.setattr(evaluate, "to_markdown", lambda r: "")
    json_path, _ = evaluate.write_reports(result, tmp_path)
    before = json_path.read_text()
    real = Path.write_text

    def half_then_full_disk(self, text, *a, **k):
        real(self, text[: len(text) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_full_disk)
    with pytest.raises(OSError):
        evaluate.write_reports({**result, "rows": {"new": {}}}, tmp_path)
    monkeypatch.undo()
    assert json_path.read_text() == before  # a reader never sees half a report
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_models_list_rename_remove(tmp_path):
    from ae_core import store
    from ae_core.models import DenseSpec, build

    folder = tmp_path / "models"
    store.save(build(DenseSpec()), DenseSpec(), folder, "dense_seed-v1", preset="dense_seed")
    store.save(build(DenseSpec()), DenseSpec(), folder, "dense_seed-v2", preset="dense_seed")
    out = _cli("models", "list", "--models", str(folder))
    assert out.returncode == 0 and "dense_seed-v1" in out.stdout and "dense_seed-v2" in out.stdout
    out = _cli("models", "rename", "dense_seed-v1", "dense_seed-v2", "--models", str(folder))
    assert out.returncode == 1 and "already exists" in out.stderr  # never replaces another
    assert store.list_models(folder) == ["dense_seed-v1", "dense_seed-v2"]
    out = _cli("models", "rename", "dense_seed-v1", "../escape", "--models", str(folder))
    assert out.returncode == 2 and "Received: name='../escape'" in out.stderr
    out = _cli("models", "rename", "dense_seed-v1", "keeper", "--models", str(folder))
    assert out.returncode == 0, out.stderr
    assert store.list_models(folder) == ["dense_seed-v2", "keeper"]
    assert store.load_onnx(folder, "keeper").manifest["name"] == "keeper"
    out = _cli("models", "remove", "dense_seed-v2", "--models", str(folder))
    assert out.returncode == 0 and store.list_models(folder) == ["keeper"]
    assert all(p.name.startswith("keeper") for p in folder.iterdir())  # its files went too
    out = _cli("models", "remove", "nothing", "--models", str(folder))
    assert out.returncode == 1 and "no such model" in out.stderr and "Traceback" not in out.stderr


def test_set_psnr_columns_are_the_psnr_of_the_mean_mse():
    x = bundled().x_test[:50]
    noisy = evaluate.noisy_test_sets(x)
    row = evaluate.evaluate_fn(baselines.median3, x, noisy)
    for level, xn in noisy.items():
        rec = baselines.median3(xn)
        assert row[f"psnr@{level}"] == pytest.approx(10 * np.log10(1 / metrics.mse(x, rec).mean()))
        assert row[f"psnr@{level}"] != pytest.approx(metrics.psnr(x, rec).mean(), abs=1e-3)
    # a method exact on half the images and far off on the rest scores low, not the ~50 dB that a mean
    # of per-image dB (capped at 100) would give it
    half = x.copy()
    half[25:] = 0.0
    assert metrics.set_psnr(x, half) < 15 < metrics.psnr(x, half).mean()
