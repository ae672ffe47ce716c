"""The Streamlit app, headless (streamlit.testing.v1.AppTest): every control, no exceptions.

The models come from pretrained/ when it holds every preset (as in CI); otherwise from untrained
stand-ins saved the same way, so the tests also run while the real models are being trained.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from ae_core import preprocess, store
from tests.app_support import (APP, APP_TIMEOUT, DOT, PAD_STATE, SEVEN, app, assert_clean, lab_data, pad_drawing,
                               rows, texts, wait_for, z)



def report(at, **noise) -> AppTest:
    """What the page reports when a noise control has changed (lab/lab_page.py keeps it)."""
    for k, v in noise.items():
        at.session_state[{"level": "noise", "kind": "noise_kind", "seed": "noise_seed", "all": "noise_all"}[k]] = v
    at.run()
    assert_clean(at)
    return at


# --- first page, sample picking -----------------------------------------------------------

def test_first_page_shows_a_tutorial_model_and_a_better_one_on_an_example_digit(env):
    at = app()
    shown = rows(at)
    assert list(shown) == ["pretrained:dense_seed", "pretrained:conv_denoiser"]
    dense, conv = shown["pretrained:dense_seed"], shown["pretrained:conv_denoiser"]
    assert dense["title"] == "Dense 784-32-784 (tutorial)"  # lab.naming's one display name
    assert dense["code_title"] == "Code (32)" and conv["code_title"] == "Code (7×7×64)"  # one way for all
    assert z(dense, 0).shape == (28, 28) and z(dense, 3).shape == (28, 28)
    assert dense["grid"] == [8, 4]  # the tutorial's 8x4 code image, exactly 32 cells
    assert z(dense, 2).shape == (32,) and z(conv, 2).shape == (7, 7, 64)
    # Each model does its job: the dense model (not a denoiser) gets the clean digit, the denoiser the noise.
    assert not dense["noisy"] and not dense["denoiser"] and conv["noisy"] and conv["denoiser"]
    np.testing.assert_array_equal(z(dense, 1), z(dense, 0))
    assert np.abs(z(conv, 1) - z(conv, 0)).mean() > 0.1
    data = lab_data(at)
    assert "example test digit" in data["result"]["caption"]
    assert "Draw a digit on the pad" in data["result"]["hint"]  # the empty pad asks for a digit
    assert not data["in_page"] and data["note"]  # no runtime here: the server path says so in one line
    for name in ("BCE", "MSE", "PSNR", "SSIM"):  # each metric says what it is and which way is better
        assert "better" in data["metric_help"][name] and name.lower() in dense["metrics"]
    assert len(at.sidebar.button) >= 1 and at.sidebar.button(key="train")


def test_with_the_runtime_the_page_gets_model_files_and_noise_fields_not_results(env, monkeypatch):
    from lab import runtime

    monkeypatch.delenv("AE_RUNTIME_FETCH")
    status = runtime.ensure()
    if not status.ready and os.environ.get("AE_REQUIRE_BROWSER") != "1":  # CI needs the runtime: it fails there
        pytest.skip(f"the in-page runtime could not be fetched here: {status.message}")
    assert status.ready, status.message
    at = app()
    data = lab_data(at)
    assert data["in_page"] and not data["note"]
    assert "result" in data  # the first run's rows come from the server, while the page loads the runtime
    seed = str(data["noise"]["seed"])
    assert set(data["fields"]) == {seed, str(data["next_seed"])} and set(data["fields"][seed]) == {
        "gaussian", "salt_pepper", "mask"}
    for m in data["models"]:  # content-addressed model files, served by this server
        for url in (m["enc"], m["dec"]):
            assert url.startswith("/app/static/models/") and url.endswith(".onnx")
            assert (Path(APP).parent / url.removeprefix("/app/")).is_file()
    at.run()
    data = lab_data(at)
    assert "result" not in data  # later runs leave the computing to the page
    assert data["fields"] == {}  # and send each seed's noise fields only once
    at.session_state["noise_seed"] = 42  # a seed the page typed in
    at.run()
    assert set(lab_data(at)["fields"]) == {"42"}


def test_pick_a_test_digit_by_class_and_at_random(env):
    at = app()
    at.segmented_control(key="input_mode").set_value("pick").run()
    assert_clean(at)
    at.selectbox(key="pick_label").set_value(3).run()
    assert_clean(at)
    assert "label 3" in lab_data(at)["caption"]
    seen = {at.session_state["pick_index"]}
    for _ in range(4):
        at.button(key="pick_random").click().run()
        assert_clean(at)
        assert "label 3" in lab_data(at)["caption"]
        seen.add(at.session_state["pick_index"])
    assert len(seen) > 1
    from ae_core.data import load_bundled

    d = load_bundled()
    index = at.session_state["pick_index"]
    assert d.y_test[index] == 3
    clean = z(rows(at)["pretrained:dense_seed"], 0)
    np.testing.assert_allclose(clean, d.x_test[index], atol=0.5 / 255 + 1e-6)  # the held-out split itself


# --- drawing ------------------------------------------------------------------------------

def test_a_drawing_is_converted_and_reconstructed(env):
    at = app()
    at.session_state[PAD_STATE] = pad_drawing(SEVEN, 280)
    at.run()
    assert_clean(at)
    assert "your drawing" in lab_data(at)["result"]["caption"]
    expected = preprocess.from_strokes(SEVEN, 280)
    for row in rows(at).values():
        np.testing.assert_allclose(z(row, 0), expected, atol=0.5 / 255 + 1e-6)
        recon = z(row, 3)
        assert recon.shape == (28, 28) and 0 <= recon.min() and recon.max() <= 1
    # The same drawing on a pad shown twice as large gives the same digit.
    big = [[(2 * x, 2 * y) for x, y in s] for s in SEVEN]
    at.session_state[PAD_STATE] = pad_drawing(big, 560)
    at.run()
    np.testing.assert_allclose(z(rows(at)["pretrained:dense_seed"], 0), expected, atol=2 / 255)


@pytest.mark.parametrize("strokes,size,message", [
    ([], 280, "Draw a digit on the pad"),  # after Clear
    (DOT, 280, "a dot is not a digit"),
    ([[("x", 1)]], 280, "Stroke 0"),
    (SEVEN, -5, "positive number"),
], ids=["cleared", "dot", "junk-points", "bad-size"])
def test_an_empty_pad_a_dot_or_junk_gets_a_hint_not_an_error(env, strokes, size, message):
    at = app()
    at.session_state[PAD_STATE] = pad_drawing(strokes, size)
    at.run()
    assert_clean(at)
    result = lab_data(at)["result"]
    assert message in result["hint"], result["hint"]
    assert "example test digit" in result["caption"]  # the models keep showing the example
    assert rows(at)


def test_the_drawing_survives_switching_input_mode(env):
    at = app()
    at.session_state[PAD_STATE] = pad_drawing(SEVEN, 280)
    at.run()
    at.segmented_control(key="input_mode").set_value("pick").run()
    assert "held-out test digit" in lab_data(at)["caption"] and lab_data(at)["mode"] == "image"
    at.segmented_control(key="input_mode").set_value("draw").run()
    assert_clean(at)
    assert "your drawing" in lab_data(at)["caption"]
    assert lab_data(at)["strokes"] == pad_drawing(SEVEN)["strokes"]  # the pad draws it again


# --- upload -------------------------------------------------------------------------------

def photo_bytes() -> bytes:
    img = Image.new("L", (400, 300), 220)
    ImageDraw.Draw(img).line([(150, 60), (260, 60), (190, 250)], fill=30, width=14)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def test_upload_a_photo_of_a_digit(env):
    at = app()
    at.segmented_control(key="input_mode").set_value("upload").run()
    assert_clean(at)
    at.file_uploader(key="upload").set_value(("seven.jpg", photo_bytes(), "image/jpeg")).run()
    assert_clean(at)
    assert "seven.jpg, converted" in lab_data(at)["caption"]
    assert at.get("image"), "a small preview of the photo is shown"
    clean = z(rows(at)["pretrained:dense_seed"], 0)
    np.testing.assert_allclose(clean, preprocess.from_image_bytes(photo_bytes()), atol=0.5 / 255 + 1e-6)


def test_a_transparent_upload_previews_on_white_paper():
    from lab.inputs_view import _upload_to_digit

    img = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(100, 20), (100, 180)], fill=(0, 0, 0, 255), width=14)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    digit, preview = _upload_to_digit(buf.getvalue())
    shown = np.asarray(Image.open(io.BytesIO(preview)).convert("L"), float)
    assert shown[5, 5] == 255 and shown[100, 100] == 0  # black ink on white, not black on black
    assert digit.max() == pytest.approx(1.0)


@pytest.mark.parametrize("name,data,message", [
    ("notes.png", b"these are not pixels", "not a PNG or JPEG"),
    ("half.jpg", photo_bytes()[:900], "truncated or corrupt"),
    ("blank.png", None, "looks blank"),
    ("two.png", "two digits", "single digit"),
])
def test_a_bad_upload_gets_a_clear_message(env, name, data, message):
    if data is None or data == "two digits":
        img = Image.new("L", (64, 64), 240) if data is None else Image.new("L", (400, 200), 230)
        if data:
            ImageDraw.Draw(img).line([(80, 30), (80, 170)], fill=20, width=12)
            ImageDraw.Draw(img).line([(220, 30), (320, 30), (260, 170)], fill=20, width=12)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        data = buf.getvalue()
    at = app()
    at.segmented_control(key="input_mode").set_value("upload").run()
    at.file_uploader(key="upload").set_value((name, data, "image/png")).run()
    assert_clean(at)
    errors = " ".join(e.value for e in at.error)
    assert name in errors and message in errors
    assert "example" in lab_data(at)["caption"]  # the models show the example until it can be read


# --- noise --------------------------------------------------------------------------------

def test_noise_controls(env):
    at = app()
    noisy = lambda: z(rows(at)["pretrained:conv_denoiser"], 1)  # noqa: E731
    clean = z(rows(at)["pretrained:conv_denoiser"], 0)
    first = noisy()
    report(at, level=0.0)
    np.testing.assert_array_equal(noisy(), clean)  # no noise: the clean digit
    assert lab_data(at)["result"]["noisy_metrics"]["mse"] == 0.0  # the page reads "PSNR ∞ (identical)"
    report(at, level=0.8)
    stronger = noisy()
    assert np.abs(stronger - clean).mean() > np.abs(first - clean).mean()
    report(at, level=0.5)
    np.testing.assert_array_equal(noisy(), first)  # same seed, same picture
    report(at, seed=7)
    assert not np.allclose(noisy(), first)
    assert lab_data(at)["noise"]["seed"] == 7  # the page's Seed field shows the seed in use
    report(at, seed=0)
    np.testing.assert_array_equal(noisy(), first)
    report(at, kind="mask")
    masked = noisy()
    assert np.all((masked == clean) | (masked == 0))  # masking only blacks out blocks
    report(at, kind="salt_pepper")
    assert set(np.unique(noisy()[noisy() != clean])) <= {0.0, 1.0}


def test_the_page_reports_are_kept_and_forged_ones_ignored(env, monkeypatch):
    """The element's callback keeps what the page reports; a report out of range is ignored."""
    import types

    from lab import kit, lab_page

    state = {lab_page.KEY: {"noise": {"level": 0.25, "kind": "mask", "seed": 12, "all": True},
                            "drawing": pad_drawing(SEVEN, 280)}}
    for module in (lab_page, kit):  # kit.sent reads what the element sent
        monkeypatch.setattr(module, "st", types.SimpleNamespace(session_state=state))
    lab_page._changed()
    assert (state["noise"], state["noise_kind"], state["noise_seed"], state["noise_all"]) == (0.25, "mask", 12, True)
    assert state[PAD_STATE] == pad_drawing(SEVEN, 280)
    for forged in ({"level": 7, "kind": "mask", "seed": 1, "all": False}, {"level": 0.1, "kind": "rm -rf", "seed": 1,
                   "all": False}, {"level": 0.1, "kind": "mask", "seed": -3, "all": False}, {"level": "x"}):
        state[lab_page.KEY] = {"noise": forged}
        lab_page._changed()
        assert state["noise"] == 0.25 and state["noise_kind"] == "mask" and state["noise_seed"] == 12


