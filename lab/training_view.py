"""The sidebar: retrain a preset, watch it learn, cancel it, keep or save the result.

Runs train elsewhere (`lab.jobs`: this server's trainer processes, or the shared RQ queue with
`AE_QUEUE_URL`); this page only reads their progress and loads the finished model's ONNX files.

Visitors are told apart by Streamlit's XSRF cookie (`_streamlit_xsrf`, read through
`st.context.cookies`): the browser keeps it across tabs and reloads, so one browser has one run
on every server. Its token is hashed, never shown or stored. Where there is no cookie (XSRF
protection off, a test harness) each browser session is its own visitor.
"""
from __future__ import annotations

import binascii
import dataclasses
import hashlib
import uuid

import numpy as np
import streamlit as st

from ae_core.worker import public_text

from . import engine, figures, jobs, kit, resources
from .jobs import Busy, Job, QueueFull
from .settings import Settings

QUICK_EPOCHS = 2
QUICK_DIGITS = 3000
SESSION_MODELS = "session_models"  # session_state: key -> SessionModel
FORM_KEYS = ("train_preset", "train_epochs", "train_batch", "train_lr", "train_noise", "train_data", "train_code",
             "train_noise_kind", "train_optimizer")
DATA_LABELS = {"bundled": "Digits", "clothing": "Clothing"}
CODE_SIZES = (2, 4, 8, 16, 32, 64)
OPTIMIZERS = {"adam": "Adam", "adadelta": "Adadelta (the tutorial's)"}
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 0.1, 1.0)
NOISE_MEMORY = "_train_noise_by_preset"  # session_state: preset -> its noise slider's last value
RETRAINED = "_retrained_count"  # session_state: preset -> the last "retrained #N" given
XSRF_COOKIE = "_streamlit_xsrf"


@dataclasses.dataclass
class SessionModel:
    """A model trained in this session: shown at once, saved only when the user says so."""

    loaded: engine.LoadedModel
    job: Job


def visitor_from_cookie(raw) -> str | None:
    """A visitor id from the value of Streamlit's XSRF cookie ("2|mask|masked token|time"): the
    token is the same in every tab of a browser and across reloads (the mask changes, the token
    does not); only its hash is kept."""
    if not isinstance(raw, str) or not raw:
        return None
    parts = raw.strip("\"'").split("|")
    token = raw
    try:
        if parts[0] == "2" and len(parts) == 4:
            mask, masked = binascii.a2b_hex(parts[1]), binascii.a2b_hex(parts[2])
            token = bytes(b ^ mask[i % 4] for i, b in enumerate(masked)).hex()
    except (binascii.Error, IndexError):
        return None
    return "b-" + hashlib.sha256(token.encode()).hexdigest()[:24]


def _browser_visitor() -> str | None:
    try:
        return visitor_from_cookie(st.context.cookies.get(XSRF_COOKIE))
    except Exception:  # noqa: BLE001 - no request context (a test harness)
        return None


def session_id() -> str:
    """The visitor: a hash of the browser's XSRF token, or one id per browser session."""
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = _browser_visitor() or uuid.uuid4().hex
    return st.session_state["session_id"]


def manager():
    """The training backend (embedded or shared; see `lab.jobs.backend`)."""
    return jobs.backend()


def session_models() -> dict[str, SessionModel]:
    return st.session_state.setdefault(SESSION_MODELS, {})


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _title(preset: str) -> str:
    from ae_core.presets import PRESETS

    return PRESETS[preset].title if preset in PRESETS else preset


def _run_key(preset_name: str, config, digits: int, options: dict | None = None) -> str:
    data = resources.clothing() if (options or {}).get("data") == "clothing" else resources.dataset()
    return jobs.run_key(preset_name, config, min(digits, len(data.x_train)), data.sha256, options)


def _current_input() -> list | None:
    """The Lab's input, reconstructed in the snapshots beside the validation strip."""
    from .inputs_view import current_digit

    digit = current_digit()
    return None if isinstance(digit, str) else np.round(np.asarray(digit.image, float), 3).ravel().tolist()


