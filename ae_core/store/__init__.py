"""The model store: where models live on disk, written so that no crash leaves a broken one.

Three ideas, one module each:

- `files`: durable file writes (`atomic_write`: temporary file, fsync, rename, fsync of the
  folder) and checksums;
- `model_format`: one model = a JSON manifest, a `.keras` file and its ONNX halves; `save`,
  `export_onnx`, `load` (Keras) and `load_onnx` (no TensorFlow), every file checked;
- `catalogue`: the models of a folder: `list_models`, `next_version_name`, `copy`, `rename`,
  `remove`.

Callers use the package: `from ae_core import store; store.save(...)`.
"""
from .catalogue import (COPY_TRIES, NEW_NAME_RE, check_new_name, copy, list_models, next_version_name, remove,
                        rename)
from .files import NameTaken, atomic_write, sha256
from .model_format import (EXPORT_HINT, FORMAT, MODEL_FILE_RE, NAME_RE, PARTS, STALE_SECONDS, ModelFileError, StoredModel,
                     check_name, export_onnx, load, load_onnx, model_files, read_manifest, remove_stale, save)

__all__ = ["COPY_TRIES", "EXPORT_HINT", "FORMAT", "MODEL_FILE_RE", "NAME_RE", "NEW_NAME_RE", "PARTS", "STALE_SECONDS",
           "ModelFileError", "NameTaken", "StoredModel", "atomic_write", "check_name", "check_new_name", "copy",
           "export_onnx", "list_models", "load", "load_onnx", "model_files", "next_version_name", "read_manifest",
           "remove", "remove_stale", "rename", "save", "sha256"]
