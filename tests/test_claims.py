"""What the tutorial claims: byte counts, 8-bit codes, rate-distortion data, the clothing set,
the tutorial's figures and the per-epoch snapshots."""
import io
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ae_core import compress, data, evaluate, figures, metrics, snapshots, store
from ae_core.baselines import PCA
from tests.helpers import bundled

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "pretrained"
FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def digit():
    return bundled().x_test[0]


@pytest.fixture(scope="module")
def onnx_dense():
    return store.load_onnx(PRETRAINED, "dense_seed").model


# --- byte counts --------------------------------------------------------------------------------

def test_zlib_and_png_are_lossless_and_count_what_they_say(digit):
    pixels = compress.to_pixels(digit)
    z = compress.zlib_raw(pixels)
    assert z.file_bytes == len(zlib.compress(pixels.tobytes(), 9))
    assert z.data_bytes == z.file_bytes - 6  # less the 2-byte header and 4-byte Adler-32
    assert z.lossless and np.array_equal(np.round(z.image * 255).astype(np.uint8), pixels)
    p = compress.png(pixels)
    buf = io.BytesIO()
    Image.fromarray(pixels, "L").save(buf, format="PNG", optimize=True)
    assert p.file_bytes == len(buf.getvalue())
    # signature 8, IHDR 25, IEND 12 and 12 bytes of framing per IDAT chunk: the rest is IDAT data
    assert p.data_bytes == p.file_bytes - 8 - 25 - 12 - 12
    assert np.array_equal(np.round(p.image * 255).astype(np.uint8), pixels)


def test_jpeg_counts_the_whole_file_and_the_abbreviated_stream(digit):
    pixels = compress.to_pixels(digit)
    coded = compress.jpeg(pixels, 50)
    full = io.BytesIO()
    Image.fromarray(pixels, "L").save(full, format="JPEG", quality=50)
    assert coded.file_bytes == len(full.getvalue())
    tables = compress.jpeg_tables_bytes(50)
    assert coded.data_bytes < coded.file_bytes < coded.data_bytes + tables
    # The abbreviated stream decodes to the same pixels once the tables are sent before it.
    abbreviated = io.BytesIO()
    Image.fromarray(pixels, "L").save(abbreviated, format="JPEG", quality=50, streamtype=2)
    tables_only = io.BytesIO()
    Image.fromarray(pixels, "L").save(tables_only, format="JPEG", quality=50, streamtype=1)
    joined = tables_only.getvalue()[:-2] + abbreviated.getvalue()[2:]  # tables' EOI, image's SOI dropped
    assert len(abbreviated.getvalue()) == coded.data_bytes
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(joined))), np.round(coded.image * 255).astype(np.uint8))


def test_webp_data_is_the_vp8_bitstream(digit):
    coded = compress.webp(compress.to_pixels(digit), 50)
    assert coded.data_bytes == coded.file_bytes - 20 and not coded.lossless


def test_budget_takes_the_best_that_fits_or_the_smallest(digit):
    pixels = compress.to_pixels(digit)
    tiny = compress.at_budget(pixels, 32, "JPEG")
    assert tiny.file_bytes > 32  # JPEG cannot get down to 32 bytes: its smallest file
    assert tiny.file_bytes == min(compress.jpeg(pixels, q).file_bytes for q in compress.BUDGET_QUALITIES)
    roomy = compress.at_budget(pixels, 500, "WebP")
    sizes = [compress.webp(pixels, q).file_bytes for q in compress.BUDGET_QUALITIES]
    assert roomy.file_bytes == max(s for s in sizes if s <= 500)
    data_budget = compress.at_budget(pixels, 200, "JPEG", count="data")
    assert data_budget.data_bytes <= 200 < data_budget.file_bytes
    with pytest.raises(ValueError, match="Received: codec='GIF'"):
        compress.at_budget(pixels, 100, "GIF")


def test_compare_gives_the_code_bytes_and_the_others(digit, onnx_dense):
    codec = compress.ModelCodec(onnx_dense, bundled().x_val, "dense_seed")
    results = compress.compare(digit, codec)
    assert [r.method for r in results] == ["dense_seed", "JPEG", "WebP", "PNG", "zlib"]
    assert results[0].file_bytes == results[0].data_bytes == 32
    assert results[1].file_bytes > 32 and results[2].file_bytes > 32  # neither gets that small
    s = compress.scores(digit, results[0])
    assert 10 < s["psnr"] < 40 and 0 < s["ssim"] <= 1
    assert compress.scores(digit, results[3])["psnr"] == metrics.PSNR_CAP  # PNG: exact


