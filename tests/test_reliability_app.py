"""The app under odd input and broken files, headless (AppTest), for issue 5: odd canvases and
uploads, model files corrupted, truncated or deleted while the app runs, training that diverges,
a full disk on save, and sessions that never see each other's unsaved work.

Model files are copies in a temporary folder: pretrained/ is never modified.
"""
from __future__ import annotations

import errno
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from ae_core import store
from lab.inputs_view import DRAWN as DIGIT
from tests.app_support import PAD_STATE, app, assert_clean, lab_data, point_app_at, rows, texts, wait_for, z
from tests.reliability_support import uploads

from lab.models_view import DEFAULT_MODELS

SHOWN = tuple(k.split(":", 1)[1] for k in DEFAULT_MODELS)  # the page's default models


def _example():
    from ae_core.data import load_bundled
    from lab.inputs_view import EXAMPLE_INDEX

    return load_bundled().x_test[EXAMPLE_INDEX]


EXAMPLE = _example()  # what the models show until there is a digit


@pytest.fixture
def models_copy(tmp_path, pretrained_dir) -> Path:
    """The default models (manifest, .keras and ONNX files) copied into a folder these tests may break."""
    folder = tmp_path / "pretrained"
    folder.mkdir()
    for name in SHOWN:
        manifest = json.loads((pretrained_dir / f"{name}.json").read_text())
        shutil.copy2(pretrained_dir / f"{name}.json", folder)
        for file_name in store.model_files(manifest):
            shutil.copy2(pretrained_dir / file_name, folder)
    return folder


@pytest.fixture
def env(monkeypatch, tmp_path, models_copy):
    return point_app_at(monkeypatch, models_copy, tmp_path)


# --- odd input -----------------------------------------------------------------------------

ODD_DRAWINGS = {  # what a pad (or a forged message) may send: (size, strokes, what the page must say)
    "empty": (280, [], "Draw a digit on the pad"),
    "single dot": (280, [[[140, 140]]], "a dot is not a digit"),
    "all filled": (280, [[[x, y] for y in (0, 280)] for x in range(0, 281, 10)], DIGIT),
    "strokes on the border": (280, [[[0, 0], [280, 0], [280, 280], [0, 280], [0, 0]]], DIGIT),
    "tiny digit in a corner": (280, [[[6, 6], [40, 6], [18, 50]]], DIGIT),
    "far outside the pad": (280, [[[-5000, -5000], [9000, 12000]]], DIGIT),  # clipped to the pad
    "hundreds of strokes": (280, [[[i % 280, (7 * i) % 280], [(i + 30) % 280, (11 * i) % 280]] for i in range(400)],
                            DIGIT),
    "a huge pad": (1e6, [[[1e5, 1e5], [9e5, 9e5]]], DIGIT),
    "negative size": (-280, [[[10, 10], [200, 200]]], "positive number"),
    "strings": (280, [[["a", "b"], ["c", "d"]]], "Stroke 0"),
    "nulls": (280, [[[None, None], [1, 2]]], "Stroke 0"),
    "not a list": (280, "strokes", "Strokes must be a list"),
    "too many points": (280, [[[1, 2]] * 300_000], "Too many points"),
}


def test_odd_drawings_never_break_the_page(env):
    """Each odd drawing has one right outcome: the digit it draws, or the example with a message."""
    at = app()
    for kind, (size, strokes, expected) in ODD_DRAWINGS.items():
        at.session_state[PAD_STATE] = {"size": size, "strokes": strokes}
        at.run()
        assert_clean(at)
        result = lab_data(at)["result"]
        if expected == DIGIT:
            assert result["caption"] == DIGIT and not result["hint"], (kind, result["hint"])
            assert np.abs(z(rows(at)[f"pretrained:{SHOWN[0]}"], 0) - EXAMPLE).max() > 0.5, kind  # not the example
        else:
            assert "example test digit" in result["caption"] and expected in result["hint"], (kind, result["hint"])
        assert set(rows(at)) == {f"pretrained:{n}" for n in SHOWN}, kind  # the models keep running
        for fig in rows(at).values():
            recon = z(fig, 3)
            assert recon.shape == (28, 28) and np.all(np.isfinite(recon)), kind


