"""ONNX export and ONNX Runtime inference: every model the app runs must agree with Keras
within 1e-5, never need TensorFlow, and a missing or broken .onnx file must say which file and
the command that exports it again."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ae_core import onnx_models, store
from ae_core.models import Autoencoder, ConvSpec, DenseSpec, build
from ae_core.presets import PRESETS
from tests.helpers import bundled, missing_shipped_message, missing_shipped_models, shipped_models_required

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "pretrained"
ATOL = 1e-5


def digits(n: int = 64) -> np.ndarray:
    return bundled().x_test[::31][:n].reshape(-1, 28, 28, 1).astype(np.float32)


def assert_same(onnx_model, keras_model, x) -> None:
    code = keras_model.encoder(x, training=False)
    code = np.asarray(code[0] if isinstance(code, (list, tuple)) else code)  # a VAE: the mean
    # Codes are unbounded (a linear code reaches about 40): there float32 itself resolves only
    # about 4e-6, so the code also gets a relative 1e-6. Images in [0, 1]: absolute 1e-5 alone.
    np.testing.assert_allclose(onnx_model.encoder(x), code, atol=ATOL, rtol=1e-6)
    np.testing.assert_allclose(onnx_model.decoder(code), np.asarray(keras_model.decoder(code, training=False)),
                               atol=ATOL, rtol=0)
    np.testing.assert_allclose(onnx_model.autoencoder(x), np.asarray(keras_model.autoencoder(x, training=False)),
                               atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_shipped_preset_matches_keras(name):
    missing = [m for m in missing_shipped_models() if m.startswith(f"{name} ")]
    if missing and shipped_models_required():
        pytest.fail(missing_shipped_message(missing))
    if missing:
        pytest.skip(f"the shipped {name} is not there yet: {missing[0]}")
    keras_model = store.load(PRETRAINED, name)
    onnx_model = store.load_onnx(PRETRAINED, name)
    assert isinstance(onnx_model.model, onnx_models.OnnxAutoencoder)
    assert onnx_model.code_shape == keras_model.code_shape == tuple(keras_model.manifest["code_shape"])
    assert onnx_model.model.autoencoder.count_params() == keras_model.model.autoencoder.count_params()
    assert_same(onnx_model.model, keras_model.model, digits())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_exports_and_matches_keras(name, tmp_path):
    """Built fresh (random weights), saved, read back: the export itself is exact for each preset."""
    preset = PRESETS[name]
    model = build(preset.spec)
    store.save(model, preset.spec, tmp_path, name, preset=name)
    assert_same(store.load_onnx(tmp_path, name).model, model, digits(16))


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
    store.save(model, spec, tmp_path, spec.name)
    assert_same(store.load_onnx(tmp_path, spec.name).model, model, digits(16))


def two_output_model() -> Autoencoder:
    """An encoder with two outputs (a VAE's mean and log-variance): the code is the first."""
    import keras
    from keras import layers

    image = keras.Input((28, 28, 1), name="image")
    flat = layers.Flatten()(image)
    encoder = keras.Model(image, [layers.Dense(4, name="mean")(flat), layers.Dense(4, name="log_var")(flat)],
                          name="encoder")
    code_in = keras.Input((4,), name="code_in")
    decoder = keras.Model(code_in, layers.Reshape((28, 28, 1))(layers.Dense(784, activation="sigmoid")(code_in)),
                          name="decoder")
    inputs = keras.Input((28, 28, 1), name="image")
    return Autoencoder(keras.Model(inputs, decoder(encoder(inputs)[0]), name="two"), encoder, decoder)


def test_an_encoder_with_several_outputs_gives_the_first_as_code_and_keeps_the_others(tmp_path):
    model = two_output_model()
    store.save(model, DenseSpec(name="two", code_size=4), tmp_path, "two")
    loaded = store.load_onnx(tmp_path, "two")
    x = digits(8)
    mean, log_var = (np.asarray(v) for v in model.encoder(x, training=False))
    assert loaded.code_shape == (4,) and loaded.manifest["code_shape"] == [4]
    np.testing.assert_allclose(loaded.model.encoder(x), mean, atol=ATOL)
    outputs = loaded.model.encoder.run_all(x)
    assert len(outputs) == 2
    np.testing.assert_allclose(outputs[1], log_var, atol=ATOL)
    np.testing.assert_allclose(loaded.model.autoencoder(x), np.asarray(model.autoencoder(x)), atol=ATOL)


def test_manifest_records_the_onnx_files_and_their_hashes(tmp_path):
    spec = DenseSpec(name="d")
    path = store.save(build(spec), spec, tmp_path, "d")
    manifest = json.loads(path.read_text())
    for part in store.PARTS:
        entry = manifest["onnx"][part]
        assert entry["sha256"] == store.sha256(tmp_path / entry["file"]) and entry["params"] > 0
        assert entry["file"] == f"d-{entry['sha256'][:12]}.{part}.onnx"  # named by its own content
    assert manifest["versions"]["tf2onnx"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


@pytest.mark.parametrize("damage", ["missing", "truncated", "not onnx"])
def test_a_missing_or_broken_onnx_file_names_the_file_and_the_export_command(tmp_path, damage):
    spec = DenseSpec(name="d")
    manifest_path = store.save(build(spec), spec, tmp_path, "d")
    manifest = json.loads(manifest_path.read_text())
    onnx_path = tmp_path / manifest["onnx"]["decoder"]["file"]
    if damage == "missing":
        onnx_path.unlink()
    else:
        data = onnx_path.read_bytes()
        onnx_path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not a model")
        manifest["onnx"]["decoder"]["sha256"] = store.sha256(onnx_path)  # consistent, still unusable
        manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(store.ModelFileError) as info:
        store.load_onnx(tmp_path, "d")
    full = info.value.full_message  # for the CLI and the log
    assert info.value.path == str(onnx_path)
    assert str(onnx_path) in full and f"python -m ae_core export-onnx --models {tmp_path}`" in full
    message = str(info.value)  # for anyone: the file's name and the command, not where it lives
    assert onnx_path.name in message and "python -m ae_core export-onnx --models" in message
    assert str(tmp_path) not in message
    store.export_onnx(tmp_path, "d")  # the command's function repairs it
    assert store.load_onnx(tmp_path, "d").code_shape == (32,)


def test_export_onnx_never_touches_the_live_files_before_its_commit(tmp_path, monkeypatch):
    """A failure at the commit (a full disk, a kill) leaves the old manifest and the very files
    it names: the new halves go under new names."""
    spec = DenseSpec(name="d")
    manifest_path = store.save(build(spec), spec, tmp_path, "d")
    live = store.model_files(json.loads(manifest_path.read_text())) | {manifest_path.name}
    before = {f: ((tmp_path / f).read_bytes(), (tmp_path / f).stat().st_ino) for f in live}

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.model_format, "_commit", full_disk)
    with pytest.raises(OSError):
        store.export_onnx(tmp_path, "d")
    monkeypatch.undo()
    after = {f: ((tmp_path / f).read_bytes(), (tmp_path / f).stat().st_ino) for f in live}
    assert after == before  # same bytes, same inodes: nothing was replaced
    assert {p.name for p in tmp_path.iterdir()} == live  # the new halves went again
    store.load_onnx(tmp_path, "d")
    store.export_onnx(tmp_path, "d")  # and a good export commits
    assert store.load_onnx(tmp_path, "d").code_shape == (32,)


def test_a_changed_onnx_file_fails_its_checksum(tmp_path):
    spec = DenseSpec(name="d")
    manifest = json.loads(store.save(build(spec), spec, tmp_path, "d").read_text())
    path = tmp_path / manifest["onnx"]["encoder"]["file"]
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(store.ModelFileError, match="checksum") as info:
        store.load_onnx(tmp_path, "d")
    assert "export-onnx" in str(info.value)


def test_a_model_saved_before_the_export_is_told_to_export(tmp_path):
    spec = DenseSpec(name="d")
    manifest_path = store.save(build(spec), spec, tmp_path, "d")
    manifest = json.loads(manifest_path.read_text())
    del manifest["onnx"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(store.ModelFileError, match="names no ONNX files.*export-onnx"):
        store.load_onnx(tmp_path, "d")
    out = subprocess.run([sys.executable, "-m", "ae_core", "export-onnx", "--models", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "exported d" in out.stdout
    assert store.load_onnx(tmp_path, "d").code_shape == (32,)


def test_wrong_input_shapes_are_refused(tmp_path):
    spec = DenseSpec(name="d")
    store.save(build(spec), spec, tmp_path, "d")
    net = store.load_onnx(tmp_path, "d").model
    with pytest.raises(ValueError, match=r"shape=\(1, 784\)"):
        net.encoder(np.zeros((1, 784), np.float32))
    assert net.encoder(np.zeros((2, 28, 28, 1), np.float32)).shape == (2, 32)
    assert net.decoder.output_shape == (None, 28, 28, 1)


def test_sessions_use_one_thread_each():
    opts = onnx_models._options()
    assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (1, 1)


def test_loading_and_running_never_imports_tensorflow():
    from tests.jobs_support import heavy_imports_after

    assert heavy_imports_after(
        "import numpy as np\nfrom ae_core import store\n"
        "m = store.load_onnx('pretrained', 'conv_denoiser').model\n"
        "assert m.autoencoder(np.zeros((1, 28, 28, 1), np.float32)).shape == (1, 28, 28, 1)") == []
