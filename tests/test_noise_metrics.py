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