# --- model choice -------------------------------------------------------------------------

def test_choose_models(env):
    at = app()
    choice = at.multiselect(key="models")
    from ae_core.presets import PRESETS

    titles = {PRESETS[n].title for n in ("dense_seed", "conv_seed", "dense_deep", "conv_denoiser")}
    assert titles <= set(choice.options)  # chips read the one display name
    keys = ["pretrained:dense_seed", "pretrained:conv_seed", "pretrained:dense_deep", "pretrained:conv_denoiser"]
    at.multiselect(key="models").set_value(keys).run()
    assert_clean(at)
    assert list(rows(at)) == keys  # in the chosen order
    at.multiselect(key="models").set_value(["pretrained:dense_deep"]).run()
    assert list(rows(at)) == ["pretrained:dense_deep"]
    at.multiselect(key="models").set_value(["pretrained:conv_denoiser"]).run()
    assert_clean(at)
    assert "conv_denoiser" in at.expander[0].markdown[0].value  # the model table follows the choice
    at.multiselect(key="models").set_value([]).run()
    assert_clean(at)
    assert not rows(at) and lab_data(at)["result"]["noisy"]  # the input and its noise still show


# --- retraining ---------------------------------------------------------------------------

def test_retrain_keep_and_save_a_new_version(env):
    at = app()
    sb = at.sidebar
    sb.selectbox(key="train_preset").set_value("dense_seed")
    sb.number_input(key="train_epochs").set_value(2)
    sb.select_slider(key="train_batch").set_value(64)
    at.sidebar.button(key="train").click().run()
    assert_clean(at)
    wait_for(at, lambda a: any("Your retrained models" in m.value for m in a.sidebar.markdown))
    assert any("after 2 epochs" in s.value for s in [*at.sidebar.success, *at.sidebar.warning])
    session_keys = [k for k in rows(at) if k.startswith("session:")]
    assert len(session_keys) == 1  # shown at once, for this session
    models_dir = Path(env) / "models"
    assert store.list_models(models_dir) == []  # not saved until asked
    save = [b for b in at.sidebar.button if b.key and b.key.startswith("save_")][0]
    save.click().run()
    assert_clean(at)
    assert store.list_models(models_dir) == ["dense_seed-v1"]
    manifest = json.loads((models_dir / "dense_seed-v1.json").read_text())
    assert manifest["preset"] == "dense_seed" and "val_bce" in manifest["metrics"]
    assert manifest["train_config"]["epochs"] == 2 and manifest["train_config"]["batch_size"] == 64
    assert "saved:dense_seed-v1" in rows(at)
    # A new page (another visitor) can choose the saved version.
    other = app()
    assert "Dense 784-32-784 (tutorial), saved v1" in other.multiselect(key="models").options


