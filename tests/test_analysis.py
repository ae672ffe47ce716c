import io
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from ae_core import analysis, baselines, evaluate, metrics
from ae_core.data import Dataset
from ae_core.models import ConvSpec, DenseSpec, build
from ae_core.training import TrainConfig, train
from tests.helpers import bundled


def spread(n_train: int = 1000, n_test: int = 200) -> Dataset:
    """Evenly spaced digits of every class (the bundled splits are sorted by class)."""
    d = bundled()
    tr = analysis.spread_subset(len(d.x_train), n_train)
    te = analysis.spread_subset(len(d.x_test), n_test)
    va = analysis.spread_subset(len(d.x_val), min(n_test, len(d.x_val)))
    return d.subset(train=tr, val=va, test=te)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return spread()


@pytest.fixture(scope="module")
def dense(data):
    result = train(DenseSpec(name="tiny_dense"), TrainConfig(epochs=4, batch_size=64), data)
    return result.model


@pytest.fixture(scope="module")
def conv():
    return build(ConvSpec(name="tiny_conv", filters=(4, 4)))  # untrained: shapes only


@pytest.fixture(scope="module")
def codes(dense, data):
    return analysis.encode(dense, data.x_test)


def test_encode_decode_reconstruct_shapes(dense, conv, data):
    x = data.x_test[:7]
    assert analysis.encode(dense, x).shape == (7, 32)
    assert analysis.encode(conv, x[..., None]).shape == (7, 7, 7, 4)
    assert analysis.encode(dense, x[0]).shape == (1, 32)
    for model in (dense, conv):
        rec = analysis.reconstruct(model, x)
        assert rec.shape == (7, 28, 28) and rec.dtype == np.float32
        assert np.allclose(analysis.decode(model, analysis.encode(model, x)), rec, atol=1e-5)
    assert analysis.reconstruct(dense, np.zeros((0, 28, 28))).shape == (0, 28, 28)


@pytest.mark.parametrize("bad", [np.zeros((28, 27)), np.zeros((3, 784)), np.zeros((2, 28, 28, 3))])
def test_bad_image_shapes_echo_the_shape(dense, bad):
    with pytest.raises(ValueError, match=r"Received: shape=\(" + str(bad.shape[0])):
        analysis.reconstruct(dense, bad)


def test_non_finite_pixels_and_bad_codes_raise(dense):
    x = np.zeros((28, 28))
    x[3, 4] = np.nan
    with pytest.raises(ValueError, match="1 NaN or inf"):
        analysis.reconstruct(dense, x)
    with pytest.raises(ValueError, match=r"Received: shape=\(2, 16\)"):
        analysis.decode(dense, np.zeros((2, 16)))


def test_code_stats(codes):
    s = analysis.code_stats(codes)
    assert all(a.shape == (32,) for a in (s.min, s.max, s.mean, s.std))
    assert np.allclose(s.mean, codes.mean(0), atol=1e-5) and np.allclose(s.max, codes.max(0))
    assert np.all(s.min <= s.mean) and np.all(s.mean <= s.max) and np.all(s.std >= 0)


def test_sample_code_follows_the_real_codes(codes):
    a, b = analysis.sample_code(codes, seed=1, n=4), analysis.sample_code(codes, seed=1, n=4)
    assert a.shape == (4, 32) and a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, analysis.sample_code(codes, seed=2, n=4))
    many = analysis.sample_code(codes, seed=np.random.default_rng(0), n=4000)
    assert np.all(many >= codes.min(0)) and np.all(many <= codes.max(0))
    spread_ = codes.std(0).max()
    assert np.abs(many.mean(0) - codes.mean(0)).max() < 0.15 * spread_
    # correlated like the codes, unlike independent or uniform noise
    active = codes.std(0) > 1e-3
    real, fake = (np.corrcoef(c[:, active].T) for c in (codes, many))
    assert np.abs(real - fake).mean() < 0.15


def test_sample_code_spatial_codes_and_bad_n(conv, data):
    codes = analysis.encode(conv, data.x_test[:50])
    assert analysis.sample_code(codes, seed=0, n=3).shape == (3, 7, 7, 4)
    with pytest.raises(ValueError, match="Received: n=0"):
        analysis.sample_code(codes, seed=0, n=0)
    with pytest.raises(ValueError, match="at least 2 codes"):
        analysis.code_stats(codes[:1])


