"""Kill a real process with SIGKILL at every step of `store.save` and `store.export_onnx`, at
random moments while it saves, and while it trains then saves: the previous model and manifest
stay loadable and byte-identical, or a complete new save is in place, as the steps the process
logged say; no half-written file is ever listed as a model. See tests/kill_support.py.
"""
from __future__ import annotations

import random

import pytest

from ae_core import store
from tests.kill_support import EXPORT_STEPS, STEPS, check_store, expected, make_store, restore, trial

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folder_and_original(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kill") / "models"
    return folder, make_store(folder)


@pytest.fixture
def store_folder(folder_and_original):
    folder, original = folder_and_original
    yield folder, original
    restore(folder, original)


@pytest.mark.parametrize("job, point", [("save", p) for p in STEPS] + [("export", p) for p in EXPORT_STEPS])
def test_sigkill_at_each_step_of_a_write(store_folder, job, point):
    folder, original = store_folder
    result = trial(folder, job, point=point)
    assert result["signal"] == 9 and result["steps"][-1] == point, result  # it died at that very step
    assert check_store(folder, original) == ("new save" if point == "after-commit" else "unchanged"), result


def test_sigkill_at_random_moments_while_saving_in_a_loop(store_folder):
    """Each trial waits for one step of a save (every step once, in a random order), then kills
    after a random delay; the folder must be what the steps reached say."""
    folder, original = store_folder
    rng = random.Random(5)
    for step in rng.sample(STEPS, len(STEPS)):
        result = trial(folder, "save", wait_for=step, delay=rng.uniform(0.0, 0.3))
        assert result["signal"] == 9 and step in result["steps"], result
        assert check_store(folder, original) in expected(result["steps"]), result
        # Leftovers of killed saves (dot-temp files, an uncommitted NAME-hash.keras) are never listed.
        assert store.list_models(folder) == ["dense_seed", "other"]
        restore(folder, original)


@pytest.mark.parametrize("step", ["epoch-1", "model-rename", "manifest-rename"])
def test_sigkill_while_training_then_saving(tmp_path, step):
    """Killed during training or in the save that ends it: the old model stays until the commit."""
    original = make_store(tmp_path / "models")
    result = trial(tmp_path / "models", "train", point=step)
    assert result["signal"] == 9 and result["steps"][-1] == step, result
    assert "training" in result["steps"]
    assert check_store(tmp_path / "models", original) == "unchanged"
