"""The training queue under a class: `python benchmarks/train_queue.py [--visitors 20]`.

Starts redis-server on a free loopback port and `python -m ae_core worker` processes, and
measures with tiny dense_seed runs (1 epoch, 256 digits):

- twenty visitors press Train with different seeds: the time to drain the shared queue with 1
  worker and with 2;
- the same twenty on the same preset and settings: how many trainings ran;
- Train to the first epoch's event, with the embedded backend and the shared one (worker idle);
- this process, which polls like a server (one `job_of` per visitor a second), while the queue
  drains: its RSS and CPU.

Every figure depends on the machine's load; the script prints its load average with them.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from ae_core.config import TrainConfig  # noqa: E402
from lab.jobs import JobManager  # noqa: E402
from lab.shared_queue import SharedQueue  # noqa: E402

CONFIG = TrainConfig(epochs=1, batch_size=64)
DIGITS = 256


def wait_until(cond, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(0.1)


def start_redis() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = shutil.which("redis-server") or sys.exit("redis-server is not installed (apt-get install redis-server)")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    from redis import Redis

    def up() -> bool:
        try:
            return bool(Redis.from_url(url).ping())
        except Exception:  # noqa: BLE001 - not listening yet
            return False

    wait_until(up, 10)
    return proc, url


def start_worker(url: str, log_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    with open(log_dir / f"worker-{time.time()}.log", "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "ae_core", "worker", "--url", url], cwd=ROOT, env=env,
                                stdout=log, stderr=log, start_new_session=True)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def drain(server: SharedQueue, n: int, same: bool) -> dict:
    """n visitors press Train; poll like a server until every run has ended."""
    t0, cpu0 = time.monotonic(), os.times()
    ids = set()
    for i in range(n):
        config = CONFIG if same else dataclasses.replace(CONFIG, seed=i)
        job = server.start(f"visitor-{i}-{t0}", "dense_seed", config, train_digits=DIGITS,
                           key=f"{'same' if same else i}-{t0}")
        ids.add(job.id)
    peak = rss_mb()
    while True:
        jobs = [server.job_of(f"visitor-{i}-{t0}") for i in range(n)]
        for i in range(n):
            server.heartbeat(f"visitor-{i}-{t0}")
        peak = max(peak, rss_mb())
        if not any(j.active for j in jobs):
            break
        time.sleep(1.0)
    cpu1 = os.times()
    seconds = time.monotonic() - t0
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    failed = [j.error for j in jobs if j.status != "completed"]
    return {"seconds": seconds, "trainings": len(ids), "failed": failed, "rss_mb": peak,
            "cpu_share": cpu / seconds}


def first_epoch(backend, owner: str) -> float:
    job = backend.start(owner, "dense_seed", dataclasses.replace(CONFIG, seed=999), train_digits=DIGITS,
                        key=f"first-{owner}-{time.time()}")
    wait_until(lambda: (backend.job_of(owner).first_epoch is not None) or not backend.job_of(owner).active, 300)
    return backend.job_of(owner).first_epoch


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--visitors", type=int, default=20)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    redis, url = start_redis()
    tmp = Path(tempfile.mkdtemp(prefix="ae-queue-bench-"))
    workers = []
    try:
        server = SharedQueue(url, queue_max=1000, scratch_root=tmp)
        embedded = JobManager(scratch_root=tmp)
        print(f"Train to the first epoch, embedded backend: {first_epoch(embedded, 'e'):.1f} s")
        embedded.cancel(embedded.job_of("e"))
        wait_until(lambda: not embedded.job_of("e").active, 60)
        embedded.shutdown()
        workers.append(start_worker(url, tmp))
        print(f"Train to the first epoch, shared queue (1 idle worker): {first_epoch(server, 's'):.1f} s")
        for n_workers in (1, 2):
            if n_workers == 2:
                workers.append(start_worker(url, tmp))
            r = drain(server, args.visitors, same=False)
            print(f"{args.visitors} visitors, different seeds, {n_workers} worker(s): drained in {r['seconds']:.0f} s, "
                  f"{r['trainings']} trainings, failures {len(r['failed'])}; server RSS {r['rss_mb']:.0f} MB, "
                  f"CPU {100 * r['cpu_share']:.1f}% of a core")
        r = drain(server, args.visitors, same=True)
        print(f"{args.visitors} visitors, same preset and settings, 2 workers: {r['trainings']} training(s), "
              f"drained in {r['seconds']:.0f} s, failures {len(r['failed'])}")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        for w in workers:
            os.killpg(w.pid, signal.SIGKILL)
            w.wait(10)
        redis.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
