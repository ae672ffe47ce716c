import json
import os

import numpy as np
import pytest

from ae_core import models, store, training
from tests.helpers import tiny

X = tiny(8, 8).x_test.reshape(-1, 28, 28, 1)


def _save(folder, name="m", spec=models.DenseSpec(), seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    model = models.build(spec)
    store.save(model, spec, folder, name, train_config=training.TrainConfig(),
               metrics={"val_bce": 0.1}, history={"loss": [0.3, 0.2]})
    return model


@pytest.mark.parametrize("spec", [models.DenseSpec(), models.ConvSpec(filters=(4, 4), batch_norm=True)])
def test_round_trip_gives_identical_outputs(tmp_path, spec):
    model = _save(tmp_path, spec=spec)
    loaded = store.load(tmp_path, "m")
    assert loaded.spec == spec and loaded.manifest["metrics"] == {"val_bce": 0.1}
    np.testing.assert_array_equal(model.autoencoder.predict_on_batch(X),
                                  loaded.model.autoencoder.predict_on_batch(X))
    code = loaded.model.encoder.predict_on_batch(X)
    np.testing.assert_allclose(loaded.model.decoder.predict_on_batch(code),
                               loaded.model.autoencoder.predict_on_batch(X), atol=1e-6)
    assert store.list_models(tmp_path) == ["m"]


def test_a_trained_model_is_saved_without_its_optimizer_state(tmp_path):
    import zipfile

    import h5py
    import keras

    spec = models.DenseSpec(hidden=(64,))
    model = models.build(spec)
    model.autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    model.autoencoder.fit(X, X, epochs=1, verbose=0)
    store.save(model, spec, tmp_path, "m")
    with zipfile.ZipFile(next(tmp_path.glob("m-*.keras"))) as z:
        z.extract("model.weights.h5", tmp_path)
    with h5py.File(tmp_path / "model.weights.h5") as f:
        assert "optimizer" not in f
    loaded = store.load(tmp_path, "m")
    np.testing.assert_array_equal(model.autoencoder.predict_on_batch(X), loaded.model.autoencoder.predict_on_batch(X))
    assert isinstance(model.autoencoder.optimizer, keras.optimizers.Adam)  # the live model is left as it was


def test_manifest_records_provenance(tmp_path):
    _save(tmp_path)
    m = json.loads((tmp_path / "m.json").read_text())
    for key in ("spec", "train_config", "data", "metrics", "history", "versions", "created",
                "model_file", "model_sha256", "code_shape"):
        assert key in m
    assert m["code_shape"] == [32] and m["versions"]["keras"]


def test_resave_replaces_and_cleans_up(tmp_path):
    _save(tmp_path, seed=1)
    _save(tmp_path, seed=2)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".keras") == [
        json.loads((tmp_path / "m.json").read_text())["model_file"]]


@pytest.mark.parametrize("fail_at", ["keras_write", "manifest_replace"])
def test_crash_during_save_keeps_previous_model(tmp_path, monkeypatch, fail_at):
    old = _save(tmp_path, seed=1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_replace = os.replace

    def crash(src, dst):
        if fail_at == "manifest_replace" and str(dst).endswith(".json"):
            raise OSError("simulated crash")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    if fail_at == "keras_write":
        monkeypatch.setattr(store.model_format, "_write_keras", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        _save(tmp_path, seed=2)
    monkeypatch.undo()
    assert (tmp_path / "m.json").read_bytes() == before["m.json"]
    loaded = store.load(tmp_path, "m")
    np.testing.assert_array_equal(old.autoencoder.predict_on_batch(X), loaded.model.autoencoder.predict_on_batch(X))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left
    assert store.list_models(tmp_path) == ["m"]


def _model_file(folder):
    return folder / json.loads((folder / "m.json").read_text())["model_file"]


def test_truncated_model_file_is_a_clear_error(tmp_path):
    _save(tmp_path)
    path = _model_file(tmp_path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(store.ModelFileError, match="checksum") as err:
        store.load(tmp_path, "m")
    assert err.value.path == str(path) and str(path) in err.value.full_message  # for the CLI and the log
    message = str(err.value)  # for anyone, visitors included: the file's name and what to do
    assert message.startswith(path.name) and "python -m ae_core train" in message
    assert str(tmp_path) not in message and "/" not in message.split(":")[0]


def test_corrupt_model_without_checksum_is_a_clear_error(tmp_path):
    _save(tmp_path)
    manifest = json.loads((tmp_path / "m.json").read_text())
    manifest.pop("model_sha256")
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    _model_file(tmp_path).write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(store.ModelFileError, match="Keras cannot load"):
        store.load(tmp_path, "m")


@pytest.mark.parametrize("content, match", [(b"{not json", "not valid JSON"), (b"[1, 2]", "not a JSON object"),
                                            (b'{"spec": {}}', "no 'model_file'")])
def test_bad_manifest_is_a_clear_error(tmp_path, content, match):
    _save(tmp_path)
    (tmp_path / "m.json").write_bytes(content)
    with pytest.raises(store.ModelFileError, match=match):
        store.load(tmp_path, "m")


def test_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(store.ModelFileError, match="manifest is missing"):
        store.load(tmp_path, "m")
    _save(tmp_path)
    _model_file(tmp_path).unlink()
    with pytest.raises(store.ModelFileError, match="model file named by its manifest is missing"):
        store.load(tmp_path, "m")


def test_mismatched_manifest_is_a_clear_error(tmp_path):
    _save(tmp_path)
    manifest = json.loads((tmp_path / "m.json").read_text())
    manifest["code_shape"] = [16]
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    with pytest.raises(store.ModelFileError, match="does not match the manifest"):
        store.load(tmp_path, "m")


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "x" * 65, "a b"])
def test_names_that_are_paths_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="Received: name"):
        store.check_name(name)


