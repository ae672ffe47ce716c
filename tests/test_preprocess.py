"""ae_core.preprocess: the pad's strokes and uploaded photos -> 28x28 digits, the MNIST way."""
import functools
import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from scipy import ndimage

from ae_core import preprocess as pp


def png_bytes(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def check_mnist_like(x: np.ndarray):
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() == pytest.approx(1.0)
    rows, cols = np.flatnonzero(x.max(axis=1) > 0), np.flatnonzero(x.max(axis=0) > 0)
    assert max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) <= 21  # fits the 20x20 box (+ filter edge)
    cy, cx = ndimage.center_of_mass(x)
    assert abs(cy - 14) <= 1.0 and abs(cx - 14) <= 1.0  # centred by centre of mass


def photo_of_seven(paper=215, ink=40, size=(640, 480), noise=6.0, seed=0) -> Image.Image:
    """Dark ink on greyish paper with sensor noise, like a phone photo."""
    img = Image.new("L", size, paper)
    d = ImageDraw.Draw(img)
    d.line([(250, 120), (400, 120), (300, 380)], fill=ink, width=18, joint="curve")
    a = np.asarray(img, np.float32) + np.random.default_rng(seed).normal(0, noise, (size[1], size[0]))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def test_dark_ink_photo_is_inverted_and_matches_the_drawing():
    x = pp.from_image_bytes(png_bytes(photo_of_seven().convert("RGB"), "JPEG", quality=85))
    check_mnist_like(x)
    assert x[0, 0] == 0.0 and x.mean() < 0.3  # black background, white ink
    drawn = pp.from_strokes(SEVEN, 280)
    assert np.corrcoef(x.ravel(), drawn.ravel())[0, 1] > 0.6


def test_light_ink_on_dark_is_not_inverted():
    photo = Image.fromarray(255 - np.asarray(photo_of_seven()))
    x = pp.from_image_bytes(png_bytes(photo))
    check_mnist_like(x)
    assert x[0, 0] == 0.0


def test_transparent_png_counts_as_paper():
    img = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(100, 20), (100, 180)], fill=(0, 0, 0, 255), width=14)
    check_mnist_like(pp.from_image_bytes(png_bytes(img)))


def test_mnist_digit_round_trips_nearly_unchanged():
    from tests.helpers import bundled

    digit = bundled().x_test[0]
    x = pp.from_image_bytes(png_bytes(Image.fromarray((digit * 255).astype(np.uint8))))
    assert np.corrcoef(x.ravel(), digit.ravel())[0, 1] > 0.9


def test_blank_page_is_empty():
    with pytest.raises(pp.EmptyImageError, match="blank"):
        pp.from_image_bytes(png_bytes(Image.new("L", (300, 300), 230)))


@pytest.mark.parametrize("data", [b"", b"hello, I am a text file", b"%PDF-1.4 ...", b"GIF89a" + bytes(100)],
                         ids=["empty", "text", "pdf", "gif"])
def test_non_images_get_a_clear_message(data):
    with pytest.raises(pp.NotAnImageError, match="PNG or JPEG"):
        pp.from_image_bytes(data)