def start(settings: Settings, preset_name: str, config, quick: bool = False, options: dict | None = None) -> Job | None:
    """Queue a run for this visitor, or join the identical one; shows why not when training is
    off, the settings pass this server's caps, the visitor has a run, or the queue is full."""
    if not settings.allow_training:
        st.warning("Training is turned off on this server.")
        return None
    if config.epochs > settings.max_epochs or config.batch_size > settings.max_batch_size:
        st.warning(f"This server trains at most {settings.max_epochs} epochs with batches of at most "
                   f"{settings.max_batch_size}; lower the settings.")
        return None
    digits = QUICK_DIGITS if quick else settings.train_digits
    try:
        job = manager().start(session_id(), preset_name, config, train_digits=digits, quick=quick,
                              key=_run_key(preset_name, config, digits, options), options=options,
                              extra=_current_input())
    except (Busy, QueueFull) as exc:
        st.warning(str(exc), icon=":material/hourglass_top:")
        return None
    if session_id() in job.joined:
        _note("info", f"{_title(preset_name)}: joined a run already "
              + ("finished" if not job.active else "training")
              + " with the same settings (someone pressed Train first), so it trains only once.")
    return job


def quick_config(preset_name: str):
    from ae_core.presets import PRESETS

    config = PRESETS[preset_name].config
    return dataclasses.replace(config, epochs=min(QUICK_EPOCHS, config.epochs))


def _note(kind: str, text: str) -> None:
    st.session_state["_train_note"] = (kind, text)


def collect_finished() -> str | None:
    """Move this visitor's finished run into their models; returns the new model's key or None.

    The run is collected only once its model is loaded: if loading raises, the run stays and the
    next rerun tries again.
    """
    backend, me = manager(), session_id()
    backend.heartbeat(me)
    job = backend.job_of(me)
    if job is None or job.active:
        return None
    if any(m.job.id == job.id for m in session_models().values()):  # already here (another tab)
        backend.collect(job, me)
        return None
    title = _title(job.preset)
    if job.status in ("failed", "cancelled") or job.name is None:
        if job.status == "failed":
            _note("error", f"Training {title} failed: {public_text(job.error)}. The server is fine; try again.")
        elif job.status == "cancelled":
            if job.note == "left the queue":
                _note("info", f"You left the queue: {title} was cancelled before it started, so nothing was trained.")
            elif "before training began" in job.note:
                _note("info", f"Training {title} was cancelled before it began; nothing was trained.")
            else:
                _note("info", f"Training {title} was {job.note or 'cancelled'}.")
        else:  # diverged: the loss became NaN, the trainer saved nothing
            _note("error", f"Training {title} diverged (the loss became NaN); nothing was kept. "
                  "Try a smaller learning rate.")
        backend.collect(job, me)
        backend.discard(job, me)
        return None
    try:
        folder = backend.result_folder(job)
    except ValueError as exc:
        backend.collect(job, me)
        _note("error", f"Training {title} finished, but its model could not be fetched: {exc}")
        return None
    loaded = engine.load_stored(folder, job.name, "session", resources.dataset().x_test)
    if isinstance(loaded, engine.LoadFailure):
        backend.collect(job, me)
        _note("error", f"Training {title} finished, but its model could not be loaded: "
              f"{public_text(loaded.message)}")
        return None
    from .naming import title as display_name

    counts = st.session_state.setdefault(RETRAINED, {})
    n = counts[job.preset] = counts.get(job.preset, 0) + 1  # increases: a number is never given twice
    key, name = f"session:{uuid.uuid4().hex[:12]}", f"{job.preset}-retrained-{n}"
    loaded = dataclasses.replace(loaded, key=key, name=name, title=display_name(
        "session", name, job.preset, (loaded.manifest.get("data") or {}).get("source")))
    session_models()[key] = SessionModel(loaded, job)
    backend.collect(job, me)
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
    if job.cancel_requested:
        label = {"stopping": "Stopping: finishing this epoch's validation pass, then keeping the model so far…",
                 "saving": "Stopped: saving the model so far…",
                 "training": "Stopping after this batch…"}.get(job.stage, "Cancelling: training had not begun…")
    elif job.stage in ("queued", "launching", "loading"):
        label = (f"Starting the trainer · {job.seconds:.0f} s: it loads TensorFlow, then training begins "
                 "(a few seconds)")
    elif job.stage == "saving":
        label = f"Trained {plural(job.epochs_done, 'epoch')}: measuring and saving the model…"
    else:
        label = f"Epoch {min(job.epoch + 1, epochs)} of {epochs} · {job.seconds:.0f} s"
    st.progress(float(np.clip(job.fraction, 0, 1)), text=label)
    _strip(job)
    if job.history.get("loss"):
        st.plotly_chart(figures.loss_figure(job.history, height=180), config=figures.CONFIG,
                        key="loss_live", theme=None)
    else:
        st.caption("The loss curve appears after the first epoch.")


