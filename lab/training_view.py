"""The sidebar: retrain a preset, watch it learn, cancel it, keep or save the result."""
from __future__ import annotations

import dataclasses
import itertools
import uuid

import numpy as np
import streamlit as st

from . import engine, figures, preload, resources
from .errors import guarded
from .jobs import Busy, Job
from .settings import Settings

QUICK_EPOCHS = 2
QUICK_DIGITS = 3000
SESSION_MODELS = "session_models"  # session_state: key -> SessionModel
_counter = itertools.count(1)


@dataclasses.dataclass
class SessionModel:
    """A model trained in this session: shown at once, saved only when the user says so."""

    loaded: engine.LoadedModel
    job: Job


def session_id() -> str:
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = uuid.uuid4().hex
    return st.session_state["session_id"]


def session_models() -> dict[str, SessionModel]:
    return st.session_state.setdefault(SESSION_MODELS, {})


def training_data(settings: Settings, digits: int | None = None):
    """The bundled digits, capped at `digits` for training and a quarter of that for validation.

    A capped set is a fixed random subset of every class (the split itself is sorted by class).
    """
    d = resources.dataset()
    n = min(digits or settings.train_digits, len(d.x_train))
    m = min(len(d.x_val), max(n // 4, 64))
    if n == len(d.x_train) and m == len(d.x_val):
        return d
    rng = np.random.default_rng(0)
    tr = np.sort(rng.choice(len(d.x_train), n, replace=False))
    va = np.sort(rng.choice(len(d.x_val), m, replace=False))
    return d.subset(train=tr, val=va)


def start(settings: Settings, preset_name: str, config, quick: bool = False) -> Job | None:
    """Start a job for this session; shows why not when the server is busy or training is off."""
    from ae_core.presets import PRESETS

    if not settings.allow_training:
        st.warning("Training is turned off on this server.")
        return None
    data = training_data(settings, QUICK_DIGITS if quick else None)
    try:
        return resources.job_manager().start(session_id(), preset_name, PRESETS[preset_name].spec,
                                             config, data, quick=quick)
    except Busy as exc:
        st.warning(str(exc), icon=":material/hourglass_top:")
        return None


def quick_config(preset_name: str):
    from ae_core.presets import PRESETS

    config = PRESETS[preset_name].config
    return dataclasses.replace(config, epochs=min(QUICK_EPOCHS, config.epochs))


def collect_finished() -> str | None:
    """Move this session's finished job into its models; returns the new model's key or None."""
    manager = resources.job_manager()
    job = manager.job_of(session_id())
    if job is None or job.running:
        return None
    manager.collect(job)
    if job.status == "failed":
        st.session_state["_train_note"] = ("error", f"Training {job.preset} failed: {job.error}")
        return None
    if not job.result.ok:
        st.session_state["_train_note"] = ("error", f"Training {job.preset} diverged (the loss became "
                                           "NaN); nothing was kept. Try a smaller learning rate.")
        return None
    from ae_core.presets import PRESETS

    key = f"session:{next(_counter)}"
    n = sum(1 for m in session_models().values() if m.loaded.preset == job.preset) + 1
    title = f"{job.preset} retrained #{n} (unsaved)"
    loaded = engine.prepare(job.result.model, key=key, name=f"{job.preset}-retrained-{n}", title=title,
                            kind="session", preset=job.preset, sample=resources.dataset().x_test)
    session_models()[key] = SessionModel(loaded, job)
    val = job.history.get("val_loss", [float("nan")])[-1]
    word = "finished" if job.status == "completed" else "stopped early"
    st.session_state["_train_note"] = ("success", f"{PRESETS[job.preset].title}: {word} after "
                                       f"{job.epochs_done} epochs, validation loss {val:.4f}. "
                                       "It is shown on the right; save it to keep it.")
    change_selection(add=key)
    return key


def change_selection(add: str | None = None, remove: str | None = None) -> None:
    """Queue a change to the model chooser; it is applied before the chooser is drawn again."""
    st.session_state.setdefault("_models_pending", []).append((add, remove))


def _job_status(job: Job) -> None:
    epochs = job.config.epochs
    label = f"Epoch {min(job.epoch + 1, epochs)} of {epochs} · {job.seconds:.0f} s"
    if not job.steps and not job.epochs_done:  # set when Keras begins (lab/jobs.py)
        label = f"Starting · {job.seconds:.0f} s (the first run loads TensorFlow: a few seconds)"
    if job.cancel.is_set():
        label = "Stopping after this batch…"
    st.progress(float(np.clip(job.fraction, 0, 1)), text=label)
    if job.history.get("loss"):
        st.plotly_chart(figures.loss_figure(job.history, height=180), config=figures.CONFIG,
                        key="loss_live", theme=None)
    else:
        st.caption("The loss curve appears after the first epoch.")


@guarded("showing the training progress")
def _live_panel() -> None:
    """Polled once a second while this session's job runs; reruns the app when it ends."""
    manager = resources.job_manager()
    job = manager.job_of(session_id())
    if job is None or not job.running:
        st.rerun(scope="app")  # finished: collect it and refresh the model list
        return
    st.markdown(f"**Training {job.preset}**" + (" (quick run)" if job.quick else ""))
    _job_status(job)
    st.button("Cancel", icon=":material/stop:", key="cancel_training", on_click=job.cancel.set, width="stretch",
              help="Stops after the current batch; the model so far is kept.")


live_panel = st.fragment(run_every=1.0)(_live_panel)


@guarded("checking the training queue")
def _busy_panel() -> None:
    """Shown while another session trains; polled so the form comes back when it ends."""
    other = resources.job_manager().running_job()
    if other is None:
        st.rerun(scope="app")
        return
    st.info(f"Someone else is training {other.preset} on this server (epoch "
            f"{min(other.epoch + 1, other.config.epochs)} of {other.config.epochs}). One run at a time: "
            "the Train button comes back when it ends. Everything else works meanwhile.", icon=":material/hourglass_top:")


busy_panel = st.fragment(run_every=3.0)(_busy_panel)


def _form(settings: Settings) -> None:
    from ae_core.presets import PRESETS

    names = list(PRESETS)
    preset_name = st.selectbox("Preset", names, key="train_preset", format_func=lambda n: PRESETS[n].title,
                               on_change=preload.start)
    preset = PRESETS[preset_name]
    st.caption(preset.description)
    base = preset.config
    epochs = st.number_input("Epochs", 1, settings.max_epochs, min(base.epochs, 5, settings.max_epochs), 1,
                             key="train_epochs", help=f"At most {settings.max_epochs} on this server.",
                             on_change=preload.start)
    sizes = settings.batch_sizes
    batch = st.select_slider("Batch size", sizes, value=min(sizes, key=lambda b: abs(b - base.batch_size)),
                             key="train_batch", on_change=preload.start)
    lr_default = base.lr
    lr = st.select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 0.1, 1.0],
                          value=lr_default if lr_default in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 0.1, 1.0) else 1e-3,
                          key="train_lr", format_func=lambda v: f"{v:g}", on_change=preload.start)
    overrides = {"epochs": int(epochs), "batch_size": int(batch), "learning_rate": float(lr)}
    if preset.denoiser:
        fresh = base.noise_max is not None
        default = base.noise_max if fresh else base.noise_factor
        level = st.slider("Maximum training noise" if fresh else "Training noise factor", 0.0, 1.0,
                          float(default), 0.05, key="train_noise", on_change=preload.start,
                          help=("Each batch gets fresh Gaussian noise of a random level up to this."
                                if fresh else "Gaussian noise added to the training inputs, as in the tutorial."))
        overrides["noise_max" if fresh else "noise_factor"] = float(level)
    digits = min(settings.train_digits, len(resources.dataset().x_train))
    st.caption(f"Trains on {digits:,} bundled digits; checks on held-out ones after each epoch.")
    if st.button("Train", icon=":material/play_arrow:", key="train", type="primary", width="stretch"):
        try:
            config = dataclasses.replace(base, **overrides)
        except ValueError as exc:  # TrainConfig explains what is wrong
            st.error(str(exc))
            return
        if start(settings, preset_name, config) is not None:
            st.rerun(scope="app")


