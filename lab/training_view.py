"""The sidebar: retrain a preset, watch it learn, cancel it, keep or save the result.

Runs train in trainer processes (`lab.jobs`); this page only reads their progress and loads the
finished model's ONNX files from the run's scratch folder.
"""
from __future__ import annotations

import dataclasses
import itertools
import uuid

import numpy as np
import streamlit as st

from . import engine, figures, resources
from .errors import guarded
from .jobs import Busy, Job
from .settings import Settings

QUICK_EPOCHS = 2
QUICK_DIGITS = 3000
SESSION_MODELS = "session_models"  # session_state: key -> SessionModel
FORM_KEYS = ("train_preset", "train_epochs", "train_batch", "train_lr", "train_noise")
FORM_MEMORY = "_train_form"  # session_state: the form's last values (widgets not drawn lose theirs)
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 0.1, 1.0)
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


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def start(settings: Settings, preset_name: str, config, quick: bool = False) -> Job | None:
    """Queue a run for this session; shows why not when training is off or one is pending."""
    if not settings.allow_training:
        st.warning("Training is turned off on this server.")
        return None
    digits = QUICK_DIGITS if quick else settings.train_digits
    try:
        return resources.job_manager().start(session_id(), preset_name, config, train_digits=digits, quick=quick)
    except Busy as exc:
        st.warning(str(exc), icon=":material/hourglass_top:")
        return None


def quick_config(preset_name: str):
    from ae_core.presets import PRESETS

    config = PRESETS[preset_name].config
    return dataclasses.replace(config, epochs=min(QUICK_EPOCHS, config.epochs))


def _note(kind: str, text: str) -> None:
    st.session_state["_train_note"] = (kind, text)


def collect_finished() -> str | None:
    """Move this session's finished job into its models; returns the new model's key or None.

    The job is collected only once its model is loaded: if loading raises, the run stays and the
    next rerun tries again.
    """
    manager = resources.job_manager()
    job = manager.job_of(session_id())
    if job is None or job.active:
        return None
    from ae_core.presets import PRESETS

    title = PRESETS[job.preset].title if job.preset in PRESETS else job.preset
    if job.status in ("failed", "cancelled") or job.name is None:
        if job.status == "failed":
            _note("error", f"Training {title} failed: {job.error}. The server is fine; try again.")
        elif job.status == "cancelled":
            _note("info", f"Training {title} was cancelled; nothing was kept.")
        else:  # diverged: the loss became NaN, the trainer saved nothing
            _note("error", f"Training {title} diverged (the loss became NaN); nothing was kept. "
                  "Try a smaller learning rate.")
        manager.collect(job)
        manager.discard(job)
        return None
    n = sum(1 for m in session_models().values() if m.loaded.preset == job.preset) + 1
    loaded = engine.load_stored(job.folder, job.name, "session", resources.dataset().x_test)
    if isinstance(loaded, engine.LoadFailure):
        manager.collect(job)
        _note("error", f"Training {title} finished, but its model could not be loaded: {loaded.message}")
        return None
    from .naming import title as display_name

    key, name = f"session:{next(_counter)}", f"{job.preset}-retrained-{n}"
    loaded = dataclasses.replace(loaded, key=key, name=name, title=display_name("session", name, job.preset))
    session_models()[key] = SessionModel(loaded, job)
    manager.collect(job)
    val = job.history.get("val_loss", [float("nan")])[-1]
    word = "finished" if job.status == "completed" else "stopped early"
    text = (f"{title}: {word} after {plural(job.epochs_done, 'epoch')}, validation loss {val:.4f}. "
            "It is shown on the right; save it to keep it.")
    _note("warning" if job.warning else "success", f"{job.warning} {text}" if job.warning else text)
    change_selection(add=key)
    return key


def change_selection(add: str | None = None, remove: str | None = None) -> None:
    """Queue a change to the model chooser; it is applied before the chooser is drawn again."""
    st.session_state.setdefault("_models_pending", []).append((add, remove))


def _job_status(job: Job) -> None:
    epochs = job.config.epochs
    label = f"Epoch {min(job.epoch + 1, epochs)} of {epochs} · {job.seconds:.0f} s"
    if not job.steps and not job.epochs_done:  # the trainer process reports when Keras begins
        label = f"Starting the trainer · {job.seconds:.0f} s (it loads TensorFlow: a few seconds)"
    if job.cancel_requested:
        label = "Stopping after this batch…"
    st.progress(float(np.clip(job.fraction, 0, 1)), text=label)
    if job.history.get("loss"):
        st.plotly_chart(figures.loss_figure(job.history, height=180), config=figures.CONFIG,
                        key="loss_live", theme=None)
    else:
        st.caption("The loss curve appears after the first epoch.")


@guarded("showing the training progress")
def _live_panel() -> None:
    """Polled once a second while this session's job is queued or runs; reruns the app at the end."""
    manager = resources.job_manager()
    job = manager.job_of(session_id())
    if job is None or not job.active:
        st.rerun(scope="app")  # finished: collect it and refresh the model list
        return
    st.markdown(f"**Training {job.preset}**" + (" (quick run)" if job.quick else ""))
    if job.status == "queued":
        running = len(manager.running_jobs())
        st.info(f"Queued: position {manager.position(job)}. {plural(running, 'run')} training on this server; "
                "yours starts when one ends.", icon=":material/hourglass_top:")
        st.button("Cancel", icon=":material/close:", key="cancel_training", width="stretch",
                  on_click=manager.cancel, args=(job,), help="Leaves the queue.")
        return
    _job_status(job)
    st.button("Cancel", icon=":material/stop:", key="cancel_training", on_click=manager.cancel, args=(job,),
              width="stretch", disabled=job.cancel_requested,
              help="Stops after the current batch; the model so far is kept.")


