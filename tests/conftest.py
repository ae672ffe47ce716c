"""Shared fixtures: the models the app tests use, fake trainers, a Redis server, and no trainer
process outliving its test."""
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


@pytest.fixture
def env(monkeypatch, tmp_path, pretrained_dir):
    """Point the app at the models and a fresh, empty folder for saved versions."""
    from tests.app_support import point_app_at

    return point_app_at(monkeypatch, pretrained_dir, tmp_path)


@pytest.fixture(autouse=True)
def _no_trainer_outlives_its_test():
    """Kill the app's trainer processes after every test, passed or failed."""
    yield
    resources = sys.modules.get("lab.resources")
    if resources is not None:
        resources.job_manager().shutdown()


@pytest.fixture
def fake_manager(tmp_path):
    """Makes job managers whose trainers are fake (tests/jobs_support.py): `fake_manager(body,
    **kwargs)`, `body` speaking the worker's protocol. Their trainers are killed after the test,
    passed or failed."""
    from lab.jobs import JobManager
    from tests.jobs_support import EPOCHS_UNTIL_CANCEL, fake_worker

    managers = []

    def make(body: str = EPOCHS_UNTIL_CANCEL, **kwargs) -> JobManager:
        manager = JobManager(scratch_root=tmp_path / "scratch", command=fake_worker(tmp_path, body), **kwargs)
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        manager.shutdown()


@pytest.fixture
def fake_trainer(monkeypatch, fake_manager):
    """Makes the page's job manager one with a fake trainer: `fake_trainer(body)`, `body` speaking
    the worker's protocol, returns it."""
    from lab import resources

    def use(body: str):
        manager = fake_manager(body)
        monkeypatch.setattr(resources, "job_manager", lambda: manager)
        return manager

    return use


@pytest.fixture
def redis_url():
    """A fresh redis-server on a free loopback port for the test (tests/jobs_support.py)."""
    from tests.jobs_support import redis_or_skip

    proc, url = redis_or_skip()
    yield url
    proc.kill()
    proc.wait(10)
