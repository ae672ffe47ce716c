"""Reliability and security of `ae_core`: bad arrays, training settings at and beyond
their bounds, property tests over random pad drawings and uploads, a full or read-only disk on save,
safe loading, uploads kept in memory.

Kill tests (a real subprocess, SIGKILL) are in test_reliability_kill.py; the app in
test_reliability_app.py; the load test in test_reliability_load.py.
"""
from __future__ import annotations

import errno
import io
import json
import os
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from ae_core import analysis, metrics, models, noise, pipeline, preprocess, store, training
from tests.helpers import tiny
from tests.reliability_support import BAD_ARRAYS, ENTRY_POINTS, spy_on_writes

ROOT = Path(__file__).resolve().parents[1]
GOOD = np.zeros((2, 28, 28), np.float32)

# --- arrays reaching ae_core directly ------------------------------------------------------

@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("case", sorted(BAD_ARRAYS))
def test_bad_arrays_raise_a_value_error_saying_what_was_received(entry, case):
    x, pattern = BAD_ARRAYS[case]
    if entry == "preprocess.mnistify" and case == "wrong shape":
        x, pattern = np.zeros((2, 3, 4)), r"2-D ink image\. Received: shape=\(2, 3, 4\)"
    if entry.startswith("metrics") and case == "wrong shape":
        pattern = r"same shape"
    with pytest.raises(ValueError, match=pattern) as err:
        ENTRY_POINTS[entry](x)
    assert "Received" in str(err.value)


@pytest.mark.parametrize("call, pattern", [
    (lambda: noise.add_noise(GOOD, float("nan"), 0), r"Received: level=nan"),
    (lambda: noise.add_noise(GOOD, "0.5", 0), r"Received: level='0.5'"),
    (lambda: noise.add_noise(GOOD, None, 0), r"Received: level=None"),
    (lambda: noise.add_noise(GOOD, 0.5, -1), r"Received: seed=-1"),
    (lambda: noise.add_noise(GOOD, 0.5, 1.5), r"Received: seed=1.5"),
    (lambda: noise.add_noise(GOOD, 0.5, 0, kind="speckle"), r"Received: kind='speckle'"),
    (lambda: metrics.mse(GOOD, GOOD[:1]), r"Received: clean shape=\(2, 28, 28\), recon shape=\(1, 28, 28\)"),
    (lambda: metrics.psnr(np.zeros((0, 28, 28)), np.zeros((0, 28, 28))), r"Received: clean shape=\(0, 28, 28\)"),
    (lambda: preprocess.from_strokes([[(1, 2)]], 0), r"Received: size=0"),
    (lambda: preprocess.from_strokes([[(1, 2, 3)]], 280), r"Received: shape=\(1, 3\)"),
    (lambda: preprocess.from_strokes([[(np.nan, 2)]], 280), r"NaN or infinite coordinates\. Received"),
    (lambda: preprocess.from_strokes("1,2", 280), r"Received: str"),
    (lambda: analysis.nearest_digits(np.zeros((4, 8)), np.full(8, np.nan), k=1), r"Received: 8 NaN or inf"),
    (lambda: analysis.code_stats(np.full((4, 8), np.inf)), r"Received: 32 NaN or inf"),
])
def test_other_bad_arguments_echo_the_value(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_good_edge_arrays_still_work():
    """Exactly 0 and 1, bools, uint8 0/1, float64 and float rounding just above 1 are accepted."""
    ones = np.ones((28, 28))
    for x in (np.zeros((28, 28)), ones, ones.astype(bool), ones.astype(np.uint8), ones + 1e-7):
        assert noise.add_noise(x, 0.0, 0).shape == (28, 28)
        assert metrics.all_metrics(x, x)["mse"].shape == (1,)
        assert analysis.as_images(x).shape == (1, 28, 28, 1)
    assert noise.add_noise(np.zeros((3, 784)), 1.0, 0, kind="mask").shape == (3, 784)
    assert noise.add_noise(np.zeros((3, 28, 28, 1)), 1.0, 0).shape == (3, 28, 28, 1)


def test_analysis_model_entry_points_refuse_bad_images():
    model = models.build(models.DenseSpec(code_size=4))
    with pytest.raises(ValueError, match="Received: 784 NaN"):
        analysis.reconstruct(model, np.full((28, 28), np.nan))
    with pytest.raises(ValueError, match="Received: values from 0 to 255"):
        analysis.encode(model, np.arange(784).reshape(28, 28) % 256)
    with pytest.raises(ValueError, match="Received: 1 NaN"):
        analysis.decode(model, np.array([0, 0, 0, np.nan]))
    with pytest.raises(ValueError, match="Received: shape=\\(5,\\)"):
        analysis.decode(model, np.zeros(5))


# --- training settings at and beyond their bounds -----------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"epochs": 0}, {"epochs": -5}, {"epochs": training.MAX_EPOCHS + 1}, {"epochs": 2.5}, {"epochs": True},
    {"epochs": "10"}, {"batch_size": 0}, {"batch_size": -1}, {"batch_size": 1.5}, {"batch_size": False},
    {"learning_rate": 0.0}, {"learning_rate": -1e-3}, {"learning_rate": float("inf")},
    {"learning_rate": float("nan")}, {"learning_rate": "0.1"}, {"noise_factor": -0.1},
    {"noise_factor": 1.01}, {"noise_max": float("nan")}, {"optimizer": "sgd"}, {"loss": "mae"},
    {"schedule": "step"},
])
def test_train_config_refuses_settings_beyond_bounds(kwargs):
    (field, value), = kwargs.items()
    with pytest.raises(ValueError, match=rf"Received: {field}="):
        training.TrainConfig(**kwargs)


