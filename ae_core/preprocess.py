"""Turn a drawing or a photo of a digit into a 28x28 image the way MNIST was made.

MNIST digits are white ink on black, fitted into a 20x20 box keeping their aspect ratio and
centred in 28x28 by their centre of mass. `mnistify` does that to any ink image;
`from_strokes` and `from_image_bytes` get the ink out of the drawing pad's strokes or an
uploaded file.

The page repeats `from_strokes` while the pen moves (`lab/compute.js`, `fromStrokes`): every
step here is written so that JavaScript can do the same arithmetic in the same order (float64
distances, PIL's Lanczos coefficients, the centre of mass snapped before rounding), and
tests/test_parity.py checks both on the same drawings (docs/page-compute.md).

Every function returns float32 in [0, 1] with shape (28, 28). Bad input raises a subclass of
`ImageInputError` (a `ValueError`) whose message says what was wrong and what to do.
"""
from __future__ import annotations

import functools
import io
import math
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps

from .checks import unit_range

SIZE = 28  # output side
BOX = 20  # the digit's longest side after fitting
INK_LEVEL = 0.2  # a pixel brighter than this (0..1) counts as ink
MIN_INK_FRACTION = 0.005  # less ink than this share of the canvas reads as "nothing drawn"
MIN_INK_FRACTION_PHOTO = 0.0005  # photos: a digit may be small on the page
MAX_BYTES = 8 * 1000 * 1000  # uploads over this are refused before decoding (config.toml: maxUploadSize = 8)
MAX_PIXELS = 16_000_000  # decoded size limit (decompression-bomb guard): a 16-megapixel photo, 4600 x 3450
WORK_SIDE = 512  # photos are shrunk to this longest side before looking for ink
FORMATS = ("PNG", "JPEG")
PAPER_WINDOW = 12  # the local paper level is measured over 1/12 of the photo's side (wider than a stroke)
SHADOW_EDGE_MIN_WINDOW = 24  # ...and pulled back to a hard shadow's edge when that window is this wide (a 288-px photo)
POLARITY_SIDE = 64  # whether the ink is dark or light is judged on the photo shrunk to about this side
POLARITY_MARGIN = 1.5  # ...by the side whose departures from the paper are this many times stronger
DIGIT_GAP = 0.02  # blobs this share of the width apart (or more) are separate digits
MIN_DIGIT_MASS = 0.15  # ...when each holds this share of the ink
MIN_DIGIT_HEIGHT = 0.4  # ...and is this share of the ink's height
# The drawing pad: the pen is round and its width is this share of the pad's side, so a digit
# drawn on a small phone pad and on a wide laptop pad ends up with the same strokes. The pad's JS
# gets this number from Python (lab/pad.py), so the ink it shows is the ink the models get.
PEN_FRACTION = 0.09
RASTER = 192  # strokes are drawn on a RASTER x RASTER image whatever the pad's displayed size
MIN_SPAN_PENS = 1.6  # a drawing whose extent is under this many pen widths is a dot, not a digit
MAX_STROKES = 500
MAX_POINTS = 20_000  # in all strokes together: minutes of drawing at the pad's sampling rate
MAX_INK_PADS = 200  # total stroke length, in pad sides: bounds the work a (forged) drawing costs
_BATCH_PIXELS = 1 << 18  # (segment, pixel) pairs worked out at once while drawing strokes


# What Pillow's decoders raise on damaged files (a truncated header is an OSError, a bad chunk a
# SyntaxError or struct.error, ...): all become BrokenImageError.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, ZeroDivisionError)


class ImageInputError(ValueError):
    """An input that cannot become a digit; the message is meant for people."""


class EmptyImageError(ImageInputError):
    """Nothing (or almost nothing) is drawn."""


class NotAnImageError(ImageInputError):
    """The bytes are not a PNG or JPEG image."""


class BrokenImageError(ImageInputError):
    """A PNG or JPEG that cannot be decoded (truncated or corrupt)."""