def test_odd_uploads_get_a_message_naming_the_file_or_a_digit(env):
    at = app()
    at.segmented_control(key="input_mode").set_value("upload").run()
    for case, (name, data, expected) in uploads().items():
        at.file_uploader(key="upload").set_value((name, data, "image/png")).run()
        assert_clean(at)
        if expected == "digit":
            assert f"{name}, converted" in lab_data(at)["caption"], case
            assert set(rows(at)) == {f"pretrained:{n}" for n in SHOWN}, case
        else:
            errors = " ".join(e.value for e in at.error)
            assert name in errors, (case, errors)
            assert "example" in lab_data(at)["caption"], case  # the models show the example meanwhile
    # A good file after all that still works.
    at.file_uploader(key="upload").set_value(("grey.jpg", uploads()["greyscale JPEG"][1], "image/jpeg")).run()
    assert_clean(at)
    assert rows(at)


# --- model files broken while the app runs ------------------------------------------------

def _onnx_path(folder: Path, name: str, part: str) -> Path:
    """The ONNX file of `part` ("encoder" or "decoder") that the page runs."""
    return folder / json.loads((folder / f"{name}.json").read_text())["onnx"][part]["file"]


def test_model_files_broken_while_the_app_runs(env, models_copy):
    first, second = SHOWN
    at = app()
    assert set(rows(at)) == {f"pretrained:{n}" for n in SHOWN}
    saved = {p.name: p.read_bytes() for p in models_copy.iterdir()}

    def restore():
        for p in models_copy.iterdir():
            p.unlink()
        for n, data in saved.items():
            (models_copy / n).write_bytes(data)

    def broken(name, path, *fragments):
        at.run()
        assert_clean(at)
        page = texts(at)
        assert path.name in page and all(f in page for f in fragments), page
        assert str(models_copy) not in page  # visitors read it: no server path
        other = next(n for n in SHOWN if n != name)
        assert f"pretrained:{other}" in rows(at)  # the other model keeps working
        assert f"pretrained:{name}" not in rows(at)
        assert at.button(key=f"quick_{name}")  # the fallback: a quick training run
        restore()

    export = "python -m ae_core export-onnx --models"
    # 1. truncate the encoder the page runs
    path = _onnx_path(models_copy, first, "encoder")
    path.write_bytes(saved[path.name][: len(saved[path.name]) // 3])
    broken(first, path, "checksum", export)
    # 2. the same length, different content (bit rot) in a decoder
    path = _onnx_path(models_copy, second, "decoder")
    data = bytearray(saved[path.name])
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    broken(second, path, "checksum", export)
    # 3. a manifest that is not JSON
    (models_copy / f"{second}.json").write_text('{"model_file": "conv-')
    broken(second, models_copy / f"{second}.json", "not valid JSON")
    # 4. a manifest truncated to nothing
    (models_copy / f"{first}.json").write_bytes(b"")
    broken(first, models_copy / f"{first}.json", "not valid JSON")
    # 5. an ONNX file deleted
    path = _onnx_path(models_copy, second, "encoder")
    path.unlink()
    broken(second, path, "missing", export)
    # 6. the manifest deleted: the model leaves the list, the page names the missing manifest
    (models_copy / f"{first}.json").unlink()
    at.run()
    assert_clean(at)
    assert f"{first}.json" in texts(at) and str(models_copy) not in texts(at)
    assert f"pretrained:{second}" in rows(at) and f"pretrained:{first}" not in rows(at)
    assert at.button(key=f"quick_{first}")
    restore()
    # Restored files are picked up again without a restart.
    at.run()
    assert_clean(at)
    assert f"pretrained:{second}" in rows(at)  # (the chooser dropped the first when it went away)
    assert not [e for e in at.error if "cannot be used" in e.value]


# --- training that goes wrong --------------------------------------------------------------

def session_options(at) -> list[str]:
    """The chooser's labels of this session's unsaved runs (AppTest lists labels, not keys)."""
    return [label for label in at.multiselect(key="models").options if "(unsaved)" in label]


def save_buttons(at) -> list:
    return [b for b in at.sidebar.button if b.key and b.key.startswith("save_")]


def test_a_diverged_run_says_so_and_keeps_nothing(env, fake_trainer):
    fake_trainer('''
emit({"type": "epoch", "epoch": 1, "loss": None, "val_loss": None, "elapsed": 0.1})
emit({"type": "finished", "status": "diverged", "epochs_run": 1, "name": None, "history": {"loss": [None]},
      "warning": "The loss became NaN or infinite: the run diverged."})
''')
    at = app()
    at.sidebar.selectbox(key="train_preset").set_value("dense_seed")
    at.sidebar.button(key="train").click().run()
    wait_for(at, lambda a: any("diverged" in e.value for e in a.sidebar.error))
    assert "nothing was kept" in " ".join(e.value for e in at.sidebar.error)
    assert not save_buttons(at) and not session_options(at)  # never offered for saving
    assert store.list_models(Path(env) / "models") == []
    assert at.sidebar.button(key="train")  # the form is back


def test_a_crashed_trainer_fails_the_run_and_the_page_keeps_serving(env, fake_trainer):
    fake_trainer("os.kill(os.getpid(), signal.SIGKILL)")
    at = app()
    at.sidebar.button(key="train").click().run()
    wait_for(at, lambda a: any("failed" in e.value for e in a.sidebar.error))
    errors = " ".join(e.value for e in at.sidebar.error)
    assert "killed by SIGKILL" in errors and "out of memory" in errors
    assert not session_options(at) and at.sidebar.button(key="train")
    assert at.multiselect(key="models").value  # the models still run


FINISHED_RUN = '''
from ae_core import store
store.copy(os.environ["AE_PRETRAINED_DIR"], "dense_seed", request["folder"], name="dense_seed-run")
emit({"type": "epoch", "epoch": 1, "loss": 0.2, "val_loss": 0.21, "elapsed": 0.1})
emit({"type": "finished", "status": "completed", "epochs_run": 1, "name": "dense_seed-run",
      "history": {"loss": [0.2], "val_loss": [0.21]}, "warning": ""})
'''


def test_an_error_while_loading_a_finished_run_does_not_lose_it(env, fake_trainer, monkeypatch):
    from lab import engine

    manager = fake_trainer(FINISHED_RUN)
    real, calls = engine.load_stored, []

    def fails_once(folder, name, kind, sample):
        if kind == "session":
            calls.append(name)
            if len(calls) == 1:
                raise RuntimeError("a hiccup while loading")
        return real(folder, name, kind, sample)

    monkeypatch.setattr(engine, "load_stored", fails_once)
    at = app()
    at.sidebar.button(key="train").click().run()
    job = manager.job_of(at.session_state["session_id"])
    deadline = time.monotonic() + 60
    while not calls:  # the page polls until the run ends; the first load fails
        assert time.monotonic() < deadline
        time.sleep(0.3)
        at.run()
    assert "collecting a finished training run" in " ".join(e.value for e in at.error)  # one calm line
    assert manager.job_of(at.session_state["session_id"]) is job  # not collected: the run is still there
    wait_for(at, lambda a: a.session_state["session_models"] if "session_models" in a.session_state else False)
    at.run()
    assert_clean(at)
    assert len(calls) == 2 and session_options(at) and save_buttons(at)


def test_a_full_disk_on_save_is_explained_and_the_run_is_kept(env, monkeypatch):
    at = app()
    at.sidebar.selectbox(key="train_preset").set_value("dense_seed")
    at.sidebar.number_input(key="train_epochs").set_value(1)
    at.sidebar.button(key="train").click().run()
    wait_for(at, lambda a: any("Your retrained models" in m.value for m in a.sidebar.markdown))

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(env) / "models" / "x.keras"))
    with monkeypatch.context() as patch:  # (monkeypatch.undo() would also drop the env settings)
        patch.setattr(store, "copy", full)
        save_buttons(at)[0].click().run()
        assert_clean(at)
    errors = " ".join(e.value for e in at.sidebar.error)
    assert "Could not save" in errors and "No space left on device" in errors
    assert str(env) not in errors  # never a server path
    assert at.session_state["session_models"]  # the run is still there to save later
    assert store.list_models(Path(env) / "models") == []
    save_buttons(at)[0].click().run()
    assert_clean(at)
    assert store.list_models(Path(env) / "models") == ["dense_seed-v1"]
    assert str(env) not in " ".join(s.value for s in at.sidebar.success)