@pytest.mark.parametrize("kwargs", [{"epochs": 1}, {"epochs": training.MAX_EPOCHS}, {"batch_size": 1},
                                    {"learning_rate": 1e-12}, {"learning_rate": 1e12}, {"noise_factor": 0.0},
                                    {"noise_factor": 1.0}, {"noise_max": 0.0}, {"noise_max": 1.0}])
def test_train_config_accepts_settings_at_bounds(kwargs):
    training.TrainConfig(**kwargs)


def test_batch_size_larger_than_the_data_trains_one_batch_per_epoch():
    data = tiny(200, 64)
    r = training.train(models.DenseSpec(code_size=8), training.TrainConfig(epochs=2, batch_size=4096), data)
    assert r.status == "completed" and r.epochs_run == 2 and np.all(np.isfinite(r.history["loss"]))


def _folder_state(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}


def test_huge_learning_rate_diverges_stops_and_is_never_saved(tmp_path):
    """Loss becomes NaN: training stops after that epoch, status 'diverged', save_result refuses
    and the models folder (holding an earlier model of that name) is untouched."""
    data = tiny(512, 128)
    spec = models.DenseSpec(hidden=(64,))
    config = training.TrainConfig(epochs=4, batch_size=64, learning_rate=1e38)  # overflows at once
    store.save(models.build(spec), spec, tmp_path, "m", train_config=config)
    before = _folder_state(tmp_path)
    r = training.train(spec, config, data)
    assert r.status == "diverged" and not r.ok
    assert r.epochs_run < config.epochs  # StopOnNaN stopped it
    with pytest.raises(ValueError, match="diverged.*m was not saved"):
        pipeline.save_result(r, spec, config, data, tmp_path, "m")
    assert _folder_state(tmp_path) == before


def test_a_nan_history_is_never_saved_even_if_marked_completed(tmp_path):
    data = tiny(64, 64)
    spec = models.DenseSpec(code_size=4)
    r = training.TrainResult(models.build(spec), {"loss": [0.3, float("nan")]}, 2, "completed", 1.0)
    with pytest.raises(ValueError, match="NaN or inf; m was not saved"):
        pipeline.save_result(r, spec, training.TrainConfig(epochs=2), data, tmp_path, "m")
    assert store.list_models(tmp_path) == []


# --- property tests: random pad drawings and uploads ----------------------------------------

def _check_digit(x: np.ndarray) -> None:
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert np.all(np.isfinite(x)) and x.min() >= 0.0 and x.max() <= 1.0
    assert x.max() == pytest.approx(1.0)


PAD = 280  # the pad's displayed side in the tests, CSS pixels
PEN = preprocess.PEN_FRACTION * PAD  # the pen's width on that pad
points = st.tuples(st.floats(-40, PAD + 40), st.floats(-40, PAD + 40))
pad_strokes = st.lists(st.lists(points, min_size=1, max_size=30), min_size=1, max_size=12)


def _span(strokes) -> float:
    """The drawing's extent on the pad (points off the pad count at its edge), CSS pixels."""
    every = np.clip(np.concatenate([np.asarray(s, np.float64) for s in strokes]), 0, PAD)
    return float((every.max(axis=0) - every.min(axis=0)).max())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pad_strokes)
def test_any_drawing_wider_than_a_dot_becomes_a_digit(strokes):
    assume(_span(strokes) >= 1.1 * preprocess.MIN_SPAN_PENS * PEN)  # clearly more than a dot
    _check_digit(preprocess.from_strokes(strokes, PAD))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(points, min_size=1, max_size=5), min_size=0, max_size=4), points)
