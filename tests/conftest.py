"""Shared fixtures: the models the app tests use, and no trainer process outliving its test."""
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]


def _shipped_models_usable() -> bool:
    """pretrained/ holds every preset with its ONNX files (as in CI)."""
    import json

    from ae_core.presets import PRESETS

    for name in PRESETS:
        try:
            manifest = json.loads((ROOT / "pretrained" / f"{name}.json").read_text())
        except (OSError, ValueError):
            return False
        if not isinstance(manifest.get("onnx"), dict):
            return False
    return True


@pytest.fixture(scope="session")
def pretrained_dir(tmp_path_factory) -> Path:
    """pretrained/ when it is complete; otherwise untrained stand-ins saved the same way, so the
    tests also run while the real models are being trained."""
    from tests.app_support import untrained_models

    if _shipped_models_usable():
        return ROOT / "pretrained"
    return untrained_models(tmp_path_factory.mktemp("pretrained"))


@pytest.fixture(autouse=True)
def _no_trainer_outlives_its_test():
    """Kill the app's trainer processes after every test, passed or failed."""
    yield
    resources = sys.modules.get("lab.resources")
    if resources is not None:
        resources.job_manager().shutdown()