def test_model_file_in_manifest_cannot_leave_the_folder(tmp_path):
    _save(tmp_path)
    manifest = json.loads((tmp_path / "m.json").read_text())
    manifest["model_file"] = "../../etc/passwd"
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    with pytest.raises(store.ModelFileError) as err:
        store.load(tmp_path, "m")
    assert err.value.path == str(tmp_path / "passwd")


def test_listing_ignores_temp_files_and_version_names_skip_every_file_holding_one(tmp_path):
    _save(tmp_path, name="dense-v1")
    (tmp_path / ".dense-v2.json.abc.tmp").write_text("{}")  # a manifest being written
    (tmp_path / "dense-v3-0123456789ab.keras").write_text("")  # a model file a killed save left
    (tmp_path / ".dense-v4-0123456789ab.encoder.onnx.x1.onnx").write_text("")  # a copy being written
    assert store.list_models(tmp_path) == ["dense-v1"]
    assert store.next_version_name(tmp_path, "dense") == "dense-v5"
    assert store.next_version_name(tmp_path, "other") == "other-v1"
    assert store.list_models(tmp_path / "absent") == []
    assert store.next_version_name(tmp_path / "absent", "dense") == "dense-v1"


def test_a_killed_copy_does_not_stop_later_saves(tmp_path):
    """A copy killed after writing its model file leaves `BASE-vN-<hash>.keras` and no
    manifest; the next copies of the same model must not pick that name again and again."""
    _save(tmp_path / "src")
    first = store.copy(tmp_path / "src", "m", tmp_path / "dst", base="m")
    model_file = json.loads(first.read_text())["model_file"]
    orphan = tmp_path / "dst" / model_file.replace("m-v1-", "m-v2-")  # the name the next copy writes
    orphan.write_bytes((tmp_path / "dst" / model_file).read_bytes())
    second = store.copy(tmp_path / "src", "m", tmp_path / "dst", base="m")
    assert second.stem == "m-v3"
    assert store.load_onnx(tmp_path / "dst", "m-v3").manifest["name"] == "m-v3"
    assert orphan.exists()  # a recent leftover is kept (its save may still be running): remove_stale's job


def test_copy_gives_up_after_a_few_names_and_says_why(tmp_path, monkeypatch):
    _save(tmp_path / "src")
    tries = []

    def always_taken(path, manifest, exclusive=False):
        tries.append(path.stem)
        raise store.NameTaken(f"{path.name} already exists")

    monkeypatch.setattr(store.catalogue, "_commit", always_taken)
    with pytest.raises(store.NameTaken) as err:
        store.copy(tmp_path / "src", "m", tmp_path / "dst", base="m")
    assert tries == [f"m-v{n}" for n in range(1, store.COPY_TRIES + 1)]
    message = str(err.value)
    assert "m-v1" in message and f"m-v{store.COPY_TRIES}" in message and "Try again" in message
    assert str(tmp_path) not in message
    assert list((tmp_path / "dst").iterdir()) == []  # every file it wrote went again
    with pytest.raises(store.NameTaken, match="A model named mine already exists"):
        store.copy(tmp_path / "src", "m", tmp_path / "dst", name="mine")


def test_error_hint_names_the_preset(tmp_path):
    spec = models.DenseSpec()
    store.save(models.build(spec), spec, tmp_path, "dense_seed", preset="dense_seed")
    (tmp_path / json.loads((tmp_path / "dense_seed.json").read_text())["model_file"]).unlink()
    with pytest.raises(store.ModelFileError, match=r"python -m ae_core train dense_seed`"):
        store.load(tmp_path, "dense_seed")
    (tmp_path / "dense_seed.json").unlink()  # no manifest: the name is the preset
    with pytest.raises(store.ModelFileError, match=r"python -m ae_core train dense_seed`"):
        store.load(tmp_path, "dense_seed")


def _age(path, seconds):
    t = path.stat().st_mtime - seconds
    os.utime(path, (t, t))


