"""The training sidebar in AppTest: the noise slider per preset, caps re-checked where the run
starts, joins, leaving the queue, display names, "retrained #N" numbers that only increase.
Fake trainers (`fake_trainer`, tests/conftest.py) keep TensorFlow out."""
from __future__ import annotations

import pytest

from tests.app_support import app, assert_clean, texts, wait_for

FINISHED = '''
from ae_core import store
store.copy(os.environ["AE_PRETRAINED_DIR"], "dense_seed", request["folder"], name="dense_seed-run")
emit({"type": "begin", "steps": 4, "epochs": 1})
emit({"type": "epoch", "epoch": 1, "loss": 0.2, "val_loss": 0.21, "elapsed": 0.1})
emit({"type": "finished", "status": "completed", "epochs_run": 1, "name": "dense_seed-run",
      "history": {"loss": [0.2], "val_loss": [0.21]}, "warning": ""})
'''
HOLDS = 'emit({"type": "begin", "steps": 4, "epochs": 1})\nwhile not cancel.is_set():\n    time.sleep(0.05)\n'


def test_the_noise_slider_takes_each_presets_own_default(env):
    at = app()
    at.sidebar.selectbox(key="train_preset").set_value("conv_seed").run()
    assert at.sidebar.slider(key="train_noise").value == 0.5  # the tutorial's noise factor
    at.sidebar.selectbox(key="train_preset").set_value("conv_denoiser").run()
    assert at.sidebar.slider(key="train_noise").value == 1.0  # its maximum level, not conv_seed's 0.5
    at.sidebar.slider(key="train_noise").set_value(0.7).run()
    at.sidebar.selectbox(key="train_preset").set_value("conv_seed").run()
    assert at.sidebar.slider(key="train_noise").value == 0.5
    at.sidebar.selectbox(key="train_preset").set_value("conv_denoiser").run()
    assert at.sidebar.slider(key="train_noise").value == 0.7  # each preset keeps its own


def test_retrained_numbers_only_increase_and_the_sidebar_uses_display_names(env, fake_trainer):
    fake_trainer(FINISHED)
    at = app()
    at.sidebar.selectbox(key="train_preset").set_value("dense_seed")
    at.sidebar.number_input(key="train_epochs").set_value(1)
    at.sidebar.button(key="train").click().run()
    wait_for(at, lambda a: len([b for b in a.sidebar.button if b.key and b.key.startswith("save_")]) == 1)
    titles = [m.loaded.title for m in at.session_state["session_models"].values()]
    assert any("#1" in t for t in titles)
    # Discard #1, train again: the new one is #2, never #1 a second time.
    at.sidebar.button(key=[b.key for b in at.sidebar.button if b.key and b.key.startswith("discard_")][0]).click().run()
    at.sidebar.number_input(key="train_epochs").set_value(2)
    at.sidebar.button(key="train").click().run()
    wait_for(at, lambda a: len([b for b in a.sidebar.button if b.key and b.key.startswith("save_")]) == 1)
    titles = [m.loaded.title for m in at.session_state["session_models"].values()]
    assert any("#2" in t for t in titles) and not any("#1" in t for t in titles)


def test_leaving_the_queue_says_so_and_a_second_visitor_joins_an_identical_run(env, fake_trainer):
    from ae_core.presets import PRESETS

    m = fake_trainer(HOLDS)
    first = app()
    first.sidebar.selectbox(key="train_preset").set_value("dense_seed")
    first.sidebar.button(key="train").click().run()
    assert_clean(first)
    assert f"Training {PRESETS['dense_seed'].title}" in texts(first)  # the display name
    twin = app()  # same preset, same settings: joins
    twin.sidebar.selectbox(key="train_preset").set_value("dense_seed")
    twin.sidebar.button(key="train").click().run()
    assert "joined a run already training" in texts(twin)
    assert len(m.running_jobs()) == 1 and m.queued() == []
    other = app()  # different settings: queued
    other.sidebar.selectbox(key="train_preset").set_value("dense_seed")
    other.sidebar.number_input(key="train_epochs").set_value(3)
    other.sidebar.button(key="train").click().run()
    assert "Queued: position 1" in texts(other)
    other.sidebar.button(key="cancel_training").click().run()
    wait_for(other, lambda a: "You left the queue" in texts(a))
    assert "nothing was kept" not in texts(other)