def test_nothing_or_a_dot_is_refused_as_empty(offsets, centre):
    """Strokes all within a dot's extent of one point (or none at all) are refused, never read."""
    radius = 0.45 * preprocess.MIN_SPAN_PENS * PEN / PAD  # the offsets, scaled into a small disc
    strokes = [[(centre[0] + radius * (x - PAD / 2), centre[1] + radius * (y - PAD / 2)) for x, y in s]
               for s in offsets]
    assume(not strokes or _span(strokes) < 0.9 * preprocess.MIN_SPAN_PENS * PEN)
    with pytest.raises(preprocess.EmptyImageError):
        preprocess.from_strokes(strokes, PAD)


strokes = st.lists(st.tuples(st.integers(-20, 300), st.integers(-20, 300), st.integers(-20, 300),
                             st.integers(-20, 300), st.integers(1, 60), st.integers(0, 255)),
                   min_size=0, max_size=40)


MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "CMYK"]


def _encode(img: Image.Image, fmt: str) -> bytes:
    if (fmt == "JPEG" and img.mode not in ("1", "L", "RGB", "CMYK")) or (fmt == "PNG" and img.mode == "CMYK"):
        img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MODES), st.sampled_from(["PNG", "JPEG"]), st.integers(1, 400), st.integers(1, 400),
       st.integers(0, 255), strokes, st.sampled_from(["none", "truncate", "flip", "prefix"]),
       st.randoms(use_true_random=False))
def test_any_upload_becomes_a_digit_or_a_documented_error(mode, fmt, w, h, paper, lines, damage, rnd):
    img = Image.new("L", (w, h), paper)
    d = ImageDraw.Draw(img)
    for x0, y0, x1, y1, width, grey in lines:
        d.line([(x0, y0), (x1, y1)], fill=grey, width=width)
    img = img.convert(mode) if mode != "I;16" else Image.fromarray(np.asarray(img, np.uint16) * 257)
    data = _encode(img, fmt)
    if damage == "truncate":
        data = data[: rnd.randrange(0, len(data))]
    elif damage == "flip" and len(data) > 20:
        b = bytearray(data)
        for _ in range(rnd.randrange(1, 8)):
            b[rnd.randrange(8, len(b))] = rnd.randrange(256)
        data = bytes(b)
    elif damage == "prefix":
        data = b"not an image\n" + data
    try:
        x = preprocess.from_image_bytes(data)
    except preprocess.ImageInputError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        if damage == "none":  # a whole image is refused only for what it shows
            assert isinstance(exc, (preprocess.EmptyImageError, preprocess.SeveralDigitsError)), exc
        if damage == "prefix":
            assert isinstance(exc, preprocess.NotAnImageError), exc
        if damage == "none" and not lines and mode != "1":  # blank paper ("1" dithers grey into dots)
            assert isinstance(exc, preprocess.EmptyImageError), exc
        return
    assert damage != "prefix", "text before the image's signature was read as an image"
    assert lines or damage != "none" or mode == "1", "blank paper was read as a digit"
    _check_digit(x)


def test_every_odd_upload_gets_its_documented_outcome():
    from tests.reliability_support import uploads

    for case, (_, data, expected) in uploads().items():
        try:
            x = preprocess.from_image_bytes(data)
            outcome = "digit"
        except preprocess.ImageInputError as exc:
            outcome = type(exc).__name__
        assert outcome.startswith(expected), (case, outcome)
        if outcome == "digit":
            _check_digit(x)


def test_a_16_bit_png_reads_like_its_8_bit_copy():
    """Pillow's convert('L') clips 16-bit pixels to white instead of scaling them (found here)."""
    img = Image.new("L", (120, 120), 230)
    ImageDraw.Draw(img).line([(30, 20), (90, 20), (50, 100)], fill=20, width=9)
    eight = io.BytesIO()
    img.save(eight, format="PNG")
    sixteen = io.BytesIO()
    Image.fromarray(np.asarray(img, np.uint16) * 257).save(sixteen, format="PNG")
    np.testing.assert_allclose(preprocess.from_image_bytes(sixteen.getvalue()),
                               preprocess.from_image_bytes(eight.getvalue()), atol=0.01)


# --- a full or read-only disk on save: a clear error, nothing lost -------------------------

def _saved_pair(folder: Path):
    spec = models.DenseSpec(code_size=4)
    old = models.build(spec)
    store.save(old, spec, folder, "m", train_config=training.TrainConfig())
    return spec, old


