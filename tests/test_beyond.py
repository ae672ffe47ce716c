"""Beyond the autoencoder: the VAE (KL, training, saving), the ladder, the t-SNE cache, the digit
score and its command line, the manifold grid and enlarged PNGs."""
import io
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from PIL import Image

from ae_core import analysis, evaluate, metrics, score, store, vae
from ae_core.data import Dataset
from ae_core.models import DenseSpec, VaeSpec, build, spec_from_dict, spec_to_dict
from ae_core.presets import LADDER, LADDER_SIZES, PRESETS
from ae_core.training import TrainConfig, train
from tests.helpers import bundled


@pytest.fixture(scope="module")
def data() -> Dataset:
    d = bundled()
    tr = analysis.spread_subset(len(d.x_train), 1500)
    va = analysis.spread_subset(len(d.x_val), 300)
    return d.subset(tr, va)


@pytest.fixture(scope="module")
def trained_vae(data):
    spec = VaeSpec(name="tiny_vae", code_size=2, hidden=(64,))
    return spec, train(spec, TrainConfig(epochs=3, batch_size=128), data)


# --- the VAE ---------------------------------------------------------------------------------

def test_kl_matches_the_closed_form_and_a_monte_carlo_estimate():
    assert vae.kl_divergence(np.zeros((3, 4)), np.zeros((3, 4))) == pytest.approx(np.zeros(3))
    m, lv = np.array([[0.7, -1.2]]), np.array([[np.log(0.5), np.log(2.0)]])
    closed = sum(0.5 * (np.exp(v) + mu**2 - 1 - v) for mu, v in zip(m[0], lv[0]))
    assert vae.kl_divergence(m, lv)[0] == pytest.approx(closed)
    rng = np.random.default_rng(0)
    z = vae.posterior_sample(np.repeat(m, 200_000, 0), np.repeat(lv, 200_000, 0), rng).astype(np.float64)
    s2 = np.exp(lv[0])
    log_q = -0.5 * (((z - m[0]) ** 2) / s2 + lv[0] + np.log(2 * np.pi)).sum(1)
    log_p = -0.5 * (z**2 + np.log(2 * np.pi)).sum(1)
    assert (log_q - log_p).mean() == pytest.approx(closed, abs=0.02)
    with pytest.raises(ValueError, match="same shape"):
        vae.kl_divergence(np.zeros((2, 3)), np.zeros((2, 2)))


def test_the_training_loss_is_bce_plus_kl_per_pixel(trained_vae, data):
    spec, result = trained_vae
    model = result.model
    x = data.x_val.reshape(-1, 28, 28, 1)
    mean, log_var = (np.asarray(a) for a in model.encoder.predict(x, verbose=0))
    rec = np.asarray(model.decoder.predict(mean, verbose=0))
    expected = metrics.bce(x, rec).mean() + vae.kl_divergence(mean, log_var).mean() / vae.PIXELS
    assert result.history["val_loss"][-1] == pytest.approx(expected, rel=2e-3)  # validation decodes the mean
    assert result.history["loss"][-1] < result.history["loss"][0]
    # The saved path decodes the mean, and the prior sample has the code's shape.
    assert np.allclose(analysis.reconstruct(model, x[:5]), rec[:5, ..., 0], atol=1e-5)
    assert vae.prior_sample(3, 2, seed=1).shape == (3, 2)


def test_a_vae_saves_exports_and_loads_with_both_outputs(trained_vae, data, tmp_path):
    spec, result = trained_vae
    store.save(result.model, spec, tmp_path, "tiny_vae", preset=None)
    assert spec_from_dict(spec_to_dict(spec)) == spec
    keras_model = store.load(tmp_path, "tiny_vae")
    onnx_model = store.load_onnx(tmp_path, "tiny_vae")
    assert onnx_model.code_shape == (2,)
    x = data.x_val[:7]
    k_mean, k_lv = analysis.encode_all(keras_model.model, x)
    o_mean, o_lv = analysis.encode_all(onnx_model.model, x)
    assert np.allclose(k_mean, o_mean, atol=1e-5) and np.allclose(k_lv, o_lv, atol=1e-5)
    assert np.allclose(analysis.encode(onnx_model.model, x), o_mean)
    assert np.allclose(analysis.reconstruct(onnx_model.model, x), analysis.reconstruct(keras_model.model, x), atol=1e-5)


def test_vae_presets_and_the_ladder_shapes():
    assert PRESETS["vae_2d"].spec.code_size == 2 and PRESETS["vae_32d"].spec.code_size == 32
    assert LADDER_SIZES == (2, 4, 8, 16, 32, 64) and len(LADDER) == 6
    for name, size in zip(LADDER, LADDER_SIZES):
        spec = PRESETS[name].spec
        assert isinstance(spec, DenseSpec) and spec.code_size == size
        assert tuple(build(spec).encoder.output.shape[1:]) == (size,)


