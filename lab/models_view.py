"""The results column: choose models, see each one's code and reconstruction, or what is broken."""
from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import streamlit as st

from . import engine, figures, pad, resources, training_view, viewer
from .inputs_view import RESULTS, Digit, NoiseChoice
from .naming import title
from .settings import Settings

# One tutorial model and one better one: the tutorial's dense autoencoder shows the encoding on a
# clean digit, the better denoiser shows what a denoiser does with the noise.
DEFAULT_MODELS = ("pretrained:dense_seed", "pretrained:conv_denoiser")
METRIC_HELP = {
    "BCE": "Binary cross-entropy between the clean digit and this image, the loss the models are "
           "trained with. Lower is better.",
    "MSE": "Mean squared error per pixel against the clean digit (pixels from 0 to 1). Lower is "
           "better; 0 means identical.",
    "PSNR": "Peak signal-to-noise ratio against the clean digit, in decibels. Higher is better; about "
            "20 dB looks close, identical images have no finite PSNR.",
    "SSIM": "Structural similarity to the clean digit, from 0 to 1. Higher is better; 1 means identical.",
}


def catalog(settings: Settings) -> tuple[dict[str, str], list[str]]:
    """({key: label} of every model that can be chosen, [presets missing from pretrained/])."""
    from ae_core import store
    from ae_core.presets import PRESETS

    present = store.list_models(settings.pretrained_dir)
    ordered = [n for n in PRESETS if n in present] + [n for n in present if n not in PRESETS]
    labels = {f"pretrained:{n}": title("pretrained", n, n) for n in ordered}
    for n in store.list_models(settings.models_dir):
        labels[f"saved:{n}"] = title("saved", n, _saved_preset(n))
    for key, m in training_view.session_models().items():
        labels[key] = title("session", m.loaded.name, m.loaded.preset)
    missing = [n for n in PRESETS if n not in present]
    return labels, missing


def _saved_preset(name: str) -> str | None:
    """The preset a saved version was trained from, read from its name (`PRESET-vN`)."""
    from ae_core.presets import PRESETS

    base = name.rsplit("-v", 1)[0]
    return base if base in PRESETS else None


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
                          help="The two marked (tutorial) are the tutorial's models; the others are "
                               "improved ones; saved and retrained versions follow.")


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


def _metric_texts(m: dict[str, float]) -> list[tuple[str, str]]:
    """(name, value) pairs; identical images read "identical", not a capped PSNR."""
    identical = m["mse"] == 0.0
    return [("BCE", f"{m['bce']:.3f}"), ("MSE", f"{m['mse']:.4f}"),
            ("PSNR", "∞ (identical)" if identical else f"{m['psnr']:.1f} dB"), ("SSIM", f"{m['ssim']:.2f}")]


def _metrics(m: dict[str, float]) -> list[dict]:
    return [{"name": n, "text": t, "help": METRIC_HELP[n]} for n, t in _metric_texts(m)]


def metrics_html(m: dict[str, float]) -> str:
    """The metrics as one line of text, each with its hover help."""
    return " · ".join(f"<abbr title='{html.escape(METRIC_HELP[n], quote=True)}'>{n} {html.escape(t)}</abbr>"
                      for n, t in _metric_texts(m))


def _preset(model: engine.LoadedModel):
    from ae_core.presets import PRESETS

    return PRESETS.get(model.preset or "")


def _about(model: engine.LoadedModel) -> str:
    preset = _preset(model)
    return preset.description if preset else model.name


def is_denoiser(model: engine.LoadedModel) -> bool:
    """Trained on noisy inputs against clean targets (its preset says so, or its training config)."""
    preset = _preset(model)
    if preset is not None:
        return preset.denoiser
    config = model.manifest.get("train_config") or {}
    return bool(config.get("noise_factor") or config.get("noise_max"))


def _code_title(model: engine.LoadedModel) -> str:
    shape = "×".join(str(d) for d in model.code_shape)
    if model.spatial:
        return f"Code {shape}"  # drawn as the mean over channels (the hover says so)
    if model.code_size == 32:
        return "Code 8×4"
    return f"Code ({model.code_size})"


def _names(models: list[engine.LoadedModel]) -> str:
    names = [title(m.kind, m.name, m.preset) for m in models]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _input_lines(digit: Digit, result: engine.Interaction, plain: list[engine.LoadedModel]) -> None:
    """Under the rows: what the input is, how far the noise moved it, who got the clean digit."""
    st.markdown(f"<div class='input-line'>Input: {html.escape(digit.caption)}. Noisy input vs clean: "
                f"{metrics_html(result.noisy_metrics)}.</div>", unsafe_allow_html=True)
    if plain:
        one = len(plain) == 1
        verb = "is not a denoiser: it gets" if one else "are not denoisers: they get"
        st.caption(f":material/info: {_names(plain)} {verb} the clean digit. Turn on **Noise for every "
                   f"model** to see what noise does to {'it' if one else 'them'}.")


def clean_for(noise: NoiseChoice, models: list[engine.LoadedModel]) -> frozenset[str]:
    """The models that get the clean digit: those that are not denoisers, while there is noise and
    the user has not asked for noise for every model."""
    if noise.for_all or noise.level == 0:
        return frozenset()
    return frozenset(m.key for m in models if not is_denoiser(m))