def test_save_removes_what_killed_saves_left_behind(tmp_path):
    _save(tmp_path, name="a")
    a_file = json.loads((tmp_path / "a.json").read_text())["model_file"]
    old = {".a.x1.keras": b"partial", ".a.json.x2.tmp": b"{", "a-0123456789ab.keras": b"orphan of a",
           "b-0123456789ab.keras": b"orphan, no manifest"}
    fresh = {".c.x3.keras": b"a save running now", "a-ba9876543210.keras": b"orphan, but recent"}
    for name, data in {**old, **fresh}.items():
        (tmp_path / name).write_bytes(data)
    for name in old:
        _age(tmp_path / name, 2 * store.STALE_SECONDS)
    _age(tmp_path / a_file, 2 * store.STALE_SECONDS)  # an old model its manifest names: kept
    (tmp_path / "notes.txt").write_text("not ours")
    _age(tmp_path / "notes.txt", 2 * store.STALE_SECONDS)

    _save(tmp_path, name="d")

    left = {p.name for p in tmp_path.iterdir()}
    assert not left & set(old), left
    assert set(fresh) | {a_file, "notes.txt", "a.json", "d.json"} <= left
    store.load(tmp_path, "a")  # still loads


def test_stale_removal_keeps_files_whose_manifest_is_unreadable(tmp_path):
    _save(tmp_path, name="a")
    a_file = tmp_path / json.loads((tmp_path / "a.json").read_text())["model_file"]
    (tmp_path / "a.json").write_text("{broken")
    _age(a_file, 2 * store.STALE_SECONDS)
    assert store.remove_stale(tmp_path) == []
    assert a_file.exists()


def test_every_rename_is_followed_by_a_folder_fsync(tmp_path, monkeypatch):
    """A rename lives in the folder's data: without fsyncing the folder, a power cut after
    `save` returned could bring back the old manifest."""
    events = []
    real_replace, real_fsync = os.replace, os.fsync

    def replace(src, dst):
        events.append(("rename", os.path.basename(str(dst))))
        real_replace(src, dst)

    def fsync(fd):
        events.append(("fsync", "folder" if os.path.isdir(os.readlink(f"/proc/self/fd/{fd}")) else "file"))
        real_fsync(fd)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", fsync)
    _save(tmp_path)
    monkeypatch.undo()
    ours = [i for i, e in enumerate(events) if e[0] == "rename" and not e[1].startswith(".")]
    assert [events[i][1].rsplit(".", 1)[-1] for i in ours] == ["keras", "onnx", "onnx", "json"]
    for i in ours:
        assert events[i + 1] == ("fsync", "folder"), events


COPIER = """
import sys
sys.path.insert(0, sys.argv[1])
from ae_core import store
print(store.copy(sys.argv[2], "m", sys.argv[3], base="m").stem)
"""


def test_two_processes_never_take_the_same_version_name(tmp_path):
    """Two servers, or a server and the CLI, saving into one folder at the same moment."""
    import subprocess
    import sys
    from pathlib import Path

    _save(tmp_path / "src")
    root = str(Path(__file__).resolve().parents[1])
    procs = [subprocess.Popen([sys.executable, "-c", COPIER, root, str(tmp_path / "src"), str(tmp_path / "dst")],
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    names = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert names == ["m-v1", "m-v2", "m-v3", "m-v4"]
    for name in names:
        assert store.load_onnx(tmp_path / "dst", name).manifest["name"] == name


def test_save_with_exclusive_never_replaces(tmp_path):
    _save(tmp_path)
    with pytest.raises(store.NameTaken):
        store.save(models.build(models.DenseSpec()), models.DenseSpec(), tmp_path, "m", exclusive=True)


def test_a_version_s_caches_go_with_it(tmp_path):
    def cache_of(name):
        stem = json.loads((tmp_path / f"{name}.json").read_text())["model_file"][: -len(".keras")]
        path = tmp_path / f"{stem}.tsne.npz"
        np.savez(path, points=np.zeros((2, 2)))
        return path

    _save(tmp_path, "m", seed=0)
    _save(tmp_path, "other", seed=2)
    first, other = cache_of("m"), cache_of("other")
    _save(tmp_path, "m", seed=1)  # a new version: the old one's map no longer describes it
    assert not first.exists() and other.exists()
    second = cache_of("m")
    assert second.name in store.remove(tmp_path, "m")
    assert not second.exists() and other.exists()


@pytest.mark.parametrize("name", sorted(__import__("ae_core.presets", fromlist=["PRESETS"]).PRESETS))
def test_shipped_models_carry_no_optimizer_state(name):
    """Adam's moments would triple the file, and nothing resumes from them."""
    import io
    import zipfile
    from pathlib import Path

    import h5py

    folder = Path(__file__).resolve().parents[1] / "pretrained"
    manifest = json.loads((folder / f"{name}.json").read_text())
    with zipfile.ZipFile(folder / manifest["model_file"]) as z, z.open("model.weights.h5") as w:
        with h5py.File(io.BytesIO(w.read())) as h5:
            assert "optimizer" not in h5
    store.load(folder, name)  # the manifest's checksum matches the new file
