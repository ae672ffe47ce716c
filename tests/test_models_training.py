import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import keras
import numpy as np
import pytest

from ae_core import models, presets, training
from tests.helpers import tiny

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_every_preset_builds_with_its_shapes(name):
    preset = presets.PRESETS[name]
    ae = models.build(preset.spec)
    x = np.zeros((2, 28, 28, 1), np.float32)
    code = ae.encoder(x, training=False)
    if isinstance(preset.spec, models.VaeSpec):  # (mean, log-variance): the code is the mean
        mean, log_var = code
        assert tuple(mean.shape) == tuple(log_var.shape) == (2, preset.spec.code_size)
        code = mean
    assert tuple(ae.autoencoder(x, training=False).shape) == (2, 28, 28, 1)
    assert tuple(ae.decoder(code, training=False).shape) == (2, 28, 28, 1)
    if isinstance(preset.spec, models.DenseSpec):
        assert tuple(code.shape) == (2, preset.spec.code_size)
    assert models.spec_from_dict(models.spec_to_dict(preset.spec)) == preset.spec


def test_seed_models_are_the_tutorials():
    dense = models.build(presets.PRESETS["dense_seed"].spec)
    assert dense.autoencoder.count_params() == 784 * 32 + 32 + 32 * 784 + 784
    assert tuple(dense.encoder.output.shape[1:]) == (32,)
    conv = models.build(presets.PRESETS["conv_seed"].spec)
    assert tuple(conv.encoder.output.shape[1:]) == (7, 7, 32)
    convs = [l for l in conv.autoencoder.get_layer("encoder").layers + conv.autoencoder.get_layer("decoder").layers
             if isinstance(l, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 32, 32, 32, 1]
    assert presets.PRESETS["conv_seed"].config.noise_factor == 0.5


def test_short_training_lowers_the_loss_and_is_reproducible():
    data = tiny()
    config = training.TrainConfig(epochs=3, batch_size=64, seed=5)
    a = training.train(models.DenseSpec(), config, data)
    b = training.train(models.DenseSpec(), config, data)
    assert a.status == "completed" and a.epochs_run == 3
    assert a.history["loss"][-1] < a.history["loss"][0]
    assert a.history["val_loss"][-1] < a.history["val_loss"][0]
    assert np.allclose(a.history["loss"], b.history["loss"], rtol=1e-5)


def test_fresh_noise_denoiser_config_trains():
    config = training.TrainConfig(epochs=2, batch_size=64, noise_max=0.8)
    r = training.train(models.ConvSpec(filters=(8, 8)), config, tiny(512, 128))
    assert r.status == "completed" and r.history["loss"][1] < r.history["loss"][0]


def test_callback_stops_training_within_an_epoch():
    stop = threading.Event()

    class CancelAfterThreeBatches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                stop.set()

    r = training.train(models.DenseSpec(), training.TrainConfig(epochs=5, batch_size=32), tiny(),
                       callbacks=[CancelAfterThreeBatches(), training.StopOnEvent(stop)])
    assert r.status == "stopped" and r.epochs_run == 1 and r.ok


def test_huge_learning_rate_is_reported_as_diverged():
    """A learning rate of 1e38 overflows the weights: Adam's first steps move them by about the
    learning rate, so sums of them reach inf and inf - inf gives NaN. The loss is NaN after the
    first epoch, training stops there and the run is marked diverged (never saved). (At 1e30
    the outcome depended on the machine: dead ReLUs and a saturated sigmoid can keep the loss
    finite, and CI once saw 'completed'.)"""
    config = training.TrainConfig(epochs=3, batch_size=64, optimizer="adam", learning_rate=1e38,
                                  loss="mse")
    r = training.train(models.DenseSpec(code_activation="linear", hidden=(64,)), config, tiny())
    assert r.status == "diverged" and not r.ok
    assert r.epochs_run == 1 and not np.isfinite(r.history["loss"][0])


@pytest.mark.parametrize("kwargs, field", [({"epochs": 0}, "epochs"), ({"batch_size": -1}, "batch_size"),
                                           ({"learning_rate": 0.0}, "learning_rate"),
                                           ({"optimizer": "sgd"}, "optimizer"),
                                           ({"noise_factor": 2.0}, "noise_factor")])
def test_bad_train_config_raises(kwargs, field):
    with pytest.raises(ValueError, match=f"Received: {field}"):
        training.TrainConfig(**kwargs)


def test_adadelta_uses_the_tutorials_learning_rate():
    opt = training.make_optimizer(training.TrainConfig(optimizer="adadelta"))
    assert isinstance(opt, keras.optimizers.Adadelta)
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(1.0)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_mirrored_strategy_over_two_logical_cpus():
    """The same train() runs under a MirroredStrategy (here: two logical CPU devices)."""
    script = textwrap.dedent("""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from ae_core import models, training
        from tests.helpers import tiny
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        for config in (training.TrainConfig(epochs=2, batch_size=64),
                       training.TrainConfig(epochs=2, batch_size=64, noise_max=0.5)):
            r = training.train(models.DenseSpec(), config, tiny(512, 128), strategy=strategy)
            assert r.status == "completed", r.status
            assert r.history["loss"][-1] < r.history["loss"][0], r.history
        print("MIRRORED_OK")
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                         timeout=280, env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert "MIRRORED_OK" in out.stdout, out.stderr[-3000:]


def test_divergence_warning_compares_against_the_average_digit_and_a_short_run_is_no_divergence():
    from ae_core import pipeline
    from tests.helpers import tiny

    data = tiny()
    baseline = pipeline.mean_image_loss(data)
    assert 0.1 < baseline < pipeline.FLAT_GREY_BCE  # far better than a flat grey image
    # A run cancelled after 2 epochs whose loss did not fall is not "diverged".
    assert pipeline.divergence_warning({"val_loss": [0.20, 0.2001]}, baseline=baseline) == ""
    # Between the average digit and flat grey: it learned nothing (the ln 2 check missed this).
    worse = pipeline.divergence_warning({"val_loss": [0.5, 0.45]}, baseline=baseline)
    assert "did not learn" in worse and "average digit" in worse
    assert "got worse" in pipeline.divergence_warning({"val_loss": [0.2, 0.1, 0.15]}, baseline=baseline)
    assert "NaN" in pipeline.divergence_warning({"val_loss": [0.2, float("nan")]}, baseline=baseline)


def test_a_trainer_error_shows_file_names_not_server_paths():
    from ae_core.worker import public_error

    err = public_error(FileNotFoundError(2, "No such file or directory", "/srv/lab/models/dense_seed-v3.keras"))
    assert "dense_seed-v3.keras" in err and "/srv" not in err
    assert public_error(ValueError("cannot read /home/u/x/y.json: bad")) == "ValueError: cannot read y.json: bad"


def test_cancel_before_the_first_batch_raises_and_after_it_stops_with_a_notice():
    import threading as th

    from tests.helpers import tiny

    event, stops = th.Event(), []
    event.set()
    with pytest.raises(training.Cancelled):
        training.train(models.DenseSpec(), training.TrainConfig(epochs=1, batch_size=64), tiny(256, 64),
                       callbacks=[training.StopOnEvent(event, lambda: stops.append(1))])

    class CancelAtBatch3(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                event.set()

    event.clear()
    r = training.train(models.DenseSpec(), training.TrainConfig(epochs=5, batch_size=16), tiny(256, 64),
                       callbacks=[CancelAtBatch3(), training.StopOnEvent(event, lambda: stops.append(1))])
    assert r.status == "stopped" and r.epochs_run == 1 and stops == [1]


def test_only_a_flat_code_has_a_size_to_set():
    """The CLI's --code-size, the sidebar's slider and the trainer's option share one rule: a dense
    code can be resized; a VAE's and a spatial conv code cannot."""
    from ae_core import models, presets

    assert models.with_code_size(presets.PRESETS["dense_seed"].spec, 8).code_size == 8
    for name in ("vae_2d", "conv_denoiser"):
        assert not models.code_size_settable(presets.PRESETS[name].spec)
        with pytest.raises(ValueError, match="no flat code"):
            models.with_code_size(presets.PRESETS[name].spec, 8)
