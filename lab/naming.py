"""The one display name of a model: chooser chips, result rows, the training panel and Explore.

    title("pretrained", "conv_seed", "conv_seed")        -> "Conv denoiser 7×7×32 (tutorial)"
    title("saved", "conv_seed-v2", "conv_seed")          -> "Conv denoiser 7×7×32 (tutorial), saved v2"
    title("session", "conv_seed-retrained-1", "conv_seed") -> "Conv denoiser 7×7×32 (tutorial), retrained #1 (unsaved)"

No Streamlit here: views and benchmarks call it alike.
"""
from __future__ import annotations

import re

KINDS = ("pretrained", "saved", "session")


def title(kind: str, name: str, preset: str | None = None, data: str | None = None) -> str:
    """What people read for the model `name` of `kind` ("pretrained", "saved" or "session"),
    trained from `preset` (None when unknown) on `data` (its manifest's data source): the
    preset's title, then what makes this one different; ", on clothing" when it was trained on
    clothing and its preset was not. Unknown presets fall back to the file name."""
    from ae_core.presets import PRESETS

    on = PRESETS[preset].data if preset in PRESETS else "bundled"
    suffix = ", on clothing" if data == "clothing" and on != "clothing" else ""
    return _title(kind, name, preset) + suffix


def _title(kind: str, name: str, preset: str | None) -> str:
    from ae_core.presets import PRESETS

    if kind not in KINDS:
        raise ValueError(f"Expected a model kind in {KINDS}. Received: kind={kind!r}")
    base = PRESETS[preset].title if preset in PRESETS else None
    if kind == "pretrained":
        return PRESETS[name].title if name in PRESETS else base or name
    if kind == "saved":
        version = re.fullmatch(rf"{re.escape(preset or '')}-v(\d+)", name)
        if base is None:
            return f"{name} (saved)"
        return f"{base}, saved v{version.group(1)}" if version else f"{base}, saved as {name}"
    run = re.fullmatch(rf"{re.escape(preset or '')}-retrained-(\d+)", name)
    if base is None:
        return f"{name} (unsaved)"
    return f"{base}, retrained #{run.group(1)} (unsaved)" if run else f"{base}, {name} (unsaved)"
