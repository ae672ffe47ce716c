"""The shared training backend: runs go to an RQ queue on Redis (`AE_QUEUE_URL`), every server
sees the same queue, and RQ workers on any machine train them (`ae_core.worker.rq_train`).

Same interface as the embedded `lab.jobs.JobManager` (see `lab.jobs`). RQ does the jobs, their
meta (the run's progress, written by the worker), stopping a work horse
(`send_stop_job_command`) and failures, including abandoned jobs whose worker died. Redis
also holds, per run: a Cancel flag, the visitors watching it (a sorted set of last-seen times),
who joined it and who collected it, and the finished model's files with their hashes. Per
visitor: which run is theirs (`ae:visitor:ID`), so one visitor has one run on every server.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import shutil
import threading
import time
import uuid
from pathlib import Path

from ae_core.worker import QUEUE_NAME, RESULT_SECONDS, cancel_key, files_key, watch_key

from .jobs import (GRACE_SECONDS, IDLE_SECONDS, STOP_GRACE_SECONDS, WORKER_NICE, Busy, Job, QueueFull, Scratch,
                   busy_message, full_message)

log = logging.getLogger(__name__)

JOB_SECONDS = 4 * 3600  # RQ's time limit for one run (its default, 180 s, is shorter than a conv run)
CLEANUP_SECONDS = 1.0  # a server looks for abandoned and unwatched runs at most this often


def _visitor_key(owner: str) -> str:
    return f"ae:visitor:{owner}"


def _run_key(key: str) -> str:
    return f"ae:run:{key}"


def _set_key(job_id: str, what: str) -> str:
    return f"ae:{what}:{job_id}"  # "joined", "collected", "note"


def failure_message(exc_string: str) -> str:
    """RQ's failure text, for visitors."""
    text = exc_string or ""
    if "AbandonedJobError" in text:
        return ("the worker training it stopped answering (its process was killed or its machine was "
                "lost)")
    if "Work-horse terminated unexpectedly" in text:
        if "(signal 9)" in text:
            return "the trainer process was killed by SIGKILL (the machine may have run out of memory)"
        return "the trainer process stopped unexpectedly"
    if "JobTimeoutException" in text:
        return "it ran longer than the queue's time limit"
    return "the trainer failed (the worker's log says why)"