def _assert_unchanged(folder: Path, before: dict, old) -> None:
    assert _folder_state(folder) == before  # no temp file left, the old pair byte-identical
    assert store.list_models(folder) == ["m"]
    x = tiny(8, 8).x_test.reshape(-1, 28, 28, 1)
    np.testing.assert_array_equal(store.load(folder, "m").model.autoencoder.predict_on_batch(x),
                                  old.autoencoder.predict_on_batch(x))


def _enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device")


def _eacces(*_a, **_k):
    raise PermissionError(errno.EACCES, "Permission denied")


FAULTS = {
    # a full disk while Keras writes the model: half a file, then ENOSPC
    "ENOSPC writing the model": ("store.model_format._write_keras", "partial", errno.ENOSPC),
    # a full disk while the manifest's temporary file is written
    "ENOSPC writing the manifest": ("Path.write_text", "partial", errno.ENOSPC),
    # fsync reports the lost write (as on NFS or a full thin volume)
    "EIO on fsync": ("os.fsync", "raise", errno.EIO),
    # a read-only folder, as seen by a non-root user: no temporary file can be created
    "read-only: mkstemp": ("tempfile.mkstemp", "raise", errno.EACCES),
    # a read-only folder where only the final rename is refused
    "read-only: os.replace": ("os.replace", "raise", errno.EACCES),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_full_or_read_only_disk_on_save_loses_nothing(tmp_path, monkeypatch, fault):
    import tempfile

    spec, old = _saved_pair(tmp_path)
    before = _folder_state(tmp_path)
    new = models.build(spec)
    target, how, code = FAULTS[fault]
    fail = _enospc if code == errno.ENOSPC else _eacces if code == errno.EACCES else (
        lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EIO, "Input/output error")))
    if target == "store.model_format._write_keras":
        def partial(model, tmp):
            Path(tmp).write_bytes(b"PK\x03\x04" + bytes(4096))  # some bytes landed, then the disk filled
            fail()
        monkeypatch.setattr(store.model_format, "_write_keras", partial)
    elif target == "Path.write_text":
        real = Path.write_text

        def partial_text(self, text, *a, **k):
            if self.name.startswith(".m.json"):
                real(self, text[: len(text) // 2])
                fail()
            return real(self, text, *a, **k)
        monkeypatch.setattr(Path, "write_text", partial_text)
    elif target == "os.fsync":
        monkeypatch.setattr(os, "fsync", fail)
    elif target == "tempfile.mkstemp":
        monkeypatch.setattr(tempfile, "mkstemp", fail)
    elif target == "os.replace":
        monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError) as err:
        store.save(new, spec, tmp_path, "m", train_config=training.TrainConfig())
    assert err.value.errno == code and err.value.strerror  # the app shows this text
    monkeypatch.undo()
    _assert_unchanged(tmp_path, before, old)


# --- security ------------------------------------------------------------------------------

def test_models_are_loaded_with_safe_mode_only_from_the_given_folder(tmp_path, monkeypatch):
    import keras

    spec = models.DenseSpec(code_size=4)
    store.save(models.build(spec), spec, tmp_path, "m")
    calls = []
    real = keras.saving.load_model

    def spy(path, *a, **k):
        calls.append((Path(path), k))
        return real(path, *a, **k)
    monkeypatch.setattr(keras.saving, "load_model", spy)
    store.load(tmp_path, "m")
    (path, kwargs), = calls
    assert kwargs.get("safe_mode") is True and path.parent == tmp_path
    for name in ("../m", "/etc/passwd", "m/../../x", "~root", "m.json/.."):
        with pytest.raises(ValueError, match="Received: name"):
            store.load(tmp_path, name)
    # A manifest that names a file elsewhere is read inside the folder only.
    manifest = json.loads((tmp_path / "m.json").read_text())
    for evil in ("/etc/hostname", "../../../../etc/hostname", "..\\..\\etc\\hostname"):
        manifest["model_file"] = evil
        (tmp_path / "m.json").write_text(json.dumps(manifest))
        with pytest.raises(store.ModelFileError) as err:
            store.load(tmp_path, "m")
        assert Path(err.value.path).parent == tmp_path


def test_a_model_with_code_in_it_is_refused_by_safe_mode(tmp_path):
    """A Lambda layer carries Python bytecode: safe_mode refuses it and the page gets a message."""
    import keras

    spec = models.DenseSpec(code_size=4)
    store.save(models.build(spec), spec, tmp_path, "m")
    manifest = json.loads((tmp_path / "m.json").read_text())
    inputs = keras.Input((28, 28, 1))
    enc = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Flatten()(inputs)), name="encoder")
    code_in = keras.Input((4,))
    dec_out = keras.layers.Lambda(lambda t: t * 0 + 1)(keras.layers.Reshape((28, 28, 1))(
        keras.layers.Dense(784)(code_in)))
    dec = keras.Model(code_in, dec_out, name="decoder")
    evil = keras.Model(inputs, dec(enc(inputs)))
    path = tmp_path / manifest["model_file"]
    path.unlink()
    evil.save(path)
    manifest["model_sha256"] = store.sha256(path)
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    with pytest.raises(store.ModelFileError, match="Keras cannot load"):
        store.load(tmp_path, "m")


