"""The model format: a JSON manifest, a `.keras` file and its two ONNX halves.

    NAME.json                   the manifest: spec, training config, data, metrics, history, ...
    NAME-<hash>.keras           the model ("model_file"), named by its content hash; the source
                                of truth for retraining and evaluation
    NAME-<hash>.encoder.onnx    the encoder and decoder exported for ONNX Runtime ("onnx"), what
    NAME-<hash>.decoder.onnx    the app runs (`ae_core.onnx_models`: no TensorFlow needed)

The manifest is the commit point. `save` and `export_onnx` write every new file under a fresh
name (`files.atomic_write`), then replace the manifest the same way, then remove the files the
old manifest named. A crash at any moment leaves either the old manifest with its old files or
the new manifest with its new files; never a mix.
"""
from __future__ import annotations

import datetime as _dt
import glob
import json
import os
import platform
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import TrainConfig
from ..models import IMAGE_SHAPE, Autoencoder, Spec, spec_from_dict, spec_to_dict, split
from ..presets import PRESETS
from .files import TEMP_SUFFIXES, NameTaken, atomic_write, sha256

FORMAT = 1
STALE_SECONDS = 3600  # leftovers of a save killed this long ago are removed by the next save
PARTS = ("encoder", "decoder")  # the halves exported to ONNX
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
NAME_RE = re.compile(rf"^{_NAME}$")
MODEL_FILE_RE = re.compile(  # what `save` writes
    rf"^(?P<name>{_NAME})-[0-9a-f]{{12}}(\.keras|\.encoder\.onnx|\.decoder\.onnx)$")


FOLDER = "<its models folder>"  # how a visitor's message names the models folder
EXPORT_HINT = "Export it again with `python -m ae_core export-onnx --models {folder}`."


class ModelFileError(Exception):
    """A model or manifest that cannot be used.

    `str(exc)` may be shown to anyone: the file's name, what is wrong and what to do, never
    where the server keeps its files. `exc.path` is the file's full path and `exc.full_message`
    the same message with it, for the command line and the log.
    """

    def __init__(self, path: Path | str, problem: str, hint: str = "", preset: str | None = None):
        self.path = str(path)
        self.problem = problem
        hint = hint or (f"Retrain it with `python -m ae_core train {preset or 'PRESET'}`, or restore the "
                        "file (`git checkout -- pretrained/` for the shipped models).")
        folder = str(Path(path).parent)
        self.full_message = f"{path}: {problem}. {hint.format(folder=folder)}"  # hint may hold "{folder}"
        public = f"{Path(path).name}: {problem}. {hint.format(folder=FOLDER)}"
        # A loader's own words (in `problem`) may name the file by its full path.
        super().__init__(public.replace(folder + os.sep, "").replace(folder, FOLDER))


@dataclass
class StoredModel:
    name: str
    spec: Spec
    model: Autoencoder  # or an onnx_models.OnnxAutoencoder (`load_onnx`): the same three fields
    manifest: dict
    path: Path  # the manifest

    @property
    def code_shape(self) -> tuple[int, ...]:
        shape = self.model.encoder.output_shape
        if isinstance(shape, list):  # a Keras encoder with several outputs: the code is the first
            shape = shape[0]
        return tuple(shape[1:])


def check_name(name: str) -> str:
    """A model name is a plain file stem: letters, digits, '_', '-', '.'; never a path."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or ".." in name:
        raise ValueError("A model name may use letters, digits, '_', '-' and '.', up to 64 "
                         f"characters, and must not be a path. Received: name={name!r}")
    return name


def _versions() -> dict:
    from importlib import metadata

    import keras
    import tensorflow as tf

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {"python": platform.python_version(), "keras": keras.__version__,
            "tensorflow": tf.__version__, "numpy": np.__version__, "tf2onnx": version("tf2onnx"),
            "onnx": version("onnx")}


def _write_keras(model, tmp: Path) -> None:
    # Keras insists on the .keras suffix; save beside the temp file and move it over.
    staged = tmp.with_name(tmp.name + ".keras")
    if getattr(model, "optimizer", None) is not None:
        # An uncompiled copy: Adam's two moment arrays per weight would triple the file, and
        # nothing resumes from them (retraining compiles afresh).
        import keras

        copy = keras.Model.from_config(model.get_config())
        copy.set_weights(model.get_weights())
        model = copy
    try:
        model.save(staged)
        os.replace(staged, tmp)
    finally:
        staged.unlink(missing_ok=True)


def _write_onnx(net, tmp: Path) -> None:
    """Export one half with Keras' own ONNX export (tf2onnx); it must have been called once."""
    net(np.zeros((1, *net.input_shape[1:]), np.float32))
    net.export(str(tmp), format="onnx", verbose=False)