# --- sessions are isolated -----------------------------------------------------------------

def test_one_sessions_training_and_settings_never_change_another_until_saved(env):
    a, b = app(), app()
    before = {k: z(v, 3) for k, v in rows(b).items()}
    options_before = list(b.multiselect(key="models").options)
    # A changes every setting it can and trains a model (which it keeps, unsaved).
    a.session_state["noise"], a.session_state["noise_kind"] = 0.9, "mask"  # what A's page reports
    a.run()
    a.sidebar.selectbox(key="train_preset").set_value("dense_seed")
    a.sidebar.number_input(key="train_epochs").set_value(1)
    a.sidebar.button(key="train").click().run()
    wait_for(a, lambda s: any("Your retrained models" in m.value for m in s.sidebar.markdown))
    assert any(k.startswith("session:") for k in rows(a))
    # B sees exactly what it saw: same settings, same models, same pictures.
    b.run()
    assert_clean(b)
    assert lab_data(b)["noise"]["level"] == 0.5 and lab_data(b)["noise"]["kind"] == "gaussian"
    assert list(b.multiselect(key="models").options) == options_before
    after = {k: z(v, 3) for k, v in rows(b).items()}
    assert after.keys() == before.keys()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])  # the shared dense_seed was not retrained in place
    # A starts another run (other settings: the same ones would join the finished run) and
    # cancels it at once: B still sees the same models.
    a.sidebar.number_input(key="train_epochs").set_value(2)
    a.sidebar.button(key="train").click().run()
    assert [x for x in a.sidebar.button if x.key == "cancel_training"]  # queued or starting: Cancel is offered
    a.sidebar.button(key="cancel_training").click().run()
    wait_for(a, lambda s: not [x for x in s.sidebar.button if x.key == "cancel_training"])
    b.run()
    assert list(b.multiselect(key="models").options) == options_before
    # Once A saves, B can choose the saved version (and its own selection is unchanged).
    save = [x for x in a.sidebar.button if x.key and x.key.startswith("save_")][0]
    save.click().run()
    assert_clean(a)
    b.run()
    assert_clean(b)
    assert any("saved v1" in o for o in b.multiselect(key="models").options)  # labels (lab.naming), not keys
    assert set(rows(b)) == set(before)


# --- what a visitor sends is shown as text and never written ----------------------------------

HOSTILE = '<img src=x onerror="alert(1)">.png'


def test_a_hostile_upload_name_is_shown_as_text_and_the_upload_is_never_written(env, monkeypatch):
    from html import escape

    from tests.reliability_support import spy_on_writes, uploads

    at = app()
    at.segmented_control(key="input_mode").set_value("upload").run()
    good = uploads()["greyscale JPEG"][1]
    with monkeypatch.context() as patch:
        writes = spy_on_writes(patch)
        for data in (good, b"not an image"):
            at.file_uploader(key="upload").set_value((HOSTILE, data, "image/png")).run()
            assert_clean(at)
            html = [m.value for m in at.markdown if m.proto.allow_html]
            assert not [h for h in html if "<img" in h], html  # never as markup
            # Shown as text: by Streamlit, and by the Lab's element, which writes captions with textContent.
            page = texts(at) + lab_data(at)["caption"]
            assert HOSTILE in page.replace(escape(HOSTILE), "") or escape(HOSTILE) in page
    assert writes == []