def test_cancel_stops_within_an_epoch(env, monkeypatch):
    from lab import resources

    monkeypatch.setenv("AE_TRAIN_DIGITS", "2048")
    at = app()
    at.sidebar.selectbox(key="train_preset").set_value("dense_seed")
    at.sidebar.number_input(key="train_epochs").set_value(50)
    at.sidebar.select_slider(key="train_batch").set_value(16)
    at.sidebar.button(key="train").click().run()
    assert_clean(at)
    wait_for(at, lambda a: [b for b in a.sidebar.button if b.key == "cancel_training"]
             and resources.job_manager().job_of(a.session_state["session_id"]).epochs_done >= 1)
    at.sidebar.button(key="cancel_training").click().run()
    assert_clean(at)
    wait_for(at, lambda a: any("stopped early" in s.value for s in a.sidebar.success))
    model = next(iter(st_models(at).values()))
    assert model.job.status == "stopped" and model.job.epochs_done < 50


def st_models(at):
    return at.session_state["session_models"]


def test_runs_queue_one_at_a_time_and_a_visitor_can_leave_the_queue(env):
    from lab import resources

    first = app()
    first.sidebar.selectbox(key="train_preset").set_value("dense_seed")
    first.sidebar.number_input(key="train_epochs").set_value(50)
    first.sidebar.button(key="train").click().run()
    job = resources.job_manager().job_of(first.session_state["session_id"])
    assert job is not None and job.running
    second = app()  # another visitor while the job runs
    assert "yours would be queued at position 1" in texts(second)
    second.sidebar.button(key="train").click().run()
    assert_clean(second)
    assert "Queued: position 1" in texts(second)
    assert second.multiselect(key="models").value  # everything else works
    queued = resources.job_manager().job_of(second.session_state["session_id"])
    second.sidebar.button(key="cancel_training").click().run()  # leaves the queue
    assert_clean(second)
    assert queued.status == "cancelled" and resources.job_manager().queued() == []
    assert any("cancelled" in i.value for i in second.sidebar.info)
    assert second.sidebar.button(key="train")  # the form is back
    wait_for(first, lambda a: job.steps > 0)  # training, so Cancel keeps the model so far
    first.sidebar.button(key="cancel_training").click().run()
    wait_for(first, lambda a: "session_models" in a.session_state and a.session_state["session_models"])


