"""The catalogue of a models folder: list the models, name new versions, copy, rename, remove."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .files import NameTaken, atomic_write, fsync_dir
from .model_format import (MODEL_FILE_RE, NAME_RE, ModelFileError, _caches_of, _checked_file, _checked_manifest,
                     _commit, _read_files_of, check_name, remove_stale)

NEW_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # a name people type: no dots
COPY_TRIES = 8  # version names tried by `copy` before it gives up (each loses to a concurrent save)


def check_new_name(name: str) -> str:
    """A name someone types for a version: letters, digits, '-' and '_', up to 64 characters."""
    if not isinstance(name, str) or not NEW_NAME_RE.fullmatch(name):
        raise ValueError("A name may use letters, digits, '-' and '_' (up to 64 characters, "
                         f"starting with a letter or digit). Received: name={name!r}")
    return name


def list_models(folder: Path | str) -> list[str]:
    """Names of the models in `folder` (every `NAME.json` manifest; temporary files ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json")
                  if not p.name.startswith(".") and NAME_RE.fullmatch(p.stem))


def _holds(name: str, files: list[str]) -> bool:
    """Whether any file holds `name`: its manifest, a model file or cache `NAME-<hash>.*` (an
    uncommitted one too, left by a killed save) or a hidden temporary file of either."""
    return any(f.lstrip(".").startswith((f"{name}.", f"{name}-")) for f in files)


def next_version_name(folder: Path | str, base: str, start: int = 1) -> str:
    """`BASE-vN` for the first N >= `start` whose name no file in `folder` holds.

    A hint: `copy` with `base=` takes it atomically, trying a later one if another process was faster.
    """
    folder = Path(folder)
    files = os.listdir(folder) if folder.is_dir() else []
    n = start
    while _holds(f"{base}-v{n}", files):
        n += 1
    return check_name(f"{base}-v{n}")


def copy(src_folder: Path | str, src_name: str, folder: Path | str, *, name: str | None = None,
         base: str | None = None) -> Path:
    """Copy a stored model into `folder` as `name`, or as the first free `BASE-vN`.

    The files are checked (present, checksums) and copied under the new name; the manifest is
    committed with a hard link, so an existing model is never replaced: with `name`, a taken
    name raises `NameTaken`; with `base`, a later version number is tried, `COPY_TRIES` times
    at most. Returns the new manifest's path.
    """
    src_folder, folder = Path(src_folder), Path(folder)
    if (name is None) == (base is None):
        raise ValueError(f"Pass a name or a base. Received: name={name!r}, base={base!r}")
    if name is not None:
        check_new_name(name)
    manifest, _, _, preset = _checked_manifest(src_folder, src_name)
    sources = {"model_file": _checked_file(src_folder, manifest["model_file"], manifest.get("model_sha256"),
                                           "model file", preset=preset)}
    onnx = manifest.get("onnx") if isinstance(manifest.get("onnx"), dict) else {}
    for part, entry in onnx.items():
        sources[part] = _checked_file(src_folder, entry.get("file"), entry.get("sha256"), f"ONNX {part} file",
                                      preset=preset)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale(folder)
    tried = []
    n = 1
    for _ in range(1 if name is not None else COPY_TRIES):
        new = name if name is not None else next_version_name(folder, base, n)
        tried.append(new)
        try:
            return _copy_as(folder, new, manifest, onnx, sources)
        except NameTaken:
            if name is not None:
                raise NameTaken(f"A model named {name} already exists") from None
            n = int(new.rsplit("-v", 1)[1]) + 1
    raise NameTaken(f"Could not save a new version of {base}: {len(tried)} version names "
                    f"({tried[0]} to {tried[-1]}) were taken while trying, so another process may be "
                    "saving into the same folder. Try again.")


def _copy_as(folder: Path, new: str, manifest: dict, onnx: dict, sources: dict) -> Path:
    """Copy the checked `sources` as model `new` and commit its manifest; raises `NameTaken`
    (removing what it wrote) when any of the names exists already."""
    new_manifest = {**manifest, "name": new, "onnx": {k: dict(v) for k, v in onnx.items()}}
    written = []
    try:
        for key, src in sources.items():
            digest, suffix = src.name.split("-")[-1][:12], src.name.split("-")[-1][12:]  # ".keras", ...
            # Exclusive too: another process taking the same name at the same moment writes
            # the same file names, and must not replace (or, on giving up, remove) ours.
            dst = atomic_write(folder / f"{new}-{digest}{suffix}", lambda tmp, src=src: shutil.copyfile(src, tmp),
                               suffix=".onnx" if suffix.endswith(".onnx") else ".keras", exclusive=True)
            written.append(dst)
            if key == "model_file":
                new_manifest["model_file"] = dst.name
            else:
                new_manifest["onnx"][key]["file"] = dst.name
        _commit(folder / f"{new}.json", new_manifest, exclusive=True)
        return folder / f"{new}.json"
    except BaseException:
        for dst in written:
            dst.unlink(missing_ok=True)
        raise


def remove(folder: Path | str, name: str) -> list[str]:
    """Remove model NAME from `folder`: the manifest first (it stops being listed), then its files.

    Returns the removed file names. Raises `ModelFileError` when there is no such manifest.
    """
    folder = Path(folder)
    manifest_path = folder / f"{check_name(name)}.json"
    if not manifest_path.is_file():
        raise ModelFileError(manifest_path, "there is no such model",
                             "See `python -m ae_core models list --models {folder}`.")
    files = _read_files_of(manifest_path)
    manifest_path.unlink()
    fsync_dir(folder)
    removed = [manifest_path.name]
    for f in sorted(f for f in files if MODEL_FILE_RE.match(f)) + sorted(_caches_of(folder, files)):
        if (folder / f).is_file():
            (folder / f).unlink()
            removed.append(f)
    return removed


def rename(folder: Path | str, name: str, new_name: str) -> Path:
    """Rename model NAME to NEW_NAME in `folder`; a taken NEW_NAME raises `NameTaken`."""
    path = copy(folder, name, folder, name=new_name)
    remove(folder, name)
    return path
