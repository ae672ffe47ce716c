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