def test_the_form_keeps_its_settings_after_a_run(env):
    at = app()
    at.sidebar.selectbox(key="train_preset").set_value("conv_seed").run()  # its noise slider appears
    at.sidebar.number_input(key="train_epochs").set_value(1)
    at.sidebar.select_slider(key="train_batch").set_value(64)
    at.sidebar.select_slider(key="train_lr").set_value(3e-3)
    at.sidebar.slider(key="train_noise").set_value(0.3)
    at.sidebar.button(key="train").click().run()
    wait_for(at, lambda a: any("Your retrained models" in m.value for m in a.sidebar.markdown), 180)
    # "1 epoch", not "1 epochs" (one epoch on a few digits may not beat the average digit: a warning)
    assert any("after 1 epoch," in s.value for s in [*at.sidebar.success, *at.sidebar.warning])
    assert at.sidebar.selectbox(key="train_preset").value == "conv_seed"
    assert at.sidebar.number_input(key="train_epochs").value == 1
    assert at.sidebar.select_slider(key="train_batch").value == 64
    assert at.sidebar.select_slider(key="train_lr").value == 3e-3
    assert at.sidebar.slider(key="train_noise").value == 0.3


def test_a_visitor_names_the_version_they_save(env):
    at = app()
    at.sidebar.number_input(key="train_epochs").set_value(1)
    at.sidebar.button(key="train").click().run()
    wait_for(at, lambda a: any("Your retrained models" in m.value for m in a.sidebar.markdown))
    name_box = next(t for t in at.sidebar.text_input if t.key and t.key.startswith("name_"))
    save = next(b for b in at.sidebar.button if b.key and b.key.startswith("save_"))
    for bad in ("../evil", "a b", "x.y"):
        name_box.set_value(bad)
        save.click().run()
        assert_clean(at)
        assert any("Received: name" in e.value for e in at.sidebar.error), bad
    assert store.list_models(Path(env) / "models") == []
    name_box.set_value("my-first_model")
    save.click().run()
    assert_clean(at)
    assert store.list_models(Path(env) / "models") == ["my-first_model"]
    assert not any(str(env) in s.value for s in at.sidebar.success)  # no server path


