"""The app under odd input and broken files, headless (AppTest), for issue 5: odd canvases and
uploads, model files corrupted, truncated or deleted while the app runs, training that diverges,
a full disk on save, and sessions that never see each other's unsaved work.

Model files are copies in a temporary folder: pretrained/ is never modified.
"""
from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ae_core import store
from tests.app_support import (ROOT, app, assert_clean, canvas_state, complete_pretrained, point_app_at,
                               rows, texts, untrained_models, wait_for, z)
from tests.reliability_support import CANVASES, canvas_png, uploads

SHOWN = ("dense_seed", "conv_seed")  # the page's default models


@pytest.fixture(scope="module")
def source_models(tmp_path_factory) -> Path:
    if complete_pretrained():
        return ROOT / "pretrained"
    return untrained_models(tmp_path_factory.mktemp("stand-ins"))


@pytest.fixture
def models_copy(tmp_path, source_models) -> Path:
    """The default models copied into a folder these tests may break."""
    folder = tmp_path / "pretrained"
    folder.mkdir()
    for name in SHOWN:
        manifest = json.loads((source_models / f"{name}.json").read_text())
        shutil.copy2(source_models / f"{name}.json", folder)
        shutil.copy2(source_models / manifest["model_file"], folder)
    return folder


@pytest.fixture
def env(monkeypatch, tmp_path, models_copy):
    return point_app_at(monkeypatch, models_copy, tmp_path)


# --- odd input -----------------------------------------------------------------------------

def test_odd_canvases_never_break_the_page(env):
    at = app()
    for kind in CANVASES:
        at.session_state["canvas"] = canvas_state(canvas_png(kind))
        at.run()
        assert_clean(at)
        page = texts(at)
        assert "your drawing" in page or "too little ink" in page, (kind, page)
        assert set(rows(at)) == {f"pretrained:{n}" for n in SHOWN}, kind  # the models keep running
        for fig in rows(at).values():
            recon = z(fig, 3)
            assert recon.shape == (28, 28) and np.all(np.isfinite(recon)), kind
        if kind in ("empty", "single dot"):
            assert "too little ink" in page and "example test digit" in page, kind


def test_odd_uploads_get_a_message_naming_the_file_or_a_digit(env):
    at = app()
    at.segmented_control(key="input_mode").set_value("upload").run()
    for case, (name, data, expected) in uploads().items():
        at.file_uploader(key="upload").set_value((name, data, "image/png")).run()
        assert_clean(at)
        if expected == "digit":
            assert f"{name}, converted" in texts(at), case
            assert set(rows(at)) == {f"pretrained:{n}" for n in SHOWN}, case
        else:
            errors = " ".join(e.value for e in at.error)
            assert name in errors, (case, errors)
            assert not rows(at), case  # nothing runs on an unreadable file
    # A good file after all that still works.
    at.file_uploader(key="upload").set_value(("grey.jpg", uploads()["greyscale JPEG"][1], "image/jpeg")).run()
    assert_clean(at)
    assert rows(at)


# --- model files broken while the app runs ------------------------------------------------

def _model_path(folder: Path, name: str) -> Path:
    return folder / json.loads((folder / f"{name}.json").read_text())["model_file"]