class ImageTooLargeError(ImageInputError):
    """The file or the decoded image is over the size limits."""


class SeveralDigitsError(ImageInputError):
    """More than one digit in the image."""


def _ink_bbox(ink: np.ndarray, trim: float) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), inclusive, of the ink, ignoring `trim` of its mass at each side.

    With `trim` 0 it is exactly the first and last row and column that hold ink (the page
    computes the same); a trim only ever narrows that box.
    """
    def span(profile: np.ndarray) -> tuple[int, int]:
        on = np.flatnonzero(profile)
        first, last = int(on[0]), int(on[-1])
        if trim > 0:
            cum = np.cumsum(profile, dtype=np.float64) / float(profile.sum(dtype=np.float64))
            first = max(first, int(np.searchsorted(cum, trim, side="right")))
            last = max(first, min(last, int(np.searchsorted(cum, 1.0 - trim, side="left"))))
        return first, last

    top, bottom = span(ink.sum(axis=1))
    left, right = span(ink.sum(axis=0))
    return top, bottom, left, right


def _lanczos(x: np.ndarray) -> np.ndarray:
    """PIL's Lanczos kernel (Resample.c `lanczos_filter`): sinc(x) sinc(x / 3) on [-3, 3)."""
    def sinc(v):
        v = v * np.pi
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(v == 0.0, 1.0, np.sin(v) / v)
    return np.where((-3.0 <= x) & (x < 3.0), sinc(x) * sinc(x / 3), 0.0)


@functools.lru_cache(maxsize=512)
def _resample_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of a Lanczos resize from n_in to n_out pixels, as PIL computes them
    (Resample.c `precompute_coeffs`: the kernel widened by the shrink factor, each row summing to 1)."""
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 3.0 * filterscale
    centre = (np.arange(n_out) + 0.5) * scale
    lo = np.maximum((centre - support + 0.5).astype(np.int64), 0)  # astype: truncation toward zero, as C's cast
    hi = np.minimum((centre + support + 0.5).astype(np.int64), n_in)
    j = np.arange(n_in)
    k = _lanczos((j[None, :] - centre[:, None] + 0.5) * (1.0 / filterscale))
    k = np.where((j >= lo[:, None]) & (j < hi[:, None]), k, 0.0)
    total = k.sum(axis=1, keepdims=True)
    weights = np.divide(k, total, out=k, where=total != 0.0)
    weights.flags.writeable = False  # cached and shared
    return weights


def resample(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) float image -> (height, width) float32, as PIL's `resize(..., LANCZOS)` in mode "F".

    A horizontal pass, then a vertical one, each summing in float64 and storing float32; a side
    that keeps its size is not resampled. The page's `resample` (lab/compute.js) is the same.
    """
    out = np.asarray(image, np.float32)
    if width != out.shape[1]:
        out = (out.astype(np.float64) @ _resample_weights(out.shape[1], width).T).astype(np.float32)
    if height != out.shape[0]:
        out = (_resample_weights(out.shape[0], height) @ out.astype(np.float64)).astype(np.float32)
    return out


def _snap(v: float) -> float:
    """`v` on a grid of 2**-20: float noise around an exact half (a symmetric drawing's centre)
    then rounds the same way here and in the page, whose sums run in another order."""
    return math.floor(v * 2**20 + 0.5) / 2**20


