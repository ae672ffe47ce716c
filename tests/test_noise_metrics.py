import keras
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from ae_core import metrics, noise
from tests.helpers import bundled


@pytest.mark.parametrize("kind", noise.KINDS)
def test_same_seed_same_noise(kind):
    x = bundled().x_test[:8]
    a, b = noise.add_noise(x, 0.5, seed=3, kind=kind), noise.add_noise(x, 0.5, seed=3, kind=kind)
    c = noise.add_noise(x, 0.5, seed=4, kind=kind)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == x.shape and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1


def test_gaussian_is_the_tutorial_formula():
    x = bundled().x_test[:4]
    z = np.random.default_rng(9).standard_normal(x.shape, dtype=np.float32)
    assert np.allclose(noise.gaussian(x, 0.5, seed=9), np.clip(x + 0.5 * z, 0, 1))
    assert np.array_equal(noise.gaussian(x, 0.0, seed=9), x)


def test_salt_pepper_and_mask_cover_about_the_level():
    x = np.full((4, 28, 28), 0.5, np.float32)
    sp = noise.salt_pepper(x, 0.3, seed=1)
    assert abs(np.mean(sp != 0.5) - 0.3) < 0.03
    masked = noise.mask(x, 0.5, seed=1)
    assert abs(np.mean(masked == 0.0) - 0.5) < 0.05


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_bad_level_raises(bad):
    with pytest.raises(ValueError, match="Received: level"):
        noise.gaussian(np.zeros((1, 28, 28)), bad, seed=0)
    with pytest.raises(ValueError, match="Unknown noise kind"):
        noise.add_noise(np.zeros((1, 28, 28)), 0.1, seed=0, kind="pink")


def test_metrics_match_references():
    x = bundled().x_test[:6]
    y = noise.gaussian(x, 0.3, seed=2)
    ref = [structural_similarity(a, b, data_range=1.0) for a, b in zip(x, y)]
    assert np.allclose(metrics.ssim(x, y), ref, atol=1e-6)
    k = keras.ops.convert_to_numpy(keras.losses.binary_crossentropy(x.reshape(6, -1), y.reshape(6, -1)))
    assert np.allclose(metrics.bce(x, y), k, atol=1e-4)
    assert np.allclose(metrics.psnr(x, y), 10 * np.log10(1 / metrics.mse(x, y)))
    assert metrics.psnr(x, x).max() == 100.0 and np.allclose(metrics.ssim(x, x), 1.0)


@pytest.mark.parametrize("win_size", [3, 5, 11, 27])
def test_ssim_matches_skimage_for_every_valid_window(win_size):
    x = bundled().x_test[:3]
    y = noise.gaussian(x, 0.3, seed=2)
    ref = [structural_similarity(a, b, data_range=1.0, win_size=win_size) for a, b in zip(x, y)]
    assert np.allclose(metrics.ssim(x, y, win_size=win_size), ref, atol=1e-6)


@pytest.mark.parametrize("win_size", [1, 2, 8, 29, 7.0, True, "7"])
def test_ssim_refuses_windows_skimage_refuses_or_that_have_no_variance(win_size):
    x = bundled().x_test[:2]
    with pytest.raises(ValueError, match=f"Received: win_size={win_size!r}"):
        metrics.ssim(x, x, win_size=win_size)


# --- the noise as a field of draws and a level (the page applies the level itself) ----------

@pytest.mark.parametrize("kind", noise.KINDS)
def test_add_noise_is_the_field_applied_at_the_level(kind):
    x = bundled().x_test[:5]
    for level in (0.0, 0.2, 0.5, 1.0):
        expected = noise.apply(x, noise.field(kind, 6, x.shape), level)
        assert np.array_equal(noise.add_noise(x, level, 6, kind), expected)
    # one digit as the server corrupts it, (1, 28, 28), gets the page's (28, 28) field
    one = noise.add_noise(x[:1], 0.4, 6, kind)[0]
    assert np.array_equal(one, noise.apply(x[0], noise.field(kind, 6), 0.4))


@pytest.mark.parametrize("kind", noise.KINDS)
def test_the_field_is_fixed_by_kind_and_seed(kind):
    a, b = noise.field(kind, 3), noise.field(kind, 3)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(*(noise.apply(np.zeros((28, 28), np.float32) + 0.5, noise.field(kind, s), 0.5)
                                for s in (3, 4)))


@pytest.mark.parametrize("kind", ["salt_pepper", "mask"])
def test_a_higher_level_only_adds_to_the_corrupted_pixels(kind):
    """Moving the slider up adds noise; it never reshuffles what was already corrupted."""
    x = np.full((28, 28), 0.5, np.float32)
    f = noise.field(kind, 9)
    before = np.zeros((28, 28), bool)
    for level in np.linspace(0, 1, 21):
        hit = noise.apply(x, f, float(level)) != 0.5
        assert (hit >= before).all()
        before = hit
    assert before.all()


@pytest.mark.parametrize("level,blocks", [(0.0, 0), (0.5, 24), (0.51, 25), (1.5 / 49, 2), (24.5 / 49, 24),
                                          (25.5 / 49, 26), (1.0, 49)])
def test_the_mask_blacks_out_round_level_times_49_blocks(level, blocks):
    """round() goes half to even (0.5 * 49 = 24.5 -> 24); the page rounds the same way."""
    black = noise.mask(np.ones((28, 28), np.float32), level, seed=2) == 0
    assert black.reshape(7, 4, 7, 4).all(axis=(1, 3)).sum() == blocks
    assert black.sum() == 16 * blocks


def test_field_json_is_the_field_in_little_endian_base64():
    import base64
    import json

    for kind, key, dtype in [("gaussian", "z", "<f4"), ("salt_pepper", "u", "<f8"), ("salt_pepper", "salt", "u1"),
                             ("mask", "rank", "u1")]:
        sent = json.loads(json.dumps(noise.field_json(kind, 12)))
        assert sent["kind"] == kind and sent["seed"] == 12 and sent["shape"] == [28, 28]
        decoded = np.frombuffer(base64.b64decode(sent[key]), dtype)
        assert np.array_equal(decoded, noise.field(kind, 12)[key].ravel())
    assert noise.field_json("mask", 12)["block"] == noise.MASK_BLOCK


def test_apply_and_field_refuse_what_does_not_fit():
    with pytest.raises(ValueError, match=r"shaped \(28, 28\). Received: shape=\(2, 28, 28\)"):
        noise.apply(np.zeros((2, 28, 28)), noise.field("gaussian", 0), 0.5)
    with pytest.raises(ValueError, match="Expected a noise field"):
        noise.apply(np.zeros((28, 28)), {"z": 1}, 0.5)
    with pytest.raises(ValueError, match="Received: level=2"):
        noise.apply(np.zeros((28, 28)), noise.field("gaussian", 0), 2)
    with pytest.raises(ValueError, match="Unknown noise kind"):
        noise.field("pink", 0)
    with pytest.raises(ValueError, match="Received: seed=-1"):
        noise.field("mask", -1)
    with pytest.raises(ValueError, match=r"Received: shape=\(27, 28\)"):
        noise.field("gaussian", 0, (27, 28))


def test_gaussian_never_gives_negative_zero():
    """The page writes 0.0 where NumPy's clip could keep a -0.0; so does Python."""
    x = np.full((28, 28), -0.0, np.float32)
    out = noise.gaussian(x, 0.0, seed=1)
    assert not np.signbit(out).any()
