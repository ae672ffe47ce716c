import socket

import numpy as np
import pytest

from ae_core import data
from tests.helpers import bundled


def test_bundled_shapes_dtypes_ranges():
    d = bundled()
    assert d.x_train.shape == (7000, 28, 28) and d.x_val.shape == (1000, 28, 28)
    assert d.x_test.shape == (2000, 28, 28)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.uint8 and d.y_val.dtype == np.uint8
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    assert set(np.unique(d.y_test)) == set(range(10)) and set(np.unique(d.y_val)) == set(range(10))
    assert d.source == "bundled" and len(d.sha256) == 16


def test_bundled_three_way_split_is_disjoint_and_keeps_the_test_digits():
    """Validation comes out of the old 8,000 training digits; the 2,000 test digits are unchanged."""
    with np.load(data.BUNDLED_PATH) as f:
        images, labels = f["images"], f["labels"]
    old_train, old_test = data.stratified_split(labels)
    d = bundled()
    assert np.array_equal(d.x_test, images[old_test] / np.float32(255)) and np.array_equal(d.y_test, labels[old_test])
    rows = {img.tobytes(): i for i, img in enumerate(images)}
    where = {name: {rows[(np.round(x * 255)).astype(np.uint8).tobytes()] for x in xs}
             for name, xs in (("train", d.x_train), ("val", d.x_val), ("test", d.x_test))}
    assert not where["train"] & where["val"] and not where["val"] & where["test"]
    assert where["train"] | where["val"] == set(old_train.tolist())
    for label in range(10):  # each class keeps its share in validation
        assert abs(np.mean(d.y_val == label) / np.mean(labels == label) - 1.0) < 0.02
    again = data.load_bundled()
    assert np.array_equal(again.x_val, d.x_val) and np.array_equal(again.y_train, d.y_train)


def test_split_sizes_are_exact():
    labels = np.repeat(np.arange(10), [801, 902, 793, 826, 784, 690, 811, 856, 755, 782])
    train, val = data.stratified_split(labels, data.VAL_FRACTION, seed=data.VAL_SEED)
    assert len(val) == 1000 and len(train) == 7000  # per-class rounding alone gives 999


def test_subset_picks_from_each_split():
    d = bundled()
    s = d.subset(train=[0, 5], val=[3], test=[7, 8, 9])
    assert (len(s.x_train), len(s.x_val), len(s.x_test)) == (2, 1, 3)
    assert np.array_equal(s.x_val[0], d.x_val[3]) and s.y_test[2] == d.y_test[9]
    assert d.subset(val=[1]).x_train is d.x_train and s.sha256 == d.sha256


def test_split_is_stratified_disjoint_and_fixed():
    with np.load(data.BUNDLED_PATH) as f:
        labels = f["labels"]
    train, test = data.stratified_split(labels)
    assert len(train) == 8000 and len(test) == 2000
    assert not set(train) & set(test)
    for label in range(10):
        share = np.mean(labels[test] == label) / np.mean(labels == label)
        assert abs(share - 1.0) < 0.01  # each class keeps its share in the test set
    train2, test2 = data.stratified_split(labels)
    assert np.array_equal(test, test2) and np.array_equal(train, train2)
    assert not np.array_equal(test, data.stratified_split(labels, seed=7)[1])


def _fake_mnist(path, n=50):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, n, dtype=np.uint8),
             x_test=rng.integers(0, 256, (n // 2, 28, 28), dtype=np.uint8),
             y_test=rng.integers(0, 10, n // 2, dtype=np.uint8))
    return path


def test_local_mnist_file_by_path_and_env(tmp_path, monkeypatch):
    path = _fake_mnist(tmp_path / "mnist.npz")
    d = data.load_mnist(str(path))
    assert d.x_train.shape == (44, 28, 28) and d.x_val.shape == (6, 28, 28)  # 1/8 carved out
    assert d.x_test.shape == (25, 28, 28)
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    monkeypatch.setenv(data.ENV_VAR, str(path))
    assert data.load_mnist("full").source == str(path)


def test_bad_sources_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="No MNIST file"):
        data.load_mnist(str(tmp_path / "nope.npz"))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable mnist.npz"):
        data.load_mnist(str(bad))


def keras_home(monkeypatch, tmp_path):
    """Point Keras' cache at an empty folder (Keras reads $KERAS_HOME once, at import)."""
    from keras.src.backend import config

    (tmp_path / "keras-home").mkdir()
    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path / "keras-home"))


def test_offline_download_falls_back_to_bundled(tmp_path, monkeypatch):
    """With no network and no cached file, 'full' tries Keras' real download, fails at once and says so."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "KERAS_CACHE_PATH", tmp_path / "absent.npz")
    keras_home(monkeypatch, tmp_path)  # no Keras cache to fall back on
    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    d = data.load_mnist("full")
    assert attempts, "no download was attempted"
    assert d.source == "bundled" and d.x_test.shape == (2000, 28, 28)
    assert "could not be downloaded" in d.message and "\n" not in d.message


def test_a_download_is_read_from_where_keras_put_it(tmp_path, monkeypatch):
    """Keras writes under $KERAS_HOME (or /tmp/.keras), not always ~/.keras: the file it
    downloaded is the one loaded (here a small stand-in served instead of the network)."""
    from keras.src.utils import file_utils

    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "KERAS_CACHE_PATH", tmp_path / "absent.npz")
    keras_home(monkeypatch, tmp_path)
    rng = np.random.default_rng(0)
    arrays = {k: rng.integers(0, 255, (n, 28, 28), dtype=np.uint8) for k, n in (("x_train", 80), ("x_test", 20))}
    arrays |= {"y_train": np.arange(80, dtype=np.uint8) % 10, "y_test": np.arange(20, dtype=np.uint8) % 10}

    def serve(origin, target, *args, **kwargs):
        with open(target, "wb") as f:
            np.savez(f, **arrays)

    monkeypatch.setattr(file_utils, "urlretrieve", serve)
    monkeypatch.setattr(file_utils, "validate_file", lambda *a, **k: True)  # the stand-in has its own hash
    d = data.load_mnist("full")
    assert d.source == "download", d.message
    assert (tmp_path / "keras-home" / "datasets" / "mnist.npz").is_file()
    assert len(d.x_train) + len(d.x_val) == 80 and len(d.x_test) == 20


def test_canvas_set_is_built_from_test_digits_by_its_script():
    import importlib.util

    path = data.BUNDLED_PATH.parents[2] / "scripts" / "build_canvas_set.py"
    spec = importlib.util.spec_from_file_location("build_canvas_set", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    images, labels = data.load_canvas_test()
    with np.load(data.CANVAS_PATH) as f:
        index = f["test_index"]
    d = bundled()
    assert images.shape == (500, 28, 28) and images.dtype == np.float32
    assert np.array_equal(labels, d.y_test[index]) and set(np.unique(labels)) == set(range(10))
    rebuilt = script.build(d.x_test[index[:6]])  # the same seed: the first digits come out the same
    np.testing.assert_allclose(rebuilt, images[:6], atol=0.5 / 255 + 1e-6)
    assert not np.allclose(rebuilt, d.x_test[index[:6]], atol=0.1)  # re-drawn, not copied