def mnistify(ink: np.ndarray, min_ink_fraction: float = MIN_INK_FRACTION, trim: float = 0.0) -> np.ndarray:
    """Crop, fit into 20x20 keeping the aspect ratio, and centre by centre of mass in 28x28.

    Args:
        ink: (H, W) array of numbers in [0, 1], ink bright (1) on a dark (0) background.
        min_ink_fraction: below this share of ink pixels the image counts as empty.
        trim: share of the ink mass ignored at each side when cropping (keeps stray specks
            in photos from widening the box); 0 keeps every pixel.

    Returns:
        (28, 28) float32 in [0, 1], the brightest pixel at 1.

    Raises:
        EmptyImageError: when there is (almost) no ink.
        ValueError: not a 2-D numeric array, NaN or inf, or values outside [0, 1].
    """
    ink = np.clip(unit_range(ink, "The ink image"), 0.0, 1.0)  # clip: float rounding only
    if ink.ndim != 2 or min(ink.shape) < 1:
        raise ValueError(f"Expected a 2-D ink image. Received: shape={ink.shape}")
    # Thresholds compared in float32, as the page compares them (Math.fround).
    ink = np.where(ink >= np.float32(INK_LEVEL * 0.5), ink, np.float32(0))  # drop faint haze
    if np.count_nonzero(ink >= np.float32(INK_LEVEL)) < max(1.0, min_ink_fraction * ink.size):
        raise EmptyImageError("Nothing to read yet: draw a digit (or upload a clearer photo).")
    top, bottom, left, right = _ink_bbox(ink, trim)
    crop = ink[top:bottom + 1, left:right + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))  # round(): half to even
    small = resample(crop, new_h, new_w)
    small = np.where(small > 0, small, np.float32(0))  # Lanczos rings below 0
    if not small.any():
        raise EmptyImageError("Nothing to read yet: draw a digit (or upload a clearer photo).")
    small = np.minimum(small / small.max(), np.float32(1))
    r0, c0 = (SIZE - new_h) // 2, (SIZE - new_w) // 2
    # The centre of mass of the box centred in 28x28 (as scipy.ndimage.center_of_mass); integer
    # shifts keep the strokes sharp, and the box never leaves the frame.
    total = float(small.sum(dtype=np.float64))
    cy = r0 + float(small.sum(axis=1, dtype=np.float64) @ np.arange(new_h)) / total
    cx = c0 + float(small.sum(axis=0, dtype=np.float64) @ np.arange(new_w)) / total
    dy = int(np.clip(round(SIZE / 2 - _snap(cy)), -r0, SIZE - new_h - r0))
    dx = int(np.clip(round(SIZE / 2 - _snap(cx)), -c0, SIZE - new_w - c0))
    out = np.zeros((SIZE, SIZE), np.float32)
    out[r0 + dy:r0 + dy + new_h, c0 + dx:c0 + dx + new_w] = small
    return out