# --- 8-bit codes --------------------------------------------------------------------------------

def test_quantisation_round_trip_is_within_half_a_step():
    rng = np.random.default_rng(0)
    codes = rng.uniform(-3, 5, (200, 32)).astype(np.float32)
    r = compress.CodeRange.fit(codes)
    q = compress.quantize(codes, r)
    assert q.dtype == np.uint8 and q.shape == (200, 32) and q.min() == 0 and q.max() == 255
    back = compress.dequantize(q, r)
    step = (r.high - r.low) / 255
    assert np.all(np.abs(back - codes) <= step / 2 + 1e-5)
    outside = compress.quantize(np.stack([r.low - 1, r.high + 1]), r)  # clipped to the range
    assert outside[0].max() == 0 and outside[1].min() == 255
    assert r.table_bytes == 8 * 32
    with pytest.raises(ValueError, match="Expected codes of 32 values"):
        compress.quantize(codes[:, :16], r)
    with pytest.raises(ValueError, match="Expected uint8 codes"):
        compress.dequantize(q.astype(np.int32), r)


def test_an_8bit_code_loses_little_against_the_float_code(onnx_dense):
    from ae_core import analysis

    d = bundled()
    codec = compress.ModelCodec(onnx_dense, np.concatenate([d.x_train[:2000], d.x_val]), "dense_seed")
    x = d.x_test[:200]
    exact = metrics.set_psnr(x, analysis.reconstruct(onnx_dense, x))
    eight = metrics.set_psnr(x, codec(x))
    assert codec.encode(x).shape == (200, 32) and codec.encode(x).dtype == np.uint8
    assert exact - 0.3 < eight <= exact + 0.05


def test_set_psnr_is_the_psnr_of_the_mean_mse():
    x = np.zeros((2, 28, 28), np.float32)
    rec = x.copy()
    rec[1] = 0.1  # one image off by 0.1 everywhere (MSE 0.01), the other exact
    assert metrics.set_psnr(x, rec) == pytest.approx(10 * np.log10(1 / 0.005))
    assert metrics.psnr(x, rec).mean() == pytest.approx((100 + 20) / 2)  # what a mean of dB said
    assert metrics.set_psnr(x, x) == metrics.PSNR_CAP


# --- rate-distortion data ----------------------------------------------------------------------

def test_sweep_points_grow_with_quality():
    x = bundled().x_test[::100]
    for codec in ("JPEG", "WebP"):
        points = compress.sweep(x, codec, qualities=(1, 20, 50, 90))
        assert [p["quality"] for p in points] == [1, 20, 50, 90]
        sizes = [p["bytes"] for p in points]
        assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
        assert points[-1]["psnr"] > points[0]["psnr"] + 10
        assert all(p["data_bytes"] < p["bytes"] for p in points)
    assert "tables_bytes" in compress.sweep(x, "JPEG", (50,))[0]


def test_pca_codes_improve_with_size_and_report_their_bytes():
    d = bundled()
    x = d.x_test[::20]
    points = [compress.codec_point(x, compress.PcaCodec(p, d.x_train, "PCA"))
              for p in evaluate.pca_family(d.x_train, (2, 8, 32))]
    assert [p["bytes"] for p in points] == [2, 8, 32]
    psnr = [p["psnr"] for p in points]
    assert psnr == sorted(psnr) and psnr[0] < psnr[-1] - 3
    single = PCA(d.x_train, 8)
    assert np.allclose(evaluate.pca_family(d.x_train, (2, 8))[1].components, single.components, atol=1e-6)


