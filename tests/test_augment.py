import numpy as np
import pytest

from ae_core import augment
from ae_core.config import TrainConfig
from tests.helpers import bundled


def _centroid(img: np.ndarray) -> np.ndarray:
    ys, xs = np.indices(img.shape)
    return np.array([(ys * img).sum(), (xs * img).sum()]) / img.sum()


def test_same_seed_same_digits_other_seed_other_digits():
    x = bundled().x_train[:40]
    a, b, c = augment.augment(x, seed=3), augment.augment(x, seed=3), augment.augment(x, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == x.shape and a.dtype == np.float32 and 0.0 <= a.min() and a.max() <= 1.0
    assert not np.array_equal(a, x)
    np.testing.assert_array_equal(x, bundled().x_train[:40])  # the input is left alone
    assert augment.augment(x.reshape(-1, 28, 28, 1), seed=3).shape == (40, 28, 28, 1)


def _nearest_label_accuracy(x, labels, ref, ref_labels):
    f, r = x.reshape(len(x), -1), ref.reshape(len(ref), -1)
    dist = (f ** 2).sum(1)[:, None] - 2 * f @ r.T + (r ** 2).sum(1)[None]
    return np.mean(ref_labels[dist.argmin(1)] == labels)


def test_augmented_digits_stay_recognisable():
    """Variants stay centred, keep a similar amount of ink and are still read as their digit by a
    nearest-neighbour classifier on plain training digits (pixel distance punishes every shift,
    so it reads fewer of them than of the originals)."""
    d = bundled()
    x, y = d.x_val[::4], d.y_val[::4]  # every class (the split is sorted by class)
    a = augment.augment(x, seed=0)
    shift = np.array([np.linalg.norm(_centroid(o) - _centroid(v)) for o, v in zip(x, a)])
    assert np.median(shift) < 2.0 and shift.max() < 5.0
    ink = a.reshape(len(a), -1).sum(1) / x.reshape(len(x), -1).sum(1)
    assert 0.3 < ink.min() and ink.max() < 4.0 and 0.8 < np.median(ink) < 1.4
    ref, ref_y = d.x_train[::3], d.y_train[::3]
    assert _nearest_label_accuracy(x, y, ref, ref_y) > 0.85  # 0.876 measured
    assert _nearest_label_accuracy(a, y, ref, ref_y) > 0.55  # 0.64-0.71 over seeds 0-3; chance is 0.1


def test_thickness_goes_both_ways():
    digit = bundled().x_train[0]
    assert augment.thickness(digit, 1.0).sum() > 1.3 * digit.sum()
    assert augment.thickness(digit, -1.0).sum() < 0.8 * digit.sum()
    np.testing.assert_allclose(augment.thickness(digit, 0.0), digit)


def test_pen_redraw_draws_a_uniform_round_pen_along_the_skeleton():
    bar = np.zeros((28, 28), np.float32)
    bar[11:18, 6:22] = 1.0  # a stroke 7 pixels thick
    for radius in (1.0, 2.0):
        drawn = augment.pen_redraw(bar, radius)
        column = drawn[:, 14]
        assert abs(column.sum() - (2 * radius + 1)) <= 1.0  # the pen's width, not the bar's
        assert abs(_centroid(drawn)[0] - 14.0) < 0.6
    assert np.array_equal(augment.pen_redraw(np.zeros((28, 28), np.float32), 1.0), np.zeros((28, 28)))


def test_affine_identity_and_shift():
    digit = bundled().x_train[1]
    np.testing.assert_allclose(augment.affine(digit, 0.0, 1.0, 0.0, (0.0, 0.0)), digit, atol=1e-6)
    moved = augment.affine(digit, 0.0, 1.0, 0.0, (2.0, -1.0))
    np.testing.assert_allclose(_centroid(moved) - _centroid(digit), [2.0, -1.0], atol=0.3)
    turned = augment.affine(digit, 10.0, 1.0, 0.0, (0.0, 0.0))
    assert np.linalg.norm(_centroid(turned) - _centroid(digit)) < 1.0 and not np.allclose(turned, digit)


@pytest.mark.parametrize("bad, match", [(np.zeros((2, 28, 27)), "28, 28"), (np.full((1, 28, 28), 255.0), r"\[0, 1\]"),
                                        (np.zeros((1, 28, 28, 3)), "28, 28")])
def test_bad_images_raise_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        augment.augment(bad, seed=0)


def test_config_refuses_augment_with_fixed_noise():
    assert TrainConfig(augment=0.5, noise_max=0.5).augment == 0.5
    with pytest.raises(ValueError, match="noise_max"):
        TrainConfig(augment=1.0, noise_factor=0.5)
    for bad in ("yes", True, 1.5, float("nan")):
        with pytest.raises(ValueError, match="share of digits"):
            TrainConfig(augment=bad)


def test_share_varies_only_that_part_of_the_digits():
    x = bundled().x_train[::35][:200]
    half = augment.augment(x, seed=5, share=0.5)
    same = np.array([np.array_equal(a, b) for a, b in zip(half, x)])
    assert 0.35 < same.mean() < 0.65
    assert np.array_equal(augment.augment(x, seed=5, share=0.0), x)


def test_training_stream_augments_each_batch_and_validation_stays_plain():
    from ae_core import training
    from tests.helpers import tiny

    data = tiny(64, 32)
    config = TrainConfig(epochs=1, batch_size=32, augment=1.0)
    stream, targets, (x_val, y_val) = training.training_arrays(config, data)
    assert targets is None
    np.testing.assert_array_equal(x_val.reshape(-1, 28, 28), data.x_val)
    np.testing.assert_array_equal(y_val, x_val)
    inputs, clean = next(iter(stream))
    assert inputs.shape == (32, 28, 28, 1) and np.array_equal(inputs.numpy(), clean.numpy())
    originals = {img.tobytes() for img in data.x_train.reshape(-1, 28, 28, 1)}
    assert not any(img.tobytes() in originals for img in clean.numpy())  # every digit is a variant
    noisy_inputs, noisy_clean = next(iter(training.training_arrays(
        TrainConfig(epochs=1, batch_size=32, augment=1.0, noise_max=0.5), data)[0]))
    assert not np.array_equal(noisy_inputs.numpy(), noisy_clean.numpy())


def test_skeleton_chains_walk_every_link_of_the_skeleton_once():
    bone = np.zeros((12, 12), bool)
    bone[2, 2:9] = True  # a bar ...
    bone[3:9, 5] = True  # ... with a stem: a T, three ends
    bone[10, 10] = True  # and a speck
    chains = augment.skeleton_chains(bone)
    links = [frozenset((a, b)) for c in chains for a, b in zip(c, c[1:])]
    assert len(links) == len(set(links))  # no link twice
    drawn = {p for c in chains for p in c}
    bone[10, 10] = False
    assert drawn == {(int(c), int(r)) for r, c in zip(*np.nonzero(bone))}  # (x, y): every pixel but the speck


def test_pad_redraw_draws_a_digit_as_the_pad_does():
    x = bundled().x_test[::200][:10]
    big = np.kron(x, np.ones((4, 4), np.float32))  # 112 x 112, as the data set builder enlarges them
    rng = np.random.default_rng(0)
    drawn = [augment.pad_redraw(img, rng) for img in big]
    for img, source in zip(drawn, x):
        assert img.shape == (28, 28) and img.dtype == np.float32 and img.max() == pytest.approx(1.0)
        # the same digit: its ink where the source's is, on the whole
        assert np.corrcoef(img.ravel(), source.ravel())[0, 1] > 0.5
    again = [augment.pad_redraw(img, np.random.default_rng(0)) for img in big[:1]]
    np.testing.assert_array_equal(again[0], drawn[0])  # the generator alone decides
    assert augment.pad_redraw(np.zeros((50, 50)), rng) is None  # nothing to draw
