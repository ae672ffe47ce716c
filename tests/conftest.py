"""Shared fixtures: the models the app tests use, and no trainer process outliving its test."""
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]


def pytest_sessionstart(session):
    from tests.helpers import PRETRAINED_AT_START, pretrained_hashes

    PRETRAINED_AT_START.update(pretrained_hashes())


@pytest.fixture(scope="session")
def pretrained_dir(tmp_path_factory) -> Path:
    """pretrained/ when it is complete. Otherwise untrained stand-ins saved the same way, so the
    tests also run while the real models are being trained; but in CI (or with
    AE_REQUIRE_BROWSER=1) a missing shipped model fails, naming it."""
    from tests.app_support import untrained_models
    from tests.helpers import missing_shipped_message, missing_shipped_models, shipped_models_required

    missing = missing_shipped_models()
    if not missing:
        return ROOT / "pretrained"
    if shipped_models_required():
        pytest.fail(missing_shipped_message(missing))
    return untrained_models(tmp_path_factory.mktemp("pretrained"))


@pytest.fixture(autouse=True)
def _no_trainer_outlives_its_test():
    """Kill the app's trainer processes after every test, passed or failed."""
    yield
    resources = sys.modules.get("lab.resources")
    if resources is not None:
        resources.job_manager().shutdown()
