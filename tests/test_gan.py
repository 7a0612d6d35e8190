"""genmix.GAN: determinism, persistence, learning, rejection sampling and input validation (the
trainer's arithmetic is in test_gan_trainer.py, stopping mid-fit in test_gan_interrupts.py)."""

import json
import pickle
import warnings

import numpy as np
import pytest

import genmix
from genmix import GAN
from genmix.datasets import make_ring
from genmix.metrics import mode_statistics

from _gan_common import _medium, _state_equal


# --- determinism and persistence --------------------------------------------------------------

@pytest.mark.parametrize("kw", [dict(), dict(activation="tanh", penalty="gp", loss="wasserstein",
                                             update="simultaneous", dtype=np.float64),
                                # a layer too wide for the two-halves passes, and a batch of two super-blocks
                                dict(discriminator_hidden=(260, 260)), dict(batch_size=600, penalty="gp"),
                                dict(batch_size=25), dict(batch_size=23)])  # unequal halves; no halves
def test_thread_count_invariance(kw):
    X = make_ring(1000, random_state=0)[0]
    a = _medium(n_threads=1, **kw).fit(X)
    for nt in (2, 3):  # 3: small networks' halves in turn, each on every thread
        b = _medium(n_threads=nt, **kw).fit(X)
        _state_equal(a, b)
        for k in a.history_:
            np.testing.assert_array_equal(a.history_[k], b.history_[k])


def test_save_load_resume_is_bit_identical(tmp_path):
    X = make_ring(500, random_state=0)[0]
    straight = _medium(n_steps=10, d_steps=2, ema=0.9).fit(X)
    half = _medium(n_steps=5, d_steps=2, ema=0.9).fit(X)
    half.save(tmp_path / "gan.npz")
    loaded = GAN.load(tmp_path / "gan.npz")
    _state_equal(half, loaded)
    loaded.fit(X, resume=True)
    _state_equal(straight, loaded)
    assert loaded.n_steps_ == 10
    # the resumed history also holds step 5 (the last step of the first fit is always logged)
    assert list(loaded.history_["step"]) == [2, 4, 5, 6, 8, 10]
    keep = np.isin(loaded.history_["step"], straight.history_["step"])
    for k in straight.history_:
        np.testing.assert_array_equal(loaded.history_[k][keep], straight.history_[k])
    # pickling round-trips the same state and keeps training identically
    half2 = pickle.loads(pickle.dumps(_medium(n_steps=5, d_steps=2, ema=0.9).fit(X)))
    half2.fit(X, resume=True)
    _state_equal(straight, half2)


def test_history_callback_and_stop():
    X = make_ring(300, random_state=0)[0]
    seen = []

    def cb(gan, step, stats):
        seen.append((step, gan.n_steps_, set(stats)))
        return step >= 4

    gan = _medium(n_steps=10, log_every=2).fit(X, callback=cb)
    assert [s for s, _, _ in seen] == [2, 4]
    assert all(s == n for s, n, _ in seen)
    assert seen[0][2] == set(genmix.gan.HISTORY_KEYS[1:])
    assert gan.n_steps_ == 4
    assert list(gan.history_["step"]) == [2, 4]
    for k in genmix.gan.HISTORY_KEYS:
        assert gan.history_[k].shape == (2,)
        assert np.all(np.isfinite(gan.history_[k]))
    assert np.all((gan.history_["d_real"] > 0) & (gan.history_["d_real"] < 1))
    full = _medium(n_steps=7, log_every=3).fit(X)
    assert list(full.history_["step"]) == [3, 6, 7]


def test_progress_without_tqdm_is_harmless():
    X = make_ring(300, random_state=0)[0]
    _medium(n_steps=2).fit(X, progress=True)