def test_truncated_file_is_broken_not_a_crash():
    data = png_bytes(photo_of_seven(), "JPEG")
    with pytest.raises(pp.BrokenImageError, match="truncated or corrupt"):
        pp.from_image_bytes(data[: len(data) // 3])
    png = png_bytes(photo_of_seven())
    with pytest.raises(pp.ImageInputError):
        pp.from_image_bytes(png[: len(png) // 2])


def huge_png_header(width, height) -> bytes:
    """A tiny file declaring an enormous image: the classic decompression bomb."""
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(pp.ImageTooLargeError, match="pixels"):
        pp.from_image_bytes(huge_png_header(30000, 30000))
    with pytest.raises(pp.ImageTooLargeError, match="megapixels"):
        pp.from_image_bytes(huge_png_header(8000, 6000))


def test_file_size_cap():
    with pytest.raises(pp.ImageTooLargeError, match="MB"):
        pp.from_image_bytes(b"\x89PNG" + bytes(pp.MAX_BYTES))


def test_errors_are_value_errors():
    assert issubclass(pp.ImageInputError, ValueError)
    for cls in (pp.EmptyImageError, pp.NotAnImageError, pp.BrokenImageError, pp.ImageTooLargeError):
        assert issubclass(cls, pp.ImageInputError)


# --- the drawing pad's strokes ------------------------------------------------------------

SEVEN = [[(60, 50), (200, 50), (120, 230)]]  # on a 280 px pad


def scaled(strokes, factor):
    return [[(x * factor, y * factor) for x, y in s] for s in strokes]


def test_strokes_become_a_centred_20px_digit():
    x = pp.from_strokes(SEVEN, 280)
    check_mnist_like(x)
    rows = np.flatnonzero(x.max(axis=1) > 0.05)
    assert rows[-1] - rows[0] + 1 >= 19  # the longer side fills the 20px box
    assert (x[rows[0] + 1] > 0.5).sum() >= 12  # the 7's bar on top
    assert x[rows[0] + 8:, :8].max() == 0.0  # and nothing at its bottom left


def test_the_place_on_the_pad_does_not_matter_and_a_smaller_digit_gets_thicker_strokes():
    seven = pp.from_strokes(SEVEN, 280)
    elsewhere = pp.from_strokes([[(x - 37.3, y + 41.7) for x, y in SEVEN[0]]], 280)
    assert np.abs(elsewhere - seven).mean() < 0.05  # sub-pixel moves: anti-aliasing and a 1-pixel crop change
    smaller = pp.from_strokes([[(40 + x * 0.6, 90 + y * 0.6) for x, y in SEVEN[0]]], 280)
    assert np.abs(smaller - seven).mean() < 0.08
    assert stroke_width(smaller) > 1.3 * stroke_width(seven)  # the pen is a share of the pad, not of the digit


def test_aspect_ratio_is_kept():
    x = pp.from_strokes([[(140, 40), (140, 240)]], 280)
    check_mnist_like(x)
    cols, rows = np.flatnonzero(x.max(axis=0) > 0.05), np.flatnonzero(x.max(axis=1) > 0.05)
    assert rows[-1] - rows[0] + 1 >= 19 and cols[-1] - cols[0] + 1 <= 5  # a thin upright stroke


@pytest.mark.parametrize("size", [120, 240, 333.5, 600, 1200])
def test_the_same_drawing_gives_the_same_digit_at_any_pad_size(size):
    np.testing.assert_allclose(pp.from_strokes(scaled(SEVEN, size / 280), size),
                               pp.from_strokes(SEVEN, 280), atol=2e-3)


def stroke_width(x: np.ndarray) -> float:
    """2 x area / perimeter of the pixels over 0.5 (benchmarks/pad_ink.py measures it the same way)."""
    b = np.pad(x > 0.5, 1).astype(int)
    return 2 * b.sum() / (np.abs(np.diff(b, axis=0)).sum() + np.abs(np.diff(b, axis=1)).sum())


def test_the_pen_follows_the_pad_so_the_stroke_width_is_mnist_like():
    """A digit covering 60% of the pad's height gets about MNIST's 2 px strokes, at any pad size."""
    t = np.linspace(0, 2 * np.pi, 40)
    digits = [[[(0.5 + 0.32 * np.cos(a), 0.5 + 0.48 * np.sin(a)) for a in t]],  # 0
              [[(0.35, 0.15), (0.55, 0.0), (0.55, 1.0)]],  # 1
              [[(0.1, 0.0), (0.9, 0.0), (0.4, 1.0)]],  # 7
              [[(0.6, 0.0), (0.05, 0.7), (0.95, 0.7)], [(0.7, 0.35), (0.7, 1.0)]]]  # 4
    for size in (200, 500):
        side = 0.6 * size
        x0, y0 = (size - 0.7 * side) / 2, (size - side) / 2
        widths = [stroke_width(pp.from_strokes([[(x0 + 0.7 * side * x, y0 + side * y) for x, y in s] for s in d], size))
                  for d in digits]
        assert 1.6 <= np.mean(widths) <= 2.6, widths


def test_the_pen_is_anti_aliased_by_distance():
    """A pixel's ink is clip(r - d + 0.5, 0, 1), d its centre's distance to the stroke."""
    r = pp.PEN_FRACTION * pp.RASTER / 2
    img = pp._raster([np.array([[50.0, 96.0], [150.0, 96.0]])], r)
    d = np.abs(np.arange(pp.RASTER) + 0.5 - 96.0)
    np.testing.assert_array_equal(img[:, 100], np.clip(r - d + 0.5, 0, 1))  # across the middle
    ends = np.hypot(np.arange(pp.RASTER) + 0.5 - 150.0, 96.5 - 96.0)
    np.testing.assert_allclose(img[96, 150:], np.clip(r - ends[150:] + 0.5, 0, 1), atol=1e-12)  # a round end
    assert img[:, 10].max() == 0.0 and img[96, 40] == 0.0 and 0 < img[96, 41] < 1  # 9.5 and 8.5 px from the end


def test_resample_is_pils_lanczos():
    rng = np.random.default_rng(0)
    for h, w, new_h, new_w in [(192, 150, 20, 16), (7, 180, 1, 20), (3, 3, 20, 20), (40, 9, 20, 5), (20, 20, 20, 20)]:
        a = (rng.random((h, w)) * (rng.random((h, w)) < 0.3)).astype(np.float32)
        pil = np.asarray(Image.fromarray(a, mode="F").resize((new_w, new_h), Image.Resampling.LANCZOS))
        np.testing.assert_allclose(pp.resample(a, new_h, new_w), pil, atol=1e-6)


def test_a_symmetric_drawing_is_centred_by_its_snapped_centre():
    """Four dots in a square: the centre of mass is an exact half, and rounds half to even."""
    x = pp.from_strokes([[(96, 96)], [(224, 96)], [(96, 224)], [(224, 224)]], 320)
    rows = np.flatnonzero(x.max(axis=1) > 0)
    assert (rows[0] + rows[-1]) / 2 == 13.5  # the 20-row box starts at row 4: 14 - 13.5 rounds to 0


def test_several_strokes_and_numpy_points():
    four = [np.array([(170, 30), (40, 190), (240, 190)], np.float32), [(190, 100), (190, 260)]]
    x = pp.from_strokes(four, 280)
    check_mnist_like(x)


@pytest.mark.parametrize("strokes", [[], [[(140, 140)]], [[(140, 140), (145, 142)]], [[(10, 10)], [(12, 11)]]],
                         ids=["empty", "one-dot", "tiny-stroke", "two-dots"])
def test_empty_pad_or_a_dot_is_not_a_digit(strokes):
    with pytest.raises(pp.EmptyImageError, match="draw a digit|not a digit") as err:
        pp.from_strokes(strokes, 280)
    if not strokes:
        assert "Nothing drawn" in str(err.value)
    else:
        assert "dot" in str(err.value)


def test_strokes_beyond_the_pad_are_clipped_not_an_error():
    huge = [[(-5000, -5000), (1e6, 1e6)], [(-1e5, 280), (280, -1e5)]]
    check_mnist_like(pp.from_strokes(huge, 280))


class Forged:
    """A stroke claiming a million points that fails the test if anything converts it."""
    def __len__(self):
        return 1_000_000

    def __getitem__(self, i):
        raise AssertionError("a stroke was converted before the points were counted")

    def __iter__(self):
        raise AssertionError("a stroke was converted before the points were counted")


def test_a_forged_message_is_refused_before_any_stroke_is_converted():
    with pytest.raises(ValueError, match="Too many points.*Received: 500000000"):
        pp.from_strokes([Forged()] * 500, 280)
    with pytest.raises(ValueError, match="Too many points.*Received: 1000002"):
        pp.from_strokes([[(1, 1), (200, 200)], Forged()], 280)


def test_a_forged_message_of_real_lists_is_refused_at_once():
    import time

    stroke = [[1.0, 2.0]] * 1_000_000  # one list, 500 times: 8 MB here, 500 million points to the server
    start = time.perf_counter()
    with pytest.raises(ValueError, match="Too many points"):
        pp.from_strokes([stroke] * 500, 280)
    assert time.perf_counter() - start < 0.5


def test_too_much_ink_is_refused():
    zigzag = [[(0, 0), (280, 280)] * 101]  # 201 diagonals of 1.414 pad sides: 284 in all
    with pytest.raises(ValueError, match=r"Too much ink: at most 200 pad sides.*Received: 284\."):
        pp.from_strokes(zigzag, 280)
    check_mnist_like(pp.from_strokes([[(0, 0), (280, 280)] * 70], 280))


@pytest.mark.parametrize("strokes,size,message", [
    (SEVEN, 0, "positive number"),
    (SEVEN, -280, "positive number"),
    (SEVEN, float("nan"), "positive number"),
    (SEVEN, "280", "positive number"),
    ([[(1, float("nan")), (5, 5)]], 280, "NaN or infinite"),
    ([[(1, float("inf")), (5, 5)]], 280, "NaN or infinite"),
    ([[(1, 2, 3)]], 280, r"shape=\(1, 3\)"),
    ([[]], 280, "non-empty"),
    ([["a", "b"]], 280, "Stroke 0"),
    ("M 1 2 L 3 4", 280, "list of strokes"),
    ({"strokes": []}, 280, "list of strokes"),
    ([[(1, 1), (2, 2)]] * (pp.MAX_STROKES + 1), 280, "Too many strokes"),
    ([[(1, 1)] * (pp.MAX_POINTS + 1)], 280, "Too many points"),
    ([[(1, 1)] * 10_000, [(1, 1)] * 10_001], 280, "Too many points"),
    ([[(1, 1), (5, 5)], 7], 280, "Stroke 1 must be a list"),
    ([[(1, 1), (5, 5)], "ab"], 280, "Stroke 1 must be a list"),
], ids=["zero", "negative", "nan-size", "str-size", "nan", "inf", "3d", "empty-stroke", "text", "str",
        "dict", "many-strokes", "many-points", "many-points-in-all", "number-stroke", "str-stroke"])
def test_bad_strokes_get_a_clear_error(strokes, size, message):
    with pytest.raises(ValueError, match=message) as err:
        pp.from_strokes(strokes, size)
    assert not isinstance(err.value, pp.EmptyImageError)
    assert "Received" in str(err.value)


# --- photos with uneven light, several digits -----------------------------------------------

def shadowed(img: Image.Image, darkest=0.45) -> Image.Image:
    """The photo under a shadow: brightness falls from 1 at the right edge to `darkest` at the left."""
    a = np.asarray(img, np.float32)
    light = np.linspace(darkest, 1.0, a.shape[1])[None, :]
    return Image.fromarray(np.clip(a * light, 0, 255).astype(np.uint8))


def test_a_shadow_across_the_page_is_not_ink():
    plain = pp.from_image_bytes(png_bytes(photo_of_seven()))
    x = pp.from_image_bytes(png_bytes(shadowed(photo_of_seven()), "JPEG", quality=90))
    check_mnist_like(x)
    assert np.corrcoef(x.ravel(), plain.ravel())[0, 1] > 0.9  # the same 7, not a dark left half
    # Under the old global threshold the shadowed paper (0.45 x 215 = 97 of 255) read as ink.
    assert (x > 0.5).mean() < 0.25


@pytest.mark.parametrize("shade", [160, 120, 80])
def test_a_hard_edged_shadow_leaves_no_ink_along_its_edge(shade):
    """A hard shadow edge beside the digit: the lit paper must not be smeared across the edge,
    where the shadowed paper would read as ink, widen the crop and shrink the digit."""
    def seven(shadow: bool) -> bytes:
        img = Image.new("L", (600, 600), 225)
        d = ImageDraw.Draw(img)
        if shadow:
            d.rectangle([0, 0, 120, 600], fill=shade)
        d.line([(230, 150), (380, 150), (280, 460)], fill=35, width=18)
        return png_bytes(img)

    plain, x = pp.from_image_bytes(seven(False)), pp.from_image_bytes(seven(True))
    rows = np.flatnonzero(x.max(axis=1) > 0.2)
    assert rows[-1] - rows[0] + 1 == 20  # the digit fills the 20-pixel box, as without the shadow
    assert np.abs(x - plain).max() < 0.05


@functools.lru_cache(maxsize=None)
def photo_of_mnist_digit(angle=None, shade=None, index=0, side=600, paper=225, ink=30, edge=160) -> bytes:
    """A real MNIST digit written 10x large on paper with mild sensor noise, as a phone's JPEG.

    With `angle` (degrees from horizontal), a hard shadow across the page: paper and ink on the far
    side of a line at that angle, `edge` px from the centre (160: beside the digit; -200: the shadow
    covers the digit and most of the page), darkened to `shade`.
    """
    from tests.helpers import bundled

    big = Image.fromarray((bundled().x_test[index] * 255).astype(np.uint8)).resize((280, 280), Image.Resampling.BICUBIC)
    a = np.full((side, side), float(paper), np.float32)
    o = (side - 280) // 2
    a[o:o + 280, o:o + 280] -= (paper - ink) * np.asarray(big, np.float32) / 255
    if angle is not None:
        y, x = np.mgrid[0:side, 0:side] - side / 2
        t = np.deg2rad(angle)
        a = np.where(y * np.cos(t) - x * np.sin(t) > edge, a * (shade / paper), a)
    a += np.random.default_rng(0).normal(0, 4.0, a.shape)
    return png_bytes(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)), "JPEG", quality=90)


@functools.lru_cache(maxsize=1)
def shadow_free_digit() -> np.ndarray:
    return pp.from_image_bytes(photo_of_mnist_digit())


@functools.lru_cache(maxsize=1)
def paper_beside_the_digit() -> np.ndarray:
    """The shadow-free photo's paper, 6 pixels or more away from its ink (decoded, 512 x 512)."""
    ink = pp.ink_from_photo(np.asarray(pp.decode_photo(photo_of_mnist_digit()), np.float32) / 255)
    return ~ndimage.binary_dilation(ink >= 0.1, iterations=6)


@pytest.mark.parametrize("shade", [160, 120, 80])
@pytest.mark.parametrize("angle", [0, 30, 45, 60, 90, 135])
def test_a_hard_shadow_at_any_angle_leaves_the_digit_as_it_was(angle, shade):
    """A slanted shadow edge meets the photo's border in a corner too narrow for the paper's window:
    the shadowed paper there, and along the edge, must not read as ink (it widened the crop, and a
    20-pixel digit came out as small as 9 pixels and off-centre)."""
    plain, x = shadow_free_digit(), pp.from_image_bytes(photo_of_mnist_digit(angle, shade))
    check_mnist_like(x)
    ink = pp.ink_from_photo(np.asarray(pp.decode_photo(photo_of_mnist_digit(angle, shade)), np.float32) / 255)
    assert ink[paper_beside_the_digit()].max() < pp.INK_LEVEL  # sensor noise at most

    def height(d):
        rows = np.flatnonzero(d.max(axis=1) > 0.2)
        return rows[-1] - rows[0] + 1

    assert height(plain) == 20 and abs(height(x) - 20) <= 1
    assert np.abs(np.subtract(ndimage.center_of_mass(x), ndimage.center_of_mass(plain))).max() <= 0.5
    assert np.abs(x - plain).mean() < 0.02  # the same digit, pixel for pixel


@pytest.mark.parametrize("shade", [120, 80])
@pytest.mark.parametrize("angle", [0, 30, 135])
def test_a_page_mostly_in_deep_shadow_is_still_dark_ink_on_paper(angle, shade):
    """Most of the page in a shadow darker than mid-grey: its median brightness says "light ink on
    dark paper", and the digit was inverted (a 20-pixel digit came out 3 to 6 pixels tall)."""
    photo = photo_of_mnist_digit(angle, shade, edge=-200)
    gray = np.asarray(pp.decode_photo(photo), np.float32) / 255
    assert np.median(gray) < 0.5  # the majority alone would call the paper dark
    x = pp.from_image_bytes(photo)
    check_mnist_like(x)
    assert np.corrcoef(x.ravel(), shadow_free_digit().ravel())[0, 1] > 0.95


def test_a_shadowed_blank_page_is_still_blank():
    with pytest.raises(pp.EmptyImageError, match="blank"):
        pp.from_image_bytes(png_bytes(shadowed(Image.new("L", (400, 300), 220))))


def two_digits(gap=120) -> Image.Image:
    img = Image.new("L", (300 + gap, 260), 225)
    d = ImageDraw.Draw(img)
    d.line([(80, 40), (80, 220)], fill=30, width=14)  # a 1
    x = 140 + gap
    d.line([(x, 40), (x + 110, 40), (x + 40, 220)], fill=30, width=14, joint="curve")  # a 7
    return img


def test_two_digits_side_by_side_ask_for_one():
    with pytest.raises(pp.SeveralDigitsError, match="2 digits side by side.*single digit"):
        pp.from_image_bytes(png_bytes(two_digits()))
    assert issubclass(pp.SeveralDigitsError, pp.ImageInputError)


@pytest.mark.parametrize("draw", [
    lambda d: (d.line([(60, 200), (150, 40), (150, 260)], fill=30, width=14),
               d.line([(40, 180), (200, 180)], fill=30, width=14)),  # a 4 in two strokes
    lambda d: (d.line([(100, 40), (100, 250)], fill=30, width=14), d.ellipse((190, 150, 200, 160), fill=30)),  # 1 + a speck
], ids=["four-in-two-strokes", "one-and-a-speck"])
def test_one_digit_in_pieces_is_still_one_digit(draw):
    img = Image.new("L", (260, 300), 225)
    draw(ImageDraw.Draw(img))
    check_mnist_like(pp.from_image_bytes(png_bytes(img)))