def test_rate_distortion_covers_every_set_and_series(monkeypatch, onnx_dense):
    d = bundled()
    small = {k: v[::50] for k, v in evaluate.claim_sets(d).items()}
    monkeypatch.setattr(evaluate, "claim_sets", lambda _: small)
    monkeypatch.setattr(compress, "QUALITIES", (5, 50))
    codecs = {"dense_seed (digits)": [compress.ModelCodec(onnx_dense, d.x_val, "dense_seed")]}
    rd = evaluate.rate_distortion(d, codecs)
    assert set(rd["sets"]) == {"digits", "clothing", "nondigits"}
    for kind, entry in rd["sets"].items():
        assert entry["n"] == len(small[kind])
        assert set(entry["series"]) == {"JPEG", "WebP", "dense_seed (digits)"}
        assert len(entry["series"]["JPEG"]) == 2 and set(entry["lossless"]) == {"PNG", "zlib"}
    ours = {k: rd["sets"][k]["series"]["dense_seed (digits)"][0] for k in rd["sets"]}
    assert ours["digits"]["bytes"] == 32
    assert ours["digits"]["psnr"] > ours["clothing"]["psnr"] + 5  # a digit model on clothing
    md = evaluate.claims_markdown({"rate_distortion": rd})
    assert "| dense_seed (digits) | 32 values at 8 bits | 32 |" in md


def test_the_report_holds_the_claims():
    report = json.loads((ROOT / "benchmarks" / "evaluation.json").read_text())
    table = report["data_specific"]
    assert table["models"] == {"dense_seed": "digits", "dense_clothing": "clothing"}
    psnr = table["psnr"]
    assert psnr["dense_seed"]["digits"] > psnr["dense_seed"]["clothing"] + 3
    assert psnr["dense_clothing"]["clothing"] > psnr["dense_clothing"]["digits"]
    rd = report["rate_distortion"]["sets"]
    ladder = [p["psnr"] for p in rd["digits"]["series"]["Ladder (digits)"]]
    assert len(ladder) == 6 and ladder[-1] > ladder[0]
    assert min(p["bytes"] for p in rd["digits"]["series"]["JPEG"]) > 300  # headers and tables
    md = (ROOT / "benchmarks" / "evaluation.md").read_text()
    assert "PSNR of the mean MSE" in md and "| dense_clothing (clothing) |" in md


# --- the clothing set --------------------------------------------------------------------------