def test_model_files_broken_while_the_app_runs(env, models_copy):
    at = app()
    assert set(rows(at)) == {"pretrained:dense_seed", "pretrained:conv_seed"}
    saved = {p.name: p.read_bytes() for p in models_copy.iterdir()}

    def restore():
        for p in models_copy.iterdir():
            p.unlink()
        for n, data in saved.items():
            (models_copy / n).write_bytes(data)

    def broken(name, path, fragment):
        at.run()
        assert_clean(at)
        page = texts(at)
        assert str(path) in page and fragment in page, page
        other = next(n for n in SHOWN if n != name)
        assert f"pretrained:{other}" in rows(at)  # the other model keeps working
        assert f"pretrained:{name}" not in rows(at)
        assert at.button(key=f"quick_{name}")  # the fallback: a quick training run
        restore()

    # 1. truncate a model file
    path = _model_path(models_copy, "dense_seed")
    path.write_bytes(saved[path.name][: len(saved[path.name]) // 3])
    broken("dense_seed", path, "checksum")
    # 2. the same bytes length, different content (bit rot)
    path = _model_path(models_copy, "conv_seed")
    data = bytearray(saved[path.name])
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    broken("conv_seed", path, "checksum")
    # 3. a manifest that is not JSON
    (models_copy / "conv_seed.json").write_text('{"model_file": "conv_seed-')
    broken("conv_seed", models_copy / "conv_seed.json", "not valid JSON")
    # 4. a manifest truncated to nothing
    (models_copy / "dense_seed.json").write_bytes(b"")
    broken("dense_seed", models_copy / "dense_seed.json", "not valid JSON")
    # 5. the model file deleted
    path = _model_path(models_copy, "conv_seed")
    path.unlink()
    broken("conv_seed", path, "missing")
    # 6. the manifest deleted: the model leaves the list, the page names the missing manifest
    (models_copy / "dense_seed.json").unlink()
    at.run()
    assert_clean(at)
    assert str(models_copy / "dense_seed.json") in texts(at)
    assert "pretrained:conv_seed" in rows(at) and "pretrained:dense_seed" not in rows(at)
    assert at.button(key="quick_dense_seed")
    restore()
    # Restored files are picked up again without a restart.
    at.run()
    assert_clean(at)
    assert "pretrained:conv_seed" in rows(at)
    assert not [e for e in at.error if "cannot be used" in e.value]


# --- training that goes wrong --------------------------------------------------------------

def test_a_diverged_run_says_so_and_keeps_nothing(env, monkeypatch):
    import ae_core.training as training
    from ae_core.models import build

    def diverge(spec, config, data, callbacks=(), **_):
        return training.TrainResult(build(spec), {"loss": [float("nan")], "val_loss": [float("nan")]}, 1,
                                    "diverged", 0.1)
    monkeypatch.setattr(training, "train", diverge)
    at = app()
    at.sidebar.selectbox(key="train_preset").set_value("dense_seed")
    at.sidebar.button(key="train").click().run()
    wait_for(at, lambda a: any("diverged" in e.value for e in a.sidebar.error))
    assert not at.session_state["session_models"] if "session_models" in at.session_state else True
    assert not any(k.startswith("session:") for k in rows(at))
    assert store.list_models(Path(env) / "models") == []


def test_a_full_disk_on_save_is_explained_and_the_run_is_kept(env, monkeypatch):
    at = app()
    at.sidebar.selectbox(key="train_preset").set_value("dense_seed")
    at.sidebar.number_input(key="train_epochs").set_value(1)
    at.sidebar.button(key="train").click().run()
    wait_for(at, lambda a: any("Your retrained models" in m.value for m in a.sidebar.markdown))

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")
    with monkeypatch.context() as patch:  # (monkeypatch.undo() would also drop the env settings)
        patch.setattr(store, "save", full)
        save = [b for b in at.sidebar.button if b.key and b.key.startswith("save_")][0]
        save.click().run()
        assert_clean(at)
    errors = " ".join(e.value for e in at.sidebar.error)
    assert "Could not save" in errors and "No space left on device" in errors
    assert at.session_state["session_models"]  # the run is still there to save later
    assert store.list_models(Path(env) / "models") == []
    save = [b for b in at.sidebar.button if b.key and b.key.startswith("save_")][0]
    save.click().run()
    assert_clean(at)
    assert store.list_models(Path(env) / "models") == ["dense_seed-v1"]


# --- sessions are isolated -----------------------------------------------------------------

def test_one_sessions_training_and_settings_never_change_another_until_saved(env):
    a, b = app(), app()
    before = {k: z(v, 3) for k, v in rows(b).items()}
    options_before = list(b.multiselect(key="models").options)
    # A changes every setting it can and trains a model (which it keeps, unsaved).
    a.slider(key="noise").set_value(0.9)
    a.segmented_control(key="noise_kind").set_value("mask")
    a.run()  # a fragment rerun (AppTest then holds only that fragment's elements)
    a.run()  # the whole page again
    a.sidebar.selectbox(key="train_preset").set_value("dense_seed")
    a.sidebar.number_input(key="train_epochs").set_value(1)
    a.sidebar.button(key="train").click().run()
    wait_for(a, lambda s: any("Your retrained models" in m.value for m in s.sidebar.markdown))
    assert any(k.startswith("session:") for k in rows(a))
    # B sees exactly what it saw: same settings, same models, same pictures.
    b.run()
    assert_clean(b)
    assert b.slider(key="noise").value == 0.5 and b.segmented_control(key="noise_kind").value == "gaussian"
    assert list(b.multiselect(key="models").options) == options_before
    after = {k: z(v, 3) for k, v in rows(b).items()}
    assert after.keys() == before.keys()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])  # the shared dense_seed was not retrained in place
    # A starts another run and cancels it: B still sees the same models.
    a.sidebar.button(key="train").click().run()
    if [x for x in a.sidebar.button if x.key == "cancel_training"]:
        a.sidebar.button(key="cancel_training").click().run()
    wait_for(a, lambda s: len(s.session_state["session_models"]) == 2)
    b.run()
    assert list(b.multiselect(key="models").options) == options_before
    # Once A saves, B can choose the saved version (and its own selection is unchanged).
    save = [x for x in a.sidebar.button if x.key and x.key.startswith("save_")][0]
    save.click().run()
    assert_clean(a)
    b.run()
    assert_clean(b)
    assert any("dense_seed-v1" in o for o in b.multiselect(key="models").options)  # labels, not keys
    assert set(rows(b)) == set(before)
