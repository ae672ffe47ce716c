"""lab.jobs: trainer processes, the queue, cancel and hard kill, crashes, saving under a fresh name.

Most tests drive the manager with small fake trainers (`fake_manager`, tests/conftest.py: Python
scripts speaking the worker's protocol), so they need no TensorFlow; the last ones run the real `ae_core.worker`.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ae_core.config import TrainConfig
from lab.jobs import Busy, JobManager
from tests.jobs_support import heavy_imports_after, wait_until

ROOT = Path(__file__).resolve().parents[1]
CONFIG = TrainConfig(epochs=3, batch_size=64)


def test_events_become_progress_and_the_run_completes(fake_manager):
    m = fake_manager()
    job = m.start("alice", "dense_seed", CONFIG)
    wait_until(lambda: not job.active)
    assert job.status == "completed" and job.epochs_done == 3 and job.error == ""
    assert job.history["loss"] == pytest.approx([0.3, 0.15, 0.1])
    assert job.first_event is not None and job.first_event < job.seconds + 5
    assert job.folder.is_dir() and (job.folder.stat().st_mode & 0o777) == 0o700  # private scratch
    assert (job.folder / "worker.log").read_text() == ""  # the trainer's stderr is kept there


def test_one_run_at_a_time_the_rest_queue_in_order_and_each_visitor_has_one(fake_manager):
    m = fake_manager(max_running=1)
    first = m.start("alice", "dense_seed", CONFIG)
    second = m.start("bob", "dense_seed", CONFIG)
    third = m.start("carol", "dense_seed", CONFIG)
    assert [j.status for j in (first, second, third)] == ["running", "queued", "queued"]
    assert (m.position(first), m.position(second), m.position(third)) == (0, 1, 2)
    with pytest.raises(Busy, match="already have a training run"):
        m.start("bob", "dense_seed", CONFIG)  # the per-visitor cap
    m.cancel(second)  # a visitor leaves the queue
    assert second.status == "cancelled" and m.position(third) == 1
    wait_until(lambda: third.status == "running")
    assert first.status == "completed" and len(m.running_jobs()) == 1
    wait_until(lambda: not third.active)
    assert third.status == "completed" and second.proc is None  # the cancelled one never started


def test_two_runs_at_once_when_the_setting_allows(fake_manager):
    m = fake_manager(max_running=2)
    a, b = m.start("alice", "dense_seed", CONFIG), m.start("bob", "dense_seed", CONFIG)
    assert a.status == b.status == "running"


def test_cancel_stops_the_run_within_an_epoch_and_keeps_it(fake_manager):
    m = fake_manager()
    job = m.start("alice", "dense_seed", CONFIG)
    wait_until(lambda: job.steps > 0)  # training has begun: Cancel keeps the model so far
    m.cancel(job)
    wait_until(lambda: not job.active)
    assert job.status == "stopped" and job.epochs_done == 1


def test_a_trainer_that_ignores_cancel_is_killed_after_the_grace_period(fake_manager):
    m = fake_manager("emit({'type': 'begin', 'steps': 1, 'epochs': 3})\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "time.sleep(60)\n", grace_seconds=0.5)
    job = m.start("alice", "dense_seed", CONFIG)
    wait_until(lambda: job.steps == 1)
    started = time.monotonic()
    m.cancel(job)
    wait_until(lambda: not job.active)
    assert job.status == "cancelled" and time.monotonic() - started < 5
    assert m.start("alice", "dense_seed", CONFIG).status == "running"  # free again


@pytest.mark.parametrize("body, message", [
    ("sys.exit(3)", "stopped unexpectedly (exit code 3)"),
    ("os.kill(os.getpid(), signal.SIGKILL)", "killed by SIGKILL (the machine may have run out of memory)"),
    ("emit({'type': 'failed', 'error': 'MemoryError: out of memory'})\nsys.exit(1)", "MemoryError: out of memory"),
    ("print('not json', flush=True)\nsys.exit(0)", "exit code 0"),
], ids=["exit", "sigkill", "reported", "silent"])
def test_a_crashed_or_killed_trainer_fails_the_run_with_a_clear_message(fake_manager, body, message):
    m = fake_manager(body)
    job = m.start("alice", "dense_seed", CONFIG)
    wait_until(lambda: not job.active)
    assert job.status == "failed" and message in job.error
    assert m.start("bob", "dense_seed", CONFIG).status == "running"  # the server keeps serving


def test_an_error_while_watching_never_leaves_the_job_running(fake_manager, monkeypatch):
    m = fake_manager()

    def broken(job, event):
        raise SystemExit("a BaseException in the watcher")

    monkeypatch.setattr(m, "_apply", broken)
    job = m.start("alice", "dense_seed", CONFIG)
    wait_until(lambda: not job.active)
    assert job.status == "failed" and "lost track" in job.error
    assert job.proc.poll() is not None  # and its trainer is gone


def test_a_trainer_that_cannot_start_fails_the_run(tmp_path):
    m = JobManager(scratch_root=tmp_path / "s", command=[str(tmp_path / "no-such-program")])
    job = m.start("alice", "dense_seed", CONFIG)
    wait_until(lambda: not job.active)
    assert job.status == "failed" and "could not start" in job.error
    assert str(tmp_path) not in job.error  # visitors read it: no server path
    other = m.start("bob", "dense_seed", CONFIG)
    wait_until(lambda: not other.active)
    assert other.status == "failed"  # the queue did not jam


# --- the real trainer --------------------------------------------------------------------------

def real_manager(tmp_path) -> JobManager:
    return JobManager(scratch_root=tmp_path / "scratch")


def test_the_real_trainer_trains_saves_with_onnx_and_is_promoted_under_fresh_names(tmp_path):
    from ae_core import store
    from lab import engine
    from tests.helpers import bundled

    m = real_manager(tmp_path)
    try:
        job = m.start("alice", "dense_seed", TrainConfig(epochs=2, batch_size=64), train_digits=512)
        wait_until(lambda: not job.active, 240)
    finally:
        m.shutdown()
    assert job.status == "completed", job.error
    assert len(job.history["val_loss"]) == 2 and job.name == "dense_seed-run"
    manifest = json.loads((job.folder / f"{job.name}.json").read_text())
    assert manifest["data"]["n_train"] == 512 and manifest["data"]["n_val"] == 128  # validates on x_val
    assert manifest["train_config"]["epochs"] == 2 and "val_bce" in manifest["metrics"]
    loaded = engine.load_stored(job.folder, job.name, "session", bundled().x_test)
    assert isinstance(loaded, engine.LoadedModel)
    # Three sessions save at once: each gets its own version, none replaces another.
    models = tmp_path / "models"
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(m.promote(job, models))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.stem for p in paths) == ["dense_seed-v1", "dense_seed-v2", "dense_seed-v3"]
    assert m.promote(job, models, "my_model").stem == "my_model"
    with pytest.raises(store.NameTaken):
        m.promote(job, models, "my_model")
    for name in store.list_models(models):
        assert store.load_onnx(models, name).manifest["name"] == name


def test_the_real_trainer_stops_on_cancel_within_an_epoch(tmp_path):
    m = real_manager(tmp_path)
    try:
        job = m.start("alice", "dense_seed", TrainConfig(epochs=200, batch_size=16), train_digits=2048)
        wait_until(lambda: job.epochs_done >= 1 or not job.active, 240)
        m.cancel(job)
        wait_until(lambda: not job.active, 60)
    finally:
        m.shutdown()
    assert job.status == "stopped" and 1 <= job.epochs_done < 200, job.error
    assert len(job.history["loss"]) == job.epochs_done and job.name  # the model so far is kept


def test_a_real_run_that_did_not_learn_is_kept_with_a_warning(tmp_path):
    """Adam at learning rate 1.0: finite losses, but no better than predicting the average digit."""
    m = real_manager(tmp_path)
    try:
        job = m.start("alice", "dense_seed", TrainConfig(epochs=2, batch_size=64, learning_rate=1.0),
                      train_digits=512)
        wait_until(lambda: not job.active, 240)
    finally:
        m.shutdown()
    assert job.status == "completed" and job.name, job.error
    assert job.history["val_loss"][-1] > 0.7 and "did not learn" in job.warning


def test_a_nan_run_has_no_model_to_save(fake_manager):
    m = fake_manager('''
emit({"type": "epoch", "epoch": 1, "loss": None, "val_loss": None, "elapsed": 0.1})
emit({"type": "finished", "status": "diverged", "epochs_run": 1, "name": None, "history": {"loss": [None]},
      "warning": "The loss became NaN or infinite: the run diverged."})
''')
    job = m.start("alice", "dense_seed", CONFIG)
    wait_until(lambda: not job.active)
    assert job.status == "diverged" and job.name is None and np.isnan(job.history["loss"][0])
    with pytest.raises(ValueError, match="no saved model"):
        m.promote(job, Path("unused"))


SERVER_SIDE = r'''
import sys, time
sys.path.insert(0, sys.argv[1])
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1] + "/app.py", default_timeout=120)
at.run()
assert not at.exception, [e.message for e in at.exception]
at.sidebar.selectbox(key="train_preset").set_value("dense_seed")
at.sidebar.number_input(key="train_epochs").set_value(1)
at.sidebar.button(key="train").click().run()
deadline = time.monotonic() + 240
while not at.session_state["session_models"] if "session_models" in at.session_state else True:
    assert time.monotonic() < deadline, [e.value for e in at.sidebar.error]
    time.sleep(0.5)
    at.run()
assert not at.exception, [e.message for e in at.exception]
at.sidebar.button(key=[b.key for b in at.sidebar.button if b.key and b.key.startswith("save_")][0]).click().run()
assert not at.exception, [e.message for e in at.exception]
print(sorted(m for m in ("tensorflow", "keras", "tf2onnx") if m in sys.modules))
'''


def test_the_server_never_imports_tensorflow_through_a_full_training_run(tmp_path, pretrained_dir):
    """The page, a training run from the sidebar, its model on the page and Save: in a fresh
    process, so nothing another test imported counts."""
    import os

    env = {**os.environ, "AE_PRETRAINED_DIR": str(pretrained_dir), "AE_MODELS_DIR": str(tmp_path / "models"),
           "AE_TRAIN_DIGITS": "256"}
    out = subprocess.run([sys.executable, "-c", SERVER_SIDE, str(ROOT)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
    from ae_core import store

    assert store.list_models(tmp_path / "models") == ["dense_seed-v1"]


def test_the_pages_modules_import_no_tensorflow():
    assert heavy_imports_after(
        "import lab.engine, lab.jobs, lab.resources, lab.training_view, lab.models_view, lab.explore, "
        "lab.lab_page, lab.runtime, lab.inputs_view, ae_core.worker, ae_core.store, ae_core.onnx_models") == []


# --- joins, cancel at every moment, visitors who leave, caps (fake trainers) -----------------------

SLOW_START = '''
time.sleep(3)  # loading TensorFlow
emit({"type": "begin", "steps": 10, "epochs": 3})
time.sleep(60)
'''


def test_identical_requests_join_one_run(fake_manager):
    m = fake_manager(max_running=1)
    first = m.start("v0", "dense_seed", CONFIG, key="same")
    joined = [m.start(f"v{i}", "dense_seed", CONFIG, key="same") for i in range(1, 30)]
    assert all(j is first for j in joined) and "v5" in first.joined and "v0" not in first.joined
    assert m.queued() == [] and len(m.running_jobs()) == 1  # thirty presses, one training
    wait_until(lambda: not first.active)
    assert m.job_of("v7") is first and first.status == "completed"
    m.collect(first, "v0")
    assert m.job_of("v0") is None and m.job_of("v1") is first  # each visitor collects their own


def test_a_joined_visitor_who_cancels_only_leaves_the_run(fake_manager):
    m = fake_manager()
    job = m.start("alice", "dense_seed", CONFIG, key="k")
    m.start("bob", "dense_seed", CONFIG, key="k")
    m.cancel(job, "bob")
    assert job.active and not job.cancel_requested and m.job_of("bob") is None


def test_cancel_while_the_trainer_starts_stops_it_at_once_and_keeps_nothing(fake_manager):
    m = fake_manager(SLOW_START)
    job = m.start("alice", "dense_seed", CONFIG)
    wait_until(lambda: job.stage == "loading")
    asked = time.monotonic()
    m.cancel(job, "alice")
    wait_until(lambda: not job.active)
    assert job.status == "cancelled" and "before training began" in job.note
    assert time.monotonic() - asked < 2 and job.name is None


def test_cancel_during_launch_never_raises_and_the_run_ends(fake_manager, monkeypatch):
    """Cancel between 'running' and the trainer process existing (proc is None)."""
    import subprocess as sp

    m = fake_manager(SLOW_START)
    real, gate = sp.Popen, threading.Event()

    def slow_popen(*a, **kw):
        gate.wait(5)
        return real(*a, **kw)

    monkeypatch.setattr("lab.jobs.subprocess.Popen", slow_popen)
    job = m.start("alice", "dense_seed", CONFIG)
    assert job.status == "running" and job.proc is None
    m.cancel(job, "alice")  # no AttributeError
    gate.set()
    wait_until(lambda: not job.active)
    assert job.status == "cancelled" and job.proc.poll() is not None


def test_the_grace_period_starts_when_training_has_stopped(fake_manager):
    """A long validation pass after the batch loop stopped is not killed by the click's grace."""
    m = fake_manager('''
emit({"type": "begin", "steps": 10, "epochs": 3})
while not cancel.is_set():
    time.sleep(0.01)
emit({"type": "stopping"})
time.sleep(1.5)  # the epoch's validation pass, longer than the grace period
emit({"type": "epoch", "epoch": 1, "loss": 0.3, "val_loss": 0.31, "elapsed": 1})
emit({"type": "saving"})
emit({"type": "finished", "status": "stopped", "epochs_run": 1, "name": None, "warning": "",
      "history": {"loss": [0.3], "val_loss": [0.31]}})
''', grace_seconds=0.5)
    job = m.start("alice", "dense_seed", CONFIG)
    wait_until(lambda: job.steps > 0)
    m.cancel(job, "alice")
    wait_until(lambda: not job.active)
    assert job.status == "stopped" and job.epochs_done == 1