def test_divergence_warns_and_keeps_finite_state():
    X = np.full((50, 2), 3e38, dtype=np.float32)
    gan = _medium(loss="wasserstein", penalty=None, activation="relu", n_steps=5, standardize=False)
    with pytest.warns(RuntimeWarning, match="diverged"):
        gan.fit(X)
    assert gan.diverged_ and gan.n_steps_ == 0
    for v in gan._state.values():
        assert np.all(np.isfinite(v))


# --- the model ----------------------------------------------------------------------------------

def test_sample_discriminate_and_networks():
    X = make_ring(300, random_state=0)[0]
    gan = _medium(n_steps=3, ema=0.5, standardize=False).fit(X)
    s1, s2 = gan.sample(50, random_state=1), gan.sample(50, random_state=1)
    assert s1.shape == (50, 2) and s1.dtype == np.float32
    np.testing.assert_array_equal(s1, s2)
    G = gan.generator_
    assert isinstance(G, genmix.nn.MLP) and G.layer_sizes == (4, 32, 32, 2)
    np.testing.assert_array_equal(G.get_params_flat(), gan._state["g_ema"])
    D = gan.discriminator_
    assert D.layer_sizes == (2, 32, 32, 1)
    p = gan.discriminate(X[:10])
    assert p.shape == (10,) and np.all((p > 0) & (p < 1))
    f = D.forward(X[:10].astype(np.float32))[:, 0]
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-f.astype(np.float64))), rtol=1e-6)
    w = _medium(n_steps=2, loss="wasserstein", penalty="gp", ema=None, standardize=False).fit(X)
    np.testing.assert_allclose(w.discriminate(X[:5]), w.discriminator_.forward(X[:5].astype(np.float32))[:, 0],
                               rtol=1e-6)
    np.testing.assert_array_equal(w.generator_.get_params_flat(), w._state["g"])