def test_training_can_be_turned_off(env, monkeypatch):
    monkeypatch.setenv("AE_ALLOW_TRAINING", "0")
    at = app()
    assert any("turned off" in i.value for i in at.sidebar.info)
    assert not [b for b in at.sidebar.button if b.key == "train"]
    assert rows(at)


# --- missing and broken models ------------------------------------------------------------

def test_broken_and_missing_models_name_the_file_and_offer_a_quick_run(env, monkeypatch, pretrained_dir, tmp_path):
    broken = tmp_path / "pretrained"
    broken.mkdir()
    for name in ("dense_seed", "conv_denoiser"):  # the page's default models
        manifest = json.loads((pretrained_dir / f"{name}.json").read_text())
        (broken / f"{name}.json").write_text(json.dumps(manifest))
        for file_name in store.model_files(manifest):  # the .keras file and the ONNX files the page runs
            data = (pretrained_dir / file_name).read_bytes()
            truncate = name == "dense_seed" and file_name.endswith(".encoder.onnx")
            (broken / file_name).write_bytes(data[: len(data) // 2] if truncate else data)
    monkeypatch.setenv("AE_PRETRAINED_DIR", str(broken))
    at = app()
    page = texts(at)
    encoder = json.loads((broken / "dense_seed.json").read_text())["onnx"]["encoder"]["file"]
    assert "dense_seed" in page and encoder in page and "export-onnx" in page
    assert str(broken) not in page  # visitors read it: no server path
    assert "dense_deep.json" in page and "conv_seed.json" in page  # the missing ones, by file
    assert list(rows(at)) == ["pretrained:conv_denoiser"]  # the good one still works
    quick = at.button(key="quick_dense_seed")
    quick.click().run()
    assert_clean(at)
    wait_for(at, lambda a: any(k.startswith("session:") for k in rows(a)))


def test_no_pretrained_folder_at_all(env, monkeypatch, tmp_path):
    monkeypatch.setenv("AE_PRETRAINED_DIR", str(tmp_path / "nowhere"))
    at = app()
    assert "is missing" in texts(at) and "dense_seed.json" in texts(at)
    assert str(tmp_path) not in texts(at)  # visitors never see a server path
    assert not rows(at)
    assert lab_data(at)["result"]["clean"]  # the input still shows
    assert at.button(key="quick_dense_seed")


def test_bad_settings_are_explained_not_raised(env, monkeypatch):
    monkeypatch.setenv("AE_MAX_EPOCHS", "lots")
    at = app()
    assert any("AE_MAX_EPOCHS" in w.value for w in at.warning)


def test_an_unexpected_error_is_one_calm_line_not_a_traceback(env, monkeypatch):
    from lab import engine
    from lab.errors import OOPS

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "interact", broken)
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT).run()
    assert not at.exception
    assert any(OOPS in e.value and "running the models" in e.value for e in at.error)
    assert at.segmented_control(key="input_mode") and at.sidebar.button(key="train")  # the rest works