def test_a_visitor_who_leaves_is_dropped_from_the_queue_and_their_run_cancelled(fake_manager):
    m = fake_manager(max_running=1, idle_seconds=0.5)
    running = m.start("alice", "dense_seed", CONFIG)
    queued = m.start("bob", "dense_seed", CONFIG)
    wait_until(lambda: running.steps > 0)
    m.heartbeat("alice")
    time.sleep(0.7)  # nobody's page sends a heartbeat
    m.reap()
    assert queued.status == "cancelled" and "nobody was watching" in queued.note
    wait_until(lambda: not running.active)
    assert running.status == "stopped"  # cancelled after its batch: the model so far is kept


def test_a_full_queue_refuses_with_a_message(fake_manager):
    from lab.jobs import QueueFull

    m = fake_manager(max_running=1, queue_max=2)
    for who in ("a", "b", "c"):
        m.start(who, "dense_seed", CONFIG)
    with pytest.raises(QueueFull, match="queue is full"):
        m.start("d", "dense_seed", CONFIG)


def test_pipes_are_closed_and_each_server_has_its_own_private_scratch(fake_manager, tmp_path):
    m, other = fake_manager(), fake_manager()
    job = m.start("alice", "dense_seed", CONFIG)
    wait_until(lambda: not job.active)
    job.owner_thread.join(5)
    assert job.proc.stdin.closed and job.proc.stdout.closed
    assert m.scratch_root != other.scratch_root
    assert (m.scratch_root.stat().st_mode & 0o777) == 0o700
    m.collect(job, "alice")
    m.discard(job, "alice")
    assert not job.folder.exists()  # nobody holds it: removed