@pytest.mark.parametrize("which", ["dense", "conv"])
def test_interpolation_ends_are_the_reconstructions(which, request, data):
    model = request.getfixturevalue(which)
    a, b = data.x_test[3], data.x_test[150]
    path = analysis.interpolate(model, a, b, steps=6)
    assert path.shape == (6, 28, 28)
    rec = analysis.reconstruct(model, np.stack([a, b]))
    assert np.allclose(path[0], rec[0], atol=1e-5) and np.allclose(path[-1], rec[1], atol=1e-5)
    direct = np.asarray(model.autoencoder(np.stack([a, b])[..., None], training=False))[..., 0]
    assert np.allclose(path[[0, -1]], direct, atol=1e-5)


def test_crossfade_and_bad_steps(dense, data):
    a, b = data.x_test[3], data.x_test[150]
    fade = analysis.crossfade(a, b[..., None], steps=5)
    assert fade.shape == (5, 28, 28)
    assert np.array_equal(fade[0], a) and np.array_equal(fade[-1], b)
    assert np.allclose(fade[2], (a + b) / 2, atol=1e-6)
    for bad in (1, 2.5, 1000):
        with pytest.raises(ValueError, match=f"Received: steps={bad}"):
            analysis.interpolate(dense, a, b, steps=bad)
    with pytest.raises(ValueError, match="a must be one image"):
        analysis.crossfade(np.stack([a, a]), b)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_projection_shape_determinism_and_placement(codes, method):
    sub = codes[::2]  # 100 codes keep t-SNE fast
    first, again = analysis.project_codes(sub, method), analysis.project_codes(sub, method)
    assert first.method == method and first.points.shape == (len(sub), 2)
    assert np.array_equal(first.points, again.points) and np.all(np.isfinite(first.points))
    placed = first.transform(sub[:5])
    assert placed.shape == (5, 2) and np.allclose(placed, first.points[:5], atol=1e-3)
    assert first.transform(sub[0]).shape == (1, 2)


def test_pca_map_is_the_top_two_components(codes):
    m = analysis.project_codes(codes, "pca")
    assert np.allclose(m.points.mean(0), 0, atol=1e-3)
    assert m.points[:, 0].var() >= m.points[:, 1].var()
    assert 0 < m.explained[1] <= m.explained[0] <= 1
    new = codes[:3] + 0.5
    assert np.allclose(m.transform(new), (new - m.mean) @ m.components.T, atol=1e-4)
    with pytest.raises(ValueError, match="Received: method='umap'"):
        analysis.project_codes(codes, "umap")
    with pytest.raises(ValueError, match=r"Received: shape=\(200, 1\)"):
        analysis.project_codes(codes[:, :1], "pca")


def test_tsne_places_a_new_code_among_its_neighbours(codes):
    m = analysis.project_codes(codes[::2], "tsne")
    new = codes[1] * 0.98 + codes[3] * 0.02  # near codes[1], which is not on the map
    idx, _ = analysis.nearest_digits(m.codes, new, k=m.neighbours)
    lo, hi = m.points[idx].min(0), m.points[idx].max(0)
    assert np.all((lo - 1e-4 <= m.transform(new)[0]) & (m.transform(new)[0] <= hi + 1e-4))


def test_nearest_digits(codes):
    idx, dist = analysis.nearest_digits(codes, codes[17], k=4)
    assert idx.shape == dist.shape == (4,) and idx[0] == 17 and dist[0] == pytest.approx(0, abs=1e-3)
    assert np.all(np.diff(dist) >= 0)
    brute = np.sort(np.linalg.norm(codes - codes[17], axis=1))[:4]
    assert np.allclose(dist, brute, atol=1e-3)
    with pytest.raises(ValueError, match="Received: k=0"):
        analysis.nearest_digits(codes, codes[0], k=0)
    with pytest.raises(ValueError, match=r"Received: shape=\(31,\)"):
        analysis.nearest_digits(codes, codes[0][:31])


def test_anomaly_ranks_digits_below_noise(dense, data):
    reference = analysis.reconstruction_errors(dense, data.x_test)
    digits = spread(8000, 400).x_train[1::2][:50]  # digits not in the reference
    noise = np.random.default_rng(0).uniform(0, 1, (50, 28, 28)).astype(np.float32)
    e_digit, e_noise = (analysis.reconstruction_errors(dense, x) for x in (digits, noise))
    assert np.allclose(e_digit, metrics.bce(digits, analysis.reconstruct(dense, digits)))
    assert e_digit.max() < e_noise.min()


