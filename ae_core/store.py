"""The model store: a `.keras` file plus a JSON manifest beside it, written atomically.

Layout of a models folder:

    NAME.json              the manifest: spec, training config, data, metrics, history, ...
    NAME-<hash>.keras      the weights it points to ("model_file"), named by content hash

The manifest is the commit point. `save` writes the new `.keras` file under a fresh name
(temporary file + `os.replace`), then replaces the manifest the same way, then removes the
model file the old manifest pointed to. A crash at any moment leaves either the old manifest
with its old model or the new manifest with its new model; never a half-written pair.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import re
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .models import IMAGE_SHAPE, Autoencoder, Spec, spec_from_dict, spec_to_dict, split
from .config import TrainConfig
from .presets import PRESETS

FORMAT = 1
STALE_SECONDS = 3600  # leftovers of a save killed this long ago are removed by the next save
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
NAME_RE = re.compile(rf"^{_NAME}$")
MODEL_FILE_RE = re.compile(rf"^(?P<name>{_NAME})-[0-9a-f]{{12}}\.keras$")  # what `save` writes


class ModelFileError(Exception):
    """A model or manifest that cannot be used; the message names the file and what to do."""

    def __init__(self, path: Path | str, problem: str, hint: str = "", preset: str | None = None):
        self.path = str(path)
        self.problem = problem
        hint = hint or (f"Retrain it with `python -m ae_core train {preset or 'PRESET'}`, or restore the "
                        "file (`git checkout -- pretrained/` for the shipped models).")
        super().__init__(f"{path}: {problem}. {hint}")


@dataclass
class StoredModel:
    name: str
    spec: Spec
    model: Autoencoder  # or a runner.NumpyAutoencoder (`load_runner`): the same three fields
    manifest: dict
    path: Path  # the manifest

    @property
    def code_shape(self) -> tuple[int, ...]:
        return tuple(self.model.encoder.output_shape[1:])


def check_name(name: str) -> str:
    """A model name is a plain file stem: letters, digits, '_', '-', '.'; never a path."""
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise ValueError("A model name may use letters, digits, '_', '-' and '.', up to 64 "
                         f"characters, and must not be a path. Received: name={name!r}")
    return name


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict:
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "keras": keras.__version__,
            "tensorflow": tf.__version__, "numpy": np.__version__}


def _atomic_write_bytes(path: Path, write) -> None:
    """Call `write(tmp_path)` on a temporary file in path's folder, fsync, then os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_keras(model, tmp: Path) -> None:
    # Keras insists on the .keras suffix; save beside the temp file and move it over.
    staged = tmp.with_name(tmp.name + ".keras")
    try:
        model.save(staged)
        os.replace(staged, tmp)
    finally:
        staged.unlink(missing_ok=True)


def remove_stale(folder: Path | str, older_than: float = STALE_SECONDS) -> list[str]:
    """Remove what killed saves left behind in `folder`; returns the removed file names.

    A save that is killed (SIGKILL, power loss) can leave hidden temporary files
    (`.NAME.*.keras`, `.NAME.json.*.tmp`) and a model file that no manifest names (killed
    between writing the model and committing its manifest). None of them is ever listed or
    loaded; this removes those last modified more than `older_than` seconds ago, so a save
    still running in another process is never touched.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    cutoff = time.time() - older_than
    removed = []
    for path in folder.iterdir():
        try:
            if not path.is_file() or path.stat().st_mtime >= cutoff:
                continue
            if path.name.startswith(".") and path.name.endswith((".tmp", ".keras")) or _orphan(path):
                path.unlink()
                removed.append(path.name)
        except OSError:
            continue
    return removed


def _orphan(path: Path) -> bool:
    """A `NAME-<hash>.keras` file whose manifest does not exist or names another file.

    When the manifest exists but cannot be read, the file is kept: it may be the only copy.
    """
    match = MODEL_FILE_RE.match(path.name)
    if not match:
        return False
    manifest = path.with_name(f"{match['name']}.json")
    if not manifest.exists():
        return True
    try:
        return Path(str(json.loads(manifest.read_text())["model_file"])).name != path.name
    except (OSError, ValueError, KeyError, TypeError):
        return False


def save(model: Autoencoder, spec: Spec, folder: Path | str, name: str, *,
         train_config: TrainConfig | None = None, data_info: dict | None = None,
         metrics: dict | None = None, history: dict | None = None, preset: str | None = None,
         extra: dict | None = None) -> Path:
    """Save `model` as `folder/NAME.json` + its `.keras` file, atomically. Returns the manifest path.

    Raises:
        ValueError: for a bad name.
        OSError: when the folder cannot be written (read-only, full disk); the previous model
            with that name, if any, is left as it was.
    """
    folder = Path(folder)
    check_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale(folder)
    manifest_path = folder / f"{name}.json"
    old_model_file = None
    if manifest_path.is_file():
        try:
            old_model_file = json.loads(manifest_path.read_text()).get("model_file")
        except (OSError, ValueError):
            old_model_file = None

    fd, staged = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".keras")
    os.close(fd)
    try:
        _write_keras(model.autoencoder, Path(staged))
        digest = _sha256(Path(staged))
        model_file = f"{name}-{digest[:12]}.keras"
        os.chmod(staged, 0o644)
        with open(staged, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(staged, folder / model_file)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise

    manifest = {
        "format": FORMAT,
        "name": name,
        "preset": preset,
        "model_file": model_file,
        "model_sha256": digest,
        "spec": spec_to_dict(spec),
        "input_shape": list(IMAGE_SHAPE),
        "code_shape": list(model.encoder.output.shape[1:]),
        "train_config": train_config.to_dict() if train_config else None,
        "data": data_info or {},
        "metrics": metrics or {},
        "history": history or {},
        "versions": _versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    text = json.dumps(manifest, indent=2, allow_nan=False, default=float)
    try:
        _atomic_write_bytes(manifest_path, lambda tmp: tmp.write_text(text))
    except BaseException:  # not committed: the new model file is an orphan (and takes disk space)
        if model_file != old_model_file:
            (folder / model_file).unlink(missing_ok=True)
        raise
    if old_model_file and old_model_file != model_file:
        (folder / Path(old_model_file).name).unlink(missing_ok=True)
    return manifest_path


def read_manifest(path: Path | str) -> dict:
    """The manifest at `path`, checked for the fields the store needs."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFileError(path, "the manifest is missing") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(path, f"the manifest is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(manifest, dict):
        raise ModelFileError(path, "the manifest is not a JSON object")
    for key in ("model_file", "spec", "code_shape"):
        if key not in manifest:
            raise ModelFileError(path, f"the manifest has no '{key}' field")
    return manifest


