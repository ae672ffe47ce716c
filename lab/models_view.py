"""Which models the Lab shows: the chooser, loading, what is missing or broken, the model table."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from . import engine, resources, training_view
from .inputs_view import NoiseChoice
from .naming import title
from .settings import Settings

# One tutorial model and one better one: the tutorial's dense autoencoder shows the encoding on a
# clean digit, the better denoiser shows what a denoiser does with the noise.
DEFAULT_MODELS = ("pretrained:dense_seed", "pretrained:conv_denoiser")


def catalog(settings: Settings) -> tuple[dict[str, str], list[str]]:
    """({key: label} of every model that can be chosen, [presets missing from pretrained/])."""
    from ae_core import store
    from ae_core.presets import PRESETS

    present = store.list_models(settings.pretrained_dir)
    ordered = [n for n in PRESETS if n in present] + [n for n in present if n not in PRESETS]
    labels = {f"pretrained:{n}": title("pretrained", n, n) for n in ordered}
    for n in store.list_models(settings.models_dir):  # the preset from the manifest, as the rows read it
        labels[f"saved:{n}"] = title("saved", n, *engine.facts_of(Path(settings.models_dir) / f"{n}.json"))
    for key, m in training_view.session_models().items():
        labels[key] = m.loaded.title
    missing = [n for n in PRESETS if n not in present]
    return labels, missing


def chooser(labels: dict[str, str]) -> list[str]:
    options = list(labels)
    if "models" not in st.session_state:
        st.session_state["models"] = [k for k in DEFAULT_MODELS if k in labels] or options[:2]
    selected = list(st.session_state["models"])
    for add, remove in st.session_state.pop("_models_pending", []):  # from training and saving
        selected = [k for k in selected if k != remove]
        if add and add not in selected:
            selected.append(add)
    # Drop models that went away (discarded, deleted from disk).
    st.session_state["models"] = [k for k in selected if k in labels]
    return st.multiselect("Models to show", options, key="models", format_func=labels.get,
                          placeholder="Choose one or more models",
                          help="The two marked (tutorial) are the tutorial's models; the others are "
                               "improved ones; saved and retrained versions follow.")


def about_ui(models: list[engine.LoadedModel]) -> None:
    if models:
        with st.expander("About these models"):
            st.markdown(models_table(models))


def load(settings: Settings, keys: list[str]) -> tuple[list[engine.LoadedModel], list[engine.LoadFailure]]:
    """The chosen models, loaded once per server; a spinner only while something new loads."""
    warm = st.session_state.setdefault("_warm_models", set())
    if not set(keys) <= warm:
        with st.spinner("Loading models…"):
            out = _load(settings, keys)
        warm.update(keys)
        return out
    return _load(settings, keys)


def _load(settings: Settings, keys: list[str]) -> tuple[list[engine.LoadedModel], list[engine.LoadFailure]]:
    session = training_view.session_models()
    folders = {"pretrained": settings.pretrained_dir, "saved": settings.models_dir}
    models, failures = [], []
    for key in keys:
        kind, _, name = key.partition(":")
        if kind == "session":
            if key in session:
                models.append(session[key].loaded)
            continue
        result = resources.model(folders[kind], name, kind)
        (models if isinstance(result, engine.LoadedModel) else failures).append(result)
    return models, failures


def _quick_train_button(settings: Settings, preset: str | None, slot) -> None:
    if preset is None or not settings.allow_training:
        return
    from ae_core.presets import PRESETS

    if preset not in PRESETS:
        return
    epochs = training_view.quick_config(preset).epochs
    if slot.button(f"Quick-train {preset} ({epochs} epochs)", icon=":material/bolt:", key=f"quick_{preset}",
                   help="A short run on part of the bundled digits; it appears here when done and "
                        "you can save it from the sidebar."):
        if training_view.start(settings, preset, training_view.quick_config(preset), quick=True):
            st.rerun(scope="app")


def problems_ui(settings: Settings, missing: list[str], failures: list[engine.LoadFailure]) -> None:
    """Say which model files are missing or broken and offer a quick training run."""
    if missing:  # visitors read this: file names and what to do, never a server path
        folder = settings.pretrained_dir
        files = ", ".join(f"`{n}.json`" for n in missing)
        where = "is missing" if not Path(folder).is_dir() else "does not have every shipped model"
        commands = "; ".join(f"`python -m ae_core train {n} --out pretrained`" for n in missing)
        how = (f"Restore it (`git checkout -- pretrained/`), train it ({commands}), or train a quick "
               "version here:" if settings.allow_training else
               f"Restore it (`git checkout -- pretrained/`) or train it ({commands}).")
        st.warning(f"This server's pretrained folder {where}. Missing: {files}. {how}",
                   icon=":material/folder_off:")
        cols = st.columns(min(len(missing), 2))
        for i, preset in enumerate(missing):
            _quick_train_button(settings, preset, cols[i % len(cols)])
    for f in failures:
        st.error(f"**{f.name}** cannot be used. {f.message}", icon=":material/error:")
        _quick_train_button(settings, f.preset, st)


def preset_spec(model: engine.LoadedModel):
    from ae_core.presets import PRESETS

    return PRESETS.get(model.preset or "")


def about(model: engine.LoadedModel) -> str:
    spec = preset_spec(model)
    return spec.description if spec else model.name


def is_denoiser(model: engine.LoadedModel) -> bool:
    """Trained on noisy inputs against clean targets (its preset says so, or its training config)."""
    spec = preset_spec(model)
    if spec is not None:
        return spec.denoiser
    config = model.manifest.get("train_config") or {}
    return bool(config.get("noise_factor") or config.get("noise_max"))


def clean_for(noise: NoiseChoice, models: list[engine.LoadedModel]) -> frozenset[str]:
    """The models that get the clean digit: those that are not denoisers, while there is noise and
    the user has not asked for noise for every model."""
    if noise.for_all or noise.level == 0:
        return frozenset()
    return frozenset(m.key for m in models if not is_denoiser(m))


def models_table(models: list[engine.LoadedModel]) -> str:
    lines = ["| model | name | kind | code | parameters | val BCE | val PSNR @0.5 | epochs |",
             "|---|---|---|---|---|---|---|---|"]
    for m in models:
        metrics = m.manifest.get("metrics", {})
        bce = f"{metrics['val_bce']:.4f}" if "val_bce" in metrics else "–"
        psnr = f"{metrics['psnr@0.5']:.1f} dB" if "psnr@0.5" in metrics else "–"
        epochs = m.manifest.get("epochs_run") or (m.manifest.get("train_config") or {}).get("epochs", "–")
        shape = "×".join(str(d) for d in m.code_shape)
        params = m.count_params()
        lines.append(f"| {m.title} | `{m.name}` | {m.kind} | {shape} | "
                     f"{'–' if params is None else f'{params:,}'} | {bce} | {psnr} | {epochs} |")
    return "\n".join(lines) + ("\n\nOn the validation images: BCE on clean ones; PSNR of the mean MSE with "
                                "Gaussian noise 0.5.")
