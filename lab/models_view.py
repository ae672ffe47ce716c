"""The results column: choose models, see each one's code and reconstruction, or what is broken."""
from __future__ import annotations

import html
from pathlib import Path

import streamlit as st

from . import engine, figures, resources, training_view
from .inputs_view import RESULTS, Digit, NoiseChoice
from .settings import Settings

DEFAULT_MODELS = ("pretrained:dense_seed", "pretrained:conv_seed")
ROW_HEIGHT = 148


def catalog(settings: Settings) -> tuple[dict[str, str], list[str]]:
    """({key: label} of every model that can be chosen, [presets missing from pretrained/])."""
    from ae_core import store
    from ae_core.presets import PRESETS

    present = store.list_models(settings.pretrained_dir)
    ordered = [n for n in PRESETS if n in present] + [n for n in present if n not in PRESETS]
    # Short names keep the chips on one line; each row shows the full title.
    labels = {f"pretrained:{n}": n for n in ordered}
    for n in store.list_models(settings.models_dir):
        labels[f"saved:{n}"] = f"{n} (saved)"
    for key, m in training_view.session_models().items():
        labels[key] = m.loaded.name + " (unsaved)"
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
                          placeholder="Choose one or more models", on_change=_rerun_app,
                          help="dense_seed and conv_seed are the tutorial's models; dense_deep and "
                               "conv_denoiser are improved ones; saved and retrained versions follow.")


def _rerun_app() -> None:
    st.rerun()  # a new model list changes the results and the model table: rerun everything


def _rerun_results() -> None:
    st.rerun(RESULTS)


def selected(labels: dict[str, str]) -> list[str]:
    """The chosen model keys (the chooser has already been drawn in this or an earlier run)."""
    return [k for k in st.session_state.get("models", DEFAULT_MODELS) if k in labels]


def channels_toggle(models: list[engine.LoadedModel]) -> None:
    if any(m.spatial for m in models):
        st.toggle("Show every channel of the 7×7 codes", key="show_channels", on_change=_rerun_results,
                  help="A spatial code keeps a small map per channel; each row shows their mean.")


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
    if missing:
        folder = settings.pretrained_dir
        files = ", ".join(f"`{Path(folder) / (n + '.json')}`" for n in missing)
        where = "is missing" if not Path(folder).is_dir() else "does not have every shipped model"
        commands = "; ".join(f"`python -m ae_core train {n} --out {folder}`" for n in missing)
        how = (f"Restore it (`git checkout -- pretrained/`), train it ({commands}), or train a quick "
               "version here:" if settings.allow_training else
               f"Restore it (`git checkout -- pretrained/`) or train it ({commands}).")
        st.warning(f"The pretrained folder `{folder}` {where}. Missing: {files}. {how}",
                   icon=":material/folder_off:")
        cols = st.columns(min(len(missing), 2))
        for i, preset in enumerate(missing):
            _quick_train_button(settings, preset, cols[i % len(cols)])
    for f in failures:
        st.error(f"**{f.name}** cannot be used. {f.message}", icon=":material/error:")
        _quick_train_button(settings, f.preset, st)


def _metrics_line(m: dict[str, float]) -> str:
    return (f"BCE {m['bce']:.3f} · MSE {m['mse']:.4f} · PSNR {m['psnr']:.1f} dB · "
            f"SSIM {m['ssim']:.2f}")


def _preset(model: engine.LoadedModel):
    from ae_core.presets import PRESETS

    return PRESETS.get(model.preset or "")


def _about(model: engine.LoadedModel) -> str:
    preset = _preset(model)
    return preset.description if preset else model.name


def _kind(model: engine.LoadedModel) -> str:
    """A few words on what the model was trained for: why a plain autoencoder struggles with noise."""
    preset = _preset(model)
    if preset is None:
        return ""
    return "denoiser" if preset.denoiser else "trained on clean digits"


def _code_title(model: engine.LoadedModel) -> str:
    shape = "×".join(str(d) for d in model.code_shape)
    if model.spatial:
        return f"Code {shape}, mean"
    if model.code_size == 32:
        return "Code: 32 values, 8×4"
    return f"Code: {model.code_size} values"


def results_ui(digit: Digit, noise: NoiseChoice, models: list[engine.LoadedModel]) -> None:
    if digit.hint:
        st.info(digit.hint, icon=":material/draw:")
    result = engine.interact(digit.image, models, noise.level, noise.seed, noise.kind)
    clean = figures.image_panel(result.clean, "Clean 28×28")
    noisy = figures.image_panel(result.noisy, "Noisy input")
    st.caption(f"Input: {digit.caption}. Noisy input vs clean: {_metrics_line(result.noisy_metrics)}.")
    if not models:
        st.markdown(figures.panel_titles_html([clean["title"], noisy["title"]]), unsafe_allow_html=True)
        st.plotly_chart(figures.panels_figure([clean, noisy], ROW_HEIGHT, widths=[1, 1], titles=False),
                        key="input_only", config=figures.CONFIG, theme=None)
        return
    show_channels = any(m.spatial for m in models) and st.session_state.get("show_channels", False)
    for out in result.outputs:
        model = out.model
        code = figures.code_panel(out.code, model.summary_range, _code_title(model))
        recon = figures.image_panel(out.recon, "Reconstruction")
        panels = [clean, noisy, code, recon]
        st.markdown(f"<div class='row-title'><b title='{html.escape(_about(model), quote=True)}'>"
                    f"{html.escape(model.title)}</b><i>{_kind(model)}</i><span>{_metrics_line(out.metrics)}"
                    f"</span></div>" + figures.panel_titles_html([p["title"] for p in panels]),
                    unsafe_allow_html=True)
        st.plotly_chart(figures.panels_figure(panels, ROW_HEIGHT, titles=False), key=f"row_{model.key}",
                        config=figures.CONFIG, theme=None)
        if show_channels and model.spatial:
            st.plotly_chart(figures.channels_figure(out.code, model.code_range,
                                                    f"All {model.code_shape[-1]} channels of the code"),
                            key=f"channels_{model.key}", config=figures.CONFIG, theme=None)


def models_table(models: list[engine.LoadedModel]) -> str:
    lines = ["| model | name | kind | code | parameters | val BCE | PSNR @0.5 | epochs |",
             "|---|---|---|---|---|---|---|---|"]
    for m in models:
        metrics = m.manifest.get("metrics", {})
        bce = f"{metrics['val_bce']:.4f}" if "val_bce" in metrics else "–"
        psnr = f"{metrics['psnr@0.5']:.1f} dB" if "psnr@0.5" in metrics else "–"
        epochs = m.manifest.get("epochs_run") or (m.manifest.get("train_config") or {}).get("epochs", "–")
        shape = "×".join(str(d) for d in m.code_shape)
        lines.append(f"| {m.title} | `{m.name}` | {m.kind} | {shape} | {m.count_params():,} | {bce} | "
                     f"{psnr} | {epochs} |")
    return "\n".join(lines)