def _strip_parts(job: Job):
    """(snapshots, captions, originals) of a run's validation strip, or None before it is sent."""
    from ae_core import snapshots

    if not job.strip:
        return None
    originals = snapshots.from_event({"epoch": 0, **job.strip}).images()
    return [snapshots.from_event(e) for e in job.snapshots], list(job.strip.get("captions") or []), originals


def _strip(job: Job) -> None:
    """While it trains: the validation strip (and the Lab's input) rebuilt after every epoch."""
    from .claims_view import strip_html

    parts = _strip_parts(job)
    if parts is None:
        return
    snaps, captions, originals = parts
    st.caption("Watch it learn: eight validation images" + (" and your input" if job.extra is not None else "")
               + ", rebuilt after every epoch (top: the originals).")
    if snaps:
        st.markdown(strip_html(snaps[-1], captions, originals, width=26), unsafe_allow_html=True)


@kit.section("showing the training progress")
def _live_panel() -> None:
    """Polled once a second while this visitor's run is queued or runs; reruns the app at the end."""
    backend, me = manager(), session_id()
    backend.heartbeat(me)  # someone is watching: the run is not dropped
    job = backend.job_of(me)
    if job is None or not job.active:
        st.rerun(scope="app")  # finished: collect it and refresh the model list
        return
    shared = " (shared with others who pressed Train with the same settings)" if len(job.owners) > 1 else ""
    st.markdown(f"**Training {_title(job.preset)}**" + (" (quick run)" if job.quick else "") + shared)
    if job.status == "queued":
        running = len(backend.running_jobs())
        where = "the shared queue" if backend.shared else "this server"
        st.info(f"Queued: position {backend.position(job)}. {plural(running, 'run')} training on {where}; "
                "yours starts when one ends.", icon=":material/hourglass_top:")
        st.button("Cancel", icon=":material/close:", key="cancel_training", width="stretch",
                  on_click=backend.cancel, args=(job, me), help="Leaves the queue.")
        return
    _job_status(job)
    st.button("Cancel", icon=":material/stop:", key="cancel_training", on_click=backend.cancel, args=(job, me),
              width="stretch", disabled=job.cancel_requested,
              help="Stops after the current batch; the model so far is kept.")


live_panel = st.fragment(run_every=1.0)(_live_panel)


def _queue_note() -> None:
    backend = manager()
    running, queued = len(backend.running_jobs()), len(backend.queued())
    where = "the shared queue" if backend.shared else "this server"
    if running >= backend.max_running:
        st.caption(f"{plural(running, 'run')} training on {where}"
                   + (f", {queued} queued" if queued else "") + f": yours would be queued at position {queued + 1}.")


def _noise_default(preset) -> float:
    base = preset.config
    return float(base.noise_max if base.noise_max is not None else base.noise_factor)


def _preset_changed() -> None:
    """The noise slider is one widget for every denoiser, but its meaning and default differ
    (conv_seed's fixed factor 0.5, conv_denoiser's maximum level): give it the new preset's."""
    from ae_core.presets import PRESETS

    name = st.session_state.get("train_preset")
    if name in PRESETS and PRESETS[name].denoiser:
        st.session_state["train_noise"] = st.session_state.get(NOISE_MEMORY, {}).get(
            name, _noise_default(PRESETS[name]))


