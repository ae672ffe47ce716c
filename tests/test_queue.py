"""The shared training queue (`lab.shared_queue`, RQ on a real Redis) with real RQ workers
(`python -m ae_core worker`): runs, joins, cancel at every moment, a killed worker, results
checked against their hashes. Each test starts redis-server on a free loopback port and stops it.

Two `SharedQueue` objects stand for two servers (each has its own scratch folder and state; they
share only Redis), as two Streamlit servers behind a proxy do.
"""
from __future__ import annotations

import time

import pytest

from ae_core.config import TrainConfig
from tests.jobs_support import Workers, wait_until

TINY = TrainConfig(epochs=1, batch_size=64)
DIGITS = 256


@pytest.fixture
def workers(redis_url, tmp_path):
    w = Workers(redis_url, tmp_path)
    yield w
    w.stop()


@pytest.fixture
def servers(redis_url, tmp_path):
    from lab.shared_queue import SharedQueue

    def make(**kw):
        return SharedQueue(redis_url, scratch_root=tmp_path / "scratch", nice=0, **kw)

    return make


def test_a_run_from_one_server_is_seen_queued_by_the_other_then_trains_and_comes_back(servers, workers, tmp_path):
    from ae_core import store

    a, b = servers(), servers()
    job = a.start("alice", "dense_seed", TINY, train_digits=DIGITS, key="k-alice")
    other = b.job_of("alice")  # the other server sees the same run, queued (no worker yet)
    assert other is not None and other.status == "queued" and b.position(other) == 1
    assert len(b.queued()) == 1 and b.shared
    workers.start(1)
    wait_until(lambda: not b.job_of("alice").active, 180)
    done = b.job_of("alice")
    assert done.status == "completed" and done.name == "dense_seed-run", (done.error, done.note)
    assert len(done.history["val_loss"]) == 1 and done.first_event is not None
    folder = b.result_folder(done)  # fetched from Redis on this server, hash-checked
    assert store.load_onnx(folder, done.name).manifest["preset"] == "dense_seed"
    assert (folder.parent.stat().st_mode & 0o777) == 0o700
    path = b.promote(done, tmp_path / "models")
    assert path.stem == "dense_seed-v1" and a.promote(job, tmp_path / "models").stem == "dense_seed-v2"


def test_a_changed_file_in_redis_is_refused(servers, workers):
    from ae_core.worker import files_key

    a, b = servers(), servers()
    workers.start(1)
    a.start("alice", "dense_seed", TINY, train_digits=DIGITS, key="k")
    wait_until(lambda: not a.job_of("alice").active, 180)
    job = a.job_of("alice")
    name = next(n for n in job_files(a, job) if n.endswith(".keras"))
    a.conn.hset(files_key(job.id), name, b"not the model")
    with pytest.raises(ValueError, match="changed on its way"):
        b.result_folder(job)


def job_files(server, job) -> list[str]:
    from ae_core.worker import files_key

    return [k.decode() for k in server.conn.hkeys(files_key(job.id))]


def test_identical_requests_join_one_run_and_thirty_presses_cost_one_training(servers, workers):
    a, b = servers(), servers()
    first = a.start("v0", "dense_seed", TINY, train_digits=DIGITS, key="same")
    for i in range(1, 30):
        server = (a, b)[i % 2]
        job = server.start(f"v{i}", "dense_seed", TINY, train_digits=DIGITS, key="same")
        assert job.id == first.id and f"v{i}" in job.joined
    assert len(a.queued()) == 1  # one training for thirty visitors
    workers.start(1)
    wait_until(lambda: not a.job_of("v0").active, 180)
    assert {b.job_of(f"v{i}").status for i in range(30)} == {"completed"}
    late = b.start("late", "dense_seed", TINY, train_digits=DIGITS, key="same")  # finished: joins too
    assert late.id == first.id and late.status == "completed" and "late" in late.joined


def test_one_run_per_visitor_on_every_server_and_a_full_queue_says_so(servers):
    from lab.jobs import Busy, QueueFull

    a, b = servers(queue_max=2), servers(queue_max=2)
    a.start("alice", "dense_seed", TINY, key="1")
    with pytest.raises(Busy, match="already have a training run"):
        b.start("alice", "dense_seed", TrainConfig(epochs=2), key="2")  # another tab, another server
    b.start("bob", "dense_seed", TrainConfig(epochs=2), key="2")
    with pytest.raises(QueueFull, match="queue is full"):
        a.start("carol", "dense_seed", TrainConfig(epochs=3), key="3")