def test_standardization_is_transparent():
    # data far from the origin at a large scale: the networks train on standardised rows,
    # and sample(), generator_, discriminator_ and discriminate() all work in data space
    X = make_ring(500, random_state=0)[0]
    kw = dict(n_steps=300, batch_size=128, ema=0.9, dtype=np.float64, random_state=0, lr_schedule="constant")
    gan = _medium(**kw).fit(X)
    shift, scale = np.array([1e4, -3e3]), np.array([500.0, 0.01])
    big = _medium(**kw).fit(X * scale + shift)
    s = gan.sample(200, random_state=1, rejection=False)
    s_big = big.sample(200, random_state=1, rejection=False)
    np.testing.assert_allclose((s_big - shift) / scale, s, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(big.generator_.forward(big.sample_latent(5, random_state=2)),
                               big.sample(5, random_state=2, rejection=False), rtol=1e-12)
    np.testing.assert_allclose(big.discriminate(X[:20] * scale + shift), gan.discriminate(X[:20]), rtol=1e-6)
    f = big.discriminator_.forward(X[:20] * scale + shift)[:, 0]
    np.testing.assert_allclose(1 / (1 + np.exp(-f)), big.discriminate(X[:20] * scale + shift), rtol=1e-6)
    # mapped back, the samples of the model trained on the shifted, scaled data lie near the unit ring
    u = (s_big - shift) / scale
    assert np.median(np.abs(np.hypot(u[:, 0], u[:, 1]) - 1)) < 0.5  # 0.34; without standardisation 3e5
    # without standardisation the raw weights are the model
    raw = _medium(n_steps=2, standardize=False).fit(X * scale + shift)
    np.testing.assert_array_equal(raw.generator_.get_params_flat(), raw._state["g_ema"])


def test_load_file_without_calibration(tmp_path):
    # a file written before calibration_steps existed: the raw generator still samples
    X = make_ring(300, random_state=0)[0]
    gan = _medium(n_steps=2).fit(X)
    gan.save(tmp_path / "g.npz")
    with np.load(tmp_path / "g.npz") as f:
        arrays = {k: f[k] for k in f.files if k not in ("state_d_cal", "state_log_m", "state_log_ratio_q")}
    meta = json.loads(str(arrays.pop("meta")))
    del meta["params"]["calibration_steps"]
    np.savez(tmp_path / "old.npz", meta=np.array(json.dumps(meta)), **arrays)
    old = GAN.load(tmp_path / "old.npz")
    np.testing.assert_array_equal(old.sample(5, random_state=0, rejection=False),
                                  gan.sample(5, random_state=0, rejection=False))
    with pytest.raises(ValueError, match="rejection=False"):
        old.sample(5)


def test_standardization_survives_save_pickle_and_resume(tmp_path):
    X = make_ring(300, random_state=0)[0] * 100 + 50
    gan = _medium(n_steps=4).fit(X)
    gan.save(tmp_path / "g.npz")
    for other in (GAN.load(tmp_path / "g.npz"), pickle.loads(pickle.dumps(gan))):
        np.testing.assert_array_equal(other.sample(30, random_state=0), gan.sample(30, random_state=0))
        np.testing.assert_array_equal(other.discriminate(X[:10]), gan.discriminate(X[:10]))
    # resuming keeps the shift and scale of the first fit, even on other data
    mean, scale = gan._state["x_mean"].copy(), gan._state["x_scale"].copy()
    gan.fit(X[:50] * 3, resume=True)
    np.testing.assert_array_equal(gan._state["x_mean"], mean)
    np.testing.assert_array_equal(gan._state["x_scale"], scale)
    # a constant feature keeps scale 1
    c = _medium(n_steps=2).fit(np.column_stack([X[:, 0], np.full(len(X), 7.0)]))
    assert c._state["x_scale"][1] == 1 and np.all(np.isfinite(c.sample(5, random_state=0)))


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_lr_schedule(schedule):
    X = make_ring(300, random_state=0)[0]
    # the schedule changes training; with lr_end_factor=1 it is the constant rate, bit for bit
    const = _medium(lr_schedule="constant").fit(X)
    flat = _medium(lr_schedule=schedule, lr_end_factor=1.0).fit(X)
    decayed = _medium(lr_schedule=schedule).fit(X)
    _state_equal(const, flat)
    assert not np.array_equal(const._state["g"], decayed._state["g"])
    # lr_decay_steps=None: the n_steps of the creating fit, kept when resuming
    a = _medium(lr_schedule=schedule, lr_decay_steps=None, n_steps=4).fit(X)
    assert a._fit_config["lr_decay_steps"] == 4
    a.set_params(n_steps=3).fit(X, resume=True)
    assert a._fit_config["lr_decay_steps"] == 4
    b = _medium(lr_schedule=schedule, lr_decay_steps=4, n_steps=7).fit(X)
    _state_equal(a, b)
    # after the horizon the rate stays at lr_end_factor: lr_end_factor=0 freezes the weights
    z = _medium(lr_schedule=schedule, lr_decay_steps=2, lr_end_factor=0.0, n_steps=2, ema=None).fit(X)
    g2 = z._state["g"].copy()
    z.fit(X, resume=True)
    np.testing.assert_array_equal(z._state["g"], g2)


def test_learns_a_1d_gaussian():
    X = np.random.RandomState(0).normal(3.0, 0.5, size=(2000, 1))
    gan = GAN(latent_dim=2, generator_hidden=(32, 32), discriminator_hidden=(32, 32), activation="tanh",
              batch_size=512, n_steps=1500, random_state=0, penalty="r1", penalty_weight=1.0, n_threads=1).fit(X)
    s = gan.sample(20000, random_state=0)[:, 0]
    assert abs(s.mean() - 3.0) < 0.1
    assert abs(s.std() - 0.5) < 0.1


@pytest.fixture(scope="module")
def ring_gan():
    X, modes = make_ring(2500, random_state=0)
    # every setting pinned (checked: 8 modes for random_state 0..3), so changing defaults cannot break it
    gan = GAN(latent_dim=8, generator_hidden=(64, 64), discriminator_hidden=(64, 64), activation="leaky_relu",
              loss="non-saturating", penalty="r1", penalty_weight=1.0, update="alternating", optimizer="adam",
              lr_g=1e-3, lr_d=1e-3, lr_schedule="constant", betas=(0.5, 0.99), batch_size=256, ema=0.999,
              n_steps=2000, standardize=False, calibration_steps=(1000, 500), random_state=0, n_threads=1).fit(X)
    return gan, modes


def test_ring_captures_all_modes(ring_gan):
    gan, modes = ring_gan
    for rejection in (False, True):
        stats = mode_statistics(gan.sample(2500, random_state=0, rejection=rejection), modes, std=0.01)
        assert stats.n_modes_captured == 8


def test_rejection_sampling_keeps_samples_near_the_modes(ring_gan):
    gan, modes = ring_gan
    raw = mode_statistics(gan.sample(2500, random_state=0, rejection=False), modes, std=0.01)
    drs = mode_statistics(gan.sample(2500, random_state=0), modes, std=0.01)
    # this short run leaves nearly every raw sample off the modes: 0.70 high-quality after rejection (0.41 without
    # its floor), 0.02 raw
    assert drs.high_quality_fraction > raw.high_quality_fraction + 0.2
    assert drs.n_modes_captured == 8 and drs.reverse_kl < 0.1


def test_rejection_sampling_is_reproducible_and_draws_from_the_generator(ring_gan):
    gan, _ = ring_gan
    a, b = gan.sample(500, random_state=3), gan.sample(500, random_state=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (500, 2) and a.dtype == gan.generator_.dtype
    assert not np.array_equal(a, gan.sample(500, random_state=4))
    # the kept rows are generator outputs, in the order drawn: a subsequence of the same latent stream
    rs, cand = np.random.RandomState(3), []
    for _ in range(3):  # batches of 10,000 candidates, each followed by its uniforms
        cand.append(gan.generator_.forward(gan.sample_latent(10000, rs).astype(np.float32)))
        rs.uniform(size=10000)
    cand = np.concatenate(cand)
    pos = [np.flatnonzero((cand == row).all(axis=1)) for row in a[:100]]
    assert all(len(p) == 1 for p in pos)
    assert np.all(np.diff([p[0] for p in pos]) > 0)
    # the raw path is the generator applied to sample_latent
    np.testing.assert_array_equal(gan.sample(50, random_state=5, rejection=False),
                                  gan.generator_.forward(gan.sample_latent(50, 5).astype(np.float32)))


def test_rejection_floor_drops_candidates_below_the_training_quantile(ring_gan):
    gan, _ = ring_gan
    X = make_ring(2500, random_state=0)[0]  # the fixture's data (standardize=False: no map)
    nets = [gan._discriminator(w) for w in gan._state["d_cal"]]
    r_train = gan._log_ratio(nets, X.astype(np.float32))
    # the default floor is the 0.05 quantile; floor=0 is plain rejection sampling
    np.testing.assert_array_equal(gan.sample(300, random_state=3), gan.sample(300, random_state=3, floor=0.05))
    plain = gan.sample(3000, random_state=3, floor=0)
    r_plain = gan._log_ratio(nets, plain)
    assert (r_plain < np.quantile(r_train, 0.2)).sum() > 50  # the floor below has something to remove
    # same candidates and uniforms: a floor keeps the plain rule's rows whose ratio reaches it, in order
    floored = gan.sample(300, random_state=3, floor=0.2)
    np.testing.assert_array_equal(floored, plain[r_plain >= np.quantile(r_train, 0.2)][:300])
    assert gan._log_ratio(nets, floored).min() >= np.quantile(r_train, 0.2)


def test_file_calibrated_without_the_floor_table(tmp_path):
    # a file whose calibration did not record the training rows' log ratios: plain rejection sampling
    X = make_ring(300, random_state=0)[0]
    gan = _medium(n_steps=2, calibration_steps=3).fit(X)
    gan.save(tmp_path / "g.npz")
    with np.load(tmp_path / "g.npz") as f:
        arrays = {k: f[k] for k in f.files if k != "state_log_ratio_q"}
    np.savez(tmp_path / "old.npz", **arrays)
    old = GAN.load(tmp_path / "old.npz")
    np.testing.assert_array_equal(old.sample(20, random_state=0), gan.sample(20, random_state=0, floor=0))
    with pytest.raises(ValueError, match="n_steps=0"):
        old.sample(20, floor=0.05)
    old.set_params(n_steps=0).fit(X, resume=True)  # calibrates again, recording them
    np.testing.assert_array_equal(old.sample(20, random_state=0), gan.sample(20, random_state=0))


@pytest.mark.parametrize("floor, exc", [(-0.1, ValueError), (1.0, ValueError), (np.nan, ValueError),
                                        ("0.1", TypeError), (True, TypeError)])
def test_bad_floor(ring_gan, floor, exc):
    gan, _ = ring_gan
    with pytest.raises(exc, match="floor"):
        gan.sample(5, floor=floor)


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("param, value, exc", [
    ("latent_dim", 0, ValueError), ("latent_dim", 2.5, TypeError),
    ("latent_distribution", "cauchy", ValueError),
    ("generator_hidden", "32", TypeError), ("generator_hidden", (32, 0), ValueError),
    ("discriminator_hidden", (32, 1.5), TypeError), ("discriminator_hidden", 5, TypeError),
    ("activation", "gelu", ValueError), ("loss", "bce", ValueError), ("penalty", "r3", ValueError),
    ("penalty_weight", -1.0, ValueError), ("penalty_weight", np.nan, ValueError), ("penalty_weight", "1", TypeError),
    ("update", "both", ValueError), ("d_steps", 0, ValueError), ("optimizer", "rmsprop", ValueError),
    ("lr_g", 0.0, ValueError), ("lr_d", -1e-3, ValueError), ("lr_d", np.inf, ValueError),
    ("betas", (0.5,), TypeError), ("betas", (0.5, 1.0), ValueError), ("betas", (-0.1, 0.9), ValueError),
    ("betas", 0.5, TypeError),
    ("batch_size", 0, ValueError), ("batch_size", True, TypeError), ("n_steps", -1, ValueError),
    ("ema", 1.0, ValueError), ("ema", -0.5, ValueError), ("random_state", "seed", ValueError),
    ("n_threads", 0, ValueError), ("dtype", np.int32, ValueError), ("dtype", "float16", ValueError),
    ("log_every", 0, ValueError), ("lr_schedule", "step", ValueError), ("lr_schedule", None, ValueError),
    ("lr_end_factor", -0.1, ValueError), ("lr_end_factor", 1.5, ValueError), ("lr_end_factor", "0", TypeError),
    ("lr_decay_steps", 0, ValueError), ("lr_decay_steps", 2.5, TypeError), ("standardize", "yes", TypeError),
    ("standardize", 1, TypeError), ("calibration_steps", -1, ValueError), ("calibration_steps", 2.5, TypeError),
    ("calibration_steps", (3, 0), ValueError), ("calibration_steps", "3", TypeError),
    ("calibration_steps", True, TypeError),
])
def test_bad_parameters(param, value, exc):
    X = make_ring(50, random_state=0)[0]
    gan = _medium(n_steps=1).set_params(**{param: value})
    with pytest.raises(exc):
        gan.fit(X)
    assert not hasattr(gan, "history_")


@pytest.mark.parametrize("X", [
    np.array([[0.0, np.nan]] * 5), np.array([[0.0, np.inf]] * 5), np.zeros(5), np.zeros((2, 2, 2)),
    np.zeros((0, 2)), np.zeros((5, 0)), [["a", "b"]],
])
def test_bad_data(X):
    with pytest.raises(ValueError):
        _medium(n_steps=1).fit(X)


def test_read_only_float32_input():
    X = make_ring(100, random_state=0)[0].astype(np.float32)
    X.setflags(write=False)
    gan = _medium(n_steps=2).fit(X)
    assert gan.n_steps_ == 2 and gan.discriminate(X).shape == (100,)


def test_fewer_rows_than_batch_size_samples_with_replacement():
    gan = _medium(n_steps=2, batch_size=64).fit(np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert gan.n_steps_ == 2


def test_misuse():
    X = make_ring(50, random_state=0)[0]
    gan = _medium(n_steps=1)
    with pytest.raises(genmix.NotFittedError):
        gan.sample(5)
    with pytest.raises(genmix.NotFittedError):
        gan.discriminate(X)
    with pytest.raises(genmix.NotFittedError):
        gan.fit(X, resume=True)
    with pytest.raises(TypeError):
        gan.fit(X, callback=3)
    gan.fit(X)
    with pytest.raises(ValueError):
        gan.discriminate(np.zeros((3, 5)))
    with pytest.raises(ValueError):
        gan.fit(np.zeros((10, 3)), resume=True)
    with pytest.raises(ValueError):
        gan.set_params(generator_hidden=(16,)).fit(X, resume=True)
    with pytest.raises(ValueError):
        gan.sample(0)
    with pytest.raises(TypeError):
        gan.sample(5, rejection="yes")
    # rejection sampling needs the calibrated discriminator; the raw generator does not
    raw = _medium(n_steps=1, calibration_steps=0).fit(X)
    with pytest.raises(ValueError, match="rejection=False"):
        raw.sample(5)
    assert raw.sample(5, rejection=False).shape == (5, 2)
    raw.set_params(n_steps=0, calibration_steps=2).fit(X, resume=True)  # calibrates, no training step
    assert raw.n_steps_ == 1 and raw.sample(5).shape == (5, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gan.set_params(generator_hidden=(32, 32)).fit(X, resume=True)


def test_calibration_uses_adam_whatever_the_optimizer():
    """The calibration rounds use Adam (0.9, 0.999) as documented, also for optimizer='sgd':
    without training steps both GANs share the initial state, so their calibrations agree
    (issue 12 fuzzing: SGD there blew the calibrated weights up to 1e27 and log_m to NaN)."""
    X = make_ring(300, random_state=0)[0]
    kw = dict(n_steps=0, calibration_steps=(3, 2))
    adam, sgd = _medium(optimizer="adam", **kw).fit(X), _medium(optimizer="sgd", **kw).fit(X)
    for key in ("d_cal", "log_m", "log_ratio_q"):
        np.testing.assert_array_equal(adam._state[key], sgd._state[key], err_msg=key)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibration_not_finite_on_a_training_row_is_dropped(tmp_path, seed):
    """A finite training row whose calibrated logit overflows the model's dtype (float32 3e38,
    standardize=False, never drawn into a calibration minibatch) gave NaN log_m / log_ratio_q,
    and a saved model that GAN.load refuses: the calibration is dropped with a warning instead."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(2000, 2)), [[3e38, 3e38]]]).astype(np.float32)
    gan = GAN(generator_hidden=(4,), discriminator_hidden=(4,), n_steps=0, calibration_steps=2, batch_size=2,
              standardize=False, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gan.fit(X)
    if "d_cal" in gan._state:
        for key in ("d_cal", "log_m", "log_ratio_q"):
            assert np.all(np.isfinite(gan._state[key])), key
    else:
        assert any(issubclass(w.category, RuntimeWarning) for w in caught)
        with pytest.raises(ValueError, match="rejection=False"):
            gan.sample(3)
    assert np.all(np.isfinite(gan.sample(3, random_state=0, rejection=False)))
    gan.save(tmp_path / "m.npz")
    GAN.load(tmp_path / "m.npz")
