"""Fake trainers for the job manager's tests: Python scripts that speak `ae_core.worker`'s
protocol (a request line on stdin, `cancel` lines after it; JSON events on stdout) without
TensorFlow."""
from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path


def fake_worker(tmp_path: Path, body: str) -> list[str]:
    """A trainer command: reads the request, then runs `body` with `emit(dict)` and `request`."""
    script = tmp_path / f"fake_{abs(hash(body))}.py"
    script.write_text(textwrap.dedent('''
        import json, os, signal, sys, threading, time
        request = json.loads(sys.stdin.readline())
        cancel = threading.Event()
        def listen():
            for line in sys.stdin:
                if line.strip() == "cancel":
                    cancel.set()
            cancel.set()
        threading.Thread(target=listen, daemon=True).start()
        def emit(event):
            print(json.dumps(event), flush=True)
        emit({"type": "started", "pid": os.getpid()})
    ''') + textwrap.dedent(body))
    return [sys.executable, str(script)]


EPOCHS_UNTIL_CANCEL = '''
emit({"type": "begin", "steps": 10, "epochs": 3})
for epoch in range(1, 4):
    for _ in range(100):
        if cancel.is_set():
            break
        time.sleep(0.01)
    emit({"type": "epoch", "epoch": epoch, "loss": 0.3 / epoch, "val_loss": 0.31 / epoch, "elapsed": epoch})
    if cancel.is_set():
        break
status = "stopped" if cancel.is_set() else "completed"
emit({"type": "finished", "status": status, "epochs_run": epoch, "name": None, "warning": "",
      "history": {"loss": [0.3 / e for e in range(1, epoch + 1)], "val_loss": [0.31 / e for e in range(1, epoch + 1)]}})
'''


def wait_until(cond, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


HEAVY = ("tensorflow", "keras", "tf2onnx")


def heavy_imports_after(code: str, timeout: float = 120.0) -> list[str]:
    """Run `code` in a fresh Python process (in the repository); returns which of TensorFlow,
    Keras and tf2onnx it imported."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    script = (f"import json, sys\nsys.path.insert(0, {str(root)!r})\n{code}\n"
              f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- a real Redis and RQ workers for the shared queue's tests -------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_or_skip():
    """Start Debian's redis-server on a free loopback port (no persistence); returns the process
    and its URL (the `redis_url` fixture in tests/conftest.py stops it after the test). Without
    redis-server the test skips, except in CI (`AE_REQUIRE_BROWSER=1`)."""
    import os
    import shutil
    import subprocess

    import pytest

    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("AE_REQUIRE_BROWSER") == "1":
            pytest.fail("redis-server is missing (apt-get install redis-server); CI requires it")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    from redis import Redis

    deadline = time.monotonic() + 10
    while True:
        try:
            Redis.from_url(url).ping()
            break
        except Exception:  # noqa: BLE001 - not listening yet
            assert time.monotonic() < deadline and proc.poll() is None, "redis-server did not start"
            time.sleep(0.05)
    return proc, url


class Workers:
    """`python -m ae_core worker --url URL` processes, each in its own process group (so a test
    can SIGKILL a worker together with its work horse, as when its machine is lost)."""

    def __init__(self, url: str, log_dir: Path):
        self.url, self.log_dir, self.procs = url, log_dir, []

    def start(self, n: int = 1) -> None:
        import os
        import subprocess

        root = Path(__file__).resolve().parents[1]
        for _ in range(n):
            i = len(self.procs)
            log = open(self.log_dir / f"worker-{i}.log", "wb")
            env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "3"}
            self.procs.append(subprocess.Popen([sys.executable, "-m", "ae_core", "worker", "--url", self.url,
                                                "--name", f"test-worker-{i}-{os.getpid()}"],
                                               cwd=root, env=env, stdout=log, stderr=log, start_new_session=True))
            log.close()
        from redis import Redis
        from rq import Worker

        conn = Redis.from_url(self.url)
        wait_until(lambda: Worker.count(connection=conn) >= len([p for p in self.procs if p.poll() is None]), 60)

    def kill(self, i: int) -> None:
        import os
        import signal

        os.killpg(self.procs[i].pid, signal.SIGKILL)
        self.procs[i].wait(10)

    def stop(self) -> None:
        import os
        import signal

        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(10)
