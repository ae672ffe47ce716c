"""What one interaction computes: noise, every shown model's code and reconstruction, metrics.

No Streamlit here: the app caches these objects, the latency benchmark calls them directly.
Models run with ONNX Runtime (`ae_core.onnx_models`, the encoder and decoder that `store.save`
exports; checked against Keras in tests/test_onnx.py): the server process never imports
TensorFlow, and a model call costs far less than a Keras call.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ae_core import metrics, noise

CODE_RANGE_DIGITS = 64  # test digits (clean, noise 0.5 and 1) that fix each model's code colour range


@dataclass
class LoadedModel:
    """A model ready for interactive use: one call returns its code and its reconstruction."""

    key: str  # "pretrained:dense_seed", "saved:dense_seed-v1", "session:1"
    name: str
    title: str  # what people read
    kind: str  # "pretrained", "saved" or "session"
    preset: str | None
    code_shape: tuple[int, ...]
    net: object  # an onnx_models.OnnxAutoencoder (the Autoencoder-shaped triple ae_core.analysis takes)
    code_range: tuple[float, float]  # colour range of code values, from clean test digits
    summary_range: tuple[float, float]  # colour range of the code panel (a spatial code's channel mean)
    manifest: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def spatial(self) -> bool:
        return len(self.code_shape) == 3

    @property
    def is_vae(self) -> bool:
        """A variational autoencoder (its code is the posterior's mean; see ae_core.vae)."""
        return (self.manifest.get("spec") or {}).get("type") == "vae"

    @property
    def code_size(self) -> int:
        return int(np.prod(self.code_shape))

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1, 28, 28) -> (code (1, *code_shape), reconstruction (1, 28, 28))."""
        code = np.asarray(self.net.encoder.predict_on_batch(np.asarray(x, np.float32).reshape(-1, 28, 28, 1)))
        return code, np.asarray(self.net.decoder.predict_on_batch(code)).reshape(-1, 28, 28)

    def count_params(self) -> int | None:
        """From the manifest (None for a model saved without the count)."""
        n = self.net.autoencoder.count_params()
        return None if n is None else int(n)


@dataclass(frozen=True)
class LoadFailure:
    """A model that could not be loaded: which file, what is wrong, which preset would rebuild it."""

    key: str
    name: str
    path: str
    message: str
    preset: str | None = None


def prepare(autoencoder, *, key: str, name: str, title: str, kind: str, preset: str | None,
            sample: np.ndarray, manifest: dict | None = None, path: Path | None = None) -> LoadedModel:
    """Wrap an `OnnxAutoencoder` (`store.load_onnx`) for interactive use.
    `sample` (N, 28, 28) clean digits fix the code's colour range.
    """
    step = max(1, len(sample) // CODE_RANGE_DIGITS)  # spread over the set (it may be sorted by label)
    clean = np.asarray(sample[::step][:CODE_RANGE_DIGITS], np.float32).reshape(-1, 28, 28)
    # Clean digits and the same digits at noise 0.5 and 1: the range covers what the slider shows.
    inputs = np.concatenate([clean, noise.gaussian(clean, 0.5, seed=1), noise.gaussian(clean, 1.0, seed=2)])
    codes = np.asarray(autoencoder.encoder(inputs.reshape(-1, 28, 28, 1), training=False))
    summary = codes.mean(axis=-1) if codes.ndim == 4 else codes
    return LoadedModel(key, name, title, kind, preset, tuple(int(d) for d in codes.shape[1:]), autoencoder,
                       colour_range(codes), colour_range(summary, from_zero=False), manifest or {}, path)


def colour_range(values: np.ndarray, from_zero: bool = True) -> tuple[float, float]:
    """(low, high) for the grey scale: 0 to a high percentile for non-negative codes (black is
    0), symmetric around 0 for signed ones (mid-grey is 0). With `from_zero=False` (a spatial
    code's channel mean, never near 0), low is a low percentile instead, for contrast."""
    lo, hi = float(np.percentile(values, 1)), float(np.percentile(values, 99.5))
    if not from_zero:
        return (lo, hi if hi > lo else lo + 1.0)
    if lo >= 0 or -lo < 0.05 * hi:
        lo = 0.0
    else:
        hi = max(hi, -lo)
        lo = -hi
    return (lo, hi if hi > lo else lo + 1.0)


def load_stored(folder: Path, name: str, kind: str, sample: np.ndarray) -> LoadedModel | LoadFailure:
    """Load `folder/NAME.json`'s ONNX files (`store.load_onnx`) and prepare the model; failures
    become `LoadFailure`."""
    from ae_core import store

    from .naming import title

    key = f"{kind}:{name}"
    try:
        stored = store.load_onnx(folder, name)
    except store.ModelFileError as exc:
        from ae_core.presets import PRESETS

        preset = name if name in PRESETS else preset_of(folder / f"{name}.json")
        return LoadFailure(key, name, exc.path, str(exc), preset)
    except ValueError as exc:  # a bad name
        return LoadFailure(key, name, str(folder / f"{name}.json"), str(exc))
    preset = stored.manifest.get("preset")
    source = (stored.manifest.get("data") or {}).get("source")
    return prepare(stored.model, key=key, name=name, title=title(kind, name, preset, source), kind=kind,
                   preset=preset, sample=sample, manifest=stored.manifest, path=stored.path)


def preset_of(manifest_path: Path) -> str | None:
    return facts_of(manifest_path)[0]


def facts_of(manifest_path: Path) -> tuple[str | None, str | None]:
    """(preset, data source) a manifest records, (None, None) when it cannot be read."""
    try:
        st = manifest_path.stat()
        return _facts(manifest_path, st.st_mtime_ns, st.st_size)
    except (OSError, ValueError, AttributeError):
        return None, None


# The catalogue and the cache keys read manifests on every run: each is parsed once per version
# (path, modification time, size).

@functools.lru_cache(maxsize=256)
def _facts(manifest: Path, mtime_ns: int, size: int) -> tuple[str | None, str | None]:
    m = json.loads(manifest.read_text())
    return m.get("preset"), (m.get("data") or {}).get("source")


@functools.lru_cache(maxsize=256)
def _files_named(manifest: Path, mtime_ns: int, size: int) -> tuple[str, ...]:
    """The files a manifest names: its .keras and ONNX files."""
    from ae_core import store

    return tuple(sorted(store.model_files(json.loads(manifest.read_text()))))


def file_stamp(folder: Path, name: str) -> tuple:
    """Changes whenever the manifest or a file it names changes (cache key): a damaged .onnx
    file the page runs is noticed like a damaged manifest.

    One `stat` call per file and run; the manifest is parsed only when it changes.
    """
    manifest = Path(folder) / f"{name}.json"
    stamp: list = [str(folder), name]
    try:
        st = manifest.stat()
        stamp += [st.st_mtime_ns, st.st_size]
        for file_name in _files_named(manifest, st.st_mtime_ns, st.st_size):
            mst = (Path(folder) / file_name).stat()
            stamp += [file_name, mst.st_mtime_ns, mst.st_size]
    except (OSError, ValueError, AttributeError):
        stamp.append("unreadable")
    return tuple(stamp)


@dataclass
class ModelOutput:
    model: LoadedModel
    code: np.ndarray  # (*code_shape)
    recon: np.ndarray  # (28, 28)
    metrics: dict[str, float]  # bce, mse, psnr, ssim against the clean digit
    noisy: bool = True  # the model received the noisy input (False: the clean digit)


@dataclass
class Interaction:
    clean: np.ndarray  # (28, 28)
    noisy: np.ndarray  # (28, 28), what the models given noise receive
    noisy_metrics: dict[str, float]  # the noisy input itself against the clean digit
    outputs: list[ModelOutput]


def corrupt(clean: np.ndarray, level: float, seed: int, kind: str) -> np.ndarray:
    """The noisy input: `ae_core.noise` with an explicit seed (same seed, same picture)."""
    return noise.add_noise(np.asarray(clean, np.float32).reshape(1, 28, 28), level, seed, kind)[0]


def interact(clean: np.ndarray, models: list[LoadedModel], level: float, seed: int,
             kind: str, clean_for: frozenset[str] | set[str] = frozenset()) -> Interaction:
    """Noise the clean digit once and run every model on it; metrics for all in one batch.

    Models whose key is in `clean_for` get the clean digit instead (the page does that for
    models that are not denoisers, unless the user asks to give them the noise too).
    """
    clean = np.asarray(clean, np.float32).reshape(28, 28)
    noisy = corrupt(clean, level, seed, kind)
    given = [m.key not in clean_for for m in models]
    results = [m.run((noisy if g else clean)[None]) for m, g in zip(models, given)]
    recons = np.stack([noisy] + [r[0] for _, r in results])  # row 0: the noisy input itself
    scores = metrics.all_metrics(np.broadcast_to(clean, recons.shape), recons)
    rows = [{k: float(v[i]) for k, v in scores.items()} for i in range(len(recons))]
    outputs = [ModelOutput(m, code[0], recon[0], rows[i + 1], g)
               for i, (m, (code, recon), g) in enumerate(zip(models, results, given))]
    return Interaction(clean, noisy, rows[0], outputs)


def file_sha256(model: LoadedModel, part: str) -> str:
    """The sha256 of the model's ONNX `part` ("encoder" or "decoder"), as its manifest records it
    (`store.load_onnx` has checked the file against it)."""
    return str(model.manifest["onnx"][part]["sha256"])


def page_url(model: LoadedModel, part: str) -> str | None:
    """The URL at which the page fetches the model's ONNX `part` ("encoder" or "decoder"), or
    None when the file cannot be served (lab/runtime.py publishes it under its sha256)."""
    from . import runtime

    return runtime.publish_model(Path(getattr(model.net, part).path), file_sha256(model, part))
