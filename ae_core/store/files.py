"""Durable file writes: a file that readers see whole or not at all, and its checksum."""
from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable

TEMP_SUFFIXES = (".tmp", ".keras", ".onnx", ".npz")  # what `atomic_write`'s hidden temporaries end with


class NameTaken(FileExistsError):
    """A model with that name already exists in the folder (names are never silently replaced)."""


def sha256(path: Path | str) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (the rename lives in the folder's own data)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform or file system without directory handles
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):  # this file system cannot; others are real
            raise
    finally:
        os.close(fd)


def atomic_write(path: Path | str, write: Callable[[Path], object], *, suffix: str = ".tmp",
                 final: Callable[[Path], Path] | None = None, exclusive: bool = False) -> Path:
    """Write a file that readers see whole or not at all; returns where it went.

    `write(tmp)` fills a hidden temporary file beside `path` (named `.NAME.*SUFFIX`, which
    `remove_stale` knows); it is fsynced, made world-readable and moved over `path` (or to
    `final(tmp)`, for names that depend on the content), then the folder is fsynced.
    With `exclusive`, the move is a hard link that fails with `NameTaken` if `path` exists.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        target = final(tmp) if final else path
        if exclusive:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise NameTaken(f"{target.name} already exists") from None
            tmp.unlink()
        else:
            os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return target
