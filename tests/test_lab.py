"""The app's Streamlit-free parts: settings, figures, the interaction engine, training jobs."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import plotly.io
import plotly.tools
import pytest

from lab import engine, figures
from lab.settings import Settings

# --- settings -----------------------------------------------------------------------------


def test_settings_defaults_and_env(tmp_path):
    s = Settings.from_env({})
    assert s.allow_training and s.pretrained_dir.name == "pretrained" and s.models_dir.name == "models"
    assert not s.problems and not s.save_problem
    s = Settings.from_env({"AE_PRETRAINED_DIR": str(tmp_path / "a"), "AE_MODELS_DIR": str(tmp_path / "b"),
                           "AE_ALLOW_TRAINING": "0", "AE_MAX_EPOCHS": "7", "AE_MAX_BATCH_SIZE": "64",
                           "AE_TRAIN_DIGITS": "500"})
    assert (s.pretrained_dir, s.models_dir) == (tmp_path / "a", tmp_path / "b")
    assert not s.allow_training and s.max_epochs == 7 and s.train_digits == 500
    assert max(s.batch_sizes) == 64


def test_bad_settings_fall_back_with_a_note():
    s = Settings.from_env({"AE_MAX_EPOCHS": "0", "AE_TRAIN_DIGITS": "many", "AE_ALLOW_TRAINING": "maybe"})
    assert s.max_epochs == Settings().max_epochs and s.train_digits == Settings().train_digits
    assert not s.allow_training  # an unreadable switch is off: the safe side for a public server
    assert len(s.problems) == 3 and all("received" in p for p in s.problems)


def test_saving_into_the_pretrained_folder_is_refused(tmp_path):
    s = Settings.from_env({"AE_PRETRAINED_DIR": str(tmp_path), "AE_MODELS_DIR": str(tmp_path / ".")})
    assert "overwrite the shipped models" in s.save_problem and str(tmp_path) not in s.save_problem


# --- figures ------------------------------------------------------------------------------


def test_flat_code_is_the_tutorials_8x4_image():
    code = np.arange(32, dtype=float)
    values, index = figures.flat_code_grid(code)
    np.testing.assert_array_equal(values, code.reshape(4, 8).T)  # encoded_imgs[i].reshape(4, 8).T
    np.testing.assert_array_equal(index, np.arange(32).reshape(4, 8).T)
    values, index = figures.flat_code_grid(np.ones(10))  # other sizes: rows of 4, padded
    assert values.shape == (3, 4) and np.isnan(values).sum() == 2 and (index == -1).sum() == 2


def test_channel_grid_tiles_every_channel():
    code = np.random.default_rng(0).random((7, 7, 32))
    values, index = figures.channel_grid(code)
    assert values.shape == (4 * 8 - 1, 8 * 8 - 1)
    for k in (0, 9, 31):
        np.testing.assert_array_equal(values[index == k].reshape(7, 7), code[..., k])
    assert np.isnan(values[index == -1]).all()


@pytest.mark.parametrize("make", [lambda: figures.channels_figure(np.random.default_rng(0).random((7, 7, 32)), (0, 1), "all"),
                                  lambda: figures.loss_figure({"loss": [0.3, 0.2], "val_loss": [0.31, 0.25]})])
def test_prebuilt_dicts_are_valid_plotly_figures(make):
    fig = make()
    go.Figure(fig.to_dict())  # plotly's validation accepts every property
    # st.plotly_chart's path: the dict comes through unchanged and serialises.
    spec = plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True)
    assert spec is fig.to_dict()
    assert plotly.io.to_json(spec, validate=False)


def test_one_colour_scale():
    grid = figures.channels_figure(np.random.default_rng(1).random((7, 7, 32)), (0, 1), "c").to_dict()
    assert grid["data"][0]["colorscale"] == figures.GRAY  # grey: 0 black, top white, like the PNGs


# --- engine -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from ae_core import store
    from ae_core.models import ConvSpec, DenseSpec, build
    from tests.helpers import bundled

    folder = tmp_path_factory.mktemp("models")
    for spec in (DenseSpec(name="d"), ConvSpec(name="c", filters=(8, 8))):
        store.save(build(spec), spec, folder, spec.name)
    x = bundled().x_test
    return [engine.load_stored(folder, n, "pretrained", x) for n in ("d", "c")], folder


def test_interaction_runs_every_model_once_with_metrics(tiny_models):
    models, _ = tiny_models
    from tests.helpers import bundled

    clean = bundled().x_test[5]
    out = engine.interact(clean, models, 0.5, 3, "gaussian")
    assert out.noisy.shape == (28, 28) and not np.allclose(out.noisy, clean)
    assert [o.model.name for o in out.outputs] == ["d", "c"]
    assert out.outputs[0].code.shape == (32,) and out.outputs[1].code.shape == (7, 7, 8)
    from ae_core import onnx_models, store

    _, folder = tiny_models
    for o in out.outputs:
        assert o.recon.shape == (28, 28) and set(o.metrics) == {"bce", "mse", "psnr", "ssim"}
        assert isinstance(o.model.net, onnx_models.OnnxAutoencoder)  # the page never waits for TensorFlow
        keras_model = store.load(folder, o.model.name).model  # the reference: Keras, safe_mode
        x = out.noisy.reshape(1, 28, 28, 1)
        np.testing.assert_allclose(o.recon, np.asarray(keras_model.autoencoder(x, training=False)).reshape(28, 28),
                                   atol=1e-5)
        np.testing.assert_allclose(o.code, np.asarray(keras_model.encoder(x, training=False))[0], atol=1e-5)
    again = engine.interact(clean, models, 0.5, 3, "gaussian")
    np.testing.assert_array_equal(again.noisy, out.noisy)  # same seed, same noise
    assert out.noisy_metrics["psnr"] < 100


def test_code_colour_range():
    assert engine.colour_range(np.array([0.0, 1.0, 2.0, 4.0]))[0] == 0.0
    lo, hi = engine.colour_range(np.linspace(-3, 2, 100))
    assert lo == -hi and hi > 2


def test_broken_model_becomes_a_load_failure_naming_the_file(tiny_models, tmp_path):
    _, folder = tiny_models
    import json
    import shutil

    for f in folder.iterdir():
        shutil.copy(f, tmp_path / f.name)
    manifest = json.loads((tmp_path / "d.json").read_text())
    onnx_file = tmp_path / manifest["onnx"]["encoder"]["file"]
    onnx_file.write_bytes(onnx_file.read_bytes()[:100])
    result = engine.load_stored(tmp_path, "d", "pretrained", np.zeros((4, 28, 28), np.float32))
    assert isinstance(result, engine.LoadFailure)
    assert str(onnx_file) in result.message and result.path == str(onnx_file)
    assert "export-onnx" in result.message
    missing = engine.load_stored(tmp_path, "nothing", "pretrained", np.zeros((4, 28, 28), np.float32))
    assert isinstance(missing, engine.LoadFailure) and "nothing.json" in missing.message


def test_file_stamp_changes_with_the_files(tiny_models, tmp_path):
    import json
    import os
    import shutil

    _, folder = tiny_models
    for f in folder.iterdir():
        shutil.copy(f, tmp_path / f.name)
    a = engine.file_stamp(tmp_path, "d")
    assert a == engine.file_stamp(tmp_path, "d")  # nothing changed: the same key
    model = tmp_path / json.loads((tmp_path / "d.json").read_text())["model_file"]
    model.write_bytes(model.read_bytes() + b"\0")  # the model file changes (size and time)
    b = engine.file_stamp(tmp_path, "d")
    assert b != a
    manifest = tmp_path / "d.json"
    os.utime(manifest, ns=(manifest.stat().st_atime_ns, manifest.stat().st_mtime_ns + 10**9))  # a new manifest
    assert engine.file_stamp(tmp_path, "d") != b
    assert engine.file_stamp(tmp_path / "absent", "d")[-1] == "unreadable"


# --- training data ------------------------------------------------------------------------

def test_capped_training_data_covers_every_class():
    from ae_core.worker import training_data
    from tests.helpers import bundled

    data = training_data(300, bundled())
    assert len(data.x_train) == 300 and len(data.x_val) == 75
    assert set(np.unique(data.y_train)) == set(range(10)) and set(np.unique(data.y_val)) == set(range(10))
    np.testing.assert_array_equal(data.x_test, bundled().x_test)  # the test digits are never cut
    assert training_data(None, bundled()) is bundled()  # no cap: the whole set, no copy


# --- Explore: results keyed by model, not by name or object id --------------------------------

def test_models_with_the_same_name_keep_their_own_sweep_line_and_label(tiny_models, monkeypatch):
    import dataclasses

    from lab.explore import baselines, data

    monkeypatch.setattr(data, "baselines", dict)  # models only: the baselines are slow to fit
    models, _ = tiny_models
    pretrained = dataclasses.replace(models[0], key="pretrained:d", name="d", title="D (shipped)")
    saved = dataclasses.replace(models[1], key="saved:d", name="d", kind="saved", title="D, saved v1")
    sweep = data.sweep([pretrained, saved])
    assert {"pretrained:d", "saved:d"} <= set(sweep.psnr)  # two models, two lines
    assert not np.allclose(sweep.psnr["pretrained:d"], sweep.psnr["saved:d"])
    figure = baselines.sweep_figure(sweep, None, [pretrained, saved]).to_dict()
    names = [t["name"] for t in figure["data"] if t.get("showlegend")]
    assert names == ["noisy input", "D (shipped)", "D, saved v1"]


def test_explore_cache_key_follows_the_model_file_not_the_object():
    import dataclasses

    from lab.explore import data

    net = object()
    a = engine.LoadedModel("saved:m", "m", "m", "saved", None, (32,), net, (0, 1), (0, 1),
                           {"model_sha256": "a" * 64})
    retrained = dataclasses.replace(a, manifest={"model_sha256": "b" * 64})  # same object, new file
    reloaded = dataclasses.replace(a, net=object())  # the same file loaded again
    assert data.version(retrained) != data.version(a)
    assert data.version(reloaded) == data.version(a)


def test_file_stamp_changes_when_an_onnx_file_changes(tiny_models, tmp_path):
    """The page runs the ONNX files: a changed one must reload the model (and show its error)."""
    import json
    import shutil

    _, folder = tiny_models
    for f in folder.iterdir():
        shutil.copy(f, tmp_path / f.name)
    before = engine.file_stamp(tmp_path, "d")
    onnx = tmp_path / json.loads((tmp_path / "d.json").read_text())["onnx"]["decoder"]["file"]
    onnx.write_bytes(onnx.read_bytes()[:-10])
    assert engine.file_stamp(tmp_path, "d") != before