def test_uploads_are_never_written_to_disk(monkeypatch):
    """Decoding an upload opens no file for writing (the bytes stay in memory)."""
    import tempfile

    writes = spy_on_writes(monkeypatch)
    monkeypatch.setattr(tempfile, "mkstemp", lambda *a, **k: writes.append("mkstemp"))
    img = Image.new("L", (300, 200), 230)
    ImageDraw.Draw(img).line([(100, 40), (200, 40), (140, 180)], fill=20, width=12)
    for fmt in ("PNG", "JPEG"):
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        preprocess.from_image_bytes(buf.getvalue())
    for bad in (b"text", buf.getvalue()[:300]):
        with pytest.raises(preprocess.ImageInputError):
            preprocess.from_image_bytes(bad)
    monkeypatch.undo()
    assert writes == []  # the page's side: tests/test_reliability_app.py uploads through the app


def test_upload_size_is_capped_in_config_and_in_code():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    limit_mb = config["server"]["maxUploadSize"]
    assert 0 < limit_mb <= 10
    assert preprocess.MAX_BYTES <= limit_mb * 1000 * 1000
    with pytest.raises(preprocess.ImageTooLargeError, match="MB"):
        preprocess.from_image_bytes(b"\x89PNG\r\n\x1a\n" + bytes(preprocess.MAX_BYTES))


def test_model_names_with_markup_or_paths_are_refused():
    """The page interpolates model names into its rows; a name can never carry markup or a path."""
    for name in ('<b>x</b>', 'a"b', "a&b", "a'b", "../x", "a/b", "a b", "x\n"):
        with pytest.raises(ValueError, match="Received: name"):
            store.check_name(name)
        with pytest.raises(ValueError, match="Received: name"):
            store.check_new_name(name)
    assert store.check_name("dense_seed-v1.2") and store.check_new_name("my_model-2")


def test_training_is_capped_per_visitor(tmp_path):
    from lab.jobs import Busy, JobManager
    from lab.settings import Settings
    from tests.jobs_support import fake_worker

    s = Settings.from_env({"AE_MAX_EPOCHS": "100000", "AE_MAX_BATCH_SIZE": "999999",
                           "AE_TRAIN_DIGITS": "10000000", "AE_MAX_RUNS": "99"})
    default = Settings()
    caps = (default.max_epochs, default.max_batch_size, default.train_digits, default.max_runs)
    assert (s.max_epochs, s.max_batch_size, s.train_digits, s.max_runs) == caps  # refused: the defaults
    assert default.max_epochs <= training.MAX_EPOCHS and default.max_runs == 1
    assert len(s.problems) == 4 and max(s.batch_sizes) <= default.max_batch_size and training.MAX_EPOCHS == 500
    manager = JobManager(scratch_root=tmp_path, command=fake_worker(tmp_path, "time.sleep(30)"))
    try:
        manager.start("a", "dense_seed", training.TrainConfig(epochs=1))
        with pytest.raises(Busy):
            manager.start("a", "dense_seed", training.TrainConfig(epochs=1))  # one run per visitor
        assert manager.start("b", "dense_seed", training.TrainConfig(epochs=1)).status == "queued"
    finally:
        manager.shutdown()


def test_pretrained_folder_is_copied_not_touched_by_these_tests():
    """Guard: fault tests work on copies (tmp_path); every file of pretrained/ has the bytes it
    had when the session began, and every model file the checksum its manifest records."""
    from tests.helpers import PRETRAINED_AT_START, missing_shipped_message, missing_shipped_models, pretrained_hashes

    folder = ROOT / "pretrained"
    assert not missing_shipped_models(), missing_shipped_message(missing_shipped_models())
    now = pretrained_hashes()
    assert PRETRAINED_AT_START and now == PRETRAINED_AT_START
    for name in store.list_models(folder):
        manifest = json.loads((folder / f"{name}.json").read_text())
        recorded = {manifest["model_file"]: manifest["model_sha256"],
                    **{part["file"]: part["sha256"] for part in manifest["onnx"].values()}}
        assert {f: now[f] for f in recorded} == recorded, name
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