def test_cancel_while_queued_drops_it_and_a_visitor_who_leaves_is_dropped(servers):
    a, b = servers(idle_seconds=1.0), servers(idle_seconds=1.0)
    job = a.start("alice", "dense_seed", TINY, key="1")
    b.cancel(b.job_of("alice"), "alice")
    gone = a.job_of("alice")
    assert gone.status == "cancelled" and gone.note == "left the queue" and a.queued() == []
    b.start("bob", "dense_seed", TINY, key="2")
    time.sleep(1.5)  # bob's page sends no heartbeat
    a.cleanup(force=True)
    dropped = b.job_of("bob")
    assert dropped.status == "cancelled" and "nobody was watching" in dropped.note and a.queued() == []
    assert job.id != dropped.id


def test_cancel_while_launching_stops_at_once(servers, workers):
    a = servers()
    workers.start(1)
    a.start("alice", "dense_seed", TrainConfig(epochs=50, batch_size=16), train_digits=2048, key="1")
    wait_until(lambda: a.job_of("alice").status == "running", 60)
    job = a.job_of("alice")
    assert job.stage in ("launching", "loading")  # the work horse is still loading TensorFlow
    asked = time.monotonic()
    a.cancel(job, "alice")
    wait_until(lambda: not a.job_of("alice").active, 30)
    ended = a.job_of("alice")
    assert ended.status == "cancelled" and "before training began" in ended.note
    assert time.monotonic() - asked < 10 and ended.name is None


def test_cancel_while_running_keeps_the_model_so_far(servers, workers):
    a, b = servers(), servers()
    workers.start(1)
    a.start("alice", "dense_seed", TrainConfig(epochs=200, batch_size=16), train_digits=2048, key="1")
    wait_until(lambda: b.job_of("alice").epochs_done >= 1 or not b.job_of("alice").active, 180)
    b.cancel(b.job_of("alice"), "alice")  # from the other server
    wait_until(lambda: not a.job_of("alice").active, 120)
    job = a.job_of("alice")
    assert job.status == "stopped" and 1 <= job.epochs_done < 200 and job.name, (job.error, job.note)
    assert len(job.history["loss"]) == job.epochs_done
    assert a.result_folder(job).is_dir()


def test_a_joined_visitor_who_cancels_only_leaves(servers):
    a = servers()
    a.start("alice", "dense_seed", TINY, key="same")
    a.start("bob", "dense_seed", TINY, key="same")
    a.cancel(a.job_of("bob"), "bob")
    assert a.job_of("bob") is None and a.job_of("alice").status == "queued"


def test_a_sigkilled_worker_fails_its_run_with_a_clear_message(servers, workers):
    a = servers()
    workers.start(1)
    a.start("alice", "dense_seed", TrainConfig(epochs=200, batch_size=16), train_digits=2048, key="1")
    wait_until(lambda: a.job_of("alice").stage == "training", 120)
    workers.kill(0)  # the worker and its work horse, as when the machine is lost
    killed = time.monotonic()
    wait_until(lambda: not a.job_of("alice").active, 40)
    job = a.job_of("alice")
    assert job.status == "failed" and "stopped answering" in job.error
    assert time.monotonic() - killed < 25  # MONITOR_SECONDS + HEARTBEAT_SLACK, plus a look
    workers.start(1)  # the queue goes on with a new worker
    a.collect(job, "alice")
    again = a.start("alice", "dense_seed", TINY, train_digits=DIGITS, key="2")
    wait_until(lambda: not a.job_of("alice").active, 180)
    assert a.job_of("alice").status == "completed" and again.id != job.id


def test_the_queue_settings_are_read_and_bad_values_explained():
    from lab.settings import Settings

    s = Settings.from_env({"AE_QUEUE_URL": "redis://10.0.0.5:6379/2", "AE_QUEUE_MAX": "5", "AE_IDLE_SECONDS": "90"})
    assert (s.queue_url, s.queue_max, s.idle_seconds, s.problems) == ("redis://10.0.0.5:6379/2", 5, 90, ())
    bad = Settings.from_env({"AE_QUEUE_URL": "10.0.0.5:6379", "AE_QUEUE_MAX": "0"})
    assert bad.queue_url == "" and len(bad.problems) == 2 and "redis://HOST:PORT/DB" in bad.problems[0]
    assert Settings().train_digits == 7000  # all the bundled training digits
