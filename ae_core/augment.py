"""Training-time augmentation: digits as people draw, photograph and scan them.

`augment(images, seed)` returns new digits, a different random variant of each, from:
- re-rendering along the digit's skeleton with a uniform round pen (as the Lab's pad draws),
  or else a thinner or thicker stroke;
- a small affine transform: rotation, scale, shear and shift;
- sometimes a slight blur, as photos and scans are blurry.

It is pure (nothing but `seed` decides the result) and works on NumPy arrays, so training
calls it per batch (`training`, on the share `TrainConfig.augment` of the digits) and tests
call it directly.

`pad_redraw` redraws any ink through the pad's own code (`preprocess.from_strokes`): the data
sets of pad-style digits and non-digits are built with it (scripts/build_nondigit_set.py).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from . import checks

MAX_ROTATION_DEG = 12.0
SCALE_RANGE = (0.85, 1.12)
MAX_SHEAR = 0.2  # x moves by this fraction of y
MAX_SHIFT_PX = 2.0
PEN_PROBABILITY = 0.3
PEN_RADIUS_PX = (1.0, 2.2)  # half the pen's width at 28x28: the pad's pen on a digit drawn 40-90% of its side
THICKNESS_PROBABILITY = 0.6  # of the digits not re-drawn with a pen
THICKNESS_RANGE = (-0.5, 1.0)  # a full erosion would leave a third of the ink: thin strokes vanish
BLUR_PROBABILITY = 0.3
BLUR_SIGMA_PX = (0.3, 1.0)
INK_LEVEL = 0.3  # pixels above this form the shape that is skeletonized
_CENTRE = np.array([13.5, 13.5])
_DISK = ndimage.generate_binary_structure(2, 1)


def skeleton(ink: np.ndarray, level: float = INK_LEVEL) -> np.ndarray:
    """The one-pixel-wide skeleton (bool, the shape of `ink`) of the pixels above `level`."""
    from skimage.morphology import skeletonize

    return skeletonize(np.asarray(ink) > level)


def pen_redraw(image: np.ndarray, radius: float) -> np.ndarray:
    """The digit's skeleton drawn with a round pen of `radius` pixels (anti-aliased edge), at
    28x28: the fast form for training. `pad_redraw` draws through the pad's own code."""
    bone = skeleton(image)
    if not bone.any():
        return image
    distance = ndimage.distance_transform_edt(~bone)
    return np.clip(radius + 0.5 - distance, 0.0, 1.0).astype(np.float32)


