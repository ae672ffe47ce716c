"""An autoencoder's code as bytes, against JPEG, WebP, PNG and zlib on the same 28x28 images.

What is counted, per image (`Coded.file_bytes` and `Coded.data_bytes`):

- **autoencoder**: the code's values at 8 bits each (32 values: 32 bytes; at float32 they would
  be 128). Each value is mapped linearly from its range over the model's codes on the training
  and validation images (never the test images) to 0..255; values outside it are clipped.
  The file is the bytes alone. What both ends must share, like JPEG's tables but far larger, is
  the decoder itself and the range table: counted once, not per image (`shared_bytes`).
- **PCA**: the same, with the coefficients of k principal components (k bytes).
- **JPEG** (Pillow, baseline, standard Huffman tables, greyscale): the whole JFIF file, and the
  abbreviated stream alone (Pillow's `streamtype=2`, JPEG's "abbreviated format for compressed
  image data": SOI, APP0, SOF, SOS, the entropy-coded data, EOI), whose quantisation and Huffman
  tables are written once for a whole set (`streamtype=1`) and counted once.
- **WebP** (Pillow, lossy): the whole RIFF file, and the VP8 bitstream alone (the file less its
  12-byte RIFF header and 8-byte chunk header).
- **PNG** (Pillow, optimize=True, lossless): the whole file, and the IDAT chunks' data alone.
- **zlib** (level 9, lossless) of the 784 raw pixel bytes: the zlib stream, and the raw
  deflate data alone (less zlib's 2-byte header and 4-byte checksum).

Images are float32 in [0, 1] (28, 28) and go through uint8 pixels first (what a file holds);
the distortion is measured against the uint8 pixels / 255, the same input every method saw.
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from . import analysis, metrics

BITS = 8
LEVELS = 2 ** BITS - 1
QUALITIES = (1, 2, 5, 10, 20, 30, 50, 75, 90, 95)  # the JPEG / WebP sweep of the rate-distortion chart
BUDGET_QUALITIES = tuple(range(1, 101))  # searched for the nearest byte budget


def to_pixels(image: np.ndarray) -> np.ndarray:
    """One image (28, 28[, 1]) in [0, 1] as the uint8 (28, 28) pixels a file holds."""
    x = analysis.as_images(image)
    if len(x) != 1:
        raise ValueError(f"Expected one image (28, 28). Received: shape={np.shape(image)}")
    return np.round(x[0, :, :, 0] * 255).astype(np.uint8)


# --- the codes, at 8 bits --------------------------------------------------------------------

@dataclass(frozen=True)
class CodeRange:
    """The range of each code value, from codes of training and validation images."""

    low: np.ndarray  # (D,) float32
    high: np.ndarray  # (D,) float32

    @classmethod
    def fit(cls, codes: np.ndarray) -> "CodeRange":
        flat = np.asarray(codes, np.float32).reshape(len(codes), -1)
        if len(flat) < 2 or not np.all(np.isfinite(flat)):
            raise ValueError(f"Expected at least 2 finite codes. Received: shape={np.shape(codes)}")
        low, high = flat.min(axis=0), flat.max(axis=0)
        return cls(low, np.where(high > low, high, low + 1e-6).astype(np.float32))

    @property
    def size(self) -> int:
        return int(self.low.size)

    @property
    def table_bytes(self) -> int:
        """The range table both ends share: two float32 a value."""
        return 8 * self.size


def quantize(codes: np.ndarray, rng: CodeRange) -> np.ndarray:
    """Codes (N, ...) with D values each as uint8 (N, D): each value mapped from its range to
    0..255, rounded, clipped."""
    flat = np.asarray(codes, np.float32).reshape(len(codes), -1)
    if flat.shape[1] != rng.size:
        raise ValueError(f"Expected codes of {rng.size} values. Received: shape={np.shape(codes)}")
    scaled = (flat - rng.low) / (rng.high - rng.low) * LEVELS
    return np.clip(np.round(scaled), 0, LEVELS).astype(np.uint8)


def dequantize(q: np.ndarray, rng: CodeRange) -> np.ndarray:
    """uint8 codes (N, D) back to float32 values (N, D), each at its step's centre value."""
    q = np.asarray(q)
    if q.dtype != np.uint8 or q.ndim != 2 or q.shape[1] != rng.size:
        raise ValueError(f"Expected uint8 codes (N, {rng.size}). Received: {q.dtype} {q.shape}")
    return (rng.low + q.astype(np.float32) / LEVELS * (rng.high - rng.low)).astype(np.float32)