def test_evaluate_ladder_rows(data, tmp_path):
    spec = PRESETS["ladder_4"].spec
    store.save(build(spec), spec, tmp_path, "ladder_4", preset="ladder_4")  # untrained: shapes only
    lad = evaluate.ladder(data, tmp_path)
    assert lad["sizes"] == list(LADDER_SIZES) and set(lad["pca"]) == {str(s) for s in LADDER_SIZES}
    assert set(lad["autoencoder"]) == {"4"}
    bce = [lad["pca"][str(s)]["bce"] for s in LADDER_SIZES]
    psnr = [lad["pca"][str(s)]["psnr"] for s in LADDER_SIZES]
    assert bce == sorted(bce, reverse=True) and psnr == sorted(psnr)  # more components, less distortion
    table = evaluate.ladder_markdown({"ladder": lad})
    assert table.count("\n| ") == 6 + 1 and "| 2 | - |" in table


# --- t-SNE cached on disk -----------------------------------------------------------------------

def test_tsne_cache_is_reused_and_invalidated_when_the_model_changes(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    codes_a = rng.normal(size=(60, 8)).astype(np.float32)
    codes_b = codes_a + 0.5  # another model's codes
    path = tmp_path / "model-abc.tsne.npz"
    first = analysis.cached_map(codes_a, path)
    assert path.is_file() and first.points.shape == (60, 2)
    calls = []
    real = analysis.project_codes
    monkeypatch.setattr(analysis, "project_codes", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = analysis.cached_map(codes_a, path)
    assert not calls and np.array_equal(again.points, first.points)  # read from disk
    other = analysis.cached_map(codes_b, path)
    assert calls == [1] and other.codes.shape == (60, 8)  # the codes changed: computed again
    analysis.cached_map(codes_b, path)
    assert calls == [1]  # and kept for next time
    path.write_bytes(b"not an npz")
    analysis.cached_map(codes_b, path)
    assert calls == [1, 1]  # a broken file is recomputed, not an error
    path.write_bytes(path.read_bytes()[:300])  # a truncated zip: BadZipFile
    again = analysis.cached_map(codes_b, path)
    assert calls == [1, 1, 1] and np.array_equal(again.points, other.points)
    analysis.cached_map(codes_b, path)
    assert calls == [1, 1, 1]  # replaced by a whole file


def test_a_failed_tsne_cache_write_leaves_no_file(tmp_path, monkeypatch):
    codes = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    path = tmp_path / "model-abc.tsne.npz"

    def disk_full(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    cmap = analysis.cached_map(codes, path)
    assert cmap.points.shape == (40, 2)  # the map itself is fine
    assert list(tmp_path.iterdir()) == []  # no cache, and no temporary file left behind


# --- the digit score ------------------------------------------------------------------------------

def test_ordinals():
    cases = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st",
             22: "22nd", 93: "93rd", 100: "100th", 101: "101st", 111: "111th", 112: "112th"}
    assert {n: score.ordinal(n) for n in cases} == cases


@pytest.fixture(scope="module")
def dense(data):
    return train(DenseSpec(name="tiny_dense", hidden=(128,)), TrainConfig(epochs=5, batch_size=64), data).model


def test_the_score_ranks_scribbles_below_digits(dense, data):
    with np.load(score.NONDIGIT_SET) as f:
        scribbles = f["scribbles"].astype(np.float32) / 255
        letters = f["letters"].astype(np.float32) / 255
        canvas_digits = f["digits_test"][:200].astype(np.float32) / 255
    scorer = score.DigitScorer.fit({"m": dense}, data.x_train, data.y_train, data.x_val,
                                   (("m", "bce"), ("m", "class")))
    digits = np.concatenate([data.x_test[::20], canvas_digits])
    s_digit, s_scribble = scorer.scores(digits), scorer.scores(scribbles)
    assert np.median(s_scribble) < np.median(s_digit)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(np.r_[np.ones(len(s_digit)), np.zeros(len(s_scribble))], np.r_[s_digit, s_scribble]) > 0.8
    # Thresholds from validation digits: few of them are "not a digit", the scale centres them at 0.
    val = scorer.verdicts(scorer.scores(data.x_val))
    assert val.count("not a digit") / len(val) <= 0.02 and abs(np.median(scorer.scores(data.x_val))) < 0.2
    judged = scorer.judge(np.concatenate([letters[:3], canvas_digits[:1], np.full((1, 28, 28), 0.4, np.float32)]))
    s = np.array([j.score for j in judged])
    np.testing.assert_allclose(s[:4], scorer.scores(np.concatenate([letters[:3], canvas_digits[:1]])), rtol=1e-6)
    for j in judged[:4]:  # each verdict is where its score falls among the thresholds
        expected = ("not a digit" if j.score < scorer.not_a_digit else "unusual" if j.score < scorer.unusual
                    else "digit")
        assert j.verdict == expected, j
        assert j.percentile == pytest.approx(100 * np.mean(scorer.validation < j.score), abs=1e-9)
    assert scorer.not_a_digit < scorer.unusual < np.median(scorer.validation)
    assert judged[-1].verdict == "not a digit" and "blank" in judged[-1].sentence


def test_a_code_value_dead_in_a_class_does_not_decide_the_distance():
    """A relu code value that is always 0 in one class's training codes: a query a hair off it
    must not look stranger than one three standard deviations out in a live value."""
    codes = np.random.default_rng(0).normal(size=(500, 8))
    codes[:, 0] = 0.0
    gauss = score.CodeGauss.fit(codes)
    query = np.zeros((2, 8))
    query[0, 0], query[1, 1] = 0.1, 3.0
    hair, three_sd = gauss.distance2(query)
    assert hair < 1.0 < 6.0 < three_sd


def test_score_parts_need_what_they_measure(dense, data):
    with pytest.raises(ValueError, match="needs a VAE"):
        score.surprise("elbo", dense, data.x_val[:2])
    with pytest.raises(ValueError, match="Unknown score part"):
        score.surprise("ssim", dense, data.x_val[:2])
    with pytest.raises(ValueError, match="needs the models"):
        score.DigitScorer.fit({}, data.x_train, data.y_train, data.x_val, (("m", "bce"),))


def test_read_images_formats_and_one_line_errors(tmp_path):
    x = (np.random.default_rng(0).uniform(size=(3, 28, 28))).astype(np.float32)
    np.savez(tmp_path / "f.npz", x=x)
    np.savez(tmp_path / "u.npz", x=np.round(x * 255).astype(np.uint8))
    assert np.allclose(score.read_images(tmp_path / "f.npz"), x)
    assert np.allclose(score.read_images(tmp_path / "u.npz"), x, atol=1 / 255)
    np.savez(tmp_path / "shape.npz", x=np.zeros((2, 28, 27)))
    np.savez(tmp_path / "nox.npz", images=x)
    np.savez(tmp_path / "range.npz", x=x * 3)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    (tmp_path / "junk.png").write_bytes(b"junk")
    digit = np.zeros((140, 140), np.uint8) + 255
    digit[30:110, 60:80] = 0  # a dark "1" on light paper
    Image.fromarray(digit).save(tmp_path / "one.png")
    assert score.read_images(tmp_path / "one.png").shape == (1, 28, 28)
    for name, match in [("shape.npz", r"shape \(N, 28, 28\)\. Received: shape=\(2, 28, 27\)"),
                        ("nox.npz", "no array 'x'"), ("range.npz", r"in \[0, 1\]"), ("junk.npz", "not a readable .npz"),
                        ("junk.png", "not a PNG or JPEG"), ("missing.png", "no such file")]:
        with pytest.raises(ValueError, match=match) as err:
            score.read_images(tmp_path / name)
        assert "\n" not in str(err.value) and name in str(err.value)


def test_cli_score_json_and_bad_files(tmp_path, capsys):
    from ae_core import cli

    models = tmp_path / "models"
    for name in dict.fromkeys(m for m, _ in score.DEFAULT_PARTS):  # untrained stand-ins, saved like the real ones
        spec = PRESETS[name].spec
        store.save(build(spec), spec, models, name, preset=name)
    with np.load(score.NONDIGIT_SET) as f:
        np.savez(tmp_path / "x.npz", x=np.concatenate([f["digits_test"][:2], f["scribbles"][:1]]))
    assert cli.main(["score", str(tmp_path / "x.npz"), "--json", "--models", str(models)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["images"]) == 3 and all(set(i) == {"score", "verdict"} for i in out["images"])
    assert all(i["verdict"] in score.VERDICTS and isinstance(i["score"], float) for i in out["images"])
    assert cli.main(["score", str(tmp_path / "x.npz"), "--models", str(models)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith(f"{tmp_path / 'x.npz'}[0]\t")
    assert cli.main(["score", str(tmp_path / "nope.png"), "--models", str(models)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "nope.png" in err and len(err.splitlines()) == 1


# --- the manifold grid and enlarged PNGs ----------------------------------------------------------

def test_latent_grid_tile_and_enlarged_pngs():
    grid = analysis.latent_grid(5, 2.0)
    assert grid.shape == (25, 2) and grid[0].tolist() == [-2.0, 2.0] and grid[-1].tolist() == [2.0, -2.0]
    images = np.random.default_rng(0).uniform(size=(3, 28, 28)).astype(np.float32)
    row = analysis.tile(images, 3, gap=1)
    assert row.shape == (28, 86) and np.array_equal(row[:, 29:57], images[1])
    big = Image.open(io.BytesIO(analysis.to_png_bytes(images[0], 10)))
    assert big.size == (280, 280)
    assert np.array_equal(np.asarray(big)[::10, ::10], np.round(images[0] * 255).astype(np.uint8))
    assert Image.open(io.BytesIO(analysis.to_png_bytes(row, 10))).size == (860, 280)
    with pytest.raises(ValueError, match="n must be an integer"):
        analysis.latent_grid(1)