def test_noise_sweep_agrees_with_the_evaluation_command(dense, data):
    x = data.x_test[:60]
    fns = {"model": analysis.model_fn(dense), "median 3x3": baselines.median3,
           "PCA-32": baselines.PCA(data.x_train, 32)}
    sweep = analysis.noise_sweep(fns, x, levels=(0.0,) + evaluate.NOISE_LEVELS)
    assert sweep.levels == (0.0, 0.2, 0.5, 0.8) and sweep.n_images == 60
    noisy = evaluate.noisy_test_sets(x)
    for name, fn in fns.items():
        row = evaluate.evaluate_fn(fn, x, noisy)
        for i, level in enumerate(evaluate.NOISE_LEVELS, start=1):
            assert sweep.psnr[name][i] == pytest.approx(row[f"psnr@{level}"], rel=1e-5)
            assert sweep.ssim[name][i] == pytest.approx(row[f"ssim@{level}"], rel=1e-5)
        clean = fn(x)
        assert sweep.psnr[name][0] == pytest.approx(metrics.set_psnr(x, clean), rel=1e-5)
    assert sweep.psnr["median 3x3"][1] > sweep.psnr["median 3x3"][3]
    records = sweep.records()
    assert len(records) == 3 * 4 and set(records[0]) == {"name", "level", "psnr", "ssim"}


def test_noise_sweep_subset_keeps_each_images_noise(data):
    x = data.x_test[:40]
    sweep = analysis.noise_sweep({"median": baselines.median3}, x, levels=(0.5,), subset=10)
    idx = analysis.spread_subset(40, 10)
    assert sweep.n_images == 10 and len(idx) == 10
    noisy = evaluate.noisy_test_sets(x, (0.5,))[0.5][idx]
    assert sweep.psnr["median"][0] == pytest.approx(metrics.set_psnr(x[idx], baselines.median3(noisy)))
    by_index = analysis.noise_sweep({"median": baselines.median3}, x, levels=(0.5,), subset=idx)
    assert by_index.psnr["median"][0] == sweep.psnr["median"][0]
    with pytest.raises(ValueError, match="Received: subset=0"):
        analysis.noise_sweep({"median": baselines.median3}, x, levels=(0.5,), subset=0)
    with pytest.raises(ValueError, match="Received: level=1.5"):
        analysis.noise_sweep({"median": baselines.median3}, x, levels=(1.5,))


def test_sweep_from_evaluation():
    result = {"noise_levels": [0.2, 0.5, 0.8], "noise_seed": 2024, "data": {"n_test": 2000},
              "rows": {"m": {"psnr@0.2": 20.0, "psnr@0.5": 15.0, "psnr@0.8": 12.0,
                             "ssim@0.2": 0.9, "ssim@0.5": 0.7, "ssim@0.8": 0.5}}}
    sweep = analysis.Sweep.from_evaluation(result)
    assert sweep.levels == (0.2, 0.5, 0.8) and list(sweep.psnr["m"]) == [20.0, 15.0, 12.0]
    assert list(sweep.ssim["m"]) == [0.9, 0.7, 0.5] and sweep.n_images == 2000


@settings(max_examples=25, deadline=None)
@given(arrays(np.float32, (28, 28), elements=st.floats(0, 1, width=32)), st.integers(1, 4))
def test_png_round_trip(image, scale):
    png = analysis.to_png_bytes(image, scale=scale)
    back = np.asarray(Image.open(io.BytesIO(png)))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and back.shape == (28 * scale, 28 * scale)
    assert np.array_equal(back[::scale, ::scale], np.round(image * 255).astype(np.uint8))


def test_png_bad_scale():
    with pytest.raises(ValueError, match="Received: scale=0"):
        analysis.to_png_bytes(np.zeros((28, 28)), scale=0)


def test_noise_sweep_runs_every_baseline(data):
    fns = baselines.all_baselines(data.x_train)  # non-local means needs PyWavelets
    sweep = analysis.noise_sweep(fns, data.x_test, levels=(0.0, 0.5), subset=6)
    assert set(sweep.psnr) == set(fns) and sweep.n_images == 6
    assert all(np.all(np.isfinite(v)) for v in (*sweep.psnr.values(), *sweep.ssim.values()))
