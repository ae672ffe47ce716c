"""lab/runtime.py: onnxruntime-web fetched from a registry, verified, extracted and published.

Most tests serve a small fake package from a loopback HTTP server (AE_RUNTIME_URL) with its own
integrity; the last ones fetch the real 1.30.0 from the npm registry (CI requires them).
"""
from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import logging
import os
import tarfile
import threading
import urllib.request
from pathlib import Path

import pytest

from lab import runtime

REQUIRED = os.environ.get("AE_REQUIRE_BROWSER") == "1"
FAKE = {name: f"// fake {name}\n".encode() * (i + 1) for i, name in enumerate(runtime.FILES)}


def _tarball(escape: Path) -> bytes:
    """A package with FILES, plus members that must never be written: a symlink under a wanted
    name, paths that climb out, an absolute path, and files we do not need."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add(name, data=b"x", kind=tarfile.REGTYPE, link=""):
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        add(f"package/dist/{runtime.FILES[0]}", kind=tarfile.SYMTYPE, link="/etc/passwd")
        add("../escape.txt")
        add("package/dist/../../../escape.txt")
        add(str(escape))
        add("package/dist/ort.webgpu.min.mjs")
        for name, data in FAKE.items():
            add(f"package/dist/{name}", data)
    return buf.getvalue()


def _sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A loopback 'registry' serving the fake tarball (or `registry.status` as an error), with
    the runtime pointed at it and at fresh cache and static folders."""
    escape = tmp_path / "absolute-escape.txt"
    body = _tarball(escape)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            server.hits += 1
            if server.status != 200:
                self.send_error(server.status)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.hits, server.status, server.body, server.escape = 0, 200, body, escape
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AE_RUNTIME_URL", f"http://127.0.0.1:{server.server_port}/onnxruntime-web.tgz")
    monkeypatch.setenv("AE_RUNTIME_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AE_RUNTIME_FETCH", raising=False)
    monkeypatch.setattr(runtime, "STATIC", tmp_path / "app" / "static")
    monkeypatch.setattr(runtime, "INTEGRITY", _sri(body))
    monkeypatch.setattr(runtime, "_failure", None)
    monkeypatch.setattr(runtime, "_thread", None)
    yield server
    server.shutdown()
    server.server_close()


def _published(name: str) -> Path:
    return runtime.STATIC / "ort" / name


def test_a_good_package_is_extracted_and_published(registry, tmp_path):
    assert runtime.status() == (False, runtime.WAITING)
    stale = runtime.cache_dir().parent / f".{runtime.cache_dir().name}.killed"  # a process killed mid-way
    (stale / "files").mkdir(parents=True)
    os.utime(stale, (0, 0))
    assert runtime.ensure(timeout=30) == (True, "")
    for name, data in FAKE.items():
        assert _published(name).read_bytes() == data
        assert (runtime.cache_dir() / name).read_bytes() == data
    manifest = json.loads((runtime.cache_dir() / "manifest.json").read_text())
    assert manifest["files"] == {n: hashlib.sha256(d).hexdigest() for n, d in FAKE.items()}
    # Only FILES were written, nowhere outside the cache: no symlink, no climbing paths, nothing else.
    assert sorted(p.name for p in runtime.cache_dir().iterdir()) == sorted([*runtime.FILES, "manifest.json"])
    assert not any(p.is_symlink() for p in runtime.cache_dir().iterdir())
    assert not registry.escape.exists() and not (tmp_path / "escape.txt").exists()
    assert not list(runtime.cache_dir().parent.glob(".*")), "temporary folders left behind"
    assert sorted(p.name for p in runtime.STATIC.iterdir()) == ["ort"]
    # Done once: neither start() nor ensure() fetches again.
    runtime.start()
    assert runtime.ensure(timeout=30).ready and registry.hits == 1