def viewer_rows(result: engine.Interaction) -> list[dict]:
    """One viewer row per model: clean digit, what the model got, its code, its reconstruction."""
    clean = viewer.image_panel(result.clean, "Clean 28×28", "Clean input")
    rows = []
    for out in result.outputs:
        model = out.model
        name = title(model.kind, model.name, model.preset)
        given = (viewer.image_panel(result.noisy, "Noisy input", f"Input to {name} (noisy)") if out.noisy else
                 viewer.image_panel(result.clean, "Input: clean", f"Input to {name} (clean)"))
        tag = "denoiser" if is_denoiser(model) else ("not a denoiser: gets the clean digit" if not out.noisy
                                                      else "not a denoiser")
        rows.append({"key": model.key, "title": name, "about": _about(model), "tag": tag,
                     "metrics": _metrics(out.metrics),
                     "panels": [clean, given,
                                viewer.code_panel(out.code, model.summary_range, _code_title(model), f"Code of {name}"),
                                viewer.image_panel(out.recon, "Reconstruction", f"Reconstruction by {name}")]})
    if not rows:  # no model chosen: the input alone
        rows.append({"key": "input", "title": "The input", "about": "", "tag": "no model chosen",
                     "metrics": _metrics(result.noisy_metrics),
                     "panels": [clean, viewer.image_panel(result.noisy, "Noisy input", "Noisy input")]})
    return rows


def results_ui(digit: Digit, noise: NoiseChoice, models: list[engine.LoadedModel]) -> None:
    if digit.hint:
        st.info(digit.hint, icon=":material/draw:")
    plain = clean_for(noise, models)
    result = engine.interact(digit.image, models, noise.level, noise.seed, noise.kind, plain)
    viewer.viewer_ui(viewer_rows(result), pad.seq())
    _input_lines(digit, result, [m for m in models if m.key in plain])
    for out in result.outputs:
        if out.model.is_vae:
            posterior_ui(out, result.noisy if out.noisy else result.clean)
    show_channels = any(m.spatial for m in models) and st.session_state.get("show_channels", False)
    for out in result.outputs:
        if show_channels and out.model.spatial:
            st.plotly_chart(figures.channels_figure(out.code, out.model.code_range,
                                                    f"{title(out.model.kind, out.model.name, out.model.preset)}: "
                                                    f"all {out.model.code_shape[-1]} channels of the code"),
                            key=f"channels_{out.model.key}", config=figures.CONFIG, theme=None)


def _new_posterior_draw(key: str) -> None:
    st.session_state[f"posterior_{key}"] = int(np.random.default_rng().integers(0, 2**31 - 1))
    st.rerun(RESULTS)


def posterior_ui(out: engine.ModelOutput, given: np.ndarray) -> None:
    """A VAE row's extra: its row shows the mean code's reconstruction; this button draws a code
    from the posterior N(mean, variance) for the same input and shows what it decodes to."""
    from ae_core import analysis, vae

    model = out.model
    name = title(model.kind, model.name, model.preset)
    left, right = st.columns([0.72, 0.28], vertical_alignment="center")
    left.button(f"Sample from the posterior: {name}", icon=":material/casino:", key=f"posterior_btn_{model.key}",
                on_click=_new_posterior_draw, args=(model.key,), width="stretch",
                help="A VAE encodes a digit to a distribution, not a point: draw one code from it and "
                     "decode it. Each press draws again; the row above shows the mean.")
    seed = st.session_state.get(f"posterior_{model.key}")
    if seed is None:
        return
    mean, log_var = analysis.encode_all(model.net, given)[:2]
    z = vae.posterior_sample(mean[0], log_var[0], seed)
    image = analysis.decode(model.net, z[None])[0]
    data = base64.b64encode(analysis.to_png_bytes(image, scale=3)).decode("ascii")
    right.markdown(f"<img src='data:image/png;base64,{data}' width='56' height='56' "
                   f"style='image-rendering: pixelated' alt='Posterior sample of {html.escape(name, quote=True)}'> "
                   "sample", unsafe_allow_html=True)


def models_table(models: list[engine.LoadedModel]) -> str:
    lines = ["| model | name | kind | code | parameters | val BCE | PSNR @0.5 | epochs |",
             "|---|---|---|---|---|---|---|---|"]
    for m in models:
        metrics = m.manifest.get("metrics", {})
        bce = f"{metrics['val_bce']:.4f}" if "val_bce" in metrics else "–"
        psnr = f"{metrics['psnr@0.5']:.1f} dB" if "psnr@0.5" in metrics else "–"
        epochs = m.manifest.get("epochs_run") or (m.manifest.get("train_config") or {}).get("epochs", "–")
        shape = "×".join(str(d) for d in m.code_shape)
        lines.append(f"| {title(m.kind, m.name, m.preset)} | `{m.name}` | {m.kind} | {shape} | {m.count_params():,} | {bce} | "
                     f"{psnr} | {epochs} |")
    return "\n".join(lines)