class SharedQueue:
    """The RQ backend for one server."""

    shared = True

    def __init__(self, url: str, queue_max: int = 30, idle_seconds: float = IDLE_SECONDS,
                 grace_seconds: float = GRACE_SECONDS, stop_grace_seconds: float = STOP_GRACE_SECONDS,
                 nice: int = WORKER_NICE, scratch_root: Path | str | None = None):
        from redis import Redis
        from rq import Queue

        self.url = url
        self.conn = Redis.from_url(url)
        self.queue = Queue(QUEUE_NAME, connection=self.conn)
        self.queue_max = max(1, int(queue_max))
        self.idle_seconds = float(idle_seconds)
        self.grace_seconds = grace_seconds
        self.stop_grace_seconds = stop_grace_seconds
        self.nice = nice
        self._scratch = Scratch(scratch_root)
        self._lock = threading.Lock()
        self._holders: dict[str, set] = {}  # job id -> visitors on this server showing its model
        self._cleaned = 0.0

    # --- queries -------------------------------------------------------------------------

    @property
    def max_running(self) -> int:
        """Runs at once: the workers listening on the queue."""
        from rq import Worker

        return Worker.count(queue=self.queue)

    def running_jobs(self) -> list[str]:
        from rq.registry import StartedJobRegistry

        self.cleanup()
        return StartedJobRegistry(queue=self.queue).get_job_ids()

    def queued(self) -> list[str]:
        return self.queue.get_job_ids()

    def position(self, job: Job) -> int:
        ids = self.queue.get_job_ids()
        return ids.index(job.id) + 1 if job.id in ids else 0

    def job_of(self, owner: str) -> Job | None:
        """This visitor's run (from any server) that is active or not yet collected by them."""
        self.cleanup()
        job_id = self.conn.get(_visitor_key(owner))
        if job_id is None:
            return None
        job_id = job_id.decode()
        rq_job = self._fetch(job_id)
        if rq_job is None or self.conn.sismember(_set_key(job_id, "collected"), owner):
            self.conn.delete(_visitor_key(owner))
            return None
        return self._snapshot(rq_job, owner)

    def heartbeat(self, owner: str) -> None:
        job_id = self.conn.get(_visitor_key(owner))
        if job_id is not None:
            self.conn.zadd(watch_key(job_id.decode()), {owner: time.time()})

    # --- actions -------------------------------------------------------------------------

    def start(self, owner: str, preset: str, config, train_digits: int | None = None,
              quick: bool = False, key: str = "", options: dict | None = None, extra: list | None = None) -> Job:
        """Queue a run, or join the identical one (queued, running or finished) on the shared queue.

        Raises:
            Busy: this visitor has a run queued or running (on any server).
            QueueFull: `queue_max` runs wait already.
        """
        self.cleanup(force=True)
        with self.conn.lock("ae:lock:submit", timeout=10, blocking_timeout=10):
            mine = self.job_of(owner)
            if mine is not None and mine.active:
                raise Busy(busy_message())
            now = time.time()
            same = self._joinable(key)
            if same is not None:
                with self.conn.pipeline() as pipe:
                    pipe.zadd(watch_key(same.id), {owner: now})
                    pipe.sadd(_set_key(same.id, "joined"), owner)
                    pipe.srem(_set_key(same.id, "collected"), owner)
                    pipe.set(_visitor_key(owner), same.id, ex=RESULT_SECONDS)
                    pipe.execute()
                return self._snapshot(same, owner)
            waiting = self.queue.count
            if waiting >= self.queue_max:
                raise QueueFull(full_message(waiting))
            job_id = f"ae-{hashlib.sha256((key or uuid.uuid4().hex).encode()).hexdigest()[:16]}-{uuid.uuid4().hex[:8]}"
            request = {"preset": preset, "config": config.to_dict(), "train_digits": train_digits,
                       "name": f"{preset}-run", "nice": self.nice, "idle_seconds": self.idle_seconds,
                       "options": dict(options or {}), "extra": extra}
            meta = {"owner": owner, "preset": preset, "config": config.to_dict(), "train_digits": train_digits,
                    "quick": quick, "key": key, "stage": "queued", "created": now, "options": dict(options or {})}
            with self.conn.pipeline() as pipe:
                pipe.zadd(watch_key(job_id), {owner: now})
                for what in ("watch", "joined", "collected", "note"):
                    pipe.expire(_set_key(job_id, what), RESULT_SECONDS)
                if key:
                    pipe.set(_run_key(key), job_id, ex=RESULT_SECONDS)
                pipe.set(_visitor_key(owner), job_id, ex=RESULT_SECONDS)
                pipe.execute()
            rq_job = self.queue.enqueue("ae_core.worker.rq_train", request, job_id=job_id, meta=meta,
                                        job_timeout=JOB_SECONDS, result_ttl=RESULT_SECONDS,
                                        failure_ttl=RESULT_SECONDS)
            self.conn.expire(watch_key(job_id), RESULT_SECONDS)
        return self._snapshot(rq_job, owner)

    def _joinable(self, key: str):
        if not key:
            return None
        job_id = self.conn.get(_run_key(key))
        rq_job = self._fetch(job_id.decode()) if job_id is not None else None
        if rq_job is None or self.conn.exists(cancel_key(rq_job.id)):
            return None
        snap = self._snapshot(rq_job)
        if snap.active or (snap.status in ("completed", "stopped") and snap.name and self.conn.exists(files_key(rq_job.id))):
            return rq_job
        return None

    def cancel(self, job: Job, owner: str | None = None) -> None:
        """Leave the queue, or stop after the current batch keeping the model so far (see
        `lab.jobs.JobManager.cancel`). Before the first batch, and when the trainer does not stop
        in time, RQ stops its work horse (`send_stop_job_command`)."""
        from rq.job import JobStatus

        rq_job = self._fetch(job.id)
        if rq_job is None:
            return
        watchers = {m.decode() for m in self.conn.zrange(watch_key(job.id), 0, -1)}
        collected = {m.decode() for m in self.conn.smembers(_set_key(job.id, "collected"))}
        status = rq_job.get_status()
        active = status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.STARTED)
        if owner is not None and active and len(watchers - collected - {owner}) > 0:
            with self.conn.pipeline() as pipe:  # others still watch it: this visitor only leaves
                pipe.zrem(watch_key(job.id), owner)
                pipe.srem(_set_key(job.id, "joined"), owner)
                pipe.delete(_visitor_key(owner))
                pipe.execute()
            return
        self.conn.set(cancel_key(job.id), 1, ex=RESULT_SECONDS)
        if status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
            self._note(job.id, "left the queue")
            try:
                rq_job.cancel()
            except Exception:  # noqa: BLE001 - a worker took it meanwhile: it sees the Cancel flag
                log.info("run %s was taken by a worker while being cancelled", job.id)
            else:
                return
        threading.Thread(target=self._enforce, args=(job.id,), name=f"ae-cancel-{job.id}", daemon=True).start()

    def _note(self, job_id: str, note: str) -> None:
        self.conn.set(_set_key(job_id, "note"), note, ex=RESULT_SECONDS, nx=True)

    def _enforce(self, job_id: str) -> None:
        from rq.command import send_stop_job_command
        from rq.job import JobStatus

        asked, stopped_at = time.monotonic(), None
        while True:
            rq_job = self._fetch(job_id)
            if rq_job is None or rq_job.get_status() not in (JobStatus.STARTED, JobStatus.QUEUED):
                return
            stage = rq_job.meta.get("stage", "queued")
            now = time.monotonic()
            why = None
            if rq_job.get_status() == JobStatus.STARTED and stage in ("queued", "loading"):
                why = "cancelled before training began"  # nothing trained: nothing to keep
            elif stage == "training" and now - asked > self.grace_seconds:
                why = "stopped by force: it did not stop in time, nothing was kept"
            elif stage == "stopping":
                stopped_at = stopped_at or now
                if now - stopped_at > self.stop_grace_seconds:
                    why = "stopped by force: it did not finish its epoch in time, nothing was kept"
            elif stage == "saving":
                return
            if why:
                self._note(job_id, why)
                try:
                    send_stop_job_command(self.conn, job_id)
                except Exception:  # noqa: BLE001 - it ended meanwhile
                    pass
                return
            time.sleep(0.1)

    def collect(self, job: Job, owner: str | None = None) -> None:
        owners = [owner] if owner is not None else list(job.owners)
        with self.conn.pipeline() as pipe:
            for o in owners:
                pipe.sadd(_set_key(job.id, "collected"), o)
            pipe.expire(_set_key(job.id, "collected"), RESULT_SECONDS)
            pipe.execute()
        if job.name is not None:
            with self._lock:
                self._holders.setdefault(job.id, set()).update(owners)

    def discard(self, job: Job, owner: str | None = None) -> None:
        """This server's copy of the model goes once no session here shows it."""
        with self._lock:
            holders = self._holders.get(job.id, set())
            if owner is None:
                holders.clear()
            else:
                holders.discard(owner)
            if holders:
                return
            self._holders.pop(job.id, None)
        if self._scratch.made is not None:
            shutil.rmtree(self._scratch.made / job.id, ignore_errors=True)

    def result_folder(self, job: Job) -> Path:
        """The finished model's files, fetched from Redis into this server's private scratch
        folder once, each checked against the SHA-256 the worker computed."""
        rq_job = self._fetch(job.id)
        result = rq_job.return_value() if rq_job is not None else None
        if not result or not result.get("name"):
            raise ValueError(f"Run {job.id} has no saved model (status {job.status}).")
        job.name = result["name"]  # a snapshot taken before the run ended has none yet
        folder = self.scratch_root / job.id
        if (folder / f"{result['name']}.json").is_file():
            return folder
        blobs = self.conn.hgetall(files_key(job.id))
        expected = result.get("files", {})
        if not expected or {k.decode(): v for k, v in blobs.items()}.keys() != expected.keys():
            raise ValueError("This run's model is no longer on the shared queue (it keeps finished runs "
                             f"{RESULT_SECONDS // 3600} hours); train it again.")
        tmp = self.scratch_root / f".{job.id}-{uuid.uuid4().hex[:6]}"
        tmp.mkdir(mode=0o700)
        try:
            for raw, data in blobs.items():
                name = raw.decode()
                if Path(name).name != name or name.startswith("."):
                    raise ValueError(f"Run {job.id} sent a file with a bad name; it was not used.")
                if hashlib.sha256(data).hexdigest() != expected[name]:
                    raise ValueError(f"The file {name} of run {job.id} changed on its way; it was not used. "
                                     "Train it again.")
                (tmp / name).write_bytes(data)
            try:
                tmp.rename(folder)
            except OSError:  # another session of this server fetched it meanwhile
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder

    def promote(self, job: Job, folder: Path, name: str | None = None) -> Path:
        from ae_core import store

        src = self.result_folder(job)
        if name:
            return store.copy(src, job.name, folder, name=name)
        return store.copy(src, job.name, folder, base=job.preset)

    @property
    def scratch_root(self) -> Path:
        """This server's private scratch folder, made on first use and removed at exit."""
        return self._scratch.path()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Nothing to stop: the runs belong to the shared queue, not to this server."""

    # --- RQ's failure handling, and runs nobody watches --------------------------------------

    def cleanup(self, force: bool = False) -> None:
        """RQ fails runs whose worker stopped sending heartbeats (abandoned); queued runs nobody
        has watched for `idle_seconds` are dropped. At most once a `CLEANUP_SECONDS`."""
        from rq.registry import StartedJobRegistry

        now = time.monotonic()
        if not force and now - self._cleaned < CLEANUP_SECONDS:
            return
        self._cleaned = now
        try:
            StartedJobRegistry(queue=self.queue).cleanup()
            cutoff = time.time() - self.idle_seconds
            for job_id in self.queue.get_job_ids():
                if not self.conn.zcount(watch_key(job_id), cutoff, "+inf"):
                    rq_job = self._fetch(job_id)
                    if rq_job is not None:
                        self._note(job_id, "dropped from the queue: nobody was watching it")
                        try:
                            rq_job.cancel()
                        except Exception:  # noqa: BLE001 - a worker took it meanwhile; its job checks too
                            pass
        except Exception:  # noqa: BLE001 - Redis hiccup: the next look tries again
            log.exception("cleaning up the shared queue failed")

    # --- snapshots -----------------------------------------------------------------------

    def _fetch(self, job_id: str):
        from rq.exceptions import NoSuchJobError
        from rq.job import Job as RqJob

        try:
            return RqJob.fetch(job_id, connection=self.conn)
        except NoSuchJobError:
            return None

    def _snapshot(self, rq_job, owner: str | None = None) -> Job:
        """The run as a `lab.jobs.Job` (times on this server's monotonic clock)."""
        from ae_core.config import TrainConfig
        from rq.job import JobStatus

        meta = rq_job.meta
        offset = time.monotonic() - time.time()
        job = Job(rq_job.id, meta.get("owner", ""), meta.get("preset", ""), TrainConfig.from_dict(meta["config"]),
                  train_digits=meta.get("train_digits"), quick=bool(meta.get("quick")), key=meta.get("key", ""),
                  options=meta.get("options") or {}, strip=meta.get("strip"), snapshots=meta.get("snapshots") or [])
        job.created = meta.get("created", time.time()) + offset
        if rq_job.started_at is not None:
            job.started = rq_job.started_at.timestamp() + offset
        if rq_job.ended_at is not None:
            job.finished = rq_job.ended_at.timestamp() + offset
        job.owners = {m.decode() for m in self.conn.zrange(watch_key(rq_job.id), 0, -1)} | {job.owner}
        if owner is not None and self.conn.sismember(_set_key(rq_job.id, "joined"), owner):
            job.joined = {owner}
        job.stage = meta.get("stage", "queued")
        job.steps = int(meta.get("steps") or 0)
        job.epoch = int(meta.get("epoch") or 0)
        job.epochs_done = int(meta.get("epochs_done") or 0)
        job.fraction = float(meta.get("fraction") or 0.0)
        if job.epochs_done:
            job.fraction = max(job.fraction, job.epochs_done / job.config.epochs)
        nan = float("nan")
        job.history = {k: [nan if v is None else float(v) for v in meta.get(k, [])] for k in ("loss", "val_loss")
                       if meta.get(k)}
        for name, at in (("first_event", "first_progress_at"), ("first_epoch", "first_epoch_at")):
            if meta.get(at):
                setattr(job, name, meta[at] - meta.get("created", meta[at]))
        job.cancel_requested = bool(self.conn.exists(cancel_key(rq_job.id)))
        note = self.conn.get(_set_key(rq_job.id, "note"))
        job.note = note.decode() if note else meta.get("note", "")
        status = rq_job.get_status(refresh=False)
        if status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
            job.status, job.stage = "queued", "queued"
        elif status == JobStatus.STARTED:
            job.status = "running"
            if job.stage == "queued":
                job.stage = "launching"
        elif status == JobStatus.FINISHED:
            result = rq_job.return_value() or {}
            job.status, job.stage = result.get("status", "completed"), "done"
            job.name = result.get("name")
            job.train_seconds = result.get("seconds")
            job.warning = result.get("warning") or ""
            if result.get("history"):
                job.history = {k: [nan if v is None else float(v) for v in vals]
                               for k, vals in result["history"].items()}
            job.epochs_done = int(result.get("epochs_run", job.epochs_done))
            if job.status == "cancelled":
                job.note = job.note or "cancelled before training began"
        elif status in (JobStatus.CANCELED, JobStatus.STOPPED):
            job.status, job.stage = "cancelled", "done"
            job.note = job.note or "cancelled"
        else:  # failed, by an exception, a killed work horse or a worker that stopped answering
            job.stage = "done"
            if job.cancel_requested and "Work-horse" not in (meta.get("error") or ""):
                exc = _exc_string(rq_job)
                if "AbandonedJobError" not in exc and "terminated unexpectedly" not in exc:
                    job.status = "cancelled"
                    job.note = job.note or "cancelled"
                    return job
            job.status = "failed"
            job.error = meta.get("error") or failure_message(_exc_string(rq_job))
        return job


def _exc_string(rq_job) -> str:
    try:
        result = rq_job.latest_result()
        if result is not None and result.exc_string:
            return result.exc_string
    except Exception:  # noqa: BLE001 - older results: the job's own field
        pass
    return rq_job.exc_info or ""


@functools.lru_cache(maxsize=4)
def shared_queue(url: str, queue_max: int = 30, idle_seconds: float = IDLE_SECONDS) -> SharedQueue:
    """One `SharedQueue` per server and URL."""
    return SharedQueue(url, queue_max=queue_max, idle_seconds=idle_seconds)