def test_a_package_that_fails_its_integrity_is_refused_before_extraction(registry, monkeypatch, caplog):
    monkeypatch.setattr(runtime, "INTEGRITY", _sri(registry.body + b"tampered"))
    with caplog.at_level(logging.WARNING, logger="autoencoder_lab"):
        st = runtime.ensure(timeout=30)
    assert not st.ready
    assert st.message == runtime.FAILED.format("the download failed its integrity check")
    assert not runtime.cache_dir().exists() and not (runtime.STATIC / "ort").exists()
    assert not list(runtime.cache_dir().parent.iterdir()), "the download was left behind"
    assert len(caplog.records) == 1
    runtime.start()  # a failure is not retried on every rerun
    runtime._thread.join(10)
    assert registry.hits == 1


def test_network_errors_become_one_log_line_and_a_message(registry, monkeypatch, caplog):
    registry.status = 404
    with caplog.at_level(logging.WARNING, logger="autoencoder_lab"):
        assert runtime.ensure(timeout=30) == (False, runtime.FAILED.format("the registry answered HTTP 404"))
    with socket_closed() as url:
        monkeypatch.setenv("AE_RUNTIME_URL", url)
        with caplog.at_level(logging.WARNING, logger="autoencoder_lab"):
            st = runtime.ensure(timeout=30)
    assert st == (False, runtime.FAILED.format("the registry could not be reached"))
    assert len(caplog.records) == 2, [r.getMessage() for r in caplog.records]
    assert str(runtime.STATIC) not in st.message and "/" not in st.message


class socket_closed:
    """A loopback URL where nothing listens."""

    def __enter__(self):
        import socket

        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        return f"http://127.0.0.1:{self.s.getsockname()[1]}/x.tgz"

    def __exit__(self, *exc):
        self.s.close()


def test_fetch_turned_off_means_no_download_and_one_line(registry, monkeypatch):
    monkeypatch.setenv("AE_RUNTIME_FETCH", "0")
    runtime.start()
    assert runtime._thread is None
    assert runtime.ensure(timeout=5) == (False, runtime.DISABLED)
    assert registry.hits == 0 and not runtime.cache_dir().exists()
    assert "\n" not in runtime.DISABLED


def test_a_changed_published_file_is_caught_and_repaired(registry):
    assert runtime.ensure(timeout=30).ready
    wasm = _published(runtime.FILES[2])
    wasm.write_bytes(b"\0asm tampered")
    assert runtime.status() == (False, runtime.CHANGED)
    # The repair checks the cache (a hard link shares the change), fetches again and republishes.
    assert runtime.ensure(timeout=30) == (True, "")
    assert wasm.read_bytes() == FAKE[runtime.FILES[2]] and registry.hits == 2


def test_a_tampered_cache_is_not_published_when_it_cannot_be_fetched_again(registry):
    assert runtime.ensure(timeout=30).ready
    (runtime.cache_dir() / runtime.FILES[0]).write_bytes(b"export const evil = 1;")
    assert runtime.status() == (False, runtime.CHANGED)  # the published file is the same inode
    registry.status = 503
    st = runtime.ensure(timeout=30)
    assert st == (False, runtime.FAILED.format("the registry answered HTTP 503"))
    assert not runtime.cache_dir().exists(), "a cache that failed its check is removed"