def _saved_list(settings: Settings) -> None:
    models = session_models()
    if not models:
        return
    st.markdown("**Your retrained models**")
    for key, m in list(models.items()):
        job = m.job
        val = job.history.get("val_loss", [float("nan")])[-1]
        st.caption(f"{m.loaded.title}: {job.epochs_done} epochs, validation loss {val:.4f}")
        left, right = st.columns(2)
        if left.button("Save", icon=":material/save:", key=f"save_{key}", width="stretch", disabled=bool(settings.save_problem),
                       help=settings.save_problem or f"Saves a new version into {settings.models_dir}"):
            _save(settings, key, m)
        if right.button("Discard", icon=":material/delete:", key=f"discard_{key}", width="stretch"):
            models.pop(key, None)
            change_selection(remove=key)
            st.rerun(scope="app")
    if settings.save_problem:
        st.warning(settings.save_problem)


def _save(settings: Settings, key: str, m: SessionModel) -> None:
    job = m.job
    try:
        with st.spinner("Measuring and saving…"):
            path = resources.job_manager().save(job.result, job.spec, job.config, job.data,
                                                settings.models_dir, job.preset, job.preset)
    except (OSError, ValueError) as exc:
        st.error(f"Could not save into {settings.models_dir}: {exc}")
        return
    session_models().pop(key, None)
    change_selection(add=f"saved:{path.stem}", remove=key)
    st.session_state["_train_note"] = ("success", f"Saved as **{path.stem}** in {settings.models_dir}; "
                                       "everyone using this server can now choose it.")
    st.rerun(scope="app")


@guarded("drawing the training sidebar")
def _panel(settings: Settings) -> None:
    st.header("Retrain a model")
    note = st.session_state.pop("_train_note", None)
    if note:
        (st.success if note[0] == "success" else st.error)(note[1])
    if not settings.allow_training:
        st.info("Training is turned off on this server (AE_ALLOW_TRAINING=0). You can still use "
                "every model that is here.")
        return
    manager = resources.job_manager()
    mine = manager.job_of(session_id())
    if mine is not None and mine.running:
        live_panel()
    else:
        if manager.running_job() is not None:
            busy_panel()
        else:
            _form(settings)
    _saved_list(settings)


training_panel = st.fragment(_panel)


def sidebar_ui(settings: Settings) -> None:
    """The sidebar. `collect_finished()` runs earlier in the script, before the model chooser."""
    with st.sidebar:
        training_panel(settings)