def skeleton_chains(bone: np.ndarray) -> list[list[tuple[int, int]]]:
    """A one-pixel skeleton as polylines of (x, y) pixels: 8-connected pixels walked from the
    ends first, every link once (a closed loop starts anywhere on it). An isolated pixel is a
    speck of the scan, not a stroke: it is left out."""
    pixels = {(int(r), int(c)) for r, c in zip(*np.nonzero(bone))}
    near = {p: [(p[0] + dr, p[1] + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                if (dr or dc) and (p[0] + dr, p[1] + dc) in pixels] for p in pixels}
    seen: set[frozenset] = set()
    chains = []
    for start in sorted(pixels, key=lambda p: (len(near[p]) != 1, p)):  # endpoints first
        for nxt in near[start]:
            if frozenset((start, nxt)) in seen:
                continue
            chain, here = [start], start
            while nxt is not None:
                seen.add(frozenset((here, nxt)))
                chain.append(nxt)
                here = nxt
                nxt = next((q for q in near[here] if frozenset((here, q)) not in seen), None)
            chains.append([(c, r) for r, c in chain])
    return chains


def pad_redraw(ink: np.ndarray, rng: np.random.Generator, pad_px: tuple[float, float] = (240.0, 420.0),
               margin: tuple[float, float] = (0.1, 0.25), level: float = 0.5) -> np.ndarray | None:
    """Ink (H, W) in [0, 1] redrawn as someone would draw it on the Lab's pad: its skeleton as
    strokes on a pad of a random displayed side in `pad_px` (CSS pixels), leaving a random share
    `margin` of the pad free on each side, then `preprocess.from_strokes` (the pad's pen and
    fitting). Returns (28, 28) float32, or None when too little is left to draw."""
    from . import preprocess

    bone = skeleton(ink, level)
    if bone.sum() < 2:
        return None
    pad = float(rng.uniform(*pad_px))
    rows, cols = np.nonzero(bone)
    side = max(int(np.ptp(rows)), int(np.ptp(cols)), 1)
    free = rng.uniform(*margin)
    scale = pad * (1 - 2 * free) / side
    strokes = [[(free * pad + (x - cols.min()) * scale, free * pad + (y - rows.min()) * scale) for x, y in chain]
               for chain in skeleton_chains(bone)]
    try:
        return preprocess.from_strokes(strokes, pad)
    except preprocess.EmptyImageError:
        return None


def thickness(image: np.ndarray, amount: float) -> np.ndarray:
    """Thicker strokes for `amount` in (0, 1], thinner for [-1, 0): a blend towards a grey
    dilation or erosion by one pixel, so the change is gradual."""
    grown = (ndimage.grey_dilation if amount > 0 else ndimage.grey_erosion)(image, footprint=_DISK)
    return image + abs(amount) * (grown - image)


def affine(image: np.ndarray, rotation_deg: float, scale: float, shear: float,
           shift: tuple[float, float]) -> np.ndarray:
    """Rotate, scale and shear about the centre, then shift by (dy, dx) pixels (bilinear)."""
    a = np.deg2rad(rotation_deg)
    forward = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.array([[1.0, 0.0], [shear, 1.0]])
    inverse = np.linalg.inv(forward)  # affine_transform maps output coordinates to input ones
    offset = _CENTRE - inverse @ (_CENTRE + np.asarray(shift, dtype=float))
    return ndimage.affine_transform(image, inverse, offset=offset, order=1, mode="constant", cval=0.0)


def augment(images, seed: int, share: float = 1.0) -> np.ndarray:
    """A random variant of each digit; the same arguments always give the same result.

    Args:
        images: (N, 28, 28) or (N, 28, 28, 1) in [0, 1].
        seed: any non-negative integer.
        share: the chance that a digit is varied; the others are returned as they are.

    Returns:
        float32 in [0, 1], the shape of `images`.
    """
    x = checks.unit_range(images)
    if x.ndim not in (3, 4) or x.shape[1:3] != (28, 28) or (x.ndim == 4 and x.shape[3] != 1):
        raise ValueError(f"augment expects (N, 28, 28) or (N, 28, 28, 1) images. Received: shape={x.shape}")
    rng = np.random.default_rng(seed)
    out = np.empty_like(x)
    for i, image in enumerate(x.reshape(-1, 28, 28)):
        if rng.random() >= share:
            out.reshape(-1, 28, 28)[i] = image
            continue
        if rng.random() < PEN_PROBABILITY:
            image = pen_redraw(image, rng.uniform(*PEN_RADIUS_PX))
        elif rng.random() < THICKNESS_PROBABILITY:
            image = thickness(image, rng.uniform(*THICKNESS_RANGE))
        image = affine(image, rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG), rng.uniform(*SCALE_RANGE),
                       rng.uniform(-MAX_SHEAR, MAX_SHEAR), rng.uniform(-MAX_SHIFT_PX, MAX_SHIFT_PX, 2))
        if rng.random() < BLUR_PROBABILITY:  # the peak is kept: the app's preprocessing stretches contrast
            peak = image.max()
            image = ndimage.gaussian_filter(image, rng.uniform(*BLUR_SIGMA_PX), mode="constant")
            image = image * (peak / max(float(image.max()), 1e-6))
        out.reshape(-1, 28, 28)[i] = image
    return np.clip(out, 0.0, 1.0)
