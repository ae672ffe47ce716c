"""onnxruntime-web for the page: fetched once from the npm registry, verified, served by Streamlit.

The tarball must match the registry's sha512 before anything is read from it; only FILES are
taken from it, into a cache outside the repository (a temporary folder renamed into place) with
their sha256 in `manifest.json`, then published into `<app>/static/ort/` (hard links or copies:
Streamlit refuses a symlink out of `static/`), hashed again and stamped with size and mtime, so
`status()` re-checks them on every run with a few `stat` calls. See docs/runtime.md.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

from ae_core.store import atomic_write
from ae_core.store import sha256 as digest_of  # publish_model's argument is called sha256

VERSION = "1.30.0"  # onnxruntime-web, pinned
INTEGRITY = "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
# Single-threaded WebAssembly: the API module, its Emscripten loader and the engine.
FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
URL = f"https://registry.npmjs.org/onnxruntime-web/-/onnxruntime-web-{VERSION}.tgz"  # AE_RUNTIME_URL
STATIC = Path(__file__).resolve().parents[1] / "static"  # served at /app/static/ (enableStaticServing)
MAX_BYTES = 100 * 2**20  # the tarball is 33 MB; a longer answer is not the package
TIMEOUT = 30  # seconds without data before a download gives up

WAITING = "The models run on the server until the in-page runtime has downloaded (first start)."
DISABLED = "The models run on the server: this server does not download the in-page runtime."
FAILED = "The in-page runtime could not be downloaded: {}; the Lab runs on the server."
CHANGED = "The in-page runtime's files changed on the server and are checked again; the Lab runs on the server."
log = logging.getLogger("autoencoder_lab")


class Status(NamedTuple):
    ready: bool
    message: str  # one line for visitors when not ready; "" when ready


class Rejected(ValueError):  # not the pinned package; the message is shown to visitors
    pass


_lock = threading.Lock()
_thread: threading.Thread | None = None
_failure: str | None = None  # why this process's last attempt failed; start() leaves it be


def cache_dir() -> Path:
    """Where the verified files live: AE_RUNTIME_DIR (default ~/.cache/autoencoder-lab)/onnxruntime-web-VERSION."""
    root = Path(os.environ.get("AE_RUNTIME_DIR") or Path.home() / ".cache" / "autoencoder-lab")
    return root.expanduser() / f"onnxruntime-web-{VERSION}"


def fetch_allowed() -> bool:
    return os.environ.get("AE_RUNTIME_FETCH", "1").strip().lower() not in ("0", "false", "no", "off")


def module_url() -> str:
    return "/app/static/ort/ort.wasm.min.mjs"


def page_info() -> dict:
    """What an element's page needs to load the runtime (lab/ort_page.js's `info`); the version
    names the browser cache that keeps the engine, so a new version replaces the old files."""
    return {"module": module_url(), "wasm": wasm_base_url(), "version": VERSION}


def wasm_base_url() -> str:
    return "/app/static/ort/"


def _published() -> str | None:
    """None when static/ort holds FILES exactly as stamped at publish time, else why not."""
    try:
        stamp = json.loads((STATIC / "ort" / ".stamp.json").read_text())
        if stamp["version"] != VERSION:
            return "missing"
        for name in FILES:
            st = (STATIC / "ort" / name).stat()
            if [st.st_size, st.st_mtime_ns] != stamp["files"][name][1:]:
                return "changed"
    except (OSError, ValueError, KeyError, TypeError):
        return "missing"
    return None


def status() -> Status:
    if not fetch_allowed():
        return Status(False, DISABLED)
    problem = _published()
    if problem is None:
        return Status(True, "")
    if _failure:
        return Status(False, FAILED.format(_failure))
    return Status(False, WAITING if problem == "missing" else CHANGED)


def start() -> None:
    """Fetch and publish in one background thread, unless done, running or failed already."""
    global _thread
    with _lock:
        if fetch_allowed() and not _failure and not (_thread and _thread.is_alive()) and _published():
            _thread = threading.Thread(target=_work, name="onnxruntime-web", daemon=True)
            _thread.start()


def ensure(timeout: float = 120) -> Status:
    """start(), even after a failure, and wait up to `timeout` seconds for it."""
    global _failure
    with _lock:
        if not (_thread and _thread.is_alive()):
            _failure = None
    start()
    if _thread is not None:
        _thread.join(timeout)
    return status()


def _work() -> None:
    global _failure
    try:
        cache = cache_dir()
        _publish(cache, _verified(cache) or _download(cache))
        _failure = None
    except Exception as exc:  # noqa: BLE001 - the page stays on the server path and says why
        _failure = _reason(exc)
        log.warning("onnxruntime-web %s not available (%s): %s", VERSION, type(exc).__name__, exc)


def _reason(exc: Exception) -> str:
    """A short, path-free reason for visitors."""
    if isinstance(exc, Rejected):
        return str(exc)
    if isinstance(exc, urllib.error.HTTPError):
        return f"the registry answered HTTP {exc.code}"
    if isinstance(exc, (urllib.error.URLError, TimeoutError, ConnectionError)):
        return "the registry could not be reached"
    if isinstance(exc, (tarfile.TarError, EOFError)):
        return "the package could not be read"
    if isinstance(exc, OSError):
        return "it could not be saved on the server"
    return f"unexpected {type(exc).__name__} (see the server log)"


def _verified(cache: Path) -> dict[str, str] | None:
    """The cached files' sha256 if they all match the manifest; a cache that does not is removed."""
    if not cache.exists():
        return None
    try:
        manifest = json.loads((cache / "manifest.json").read_text())
        hashes = manifest["files"] if manifest["integrity"] == INTEGRITY else {}
        if all(digest_of(cache / n) == hashes.get(n) for n in FILES):
            return {n: hashes[n] for n in FILES}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    log.warning("onnxruntime-web cache %s failed its check; it is fetched again", cache)
    shutil.rmtree(cache, ignore_errors=True)
    return None