live_panel = st.fragment(run_every=1.0)(_live_panel)


def _remember_form() -> None:
    st.session_state[FORM_MEMORY] = {k: st.session_state[k] for k in FORM_KEYS if k in st.session_state}


def _restore_form() -> None:
    """Put back the form's values: widgets that were not drawn (while a run trained) lost them."""
    for key, value in st.session_state.get(FORM_MEMORY, {}).items():
        if key not in st.session_state:
            st.session_state[key] = value


def _queue_note() -> None:
    manager = resources.job_manager()
    running, queued = len(manager.running_jobs()), len(manager.queued())
    if running >= manager.max_running:
        st.caption(f"{plural(running, 'run')} training on this server"
                   + (f", {queued} queued" if queued else "") + f": yours would be queued at position {queued + 1}.")


def _form(settings: Settings) -> None:
    from ae_core.presets import PRESETS

    _restore_form()
    names = list(PRESETS)
    preset_name = st.selectbox("Preset", names, key="train_preset", format_func=lambda n: PRESETS[n].title)
    preset = PRESETS[preset_name]
    st.caption(preset.description)
    base = preset.config
    epochs = st.number_input("Epochs", 1, settings.max_epochs, min(base.epochs, 5, settings.max_epochs), 1,
                             key="train_epochs", help=f"At most {settings.max_epochs} on this server.")
    sizes = settings.batch_sizes
    batch = st.select_slider("Batch size", sizes, value=min(sizes, key=lambda b: abs(b - base.batch_size)),
                             key="train_batch")
    lr = st.select_slider("Learning rate", LEARNING_RATES,
                          value=base.lr if base.lr in LEARNING_RATES else 1e-3,
                          key="train_lr", format_func=lambda v: f"{v:g}")
    overrides = {"epochs": int(epochs), "batch_size": int(batch), "learning_rate": float(lr)}
    if preset.denoiser:
        fresh = base.noise_max is not None
        default = base.noise_max if fresh else base.noise_factor
        level = st.slider("Maximum training noise" if fresh else "Training noise factor", 0.0, 1.0,
                          float(default), 0.05, key="train_noise",
                          help=("Each batch gets fresh Gaussian noise of a random level up to this."
                                if fresh else "Gaussian noise added to the training inputs, as in the tutorial."))
        overrides["noise_max" if fresh else "noise_factor"] = float(level)
    digits = min(settings.train_digits, len(resources.dataset().x_train))
    st.caption(f"Trains on {digits:,} bundled digits; checks on held-out validation digits after each epoch.")
    _queue_note()
    if st.button("Train", icon=":material/play_arrow:", key="train", type="primary", width="stretch"):
        _remember_form()
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
    from ae_core import store

    st.markdown("**Your retrained models**")
    for key, m in list(models.items()):
        job = m.job
        val = job.history.get("val_loss", [float("nan")])[-1]
        st.caption(f"{m.loaded.title}: {plural(job.epochs_done, 'epoch')}, validation loss {val:.4f}")
        if job.warning:
            st.caption(f":orange[{job.warning}]")
        name = st.text_input("Name (optional)", key=f"name_{key}", max_chars=64,
                             placeholder=store.next_version_name(settings.models_dir, job.preset),
                             help="Letters, digits, - and _. Empty: the next free version number.",
                             disabled=bool(settings.save_problem))
        left, right = st.columns(2)
        if left.button("Save", icon=":material/save:", key=f"save_{key}", width="stretch",
                       disabled=bool(settings.save_problem),
                       help=settings.save_problem or "Saves it as a new version everyone on this server can choose."):
            _save(settings, key, m, name.strip())
        if right.button("Discard", icon=":material/delete:", key=f"discard_{key}", width="stretch"):
            models.pop(key, None)
            resources.job_manager().discard(job)
            change_selection(remove=key)
            st.rerun(scope="app")
    if settings.save_problem:
        st.warning(settings.save_problem)


def _save(settings: Settings, key: str, m: SessionModel, name: str) -> None:
    from ae_core import store

    try:
        if name:
            store.check_new_name(name)
        with st.spinner("Saving…"):
            path = resources.job_manager().promote(m.job, settings.models_dir, name or None)
    except store.NameTaken:
        st.error(f"A model named {name} exists already; choose another name.")
        return
    except ValueError as exc:
        st.error(str(exc))
        return
    except OSError as exc:  # the message names no server path: visitors don't need it
        st.error(f"Could not save: {exc.strerror or type(exc).__name__}. The run is still here; try again later.")
        return
    session_models().pop(key, None)
    resources.job_manager().discard(m.job)
    change_selection(add=f"saved:{path.stem}", remove=key)
    _note("success", f"Saved as **{path.stem}**; everyone using this server can now choose it.")
    st.rerun(scope="app")


@guarded("drawing the training sidebar")
def _panel(settings: Settings) -> None:
    st.header("Retrain a model")
    note = st.session_state.pop("_train_note", None)
    if note:
        {"success": st.success, "warning": st.warning, "info": st.info}.get(note[0], st.error)(note[1])
    if not settings.allow_training:
        st.info("Training is turned off on this server (AE_ALLOW_TRAINING=0). You can still use "
                "every model that is here.")
        return
    mine = resources.job_manager().job_of(session_id())
    if mine is not None and mine.active:
        live_panel()
    else:
        _form(settings)
    _saved_list(settings)


training_panel = st.fragment(_panel)


def sidebar_ui(settings: Settings) -> None:
    """The sidebar. `collect_finished()` runs earlier in the script, before the model chooser."""
    with st.sidebar:
        training_panel(settings)
