"""The kill campaign, shared by tests/test_reliability_kill.py and benchmarks/reliability.py.

A models folder holds `dense_seed` (a copy of the shipped one, or an untrained stand-in) and
`other`. Each trial runs a real Python process that imports Keras and writes over `dense_seed`:
`store.save` of a freshly built model, `store.export_onnx`, or a short training run followed by
a save. The process logs every step of the write it reaches (`STEPS`, told apart by the file
names the store's renames and fsyncs touch) to a file, line by line, before doing it; it is
killed with SIGKILL at an exact step (by itself, `point`), or from outside once the log shows a
given step (`wait_for`) plus a random delay. After every kill the folder is checked
(`check_store`): `other` is byte-identical; `dense_seed` loads with Keras and with ONNX Runtime,
and is either byte-identical to before or a complete new save; `list_models` lists exactly the
two names. The log says which it must be: "new save" once a manifest replace has happened.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
STEPS = (
    "keras-write",  # inside Keras' write of the staged model (a zip entry)
    "model-fsync",  # the staged model written, before fsync
    "model-rename",  # before the model file is renamed to NAME-<hash>.keras
    "onnx-fsync",  # the staged encoder .onnx written, before fsync
    "onnx-rename",  # before the decoder's .onnx file is renamed into place
    "manifest-fsync",  # every model file in place, the manifest's temp file written, before fsync
    "manifest-rename",  # before the manifest replace (the commit point)
    "after-commit",  # after the manifest replace, before the old model files are removed
)
EXPORT_STEPS = STEPS[3:]  # `export_onnx` writes no .keras file
COMMITTED = "after-commit"

CHILD = r'''
import os, signal, sys, zipfile
sys.path.insert(0, sys.argv[1])
folder, job, point, log = sys.argv[2:6]
fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

def step(name):
    """Log that this step is reached (the kernel keeps it through a SIGKILL), then die here if asked."""
    os.write(fd, f"{name}\n".encode())
    if name == point:
        os.kill(os.getpid(), signal.SIGKILL)

real_replace, real_fsync, real_write = os.replace, os.fsync, zipfile.ZipFile.writestr
def replace(src, dst):
    name = os.path.basename(str(dst))
    if name.endswith(".keras") and not name.startswith("."):  # not Keras' own staging
        step("model-rename")
    elif name.endswith(".decoder.onnx") and not name.startswith("."):
        step("onnx-rename")
    elif name.endswith(".json"):
        step("manifest-rename")
    real_replace(src, dst)
    if name.endswith(".json"):
        step("after-commit")
def fsync(fd_):
    name = os.path.basename(os.readlink(f"/proc/self/fd/{fd_}"))
    if name.startswith(".") and name.endswith(".keras"):
        step("model-fsync")
    elif ".encoder.onnx." in name:
        step("onnx-fsync")
    elif ".json." in name:
        step("manifest-fsync")
    real_fsync(fd_)
def writestr(self, *a, **k):
    real_write(self, *a, **k)
    step("keras-write")
os.replace, os.fsync, zipfile.ZipFile.writestr = replace, fsync, writestr

import keras
from ae_core import models, store, training
spec = models.DenseSpec()
if job == "train":
    from tests.helpers import tiny
    class Tell(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            step(f"epoch-{epoch + 1}")
    config = training.TrainConfig(epochs=2, batch_size=64)
    step("training")
    r = training.train(spec, config, tiny(512, 64), callbacks=[Tell()])
    store.save(r.model, spec, folder, "dense_seed", train_config=config)
elif job == "export":
    step("start")
    store.export_onnx(folder, "dense_seed")
else:  # "save": save newly built models over dense_seed, once or (point "loop") until killed
    pool = []
    for i in range(2):
        keras.utils.set_random_seed(1000 + i)
        pool.append(models.build(spec))
    step("start")
    i = 0
    while True:
        store.save(pool[i % 2], spec, folder, "dense_seed")
        i += 1
        if point != "loop":
            break
step("done")
'''


def make_store(folder: Path) -> dict[str, bytes]:
    """`dense_seed` (the shipped one if present) and `other` in `folder`; returns their bytes."""
    from ae_core import models, store

    folder.mkdir(parents=True, exist_ok=True)
    shipped = ROOT / "pretrained" / "dense_seed.json"
    if shipped.is_file():
        manifest = json.loads(shipped.read_text())
        shutil.copy2(shipped, folder / "dense_seed.json")  # a copy: pretrained/ is never touched
        for name in store.model_files(manifest):  # the .keras file and its ONNX halves
            shutil.copy2(shipped.parent / name, folder / name)
    else:
        store.save(models.build(models.DenseSpec()), models.DenseSpec(), folder, "dense_seed")
    store.save(models.build(models.DenseSpec(code_size=8)), models.DenseSpec(code_size=8), folder, "other")
    return snapshot(folder)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def restore(folder: Path, original: dict[str, bytes]) -> None:
    """Put the folder back as `make_store` left it (a later save would clean up the rest)."""
    for p in folder.iterdir():
        if p.name not in original:
            p.unlink()
    for name, data in original.items():
        (folder / name).write_bytes(data)


def check_store(folder: Path, original: dict[str, bytes]) -> str:
    """Raise AssertionError unless the folder survived; returns 'unchanged' or 'new save'."""
    from ae_core import store

    assert store.list_models(folder) == ["dense_seed", "other"], store.list_models(folder)
    now = snapshot(folder)
    assert now["other.json"] == original["other.json"]
    for name in store.model_files(json.loads(original["other.json"])):
        assert now[name] == original[name], name
    for name in ("other", "dense_seed"):  # checksums, spec and code shape; Keras and ONNX (the page)
        store.load(folder, name)
        store.load_onnx(folder, name)
    if now["dense_seed.json"] == original["dense_seed.json"]:
        for name in store.model_files(json.loads(original["dense_seed.json"])):
            assert now[name] == original[name], f"the old {name} changed"
        return "unchanged"
    assert store.model_files(json.loads(now["dense_seed.json"])) <= set(now)
    return "new save"


def trial(folder: Path, job: str, point: str = "", wait_for: str | None = None, delay: float = 0.0,
          timeout: float = 240.0) -> dict:
    """Run one `job` ("save", "export", "train") on `folder` and kill it.

    With `point`, the process kills itself when it reaches that step; with `wait_for`, it is
    killed from outside `delay` seconds after the log first shows that step (for "save" it then
    saves in a loop). Returns {"signal", "steps": the steps logged, in order, "seconds"}.
    """
    started = time.perf_counter()
    log = folder.parent / f".steps-{os.getpid()}-{time.monotonic_ns()}.log"
    proc = subprocess.Popen([PY, "-c", CHILD, str(ROOT), str(folder), job, point or ("loop" if job == "save" else ""),
                             str(log)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        if wait_for:
            deadline = time.monotonic() + timeout
            while wait_for not in _steps(log) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    steps = _steps(log)
    log.unlink(missing_ok=True)
    return {"job": job, "point": point or wait_for, "signal": -proc.returncode if proc.returncode < 0 else 0,
            "steps": steps, "seconds": time.perf_counter() - started}


def _steps(log: Path) -> list[str]:
    try:
        return log.read_text().split()
    except FileNotFoundError:
        return []


def expected(steps: list[str]) -> set[str]:
    """What the folder may hold after a kill, from the steps reached: once a manifest replace is
    done the new save is complete; before it the old model is untouched. (A kill between the
    replace and its log line leaves "manifest-rename" last: either is right.)"""
    if COMMITTED in steps:
        return {"new save"}
    if steps and steps[-1] == "manifest-rename":
        return {"unchanged", "new save"}
    return {"unchanged"}
