"""ae_core.runner: the NumPy forward pass the app uses must agree with Keras, never need
TensorFlow, and refuse (not guess) what it cannot run."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ae_core import runner, store
from ae_core.models import Autoencoder, ConvSpec, DenseSpec, build
from ae_core.presets import PRESETS
from tests.helpers import bundled

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "pretrained"


def digits(n: int = 64) -> np.ndarray:
    return bundled().x_test[::31][:n].reshape(-1, 28, 28, 1).astype(np.float32)


def assert_same(numpy_model, keras_model, x, atol=1e-5) -> None:
    np.testing.assert_allclose(numpy_model.encoder(x), np.asarray(keras_model.encoder(x, training=False)),
                               atol=atol, rtol=1e-5)
    np.testing.assert_allclose(numpy_model.autoencoder(x),
                               np.asarray(keras_model.autoencoder(x, training=False)), atol=atol)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_pretrained_model_matches_keras(name):
    keras_model = store.load(PRETRAINED, name)
    numpy_model = store.load_runner(PRETRAINED, name)
    assert isinstance(numpy_model.model, runner.NumpyAutoencoder)
    assert numpy_model.code_shape == keras_model.code_shape == tuple(keras_model.manifest["code_shape"])
    assert numpy_model.model.autoencoder.count_params() == keras_model.model.autoencoder.count_params()
    x = digits()
    assert_same(numpy_model.model, keras_model.model, x)
    code = numpy_model.model.encoder(x[:3])
    np.testing.assert_allclose(numpy_model.model.decoder(code),
                               np.asarray(keras_model.model.decoder(code, training=False)), atol=1e-5)


@pytest.mark.parametrize("spec", [
    DenseSpec(name="wide", code_size=5, hidden=(64,), code_activation="linear"),
    ConvSpec(name="bn", filters=(8, 16), convs_per_level=2, batch_norm=True, code_size=10, refine_convs=1),
    ConvSpec(name="odd", filters=(4, 4, 4)),  # 28 -> 14 -> 7 -> 4: "same" pooling of an odd size
], ids=lambda s: s.name)
def test_other_architectures_match_keras(spec, tmp_path):
    model = build(spec)
    rng = np.random.default_rng(0)
    for layer in model.encoder.layers + model.decoder.layers:  # non-trivial batch-norm statistics
        if type(layer).__name__ == "BatchNormalization":
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in layer.get_weights()])
    x = digits(16)
    assert_same(runner.from_keras(model), model, x)
    store.save(model, spec, tmp_path, spec.name)  # and read back from the file
    assert_same(store.load_runner(tmp_path, spec.name).model, model, x)


def strided_model() -> Autoencoder:
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1), name="image")
    encoder = keras.Model(inputs, layers.Conv2D(4, 3, strides=2, padding="same")(inputs), name="encoder")
    code_in = keras.Input((14, 14, 4), name="code_in")
    decoder = keras.Model(code_in, layers.Conv2DTranspose(1, 3, strides=2, padding="same",
                                                          activation="sigmoid")(code_in), name="decoder")
    image = keras.Input((28, 28, 1), name="image")
    return Autoencoder(keras.Model(image, decoder(encoder(image)), name="strided"), encoder, decoder)


def test_layers_it_lacks_are_refused_and_the_app_runs_them_with_keras(tmp_path):
    from lab import engine

    model = strided_model()
    with pytest.raises(runner.Unsupported, match="strides"):
        runner.from_keras(model)
    store.save(model, ConvSpec(name="strided"), tmp_path, "strided")
    with pytest.raises(runner.Unsupported):
        store.load_runner(tmp_path, "strided")
    loaded = engine.load_stored(tmp_path, "strided", "saved", bundled().x_test[:8])
    assert isinstance(loaded, engine.LoadedModel) and not isinstance(loaded.net, runner.NumpyAutoencoder)
    x = bundled().x_test[:1]
    code, recon = loaded.run(x)
    np.testing.assert_allclose(recon, np.asarray(model.autoencoder(x.reshape(1, 28, 28, 1))).reshape(1, 28, 28),
                               atol=1e-6)


def test_a_readable_zip_without_weights_is_a_clear_model_file_error(tmp_path):
    spec = DenseSpec(name="d")
    manifest_path = store.save(build(spec), spec, tmp_path, "d")
    manifest = json.loads(manifest_path.read_text())
    model_path = tmp_path / manifest["model_file"]
    with zipfile.ZipFile(model_path) as z:
        parts = {n: z.read(n) for n in z.namelist() if n != "model.weights.h5"}
    with zipfile.ZipFile(model_path, "w") as z:
        for n, data in parts.items():
            z.writestr(n, data)
    manifest["model_sha256"] = store._sha256(model_path)  # consistent files, unreadable model
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(store.ModelFileError, match="cannot be read") as info:
        store.load_runner(tmp_path, "d")
    assert str(model_path) in str(info.value)


def test_wrong_input_shapes_are_refused():
    net = runner.from_keras(build(DenseSpec(name="d")))
    with pytest.raises(ValueError, match=r"shape=\(1, 784\)"):
        net.encoder(np.zeros((1, 784), np.float32))
    assert net.encoder(np.zeros((2, 28, 28, 1), np.float32)).shape == (2, 32)
    assert net.decoder.output_shape == (None, 28, 28, 1)


def test_reading_and_running_never_imports_tensorflow():
    script = ("import sys; import numpy as np; from ae_core import store, presets; "
              "m = store.load_runner('pretrained', 'conv_denoiser').model; "
              "assert m.autoencoder(np.zeros((1, 28, 28, 1), np.float32)).shape == (1, 28, 28, 1); "
              "print(sorted(k for k in ('tensorflow', 'keras') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