# --- what a classroom found ----------------------------------------------------------------

def test_a_failed_upload_keeps_only_its_message_not_the_file(env):
    """An exception kept in the session would keep its traceback, and with it the raw upload."""
    at = app()
    at.segmented_control(key="input_mode").set_value("upload").run()
    at.file_uploader(key="upload").set_value(("notes.png", b"x" * 200_000, "image/png")).run()
    assert_clean(at)
    kept = at.session_state["_upload_digit"][1]
    assert isinstance(kept, str) and "not a PNG or JPEG" in kept


def test_an_upload_survives_a_trip_to_the_pad(env):
    at = app()
    at.segmented_control(key="input_mode").set_value("upload").run()
    at.file_uploader(key="upload").set_value(("seven.jpg", photo_bytes(), "image/jpeg")).run()
    at.segmented_control(key="input_mode").set_value("draw").run()
    at.segmented_control(key="input_mode").set_value("upload").run()
    assert_clean(at)
    assert "seven.jpg, converted" in lab_data(at)["caption"]
    assert "kept from before" in at.get("image")[0].proto.imgs[0].caption  # the preview says where it comes from


def test_the_model_table_copes_without_a_parameter_count(env, pretrained_dir, tmp_path, monkeypatch):
    folder = tmp_path / "pretrained"
    folder.mkdir()
    manifest = json.loads((pretrained_dir / "dense_seed.json").read_text())
    for part in ("encoder", "decoder"):
        manifest["onnx"][part].pop("params")
    (folder / "dense_seed.json").write_text(json.dumps(manifest))
    for file_name in store.model_files(manifest):
        (folder / file_name).write_bytes((pretrained_dir / file_name).read_bytes())
    monkeypatch.setenv("AE_PRETRAINED_DIR", str(folder))
    at = app()
    table = at.expander[0].markdown[0].value
    assert "| Dense 784-32-784 (tutorial) | `dense_seed` | pretrained | 32 | – |" in table