def _stroke_points(stroke, i: int) -> np.ndarray:
    try:
        pts = np.asarray(stroke, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"Stroke {i} must be a list of (x, y) points. Received: {str(stroke)[:60]}") from None
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise ValueError(f"Stroke {i} must be a non-empty list of (x, y) points. Received: shape={pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError(f"Stroke {i} has NaN or infinite coordinates. Received: {str(stroke)[:60]}")
    return pts


def _count_points(strokes) -> int:
    """All strokes' points, counted before any is converted: a forged message of 500 strokes of a
    million points each is refused at once, not after building arrays of it."""
    if isinstance(strokes, (str, bytes, dict)) or not hasattr(strokes, "__len__"):
        raise ValueError(f"Strokes must be a list of strokes, each a list of (x, y) points. "
                         f"Received: {type(strokes).__name__}")
    if len(strokes) > MAX_STROKES:
        raise ValueError(f"Too many strokes: at most {MAX_STROKES}. Received: {len(strokes)}. "
                         "Clear the pad and draw one digit.")
    total = 0
    for i, stroke in enumerate(strokes):
        if isinstance(stroke, (str, bytes, dict)) or not hasattr(stroke, "__len__"):
            raise ValueError(f"Stroke {i} must be a list of (x, y) points. Received: {str(stroke)[:60]}")
        total += len(stroke)
    if total > MAX_POINTS:
        raise ValueError(f"Too many points: at most {MAX_POINTS} in all strokes. Received: {total}. "
                         "Clear the pad and draw one digit.")
    return total


def _raster(points: list[np.ndarray], radius: float) -> np.ndarray:
    """Strokes drawn with a round pen of `radius` on RASTER x RASTER, anti-aliased, float64.

    A pixel's ink is clip(radius - d + 0.5, 0, 1), d the distance from its centre to the nearest
    segment (a one-point stroke is a dot), so joins and ends are round. Each segment is worked
    out over a square around it; every (pixel, segment) pair gets the page's arithmetic
    (`rasterise` in lab/compute.js) operation for operation, and the maximum over segments is
    exact whatever its order, so both give the same bits. Segments are batched by square size.
    """
    reach = radius + 0.5  # no ink beyond this distance from a segment
    seg = np.concatenate([np.hstack([p[:-1], p[1:]]) if len(p) > 1 else np.hstack([p, p]) for p in points])
    x0, y0, x1, y1 = (seg[:, i, None, None] for i in range(4))  # (n, 1, 1) each
    lo = np.maximum(np.floor(np.minimum(seg[:, :2], seg[:, 2:]) - reach), 0).astype(np.int64)  # (n, 2): x, y
    hi = np.minimum(np.ceil(np.maximum(seg[:, :2], seg[:, 2:]) + reach), RASTER - 1).astype(np.int64)
    side = np.minimum(-(-(hi - lo + 1).max(axis=1) // 4) * 4, RASTER)  # squares of a multiple of 4 px
    start = np.minimum(lo, RASTER - side[:, None])  # the square stays inside the raster
    img = np.zeros(RASTER * RASTER)
    for k in np.unique(side):
        members = np.flatnonzero(side == k)
        for part in np.array_split(members, -(-len(members) * int(k) ** 2 // _BATCH_PIXELS)):
            cols = start[part, 0, None, None] + np.arange(k)[None, None, :]  # (m, 1, k)
            rows = start[part, 1, None, None] + np.arange(k)[None, :, None]  # (m, k, 1)
            wx, wy = (cols + 0.5) - x0[part], (rows + 0.5) - y0[part]
            vx, vy = x1[part] - x0[part], y1[part] - y0[part]
            length2 = vx * vx + vy * vy
            # In place, each step the page's: t = clip((w . v) / |v|^2, 0, 1) (a dot keeps t = 0),
            # d = |w - t v|, ink = clip(radius - d + 0.5, 0, 1).
            t = wx * vx + wy * vy
            np.divide(t, length2, out=t, where=length2 > 0)
            np.clip(t, 0.0, 1.0, out=t)
            dx, dy = t * vx, t * vy
            np.subtract(wx, dx, out=dx)
            np.subtract(wy, dy, out=dy)
            dx *= dx
            dy *= dy
            dx += dy
            ink = np.sqrt(dx, out=dx)
            np.subtract(radius, ink, out=ink)
            ink += 0.5
            np.clip(ink, 0.0, 1.0, out=ink)
            np.maximum.at(img, (rows * RASTER + cols).ravel(), ink.ravel())
    return img.reshape(RASTER, RASTER)


def from_strokes(strokes, size: float) -> np.ndarray:
    """The drawing pad's strokes -> (28, 28), the same whatever size the pad was displayed at.

    Args:
        strokes: a list of strokes, each a sequence of (x, y) points in the pad's displayed CSS
            pixels (0 to `size`, y down); a stroke of one point is a dot.
        size: the pad's displayed side in CSS pixels (it is square).

    The strokes are scaled to a fixed RASTER x RASTER image (points outside it are moved to its
    edge) and drawn with an anti-aliased round pen `PEN_FRACTION` of the side wide, then
    `mnistify`. The page computes the same (`fromStrokes` in lab/compute.js).

    Raises:
        EmptyImageError: nothing drawn, or too little (a dot) to be a digit.
        ValueError: a size that is not a positive number, strokes that are not lists of (x, y)
            points, NaN or inf coordinates, more than MAX_STROKES strokes or MAX_POINTS points,
            strokes longer than MAX_INK_PADS pad sides in all.
    """
    if isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating)) \
            or not np.isfinite(size) or size <= 0:
        raise ValueError(f"The pad size must be a positive number of pixels. Received: size={size!r}")
    _count_points(strokes)
    if not len(strokes):
        raise EmptyImageError("Nothing drawn yet: draw a digit on the pad.")
    scale = RASTER / float(size)
    points = [np.clip(_stroke_points(s, i) * scale, 0.0, float(RASTER)) for i, s in enumerate(strokes)]
    length = sum(float(np.sqrt((np.diff(p, axis=0) ** 2).sum(axis=1)).sum()) for p in points)
    if length > MAX_INK_PADS * RASTER:
        raise ValueError(f"Too much ink: at most {MAX_INK_PADS} pad sides of strokes in all. Received: "
                         f"{math.floor(length / RASTER)}. Clear the pad and draw one digit.")
    every = np.concatenate(points)
    span = float((every.max(axis=0) - every.min(axis=0)).max())
    pen = PEN_FRACTION * RASTER
    if span < MIN_SPAN_PENS * pen:
        raise EmptyImageError("Keep going: a dot is not a digit yet. Draw a whole digit.")
    return mnistify(_raster(points, pen / 2), min_ink_fraction=0.0)


def _open(data: bytes) -> Image.Image:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise NotAnImageError(f"Expected the bytes of a PNG or JPEG file. Received: {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_BYTES:
        raise ImageTooLargeError(f"The file is {len(data) / 1e6:.1f} MB; the limit is "
                                 f"{MAX_BYTES / 1e6:.0f} MB. Crop or shrink the photo and try again.")
    if not data:
        raise NotAnImageError("The file is empty. Upload a PNG or JPEG photo of a digit.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=list(FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageTooLargeError("The image has too many pixels to open safely. Upload a smaller "
                                     "photo (a few megapixels is plenty).") from None
        except Image.UnidentifiedImageError:
            raise NotAnImageError("This file is not a PNG or JPEG image. Upload a photo or scan of a "
                                  "handwritten digit.") from None
        except DECODE_ERRORS as exc:  # recognised, but the header is damaged or cut short
            raise BrokenImageError(f"The image could not be decoded (it may be truncated or corrupt: "
                                   f"{str(exc)[:120]}). Try saving it again.") from None
    if img.width * img.height > MAX_PIXELS:
        raise ImageTooLargeError(f"The image is {img.width}x{img.height} pixels; the limit is "
                                 f"{MAX_PIXELS / 1e6:.0f} megapixels. Upload a smaller photo.")
    try:
        img.draft("L", (WORK_SIDE * 2, WORK_SIDE * 2))  # JPEG: decode at reduced size, fast
        img.load()
    except (*DECODE_ERRORS, Image.DecompressionBombError) as exc:
        raise BrokenImageError(f"The {img.format} file could not be decoded (it may be truncated or "
                               f"corrupt: {str(exc)[:120]}). Try saving it again.") from None
    return img


def from_image_bytes(data: bytes) -> np.ndarray:
    """An uploaded PNG or JPEG of a handwritten digit -> (28, 28): `from_photo(decode_photo(data))`.

    Raises:
        ImageTooLargeError, NotAnImageError, BrokenImageError, EmptyImageError,
        SeveralDigitsError (two or more digits side by side).
    """
    return from_photo(decode_photo(data))


def decode_photo(data: bytes) -> Image.Image:
    """The upload decoded once: checked, turned upright (EXIF), on paper, grey ("L"), its longest
    side at most WORK_SIDE. Transparent pixels become paper that contrasts with the ink: white
    under dark ink, black under light ink.

    Raises:
        ImageTooLargeError, NotAnImageError, BrokenImageError.
    """
    img = _open(data)
    try:
        img = ImageOps.exif_transpose(img)
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            ink = np.asarray(rgba.convert("L"), np.float32)[np.asarray(rgba.getchannel("A")) > 127]
            level = 0 if ink.size and float(ink.mean()) > 127 else 255  # light ink: black paper
            img = Image.alpha_composite(Image.new("RGBA", rgba.size, (level, level, level, 255)), rgba)
        if img.mode in ("I", "F") or img.mode.startswith("I;16"):  # 16-bit (or 32-bit) greyscale:
            wide = np.asarray(img, dtype=np.float32)  # convert("L") would clip it to white, not scale it
            peak = 255.0 if wide.max() <= 255 else 65535.0
            img = Image.fromarray(np.round(np.clip(wide / peak, 0, 1) * 255).astype(np.uint8))
        img = img.convert("L")
        img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
        img.load()
    except DECODE_ERRORS as exc:
        raise BrokenImageError(f"The image could not be read ({str(exc)[:120]}). Try saving it "
                               "again as PNG or JPEG.") from None
    return img


def from_photo(img: Image.Image) -> np.ndarray:
    """A decoded photo (`decode_photo`) -> (28, 28).

    Dark ink on light paper (the usual photo or scan) is detected and inverted; the paper's
    brightness is removed locally so a grey background or a shadow does not count as ink.

    Raises:
        EmptyImageError, SeveralDigitsError (two or more digits side by side).
    """
    ink = ink_from_photo(np.asarray(img, dtype=np.float32) / 255.0)
    if (n := count_digits(ink)) > 1:
        raise SeveralDigitsError(f"The image seems to hold {n} digits side by side; the models read one "
                                 "digit at a time. Crop the photo to a single digit and upload it again.")
    return mnistify(ink, min_ink_fraction=MIN_INK_FRACTION_PHOTO, trim=0.002)


def ink_from_photo(gray: np.ndarray) -> np.ndarray:
    """A grey photo in [0, 1] -> ink in [0, 1], bright on dark, paper level removed.

    Light ink on dark paper is inverted first (`_dark_ink` tells which), so the ink is dark on
    light. The paper's own brightness is then measured
    locally (a grey closing wider than any stroke), and the ink is how much darker than its local
    paper a pixel is, as a share of it: a shadow across the page darkens paper and ink alike and
    does not become ink. After a 3x3 median filter (noise, single specks) the ink is stretched so
    its strongest strokes reach 1.
    """
    gray = np.asarray(gray, dtype=np.float32)
    ink = _ink_on_paper(gray if _dark_ink(gray) else 1.0 - gray)  # as dark ink on light paper
    top = float(ink.max())
    if top <= 0.08:  # no contrast at all: a blank page
        raise EmptyImageError("No digit found in the image: it looks blank. Upload a photo with dark "
                              "ink on light paper (or light ink on dark).")
    return np.clip(ink / top, 0.0, 1.0)


def _dark_ink(gray: np.ndarray) -> bool:
    """Whether the ink is darker than its paper.

    Strokes stand out from what surrounds them. A median over a third of the photo keeps the paper
    and the straight edge of a shadow (most of a window centred on one side of it lies on that
    side) and drops the strokes; the ink is on the side, darker or lighter, whose departures from
    it are clearly the stronger. When neither is (a digit that fills the frame, whose surroundings
    are mostly ink), the majority brightness decides: most of a photo is paper. The majority alone
    is wrong for a photo mostly in a deep shadow, whose paper is dark."""
    from scipy import ndimage

    small = gray[:: max(1, max(gray.shape) // POLARITY_SIDE), :: max(1, max(gray.shape) // POLARITY_SIDE)]
    away = small - ndimage.median_filter(small, size=max(3, max(small.shape) // 3) | 1, mode="nearest")
    dark, light = float(np.sum(np.minimum(away, 0) ** 2)), float(np.sum(np.maximum(away, 0) ** 2))
    if max(dark, light) > POLARITY_MARGIN * min(dark, light):
        return dark > light
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(np.median(np.concatenate([gray.ravel(), border]))) > 0.5


def _ink_on_paper(light: np.ndarray) -> np.ndarray:
    """How much darker than its local paper each pixel of `light` (dark ink on light paper) is."""
    from scipy import ndimage  # uploads only: SciPy takes 0.4 s to import, the page does not need it
    from skimage.morphology import reconstruction

    side = max(3, max(light.shape) // PAPER_WINDOW)
    # A median first: the closing keeps local maxima, and of sensor noise it would keep the peaks;
    # a median, unlike a mean, keeps the edge of a hard shadow where it is.
    smooth = ndimage.median_filter(light, size=5)
    closed = ndimage.grey_closing(smooth, size=(side, side), mode="nearest")
    # Where a slanted shadow edge meets the photo's border, the shadow between the edge and the
    # border narrows to a point that no window fits in: the closing fills that corner with the lit
    # paper, and the shadowed paper there reads as ink (and widens the crop). Near the border the
    # paper level is flooded in from the shadow the closing kept (a reconstruction by erosion:
    # paper joined to it by nothing brighter takes its level). Only near the border: elsewhere a
    # stroke wider than the window, which the closing keeps, would flood the digit it belongs to.
    band = np.ones(light.shape, bool)
    band[side:-side, side:-side] = False
    closed = np.where(band, reconstruction(closed, smooth, method="erosion"), closed)
    # The closing, smoothed, but never brighter than the closing itself: smoothing alone spreads
    # the lit paper across the edge of a hard shadow, and the shadowed paper along it reads as ink.
    paper = np.minimum(ndimage.uniform_filter(closed, size=side // 2 + 1, mode="nearest"), closed)
    # Along a slanted shadow edge the paper level still lags a pixel into the shadow (the median
    # rounds the edge's steps; shrinking the photo blends a line of pixels across it): a 3x3
    # minimum moves it back. Over a stroke narrower than the window the paper level is flat, so
    # the ink keeps its strength; on a small image, whose strokes are as wide as its window (an
    # MNIST digit itself), the paper level dips over them and a minimum would spread the dips.
    if side >= SHADOW_EDGE_MIN_WINDOW:
        paper = ndimage.grey_erosion(paper, size=3, mode="nearest")
    # A 3x3 median drops sensor noise and single specks (shadowed paper is dark, so its noise is
    # large as a share of it); strokes are wider than 3 pixels at this size.
    return ndimage.median_filter(1.0 - light / np.maximum(paper, 0.05), size=3)


def count_digits(ink: np.ndarray) -> int:
    """How many ink blobs stand side by side like separate digits (columns of paper between them).

    A blob counts when it holds at least MIN_DIGIT_MASS of the ink and is at least
    MIN_DIGIT_HEIGHT of the ink's height, so a stray mark or a dash does not make two digits.
    """
    from scipy import ndimage

    strong = ndimage.median_filter(np.asarray(ink, np.float32), size=3) >= 0.3
    if not strong.any():
        return 0
    rows = np.flatnonzero(strong.any(axis=1))
    height = rows[-1] - rows[0] + 1
    cols = strong.any(axis=0)
    gap = max(2, int(DIGIT_GAP * len(cols)))  # a thinner gap is a break inside one digit
    runs, start, empty = [], None, 0
    for x, c in enumerate(cols):
        if c:
            if start is None:
                start = x
            empty = 0
        elif start is not None:
            empty += 1
            if empty >= gap:
                runs.append((start, x - empty + 1))
                start, empty = None, 0
    if start is not None:
        runs.append((start, len(cols) - empty))
    mass = strong.sum()
    digits = 0
    for a, b in runs:
        part = strong[:, a:b]
        r = np.flatnonzero(part.any(axis=1))
        if part.sum() >= MIN_DIGIT_MASS * mass and r[-1] - r[0] + 1 >= MIN_DIGIT_HEIGHT * height:
            digits += 1
    return digits