def _first_shape(net) -> tuple[int, ...]:
    """The shape of a model's first output without the batch axis (a VAE encoder has several)."""
    outputs = net.outputs if isinstance(net.outputs, (list, tuple)) else [net.outputs]
    return tuple(int(d) for d in outputs[0].shape[1:])


def model_files(manifest: dict) -> set[str]:
    """The file names a manifest points to (the model file and its ONNX halves)."""
    names = {Path(str(manifest.get("model_file"))).name}
    onnx = manifest.get("onnx")
    if isinstance(onnx, dict):
        names |= {Path(str(part.get("file"))).name for part in onnx.values() if isinstance(part, dict)}
    return names


def _read_files_of(manifest_path: Path) -> set[str]:
    try:
        return model_files(json.loads(manifest_path.read_text()))
    except (OSError, ValueError, AttributeError):
        return set()


def remove_stale(folder: Path | str, older_than: float = STALE_SECONDS) -> list[str]:
    """Remove what killed saves left behind in `folder`; returns the removed file names.

    A save that is killed (SIGKILL, power loss) can leave hidden temporary files
    (`.NAME.*.keras`, `.NAME.*.onnx`, `.NAME.json.*.tmp`) and model files that no manifest
    names (killed between writing them and committing the manifest). None of them is ever
    listed or loaded; this removes those last modified more than `older_than` seconds ago, so
    a save still running in another process is never touched.
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
            if path.name.startswith(".") and path.name.endswith(TEMP_SUFFIXES) or _orphan(path):
                path.unlink()
                removed.append(path.name)
        except OSError:
            continue
    return removed


def _orphan(path: Path) -> bool:
    """A `NAME-<hash>.*` model file whose manifest does not exist or names other files.

    When the manifest exists but cannot be read, the file is kept: it may be the only copy.
    """
    match = MODEL_FILE_RE.match(path.name)
    if not match:
        return False
    manifest = path.with_name(f"{match['name']}.json")
    if not manifest.exists():
        return True
    try:
        return path.name not in model_files(json.loads(manifest.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _write_onnx_halves(model: Autoencoder, folder: Path, name: str, keep: set[str] = frozenset()) -> dict:
    """Export the encoder and decoder as `NAME-<hash>.encoder.onnx` / `.decoder.onnx`, each named
    by its own content, so the files a manifest names are never overwritten with other bytes;
    returns the manifest's "onnx" field. On failure, the files written here (but not those in
    `keep`) go."""
    onnx, written = {}, []
    try:
        for part in PARTS:
            net = getattr(model, part)
            path = atomic_write(folder / f"{name}.{part}.onnx", lambda tmp, net=net: _write_onnx(net, tmp),
                                suffix=".onnx",
                                final=lambda tmp, part=part: folder / f"{name}-{sha256(tmp)[:12]}.{part}.onnx")
            written.append(path)
            onnx[part] = {"file": path.name, "sha256": sha256(path), "params": int(net.count_params())}
    except BaseException:
        for path in written:
            if path.name not in keep:
                path.unlink(missing_ok=True)
        raise
    return onnx


def _write_model_files(model: Autoencoder, folder: Path, name: str) -> dict:
    """Write the `.keras` file and both ONNX halves; returns their manifest fields."""
    keras_path = atomic_write(folder / f"{name}.keras", lambda tmp: _write_keras(model.autoencoder, tmp),
                              suffix=".keras", final=lambda tmp: folder / f"{name}-{sha256(tmp)[:12]}.keras")
    try:
        onnx = _write_onnx_halves(model, folder, name)
    except BaseException:
        keras_path.unlink(missing_ok=True)
        raise
    return {"model_file": keras_path.name, "model_sha256": sha256(keras_path), "onnx": onnx}


def _commit(manifest_path: Path, manifest: dict, exclusive: bool = False) -> None:
    text = json.dumps(manifest, indent=2, allow_nan=False, default=float)
    atomic_write(manifest_path, lambda tmp: tmp.write_text(text), exclusive=exclusive)


def _replace_files(folder: Path, manifest_path: Path, manifest: dict, old_files: set[str],
                   exclusive: bool) -> None:
    """Commit `manifest`, then remove the old files it no longer names; on failure, the new ones."""
    new_files = model_files(manifest)
    try:
        _commit(manifest_path, manifest, exclusive)
    except BaseException:  # not committed: the new files are orphans (and take disk space)
        for f in new_files - old_files:
            (folder / f).unlink(missing_ok=True)
        raise
    for f in old_files - new_files | _caches_of(folder, old_files - new_files):
        (folder / f).unlink(missing_ok=True)


def _caches_of(folder: Path, files: set[str]) -> set[str]:
    """Caches kept beside a model version (`NAME-<hash>.<what>.npz`, e.g. Explore's t-SNE map):
    they go when the version goes."""
    stems = {f[: -len(".keras")] for f in files if f.endswith(".keras")}
    return {p.name for stem in stems for p in folder.glob(f"{glob.escape(stem)}.*.npz")}


def save(model: Autoencoder, spec: Spec, folder: Path | str, name: str, *,
         train_config: TrainConfig | None = None, data_info: dict | None = None,
         metrics: dict | None = None, history: dict | None = None, preset: str | None = None,
         extra: dict | None = None, exclusive: bool = False) -> Path:
    """Save `model` as `folder/NAME.json` + its `.keras` and ONNX files, atomically.

    Returns the manifest path. A model saved under an existing name replaces it (a retrained
    version of the same model), unless `exclusive`.

    Raises:
        ValueError: for a bad name.
        NameTaken: with `exclusive`, when NAME exists.
        OSError: when the folder cannot be written (read-only, full disk); the previous model
            with that name, if any, is left as it was.
    """
    folder = Path(folder)
    check_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale(folder)
    manifest_path = folder / f"{name}.json"
    if exclusive and manifest_path.exists():
        raise NameTaken(f"{manifest_path.name} already exists")
    old_files = set() if exclusive else _read_files_of(manifest_path)
    files = _write_model_files(model, folder, name)
    manifest = {
        "format": FORMAT,
        "name": name,
        "preset": preset,
        **files,
        "spec": spec_to_dict(spec),
        "input_shape": list(IMAGE_SHAPE),
        "code_shape": list(_first_shape(model.encoder)),
        "train_config": train_config.to_dict() if train_config else None,
        "data": data_info or {},
        "metrics": metrics or {},
        "history": history or {},
        "versions": _versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    _replace_files(folder, manifest_path, manifest, old_files, exclusive)
    return manifest_path


def export_onnx(folder: Path | str, name: str) -> Path:
    """Export `folder/NAME`'s encoder and decoder to ONNX again, from its `.keras` file.

    For models saved before the ONNX export existed, or whose `.onnx` files are missing or
    broken. The new files get new names and are committed with the manifest, as in `save`: a
    failure or a kill halfway leaves the old manifest and the files it names as they were.
    The `.keras` file is unchanged.
    """
    stored = load(folder, name)
    folder = Path(folder)
    remove_stale(folder)
    manifest = dict(stored.manifest)
    old_files = model_files(manifest)
    manifest["onnx"] = _write_onnx_halves(stored.model, folder, name, keep=old_files)
    manifest["versions"] = {**manifest.get("versions", {}), **_versions()}
    _replace_files(folder, stored.path, manifest, old_files, exclusive=False)
    return stored.path


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


def _checked_manifest(folder: Path, name: str) -> tuple[dict, Path, Spec, str | None]:
    """(manifest, manifest path, spec, preset) once the manifest passes every check."""
    manifest_path = folder / f"{check_name(name)}.json"
    try:
        manifest = read_manifest(manifest_path)
    except ModelFileError as exc:
        raise ModelFileError(exc.path, exc.problem, preset=name if name in PRESETS else None) from None
    preset = manifest.get("preset") if manifest.get("preset") in PRESETS else None
    try:
        spec = spec_from_dict(manifest["spec"])
    except (TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(manifest_path, f"the manifest's spec is not usable ({exc})", preset=preset) from None
    return manifest, manifest_path, spec, preset


def _checked_file(folder: Path, file_name, expected: str | None, what: str, hint: str = "",
                  preset: str | None = None) -> Path:
    """The file a manifest names, inside `folder`, present and matching its checksum."""
    path = folder / Path(str(file_name)).name  # never leave the folder
    if not path.is_file():
        raise ModelFileError(path, f"the {what} named by its manifest is missing", hint, preset=preset)
    if expected and sha256(path) != expected:
        raise ModelFileError(path, f"the {what} does not match its manifest's checksum "
                             "(truncated or changed)", hint, preset=preset)
    return path


def _first_line(exc: Exception) -> str:
    """What a loader's exception says, in one short line (its class name if it says nothing)."""
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _check_shapes(model_path: Path, manifest: dict, input_shape: tuple, code_shape: tuple,
                  preset: str | None, hint: str = "") -> None:
    if tuple(input_shape) != IMAGE_SHAPE:
        raise ModelFileError(model_path, f"the model takes input {tuple(input_shape)}, not {IMAGE_SHAPE}",
                             hint, preset=preset)
    if tuple(code_shape) != tuple(manifest["code_shape"]):
        raise ModelFileError(model_path, f"the model's code shape {tuple(code_shape)} does not match the "
                             f"manifest's {tuple(manifest['code_shape'])}", hint, preset=preset)


def load(folder: Path | str, name: str) -> StoredModel:
    """Load `folder/NAME.json` and the `.keras` model it names (safe_mode=True), checking they agree.

    Needs Keras (training, evaluation, export); the app uses `load_onnx`.

    Raises:
        ModelFileError: missing, truncated, corrupt or mismatched files; the message names the
            file and what to do.
    """
    import keras

    folder = Path(folder)
    manifest, manifest_path, spec, preset = _checked_manifest(folder, name)
    model_path = _checked_file(folder, manifest["model_file"], manifest.get("model_sha256"), "model file",
                               preset=preset)
    try:
        autoencoder = keras.saving.load_model(model_path, compile=False, safe_mode=True)
        model = split(autoencoder)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise ModelFileError(model_path, f"Keras cannot load this model ({_first_line(exc)})",
                             preset=preset) from None
    _check_shapes(model_path, manifest, autoencoder.input_shape[1:], _first_shape(model.encoder), preset)
    return StoredModel(name, spec, model, manifest, manifest_path)


def load_onnx(folder: Path | str, name: str) -> StoredModel:
    """Like `load`, but the model is an `ae_core.onnx_models.OnnxAutoencoder`: no TensorFlow.

    The manifest and the ONNX files it names are checked (present, checksums, shapes); the
    `.keras` file is not read.

    Raises:
        ModelFileError: as `load`; for a missing or broken `.onnx` file the message names it
            and the command that exports it again.
    """
    from .. import onnx_models

    folder = Path(folder)
    manifest, manifest_path, spec, preset = _checked_manifest(folder, name)
    hint = EXPORT_HINT
    onnx = manifest.get("onnx")
    if not isinstance(onnx, dict) or not all(isinstance(onnx.get(p), dict) for p in PARTS):
        raise ModelFileError(manifest_path, "the manifest names no ONNX files (saved before the ONNX "
                             "export)", hint, preset=preset)
    nets = {}
    for part in PARTS:
        path = _checked_file(folder, onnx[part].get("file"), onnx[part].get("sha256"), f"ONNX {part} file",
                             hint, preset=preset)
        try:
            nets[part] = onnx_models.OnnxNet(path, part, params=onnx[part].get("params"))
        except onnx_models.OnnxError as exc:
            raise ModelFileError(path, f"ONNX Runtime cannot load this file ({_first_line(exc)})", hint,
                                 preset=preset) from None
    model = onnx_models.OnnxAutoencoder.join(nets["encoder"], nets["decoder"], name)
    _check_shapes(Path(nets["encoder"].path), manifest, model.encoder.input_shape[1:],
                  model.encoder.output_shape[1:], preset, hint)
    return StoredModel(name, spec, model, manifest, manifest_path)