def test_publish_model_is_content_addressed_idempotent_and_atomic(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "STATIC", tmp_path / "static")
    model = tmp_path / "m.encoder.onnx"
    model.write_bytes(b"onnx bytes " * 1000)
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    url = runtime.publish_model(model, sha)
    target = tmp_path / "static" / "models" / f"{sha}.onnx"
    assert url == f"/app/static/models/{sha}.onnx" and target.read_bytes() == model.read_bytes()
    assert target.stat().st_ino == model.stat().st_ino  # same file system: a hard link, no copy
    before = target.stat()
    assert runtime.publish_model(model, sha) == url
    assert (target.stat().st_ino, target.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # Another file system: a copy, written atomically (nothing else left in the folder).
    other = tmp_path / "other.onnx"
    other.write_bytes(b"other model")
    monkeypatch.setattr(runtime.os, "link", lambda *a: (_ for _ in ()).throw(OSError(18, "cross-device")))
    sha2 = hashlib.sha256(b"other model").hexdigest()
    assert runtime.publish_model(other, sha2) == f"/app/static/models/{sha2}.onnx"
    assert sorted(p.name for p in target.parent.iterdir()) == sorted([f"{sha}.onnx", f"{sha2}.onnx"])
    assert (target.parent / f"{sha2}.onnx").stat().st_ino != other.stat().st_ino


def test_publish_model_refuses_a_wrong_hash_and_a_folder_it_cannot_write(tmp_path, monkeypatch):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"model")
    monkeypatch.setattr(runtime, "STATIC", tmp_path / "static")
    assert runtime.publish_model(model, "0" * 64) is None  # not this file's hash
    assert not (tmp_path / "static" / "models" / f"{'0' * 64}.onnx").exists()
    with pytest.raises(ValueError, match="Received: sha256='../x'"):
        runtime.publish_model(model, "../x")
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setattr(runtime, "STATIC", tmp_path / "file" / "static")  # cannot be created
    assert runtime.publish_model(model, hashlib.sha256(b"model").hexdigest()) is None


# --- the real package from the npm registry ------------------------------------------------------

def _real_runtime(st: runtime.Status | None = None) -> runtime.Status:
    from tests.runtime_support import ort_ready

    st = st or ort_ready()
    if not st.ready and not REQUIRED and "could not be reached" in st.message:
        pytest.skip(f"the npm registry cannot be reached: {st.message}")
    assert st.ready, st.message
    return st


@pytest.mark.slow
def test_the_pinned_release_is_downloaded_and_verified(tmp_path, monkeypatch):
    """A real download (33 MB) into an empty cache, whatever this machine has cached already."""
    monkeypatch.setenv("AE_RUNTIME_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AE_RUNTIME_URL", raising=False)
    monkeypatch.delenv("AE_RUNTIME_FETCH", raising=False)
    monkeypatch.setattr(runtime, "STATIC", tmp_path / "static")
    monkeypatch.setattr(runtime, "_failure", None)
    monkeypatch.setattr(runtime, "_thread", None)
    _real_runtime(runtime.ensure())
    manifest = json.loads((runtime.cache_dir() / "manifest.json").read_text())
    assert manifest["integrity"] == runtime.INTEGRITY
    for name in runtime.FILES:
        data = (runtime.STATIC / "ort" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == manifest["files"][name]
    assert (runtime.STATIC / "ort" / "ort-wasm-simd-threaded.wasm").read_bytes()[:4] == b"\0asm"
    assert runtime.VERSION in (runtime.STATIC / "ort" / "ort.wasm.min.mjs").read_text()


@pytest.mark.slow
def test_streamlit_serves_the_runtime_whole_with_its_types(tmp_path):
    from tests.app_support import free_port, start_server, stop_server

    _real_runtime()
    port = free_port()
    proc = start_server({"AE_RUNTIME_FETCH": "0"}, port, tmp_path / "server.log")
    try:
        base = f"http://127.0.0.1:{port}"
        for url, kind in ((runtime.module_url(), "javascript"),
                          (runtime.wasm_base_url() + "ort-wasm-simd-threaded.mjs", "javascript"),
                          (runtime.wasm_base_url() + "ort-wasm-simd-threaded.wasm", "application/wasm")):
            with urllib.request.urlopen(base + url, timeout=30) as r:
                assert kind in r.headers["Content-Type"], (url, r.headers["Content-Type"])
                assert r.read() == (runtime.STATIC / "ort" / url.rsplit("/", 1)[1]).read_bytes()
    finally:
        stop_server(proc)