class ModelCodec:
    """An autoencoder as a codec: encode, quantise to 8 bits, dequantise, decode."""

    def __init__(self, model, fit_images: np.ndarray, name: str = "autoencoder"):
        self.model, self.name = model, name
        self.code_shape = analysis.code_shape(model)
        self.range = CodeRange.fit(analysis.encode(model, fit_images))

    def encode(self, x: np.ndarray) -> np.ndarray:
        return quantize(analysis.encode(self.model, x), self.range)

    def decode(self, q: np.ndarray) -> np.ndarray:
        return analysis.decode(self.model, dequantize(q, self.range).reshape(-1, *self.code_shape))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(x))

    @property
    def bytes_per_image(self) -> int:
        return self.range.size


class PcaCodec:
    """PCA with k components (fitted on training images) as a codec with 8-bit coefficients."""

    def __init__(self, pca, fit_images: np.ndarray, name: str = "PCA"):
        self.pca, self.name = pca, name
        self.range = CodeRange.fit(pca.encode(fit_images))

    def encode(self, x: np.ndarray) -> np.ndarray:
        return quantize(self.pca.encode(x), self.range)

    def decode(self, q: np.ndarray) -> np.ndarray:
        return self.pca.decode(dequantize(q, self.range))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(x))

    @property
    def bytes_per_image(self) -> int:
        return self.range.size


# --- the general-purpose codecs, one image at a time ------------------------------------------

@dataclass(frozen=True)
class Coded:
    """One image through one codec."""

    method: str  # "JPEG", "WebP", "PNG", "zlib", or a model's name
    setting: str  # e.g. "quality 30", "8-bit code"
    file_bytes: int  # the whole file (or the code alone: it has no header)
    data_bytes: int  # the coded data alone, tables and headers counted once per set (see the module)
    image: np.ndarray = field(repr=False)  # (28, 28) float32 in [0, 1]: what the receiver sees
    lossless: bool = False


def _pil(pixels: np.ndarray):
    from PIL import Image

    return Image.fromarray(pixels, "L")


def _save(pixels: np.ndarray, **kwargs) -> bytes:
    buf = io.BytesIO()
    _pil(pixels).save(buf, **kwargs)
    return buf.getvalue()


def _open(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("L"), np.float32) / 255.0


def jpeg(pixels: np.ndarray, quality: int) -> Coded:
    full = _save(pixels, format="JPEG", quality=int(quality))
    data = _save(pixels, format="JPEG", quality=int(quality), streamtype=2)
    return Coded("JPEG", f"quality {quality}", len(full), len(data), _open(full))


def jpeg_tables_bytes(quality: int) -> int:
    """The tables-only JPEG stream (`streamtype=1`) an abbreviated image needs: sent once."""
    return len(_save(np.zeros((28, 28), np.uint8), format="JPEG", quality=int(quality), streamtype=1))


def webp(pixels: np.ndarray, quality: int) -> Coded:
    full = _save(pixels, format="WEBP", quality=int(quality), method=6)
    simple = full[:4] == b"RIFF" and full[12:16] == b"VP8 "
    data = len(full) - 20 if simple else len(full)
    return Coded("WebP", f"quality {quality}", len(full), data, _open(full))


def png(pixels: np.ndarray) -> Coded:
    full = _save(pixels, format="PNG", optimize=True)
    idat, pos = 0, 8  # after the 8-byte signature: chunks of length, type, data, CRC
    while pos + 8 <= len(full):
        length, kind = struct.unpack(">I4s", full[pos:pos + 8])
        idat += length if kind == b"IDAT" else 0
        pos += 12 + length
    return Coded("PNG", "lossless", len(full), idat, _open(full), lossless=True)


def zlib_raw(pixels: np.ndarray) -> Coded:
    raw = np.ascontiguousarray(pixels, np.uint8).tobytes()
    stream = zlib.compress(raw, 9)
    image = np.frombuffer(zlib.decompress(stream), np.uint8).reshape(28, 28).astype(np.float32) / 255.0
    return Coded("zlib", "lossless, 784 pixel bytes", len(stream), len(stream) - 6, image, lossless=True)


def code_bytes(codec: ModelCodec | PcaCodec, x: np.ndarray) -> Coded:
    """One image through an autoencoder (or PCA) at 8 bits: the code bytes are the whole file."""
    pixels = to_pixels(x)
    q = codec.encode(pixels.astype(np.float32) / 255.0)
    n = int(q.shape[1])
    return Coded(codec.name, f"{n} values at 8 bits", n, n, codec.decode(q)[0])