def test_the_caps_are_checked_where_the_run_starts(env, fake_trainer, monkeypatch):
    """A run asked for beyond AE_MAX_EPOCHS (say by a quick-train button or a forged widget
    value) is refused by `training_view.start`, not only by the form's widgets."""
    from ae_core.config import TrainConfig
    from lab import training_view
    from lab.settings import Settings

    m = fake_trainer(HOLDS)
    monkeypatch.setenv("AE_MAX_EPOCHS", "3")
    shown = []
    monkeypatch.setattr(training_view.st, "warning", lambda text, **kw: shown.append(text))
    monkeypatch.setattr(training_view, "session_id", lambda: "visitor")
    job = training_view.start(Settings.from_env(), "dense_seed", TrainConfig(epochs=10))
    assert job is None and "at most 3 epochs" in shown[0] and m.job_of("visitor") is None


def test_a_browser_is_one_visitor_across_tabs_and_reloads():
    """Streamlit re-masks its XSRF cookie on every page load; the token inside stays."""
    import os

    from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

    from lab.training_view import visitor_from_cookie

    token = os.urandom(16)
    tab1, tab2 = generate_xsrf_token_string(token, 1700000000), generate_xsrf_token_string(token, 1700000000)
    assert tab1 != tab2 and visitor_from_cookie(tab1) == visitor_from_cookie(tab2)
    assert visitor_from_cookie(generate_xsrf_token_string(os.urandom(16))) != visitor_from_cookie(tab1)
    assert token.hex() not in visitor_from_cookie(tab1)  # only a hash is kept
    assert visitor_from_cookie(None) is None and visitor_from_cookie("2|zz|zz|1") is None


@pytest.mark.slow
def test_train_on_clothing_with_a_smaller_code_and_watch_it_learn(env):
    """The sidebar's data choice and code size reach the trainer; its snapshots of the validation
    strip (and the Lab's input) come back after every epoch, and a slider replays them."""
    at = app()
    sb = at.sidebar
    sb.selectbox(key="train_preset").set_value("dense_seed").run()
    sb.number_input(key="train_epochs").set_value(2)
    sb.segmented_control(key="train_data").set_value("clothing")
    sb.select_slider(key="train_code").set_value(8)
    sb.button(key="train").click().run()
    assert_clean(at)
    wait_for(at, lambda a: any("Your retrained models" in m.value for m in a.sidebar.markdown), 240)
    from lab import training_view

    (model,) = at.session_state[training_view.SESSION_MODELS].values()
    assert model.loaded.code_shape == (8,)
    assert model.loaded.manifest["data"]["source"] == "clothing"
    assert model.loaded.title.endswith(", on clothing")  # labelled as such everywhere
    label = at.multiselect(key="models").format_func(model.loaded.key)
    assert label == model.loaded.title
    assert [s["epoch"] for s in model.job.snapshots] == [1, 2]  # one per epoch
    assert len(model.job.strip["captions"]) == 8 and "validation" in model.job.strip["captions"][0]
    replay = at.sidebar.select_slider(key=f"replay_{model.loaded.key}")
    assert replay.value == 2
    page = " ".join(m.value for m in at.sidebar.markdown)
    assert "Epoch 2, reconstruction of" in page and "your input" in page
    replay.set_value(1).run()
    assert "Epoch 1, reconstruction of" in " ".join(m.value for m in at.sidebar.markdown)


def test_the_optimizer_and_a_denoisers_noise_type_reach_the_run(env, fake_trainer):
    """The tutorial's Adadelta at learning rate 1.0 (Keras 3's 'adadelta' means 0.001, which does
    not train) and the fixed noisy copy's kind, chosen in the sidebar, are what the run gets."""
    manager = fake_trainer(FINISHED)
    at = app()
    at.sidebar.selectbox(key="train_preset").set_value("conv_denoiser").run()
    assert not [w for w in at.sidebar.get("button_group") if w.key == "train_noise_kind"]  # fresh noise: Gaussian
    at.sidebar.selectbox(key="train_preset").set_value("conv_seed").run()
    sb = at.sidebar
    assert [w for w in sb.get("button_group") if w.key == "train_noise_kind"]  # the same query finds it here
    assert sb.segmented_control(key="train_noise_kind").value == "gaussian"  # the tutorial's
    sb.segmented_control(key="train_optimizer").set_value("adadelta")
    sb.select_slider(key="train_lr").set_value(1.0)
    sb.segmented_control(key="train_noise_kind").set_value("mask")
    sb.button(key="train").click().run()
    assert_clean(at)
    (job,) = manager._jobs.values()
    assert (job.config.optimizer, job.config.lr, job.config.noise_kind) == ("adadelta", 1.0, "mask")