def _checked(folder: Path, name: str) -> tuple[dict, Path, Path, Spec, str | None]:
    """(manifest, manifest path, model path, spec, preset) once the files pass every check
    that needs no Keras: manifest fields, the model file's presence and checksum, the spec."""
    manifest_path = folder / f"{check_name(name)}.json"
    try:
        manifest = read_manifest(manifest_path)
    except ModelFileError as exc:
        raise ModelFileError(exc.path, exc.problem, preset=name if name in PRESETS else None) from None
    preset = manifest.get("preset") if manifest.get("preset") in PRESETS else None
    model_path = folder / Path(str(manifest["model_file"])).name  # never leave the folder
    if not model_path.is_file():
        raise ModelFileError(model_path, "the model file named by its manifest is missing", preset=preset)
    expected = manifest.get("model_sha256")
    if expected and _sha256(model_path) != expected:
        raise ModelFileError(model_path, "the model file does not match its manifest's checksum "
                             "(truncated or changed)", preset=preset)
    try:
        spec = spec_from_dict(manifest["spec"])
    except (TypeError, ValueError) as exc:
        raise ModelFileError(manifest_path, f"the manifest's spec is not usable ({exc})", preset=preset) from None
    return manifest, manifest_path, model_path, spec, preset


def _first_line(exc: Exception) -> str:
    """What a loader's exception says, in one short line (its class name if it says nothing)."""
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _check_shapes(model_path: Path, manifest: dict, input_shape: tuple, code_shape: tuple,
                  preset: str | None) -> None:
    if tuple(input_shape) != IMAGE_SHAPE:
        raise ModelFileError(model_path, f"the model takes input {tuple(input_shape)}, not {IMAGE_SHAPE}",
                             preset=preset)
    if tuple(code_shape) != tuple(manifest["code_shape"]):
        raise ModelFileError(model_path, f"the model's code shape {tuple(code_shape)} does not match the "
                             f"manifest's {tuple(manifest['code_shape'])}", preset=preset)


def load(folder: Path | str, name: str) -> StoredModel:
    """Load `folder/NAME.json` and the model it names (safe_mode=True), checking they agree.

    Raises:
        ModelFileError: missing, truncated, corrupt or mismatched files; the message names the
            file and what to do.
    """
    import keras

    manifest, manifest_path, model_path, spec, preset = _checked(Path(folder), name)
    try:
        autoencoder = keras.saving.load_model(model_path, compile=False, safe_mode=True)
        model = split(autoencoder)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise ModelFileError(model_path, f"Keras cannot load this model ({_first_line(exc)})",
                             preset=preset) from None
    _check_shapes(model_path, manifest, autoencoder.input_shape[1:], model.encoder.output.shape[1:], preset)
    return StoredModel(name, spec, model, manifest, manifest_path)


def load_runner(folder: Path | str, name: str) -> StoredModel:
    """Like `load`, but the model is an `ae_core.runner.NumpyAutoencoder`: no TensorFlow needed.

    The same checks as `load`; the `.keras` file is read as data (JSON and arrays), never run.

    Raises:
        ModelFileError: as `load`.
        runner.Unsupported: the model uses a layer the NumPy runner lacks (use `load`).
    """
    from . import runner

    manifest, manifest_path, model_path, spec, preset = _checked(Path(folder), name)
    try:
        model = runner.read(model_path)
    except runner.Unsupported:
        raise
    except (OSError, ValueError, KeyError, IndexError, TypeError, zipfile.BadZipFile) as exc:
        raise ModelFileError(model_path, f"this model file cannot be read ({_first_line(exc)})",
                             preset=preset) from None
    _check_shapes(model_path, manifest, model.encoder.input_shape[1:], model.encoder.output_shape[1:], preset)
    return StoredModel(name, spec, model, manifest, manifest_path)


def list_models(folder: Path | str) -> list[str]:
    """Names of the models in `folder` (every `NAME.json` manifest; temporary files ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json")
                  if not p.name.startswith(".") and NAME_RE.match(p.stem))


def next_version_name(folder: Path | str, base: str) -> str:
    """`base-v1`, `base-v2`, ...: the first name not used in `folder`."""
    taken = set(list_models(folder))
    n = 1
    while f"{base}-v{n}" in taken:
        n += 1
    return check_name(f"{base}-v{n}")