def at_budget(pixels: np.ndarray, budget: int, codec: str = "JPEG", count: str = "file") -> Coded:
    """JPEG or WebP at the highest quality whose size (`count`: "file" or "data") is at most
    `budget` bytes; when none fits, the smallest it can make (the nearest budget above)."""
    if codec not in ("JPEG", "WebP") or count not in ("file", "data"):
        raise ValueError(f"Expected codec 'JPEG' or 'WebP' and count 'file' or 'data'. "
                         f"Received: codec={codec!r}, count={count!r}")
    encode = jpeg if codec == "JPEG" else webp
    size = (lambda c: c.file_bytes) if count == "file" else (lambda c: c.data_bytes)
    best, smallest = None, None
    for quality in BUDGET_QUALITIES:  # sizes are not strictly monotone in quality: try them all
        coded = encode(pixels, quality)
        if smallest is None or size(coded) < size(smallest):
            smallest = coded
        if size(coded) <= budget and (best is None or size(coded) >= size(best)):
            best = coded
    return best or smallest


def compare(image: np.ndarray, codec: ModelCodec, count: str = "file") -> list[Coded]:
    """One image: the autoencoder's 8-bit code, JPEG and WebP at its byte budget (or the nearest
    they can reach), PNG and zlib; each with what the receiver decodes."""
    pixels = to_pixels(image)
    ours = code_bytes(codec, pixels.astype(np.float32) / 255.0)
    return [ours, at_budget(pixels, ours.file_bytes, "JPEG", count),
            at_budget(pixels, ours.file_bytes, "WebP", count), png(pixels), zlib_raw(pixels)]


def scores(image: np.ndarray, coded: Coded) -> dict:
    """PSNR (dB) and SSIM of what the receiver sees against the uint8 pixels."""
    clean = to_pixels(image).astype(np.float32) / 255.0
    return {"psnr": float(metrics.psnr(clean, coded.image)[0]), "ssim": float(metrics.ssim(clean, coded.image)[0])}


# --- rate-distortion over a set ---------------------------------------------------------------

def set_scores(clean: np.ndarray, recon: np.ndarray) -> dict:
    """PSNR of the mean MSE over the set (dB; None when every image is exact) and the mean SSIM."""
    p = metrics.set_psnr(clean, recon)
    return {"psnr": None if not np.isfinite(p) else round(p, 3),
            "ssim": round(float(metrics.ssim(clean, recon).mean()), 4)}


def _quantised(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, np.float32).reshape(-1, 28, 28) * 255) / 255.0


def sweep(x: np.ndarray, codec: str, qualities=None) -> list[dict]:
    """JPEG or WebP over images (N, 28, 28): per quality (default `QUALITIES`), the mean bytes
    a file and of the coded data alone, PSNR of the mean MSE and mean SSIM."""
    clean = _quantised(x)
    pixels = np.round(clean * 255).astype(np.uint8)
    encode = jpeg if codec == "JPEG" else webp
    points = []
    for quality in QUALITIES if qualities is None else qualities:
        coded = [encode(p, quality) for p in pixels]
        point = {"setting": f"quality {quality}", "quality": int(quality),
                 "bytes": round(float(np.mean([c.file_bytes for c in coded])), 2),
                 "data_bytes": round(float(np.mean([c.data_bytes for c in coded])), 2),
                 **set_scores(clean, np.stack([c.image for c in coded]))}
        if codec == "JPEG":
            point["tables_bytes"] = jpeg_tables_bytes(quality)
        points.append(point)
    return points


def codec_point(x: np.ndarray, codec: ModelCodec | PcaCodec) -> dict:
    """An 8-bit-code codec over images (N, 28, 28): its bytes (the code is the whole file)."""
    clean = _quantised(x)
    n = codec.bytes_per_image
    return {"setting": f"{n} values at 8 bits", "bytes": n, "data_bytes": n,
            "shared_bytes": codec.range.table_bytes, **set_scores(clean, codec(clean))}


def lossless(x: np.ndarray) -> dict:
    """Mean PNG and zlib sizes (file and data alone) over images (N, 28, 28)."""
    pixels = np.round(_quantised(x) * 255).astype(np.uint8)
    out = {}
    for name, fn in (("PNG", png), ("zlib", zlib_raw)):
        coded = [fn(p) for p in pixels]
        out[name] = {"bytes": round(float(np.mean([c.file_bytes for c in coded])), 2),
                     "data_bytes": round(float(np.mean([c.data_bytes for c in coded])), 2)}
    return out