def test_a_saved_model_has_one_name_from_its_manifest(env, pretrained_dir, tmp_path):
    """Saved as "my_model" from conv_seed: the chooser and the row both read the preset from the manifest."""
    saved = tmp_path / "models"
    store.copy(pretrained_dir, "conv_seed", saved, name="my_model")
    at = app()
    at.multiselect(key="models").set_value(["saved:my_model"]).run()
    assert_clean(at)
    label = at.multiselect(key="models").format_func("saved:my_model")
    assert label == rows(at)["saved:my_model"]["title"] == "Conv denoiser 7×7×32 (tutorial), saved as my_model"


def test_an_upload_is_decoded_once_and_white_ink_on_transparent_is_a_digit(monkeypatch):
    from lab.inputs_view import _upload_to_digit

    opened = []
    real = preprocess._open
    monkeypatch.setattr(preprocess, "_open", lambda data: opened.append(len(data)) or real(data))
    img = Image.new("RGBA", (200, 200), (0, 0, 0, 0))  # white ink on a transparent sheet
    ImageDraw.Draw(img).line([(100, 20), (100, 180)], fill=(255, 255, 255, 255), width=14)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    digit, preview = _upload_to_digit(buf.getvalue())
    assert len(opened) == 1  # the preview comes from the same decoding
    assert digit.max() == pytest.approx(1.0) and (digit > 0.5).sum() > 20  # a "1", not "blank"
    shown = np.asarray(Image.open(io.BytesIO(preview)).convert("L"), float)
    assert shown[5, 5] == 0 and shown[100, 100] == 255  # white ink on black paper


def test_a_photo_over_the_pixel_limit_is_refused_before_decoding():
    img = Image.new("L", (5000, 4000), 255)  # 20 megapixels of blank paper: a small PNG
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    with pytest.raises(preprocess.ImageTooLargeError, match="megapixels"):
        preprocess.decode_photo(buf.getvalue())


def test_test_digit_can_pick_a_clothing_item(env):
    """A digit model fed a shoe shows that an autoencoder is data-specific, without any words."""
    from ae_core.data import load_clothing

    at = app()
    at.segmented_control(key="input_mode").set_value("pick").run()
    at.segmented_control(key="pick_set").set_value("clothing").run()
    assert_clean(at)
    at.selectbox(key="pick_label").set_value(7).run()  # sneakers
    assert_clean(at)
    assert "sneaker, not a digit" in lab_data(at)["caption"]
    index = at.session_state["pick_index"]
    d = load_clothing()
    assert d.y_test[index] == 7
    np.testing.assert_array_equal(z(rows(at)["pretrained:dense_seed"], 0), d.x_test[index])
    at.multiselect(key="models").set_value(["pretrained:dense_seed", "pretrained:dense_clothing"]).run()
    digit_model, clothing_model = rows(at)["pretrained:dense_seed"], rows(at)["pretrained:dense_clothing"]
    assert clothing_model["metrics"]["psnr"] > digit_model["metrics"]["psnr"] + 2  # the same recipe, other data