def _remove_stale(folder: Path, pattern: str) -> None:
    """Temporary folders of a process killed mid-way (a download holds 33 MB)."""
    for p in folder.glob(pattern):
        if time.time() - p.stat().st_mtime > 3600:  # older than any download or publish
            shutil.rmtree(p, ignore_errors=True)


def _download(cache: Path) -> dict[str, str]:
    cache.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(cache.parent, f".{cache.name}.*")
    with tempfile.TemporaryDirectory(dir=cache.parent, prefix=f".{cache.name}.") as tmp:
        tgz, out, digest = Path(tmp) / "package.tgz", Path(tmp) / "files", hashlib.sha512()
        with urllib.request.urlopen(os.environ.get("AE_RUNTIME_URL") or URL, timeout=TIMEOUT) as r, \
                open(tgz, "wb") as f:
            while chunk := r.read(1 << 20):
                digest.update(chunk)
                f.write(chunk)
                if f.tell() > MAX_BYTES:
                    raise Rejected("the download was larger than the package")
        if "sha512-" + base64.b64encode(digest.digest()).decode() != INTEGRITY:
            raise Rejected("the download failed its integrity check")
        out.mkdir()
        wanted, hashes = {f"package/dist/{n}": n for n in FILES}, {}
        with tarfile.open(tgz, "r:gz") as tar:
            for member in tar:  # only regular files named exactly; nothing else is ever written
                name = wanted.get(member.name)
                if name and member.isreg() and name not in hashes:
                    with tar.extractfile(member) as src, open(out / name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    hashes[name] = digest_of(out / name)
        if missing := [n for n in FILES if n not in hashes]:
            raise Rejected(f"the package lacks {', '.join(missing)}")
        (out / "manifest.json").write_text(json.dumps({"integrity": INTEGRITY, "files": hashes}))
        try:
            os.rename(out, cache)
        except OSError:  # another process got there first; its copy is used if it verifies
            if not (hashes := _verified(cache)):
                raise
    return hashes


def _publish(cache: Path, hashes: dict[str, str]) -> None:
    """Put FILES into static/ort/ as one folder swap, each checked against its sha256."""
    if _published() is None:
        return
    STATIC.mkdir(parents=True, exist_ok=True)
    _remove_stale(STATIC, ".tmp-ort-*")
    tmp = Path(tempfile.mkdtemp(dir=STATIC, prefix=".tmp-ort-"))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; a front web server may read it as another user
    old = tmp.with_name(tmp.name + "-old")
    try:
        stamp = {"version": VERSION, "files": {}}
        for name in FILES:
            try:
                os.link(cache / name, tmp / name)
            except OSError:  # another file system, or no links allowed: a copy serves the same
                shutil.copyfile(cache / name, tmp / name)
            if digest_of(tmp / name) != hashes[name]:
                raise Rejected("a cached file failed its check")
            st = (tmp / name).stat()
            stamp["files"][name] = [hashes[name], st.st_size, st.st_mtime_ns]
        (tmp / ".stamp.json").write_text(json.dumps(stamp))
        if (STATIC / "ort").exists() or (STATIC / "ort").is_symlink():
            os.rename(STATIC / "ort", old)
        os.rename(tmp, STATIC / "ort")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def publish_model(path: Path, sha256: str) -> str | None:
    """Serve an ONNX file at /app/static/models/<sha256>.onnx (the page caches it by that hash).

    Returns the URL path, or None when it cannot be published (with a log line)."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"sha256 must be 64 lowercase hex digits. Received: sha256={sha256!r}")
    target, url = STATIC / "models" / f"{sha256}.onnx", f"/app/static/models/{sha256}.onnx"
    try:
        if target.is_file():
            return url
        if digest_of(Path(path)) != sha256:
            log.warning("not publishing %s: its sha256 is not %s", path, sha256)
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)  # the name appears with the whole file, or not at all
        except FileExistsError:
            pass
        except OSError:
            atomic_write(target, lambda tmp: shutil.copyfile(path, tmp))
        return url
    except OSError as exc:
        log.warning("could not publish %s for the page: %s", path, exc)
        return None