def test_clothing_split_is_stratified_disjoint_and_fixed():
    a, b = data.load_clothing(), data.load_clothing()
    assert a.source == "clothing" and (len(a.x_train), len(a.x_val), len(a.x_test)) == (7000, 1000, 2000)
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    for y, n in ((a.y_train, 700), (a.y_val, 100), (a.y_test, 200)):
        assert np.bincount(y, minlength=10).tolist() == [n] * 10
    with np.load(data.CLOTHING_PATH) as f:
        images, labels = f["images"], f["labels"]
    assert images.dtype == np.uint8 and images.shape == (10000, 28, 28)
    train, test = data.stratified_split(labels)
    assert not set(train) & set(test) and len(set(train) | set(test)) == 10000
    # validation is carved out of the training part: no image is in two splits
    keys = [{x.tobytes() for x in s} for s in (a.x_train, a.x_val, a.x_test)]
    assert sum(len(k) for k in keys) == len(set().union(*keys))
    assert data.load_mnist("clothing").sha256 == a.sha256
    assert data.class_names("clothing")[9] == "Ankle boot" and data.class_names("bundled")[3] == "3"


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_the_build_script_rebuilds_the_committed_subset(tmp_path):
    out = tmp_path / "fashion.npz"
    run = subprocess.run([sys.executable, "scripts/build_fashion_subset.py", "--out", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    with np.load(out) as new, np.load(data.CLOTHING_PATH) as old:
        assert np.array_equal(new["images"], old["images"]) and np.array_equal(new["labels"], old["labels"])


def test_the_clothing_preset_trains_on_clothing():
    from ae_core import cli, presets

    p = presets.get("dense_clothing")
    assert p.data == "clothing" and p.spec.code_size == 32
    assert p.config == presets.get("dense_seed").config  # the same recipe as the digit model
    manifest = store.read_manifest(PRETRAINED / "dense_clothing.json")
    assert manifest["data"]["source"] == "clothing" and manifest["preset"] == "dense_clothing"
    assert cli.parser().parse_args(["train", "dense_clothing"]).data is None  # the preset's own


# --- the tutorial's figures --------------------------------------------------------------------

def test_pick_batch_is_one_of_each_class_then_random():
    y = bundled().y_test
    first = figures.pick_batch(y, 0)
    assert sorted(y[first].tolist()) == list(range(10))
    assert np.array_equal(figures.pick_batch(y, 3), figures.pick_batch(y, 3))
    assert not np.array_equal(figures.pick_batch(y, 3), figures.pick_batch(y, 4))
    with pytest.raises(ValueError, match="Received: seed=-1"):
        figures.pick_batch(y, -1)


def test_figures_are_captioned_pngs_of_the_batch(onnx_dense):
    d = bundled()
    idx = figures.pick_batch(d.y_test, 0)
    png = figures.codes_figure(onnx_dense, d.x_test[idx], [str(c) for c in d.y_test[idx]], "dense_seed")
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.width > 10 * 84 and img.height > 3 * 84
    denoiser = store.load_onnx(PRETRAINED, "conv_denoiser").model
    png2 = figures.denoising_figure(denoiser, d.x_test[idx], None, "conv_denoiser")
    assert Image.open(io.BytesIO(png2)).height > 7 * 84  # sources + 3 levels x (noisy, output)
    pics, (lo, hi) = figures.code_pictures(np.arange(64, dtype=np.float32).reshape(2, 32))
    assert pics.shape == (2, 8, 4) and (lo, hi) == (0, 63) and pics[0, 0, 1] == pytest.approx(8 / 63)


# --- snapshots ---------------------------------------------------------------------------------

def test_strip_is_one_of_each_class_and_fixed():
    d = bundled()
    idx = snapshots.strip_indices(d.y_val)
    assert len(idx) == 8 and d.y_val[idx].tolist() == list(range(8))
    assert np.array_equal(idx, snapshots.strip_indices(d.y_val))
    two = snapshots.strip_indices(np.array([0, 0, 0, 1, 1]), 4)
    assert two.tolist() == [0, 3, 1, 4]


def test_snapshot_events_are_small_and_round_trip():
    rng = np.random.default_rng(0)
    images = rng.random((9, 28, 28)).astype(np.float32)
    snap = snapshots.Snapshot(3, snapshots.to_uint8(images).tobytes(), 9, 0.001)
    event = snap.to_event()
    text = json.dumps(event)
    assert len(text) < 9 * 784 * 4 / 3 + 100  # 784 bytes a picture, base64
    back = snapshots.from_event(json.loads(text))
    assert back.epoch == 3 and np.abs(back.images() - images).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(ValueError, match="784 bytes"):
        snapshots.from_event({**event, "n": 4})
    with pytest.raises(ValueError, match="Not a snapshot event"):
        snapshots.from_event({"epoch": 1})


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_train_snapshots_write_one_png_per_epoch(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-m", "ae_core", "train", "dense_seed", "--epochs", "2",
                          "--out", str(tmp_path / "m"), "--snapshots", str(tmp_path / "s")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert out.returncode == 0, out.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert "snapshots: median per epoch" in out.stdout and "% of the epoch" in out.stdout
    first, second = (np.asarray(Image.open(tmp_path / "s" / f"epoch_00{i}.png")) for i in (1, 2))
    assert first.shape == second.shape and not np.array_equal(first, second)  # the model learned


def test_snapshot_callback_reconstructs_the_strip_after_every_epoch():
    from ae_core.config import TrainConfig
    from ae_core.models import DenseSpec
    from ae_core.training import train
    from tests.helpers import tiny

    d = tiny(512, 64)
    seen = []
    strip = d.x_val[snapshots.strip_indices(d.y_val)]
    cb = snapshots.snapshot_callback(strip, seen.append, extra=d.x_test[0])
    train(DenseSpec(), TrainConfig(epochs=2, batch_size=128), d, callbacks=[cb])
    assert [s.epoch for s in seen] == [1, 2] and all(s.n == 9 for s in seen)
    assert len(cb.spent) == len(cb.epoch_seconds) == 2 and all(0 < s < e for s, e in zip(cb.spent, cb.epoch_seconds))
    assert not np.array_equal(seen[0].images(), seen[1].images())
    png = snapshots.strip_png(strip, seen[1].images()[:8], 2, [str(c) for c in range(8)])
    assert Image.open(io.BytesIO(png)).format == "PNG"
