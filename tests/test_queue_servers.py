"""Two app servers on one shared queue: each a separate Python process running the page (through
Streamlit's AppTest, so no browser), with `AE_QUEUE_URL` pointing at a real Redis and two RQ
workers training. A run from each server; one server's page sees the other's run queued; both
models are saved into one models folder under distinct names; neither server process ever
imported TensorFlow.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.jobs_support import Workers

ROOT = Path(__file__).resolve().parents[1]

SERVER = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
from streamlit.testing.v1 import AppTest

def say(**kw):
    print(json.dumps(kw), flush=True)

def page_text(at):
    return " ".join(str(getattr(e, "value", "")) for kind in ("caption", "info", "markdown") for e in getattr(at.sidebar, kind))

at = AppTest.from_file(sys.argv[1] + "/app.py", default_timeout=120)
at.run()
assert not at.exception, [e.message for e in at.exception]
say(step="page", text=page_text(at))
at.sidebar.selectbox(key="train_preset").set_value("dense_seed")
at.sidebar.number_input(key="train_epochs").set_value(int(sys.argv[2]))
at.sidebar.button(key="train").click().run()
assert not at.exception, [e.message for e in at.exception]
say(step="submitted", text=page_text(at))
sys.stdin.readline()  # "go": the workers are up
deadline = time.monotonic() + 300
while not (at.session_state["session_models"] if "session_models" in at.session_state else False):
    assert time.monotonic() < deadline, page_text(at)
    time.sleep(0.5)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
at.sidebar.button(key=[b.key for b in at.sidebar.button if b.key and b.key.startswith("save_")][0]).click().run()
assert not at.exception, [e.message for e in at.exception]
say(step="saved", heavy=sorted(m for m in ("tensorflow", "keras", "tf2onnx") if m in sys.modules))
'''


def server(env: dict, epochs: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SERVER, str(ROOT), str(epochs)], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read(proc: subprocess.Popen, step: str) -> dict:
    for line in proc.stdout:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("step") == step:
            return msg
    raise AssertionError(f"the server process ended before {step!r}:\n{proc.stderr.read()[-3000:]}")


def test_two_servers_share_the_queue_and_never_import_tensorflow(redis_url, tmp_path, pretrained_dir):
    from ae_core import store

    env = {**os.environ, "AE_QUEUE_URL": redis_url, "AE_PRETRAINED_DIR": str(pretrained_dir),
           "AE_MODELS_DIR": str(tmp_path / "models"), "AE_TRAIN_DIGITS": "256", "PYTHONPATH": str(ROOT)}
    workers = Workers(redis_url, tmp_path)
    a = b = None
    try:
        a = server(env, 1)
        read(a, "page")
        read(a, "submitted")
        b = server(env, 2)  # another server: different settings, so its own run
        seen = read(b, "page")["text"]
        assert "1 queued: yours would be queued at position 2" in seen  # server A's run, on server B's page
        assert "Queued: position 2" in read(b, "submitted")["text"]
        workers.start(2)
        for proc in (a, b):
            proc.stdin.write("go\n")
            proc.stdin.flush()
        assert read(a, "saved")["heavy"] == [] and read(b, "saved")["heavy"] == []
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
        workers.stop()
    assert sorted(store.list_models(tmp_path / "models")) == ["dense_seed-v1", "dense_seed-v2"]