def _form(settings: Settings) -> None:
    from ae_core.presets import PRESETS

    kit.keep(FORM_KEYS)  # the form is not drawn while a run trains
    names = list(PRESETS)
    preset_name = st.selectbox("Preset", names, key="train_preset", format_func=lambda n: PRESETS[n].title,
                               on_change=_preset_changed)
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
    optimizer = st.segmented_control("Optimizer", list(OPTIMIZERS), default=base.optimizer, required=True,
                                     key="train_optimizer", format_func=OPTIMIZERS.get,
                                     help="The tutorial used Adadelta at learning rate 1.0; in Keras 3 "
                                          "'adadelta' means learning rate 0.001, which does not train. Try both.")
    overrides = {"epochs": int(epochs), "batch_size": int(batch), "learning_rate": float(lr),
                 "optimizer": str(optimizer)}
    options = {}
    source = st.segmented_control("Data", list(DATA_LABELS), default=preset.data, required=True, key="train_data",
                                  format_func=DATA_LABELS.get,
                                  help="Digits (MNIST) or clothing (Fashion-MNIST): the same recipe learns "
                                       "whatever it is given, and only that.")
    if source != preset.data:
        options["data"] = source
    from ae_core.models import code_size_settable

    code_size = getattr(preset.spec, "code_size", None)
    if code_size_settable(preset.spec):
        size = st.select_slider("Code size", CODE_SIZES, value=code_size if code_size in CODE_SIZES else 32,
                                key="train_code", help="How many numbers the code keeps: the tutorial's 32, "
                                                       "or fewer and watch the digits blur.")
        if size != code_size:
            options["code_size"] = int(size)
    if preset.denoiser:
        fresh = base.noise_max is not None
        memory = st.session_state.setdefault(NOISE_MEMORY, {})
        if "train_noise" not in st.session_state:
            st.session_state["train_noise"] = memory.get(preset_name, _noise_default(preset))
        level = st.slider("Maximum training noise" if fresh else "Training noise factor", 0.0, 1.0,
                          step=0.05, key="train_noise",
                          help=("Each batch gets fresh Gaussian noise of a random level up to this."
                                if fresh else "Gaussian noise added to the training inputs, as in the tutorial."))
        memory[preset_name] = float(level)
        overrides["noise_max" if fresh else "noise_factor"] = float(level)
        if not fresh:  # the tutorial's fixed noisy copy can be any kind; fresh noise is Gaussian
            from ae_core.noise import KINDS

            from .inputs_view import NOISE_LABELS

            overrides["noise_kind"] = st.segmented_control("Training noise type", KINDS, default="gaussian",
                                                           required=True, key="train_noise_kind",
                                                           format_func=NOISE_LABELS.get)
    what = "clothing items" if source == "clothing" else "digits"
    digits = min(settings.train_digits, len(resources.dataset().x_train))
    st.caption(f"Trains on {digits:,} bundled {what}; checks on held-out validation {what} after each epoch.")
    _queue_note()
    if st.button("Train", icon=":material/play_arrow:", key="train", type="primary", width="stretch"):
        try:
            config = dataclasses.replace(base, **overrides)
        except ValueError as exc:  # TrainConfig explains what is wrong
            st.error(str(exc))
            return
        if start(settings, preset_name, config, options=options or None) is not None:
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
        parts = _strip_parts(job)
        if parts is not None and parts[0]:
            from .claims_view import replay

            replay(*parts, key=f"replay_{key}")
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
            manager().discard(job, session_id())
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
            path = manager().promote(m.job, settings.models_dir, name or None)
    except store.NameTaken as exc:  # names the taken name, or why no version number was free
        st.error(str(exc))
        return
    except ValueError as exc:
        st.error(str(exc))
        return
    except OSError as exc:  # the message names no server path: visitors don't need it
        st.error(f"Could not save: {exc.strerror or type(exc).__name__}. The run is still here; try again later.")
        return
    session_models().pop(key, None)
    manager().discard(m.job, session_id())
    change_selection(add=f"saved:{path.stem}", remove=key)
    _note("success", f"Saved as **{path.stem}**; everyone using this server can now choose it.")
    st.rerun(scope="app")


@kit.section("drawing the training sidebar")
def _panel(settings: Settings) -> None:
    st.header("Retrain a model")
    note = st.session_state.pop("_train_note", None)
    if note:
        {"success": st.success, "warning": st.warning, "info": st.info}.get(note[0], st.error)(note[1])
    if not settings.allow_training:
        st.info("Training is turned off on this server (AE_ALLOW_TRAINING=0). You can still use "
                "every model that is here.")
        return
    mine = manager().job_of(session_id())
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
