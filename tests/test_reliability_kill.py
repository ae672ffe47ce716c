"""Kill a real process with SIGKILL during training and at every step of saving (issue 5):
the previous model and manifest stay loadable and byte-identical (or a complete new save is in
place), and no half-written file is ever listed as a model. See tests/reliability_support.py.
"""
from __future__ import annotations

import random

import pytest

from ae_core import store
from tests.reliability_support import HOOK_POINTS, Zygote, check_store, kill_during_training, make_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zygote_and_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kill") / "models"
    original = make_store(folder)
    z = Zygote(folder)
    try:
        yield z, folder, original
    finally:
        z.close()


@pytest.mark.parametrize("point", HOOK_POINTS)
def test_sigkill_at_each_step_of_save(zygote_and_folder, point):
    z, folder, original = zygote_and_folder
    result = z.trial("hook", point)
    assert result["signal"] == 9, result  # the child really died by SIGKILL at that step
    outcome = check_store(folder, original)
    # Before the manifest replace nothing visible changed; after it, the new save is complete.
    assert outcome == ("new save" if point == "after-commit" else "unchanged"), (point, outcome)
    if outcome == "new save":  # put the original back for the next trial (a normal save would too)
        for name, data in original.items():
            (folder / name).write_bytes(data)
        assert check_store(folder, original) == "unchanged"


def test_sigkill_at_random_moments_while_saving_in_a_loop(zygote_and_folder):
    z, folder, original = zygote_and_folder
    rng = random.Random(5)
    outcomes = []
    for _ in range(4):
        result = z.trial("random", f"{rng.uniform(0.05, 0.8):.3f}")
        assert result["signal"] == 9, result
        outcomes.append(check_store(folder, original))
        for name, data in original.items():
            (folder / name).write_bytes(data)
    # Leftovers of killed saves (dot-temp files, an uncommitted NAME-hash.keras) are never listed.
    assert store.list_models(folder) == ["dense_seed", "other"]


def test_sigkill_during_training_leaves_the_store_unchanged(tmp_path):
    original = make_store(tmp_path)
    result = kill_during_training(tmp_path, delay=random.Random(7).uniform(0.5, 2.5))
    assert result["signal"] == 9, result
    assert check_store(tmp_path, original) == "unchanged"
