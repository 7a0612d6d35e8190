"""genmix.GAN: the C++ trainer against closed forms, finite differences and the NumPy
reference MLP; determinism, persistence, learning, and input validation."""

import json
import pickle
import warnings

import numpy as np
import pytest

import genmix
from genmix import GAN, _core
from genmix.datasets import make_ring
from genmix.metrics import mode_statistics
from genmix.reference import ReferenceMLP

LOSSES = ("minimax", "non-saturating", "wasserstein", "hinge")


def _softplus(t):
    return np.maximum(t, 0) + np.log1p(np.exp(-np.abs(t)))


def _sigmoid(t):
    return 1 / (1 + np.exp(-t))


def _ref_nets(config, g, d):
    G = ReferenceMLP(config["g_sizes"], config["activation"], "identity", 0.2, params=np.asarray(g, np.float64))
    D = ReferenceMLP(config["d_sizes"], config["activation"], "identity", 0.2, params=np.asarray(d, np.float64))
    return G, D


def ref_d_loss(config, g, d, real, z, eps):
    """L_D as documented, in plain NumPy (float64)."""
    G, D = _ref_nets(config, g, d)
    fake = G.forward(z)
    r, q = D.forward(real)[:, 0], D.forward(fake)[:, 0]
    loss = config["loss"]
    if loss in ("minimax", "non-saturating"):
        L = _softplus(-r).mean() + _softplus(q).mean()
    elif loss == "wasserstein":
        L = q.mean() - r.mean()
    else:
        L = np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + q).mean()
    gamma, pen = config["penalty_weight"], config["penalty"]
    if pen == "r1":
        L += gamma / 2 * np.mean(np.sum(D.input_gradient(real) ** 2, axis=1))
    elif pen == "r2":
        L += gamma / 2 * np.mean(np.sum(D.input_gradient(fake) ** 2, axis=1))
    elif pen == "gp":
        e = eps[:, None]
        xh = e * real + (1 - e) * fake
        L += gamma / 2 * np.mean((np.linalg.norm(D.input_gradient(xh), axis=1) - 1) ** 2)
    return L


def ref_g_loss(config, g, d, z):
    G, D = _ref_nets(config, g, d)
    q = D.forward(G.forward(z))[:, 0]
    loss = config["loss"]
    if loss == "minimax":
        return -_softplus(q).mean()
    if loss == "non-saturating":
        return _softplus(-q).mean()
    return -q.mean()


def ref_d_grad(config, g, d, real, z, eps):
    """Analytic gradient of L_D through the reference MLP (float64)."""
    G, D = _ref_nets(config, g, d)
    fake = G.forward(z)
    n = len(real)
    r, q = D.forward(real), D.forward(fake)
    loss = config["loss"]
    if loss in ("minimax", "non-saturating"):
        gr, gq = _sigmoid(r) - 1, _sigmoid(q)
    elif loss == "wasserstein":
        gr, gq = -np.ones_like(r), np.ones_like(q)
    else:
        gr, gq = -(r < 1).astype(float), (q > -1).astype(float)
    grad = D.backward(real, gr / n)[0] + D.backward(fake, gq / n)[0]
    gamma, pen = config["penalty_weight"], config["penalty"]
    if pen == "r1":
        grad += gamma / 2 * D.input_gradient_penalty(real, 0.0)[1]
    elif pen == "r2":
        grad += gamma / 2 * D.input_gradient_penalty(fake, 0.0)[1]
    elif pen == "gp":
        e = eps[:, None]
        grad += gamma / 2 * D.input_gradient_penalty(e * real + (1 - e) * fake, 1.0)[1]
    return grad


def ref_g_grad(config, g, d, z):
    G, D = _ref_nets(config, g, d)
    n = len(z)
    q = D.forward(G.forward(z))
    loss = config["loss"]
    if loss == "minimax":
        gq = -_sigmoid(q)
    elif loss == "non-saturating":
        gq = _sigmoid(q) - 1
    else:
        gq = -np.ones_like(q)
    dfake = D.backward(G.forward(z), gq / n)[1]
    return G.backward(z, dfake)[0]


def _tiny(**kw):
    params = dict(latent_dim=2, generator_hidden=(5,), discriminator_hidden=(6, 4), activation="tanh",
                  batch_size=7, dtype=np.float64, ema=None, random_state=0, n_steps=0, log_every=1, standardize=False)
    params.update(kw)
    return GAN(**params)


def _fitted_tiny(X, **kw):
    gan = _tiny(**kw).fit(X)
    return gan, gan._fit_config, gan._state["g"].copy(), gan._state["d"].copy()


@pytest.fixture(scope="module")
def X2():
    return np.random.RandomState(1).normal(size=(20, 3))


# --- gradients ------------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["tanh", "leaky_relu", "relu", "sigmoid"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("penalty", [None, "r1", "r2", "gp"])
def test_gradients_match_reference(X2, loss, penalty, activation):
    gan, cfg, g, d = _fitted_tiny(X2, loss=loss, penalty=penalty, penalty_weight=3.0, activation=activation)
    rs = np.random.RandomState(2)
    real, z, eps = X2[:7].copy(), rs.normal(size=(7, 2)), rs.uniform(size=7)
    gd, gg, stats = _core.gan_gradients(cfg, g, d, real, z, eps)
    np.testing.assert_allclose(gd, ref_d_grad(cfg, g, d, real, z, eps), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gg, ref_g_grad(cfg, g, d, z), rtol=1e-9, atol=1e-12)
    assert stats[0] == pytest.approx(ref_d_loss(cfg, g, d, real, z, eps), rel=1e-10)
    assert stats[1] == pytest.approx(ref_g_loss(cfg, g, d, z), rel=1e-10)


@pytest.mark.parametrize("loss", LOSSES)
def test_gradients_match_finite_differences(X2, loss):
    penalty = {"minimax": "r1", "non-saturating": "r2", "wasserstein": "gp", "hinge": None}[loss]
    gan, cfg, g, d = _fitted_tiny(X2, loss=loss, penalty=penalty, penalty_weight=2.0)
    rs = np.random.RandomState(3)
    real, z, eps = X2[:7].copy(), rs.normal(size=(7, 2)), rs.uniform(size=7)
    gd, gg, _ = _core.gan_gradients(cfg, g, d, real, z, eps)
    h = 1e-6
    for i in range(d.size):
        e = np.zeros_like(d)
        e[i] = h
        fd = (ref_d_loss(cfg, g, d + e, real, z, eps) - ref_d_loss(cfg, g, d - e, real, z, eps)) / (2 * h)
        assert gd[i] == pytest.approx(fd, rel=1e-5, abs=1e-8)
    for i in range(g.size):
        e = np.zeros_like(g)
        e[i] = h
        fd = (ref_g_loss(cfg, g + e, d, z) - ref_g_loss(cfg, g - e, d, z)) / (2 * h)
        assert gg[i] == pytest.approx(fd, rel=1e-5, abs=1e-8)


# --- optimizer steps against the closed form --------------------------------------------------

def _draws(cfg, seed, step, n_rows):
    idx, z, eps = _core.gan_draws(cfg, int(seed), step, 0, n_rows, False)
    return idx, z, eps


def test_adam_alternating_two_steps_closed_form(X2):
    lr_d, lr_g, b1, b2 = 0.01, 0.02, 0.5, 0.9
    gan, cfg, g, d = _fitted_tiny(X2, optimizer="adam", update="alternating", lr_d=lr_d, lr_g=lr_g, betas=(b1, b2),
                                  penalty="r1", penalty_weight=1.5, ema=0.9, lr_schedule="cosine", lr_decay_steps=3,
                                  lr_end_factor=0.2)
    g0 = g.copy()
    gan.set_params(n_steps=2).fit(X2, resume=True)
    seed = gan._seed
    mg, vg, md, vd = (np.zeros_like(g), np.zeros_like(g), np.zeros_like(d), np.zeros_like(d))
    ema = g0.copy()
    for t in (1, 2):
        f = 0.2 + 0.8 * 0.5 * (1 + np.cos(np.pi * (t - 1) / 3))  # the schedule at step t - 1
        idx, z, eps = _draws(cfg, seed, t - 1, len(X2))
        real = X2[idx]
        grad = ref_d_grad(cfg, g, d, real, z, eps)
        md = b1 * md + (1 - b1) * grad
        vd = b2 * vd + (1 - b2) * grad ** 2
        d = d - f * lr_d * (md / (1 - b1 ** t)) / (np.sqrt(vd / (1 - b2 ** t)) + 1e-8)
        grad = ref_g_grad(cfg, g, d, z)  # alternating: against the updated D
        mg = b1 * mg + (1 - b1) * grad
        vg = b2 * vg + (1 - b2) * grad ** 2
        g = g - f * lr_g * (mg / (1 - b1 ** t)) / (np.sqrt(vg / (1 - b2 ** t)) + 1e-8)
        a = min(0.9, (1 + t) / (10 + t))  # EMA warm-up
        ema = a * ema + (1 - a) * g
    np.testing.assert_allclose(gan._state["d"], d, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gan._state["g"], g, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gan._state["g_ema"], ema, rtol=1e-9, atol=1e-12)
    assert list(gan._state["counters"]) == [2, 2, 2]


def test_sgd_momentum_simultaneous_two_steps_closed_form(X2):
    lr_d, lr_g, mom = 0.05, 0.03, 0.8
    gan, cfg, g, d = _fitted_tiny(X2, optimizer="sgd", update="simultaneous", lr_d=lr_d, lr_g=lr_g,
                                  betas=(mom, 0.0), loss="wasserstein", penalty="gp", penalty_weight=2.0,
                                  lr_schedule="linear", lr_decay_steps=1, lr_end_factor=0.25)
    gan.set_params(n_steps=2).fit(X2, resume=True)
    seed = gan._seed
    bg, bd = np.zeros_like(g), np.zeros_like(d)
    for t in (1, 2):
        idx, z, eps = _draws(cfg, seed, t - 1, len(X2))
        real = X2[idx]
        grad_d = ref_d_grad(cfg, g, d, real, z, eps)
        grad_g = ref_g_grad(cfg, g, d, z)  # simultaneous: both at the same point
        bd = mom * bd + grad_d
        bg = mom * bg + grad_g
        f = 1.0 if t == 1 else 0.25  # linear: 1 at step 0, lr_end_factor from step lr_decay_steps on
        d = d - f * lr_d * bd
        g = g - f * lr_g * bg
    np.testing.assert_allclose(gan._state["d"], d, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gan._state["g"], g, rtol=1e-9, atol=1e-12)


def test_d_steps_uses_its_own_minibatches(X2):
    gan, cfg, g, d = _fitted_tiny(X2, optimizer="sgd", lr_d=0.1, lr_g=0.1, betas=(0.0, 0.0), d_steps=2)
    gan.set_params(n_steps=1).fit(X2, resume=True)
    seed = gan._seed
    idx, z, eps = _core.gan_draws(cfg, int(seed), 0, 1, len(X2), False)
    d = d - 0.1 * ref_d_grad(cfg, g, d, X2[idx], z, eps)
    idx, z, eps = _draws(cfg, seed, 0, len(X2))
    d = d - 0.1 * ref_d_grad(cfg, g, d, X2[idx], z, eps)
    g = g - 0.1 * ref_g_grad(cfg, g, d, z)
    np.testing.assert_allclose(gan._state["d"], d, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gan._state["g"], g, rtol=1e-9, atol=1e-12)


def test_draws_latent_distributions():
    cfg = _tiny().fit(np.zeros((3, 2)))._fit_config
    cfg = dict(cfg, batch_size=4000)
    idx, z, eps = _core.gan_draws(cfg, 5, 0, 0, 10, False)
    assert idx.min() >= 0 and idx.max() < 10
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05
    assert 0 <= eps.min() and eps.max() < 1
    cfg["latent_distribution"] = "uniform"
    _, z, _ = _core.gan_draws(cfg, 5, 0, 0, 10, False)
    assert z.min() >= -1 and z.max() < 1 and abs(z.std() - np.sqrt(1 / 3)) < 0.02


# --- determinism and persistence --------------------------------------------------------------

def _state_equal(a, b):
    for k in a._state:
        np.testing.assert_array_equal(a._state[k], b._state[k], err_msg=k)


def _medium(**kw):
    # a fixed decay horizon (not n_steps), so runs of different lengths share one schedule
    params = dict(latent_dim=4, generator_hidden=(32, 32), discriminator_hidden=(32, 32), batch_size=300,
                  n_steps=6, log_every=2, random_state=7, penalty="r1", lr_schedule="cosine", lr_decay_steps=8,
                  lr_end_factor=0.1, calibration_steps=(3, 2))
    params.update(kw)
    return GAN(**params)


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


CTRL_C_CHILD = r"""
import json, os, signal, threading
import numpy as np
from genmix import GAN
from genmix.datasets import make_ring

signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own Ctrl-C handling
X = make_ring(500, random_state=0)[0]
kw = dict(latent_dim=4, generator_hidden=(32, 32), discriminator_hidden=(32, 32), batch_size=64,
          random_state=3, n_threads=2, log_every=10**9, lr_schedule="linear", lr_decay_steps=1000)
gan = GAN(n_steps=10**9, **kw)
timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
timer.start()
result = {"interrupted": False}
try:
    gan.fit(X)
except KeyboardInterrupt:
    result["interrupted"] = True
timer.cancel()
k = gan.n_steps_
straight = GAN(n_steps=k, **kw).fit(X)
result["steps"] = k
result["same"] = all(np.array_equal(gan._state[key], straight._state[key]) for key in gan._state)
print(json.dumps(result))
"""


def test_ctrl_c_stops_between_steps_keeping_completed_steps():
    import json
    import subprocess
    import sys
    try:
        proc = subprocess.run([sys.executable, "-c", CTRL_C_CHILD], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the fit was not interrupted by SIGINT (child killed after 120 s)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["interrupted"] and result["steps"] > 0 and result["same"], result


def test_callback_exception_keeps_completed_steps():
    X = make_ring(300, random_state=0)[0]

    def cb(gan, step, stats):
        if step == 4:
            raise RuntimeError("stop here")

    gan = _medium(n_steps=10, log_every=2)
    with pytest.raises(RuntimeError, match="stop here"):
        gan.fit(X, callback=cb)
    assert gan.n_steps_ == 4
    _state_equal(gan, _medium(n_steps=4, log_every=2).fit(X))


def _fit_interrupted_in_log_fn(X, position, step, callback=None, **kw):
    """Fit with a KeyboardInterrupt raised inside GAN.fit's logging function on logging step
    ``step``: at its entry (position 0, as a Ctrl-C pending while the core computed the step
    fires there) or at its ``position``-th line. Returns (gan, whether it fired)."""
    import sys

    fired = []

    def local(frame, event, arg):
        if event == "line":
            local.lines += 1
            if local.lines == position:
                fired.append(position)
                raise KeyboardInterrupt
        return local

    def tracer(frame, event, arg):
        if event == "call" and frame.f_code.co_name == "log_fn" and frame.f_code.co_filename.endswith("gan.py") \
                and frame.f_locals.get("step") == step and not fired:
            if position == 0:
                fired.append(0)
                raise KeyboardInterrupt
            local.lines = 0
            return local
        return None

    gan = _medium(**kw)
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        gan.fit(X, callback=callback)
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(previous)
    return gan, bool(fired)


@pytest.mark.parametrize("with_callback", [False, True])
def test_ctrl_c_in_the_logging_step_keeps_its_history_entry(with_callback):
    """Wherever a KeyboardInterrupt lands in the logging of a step (the core has already
    committed that step), history_ holds every logged step of the published state, the
    interrupted one included, and no partial entry (issue 12, item 16)."""
    X = make_ring(300, random_state=0)[0]
    callback = (lambda gan, step, stats: False) if with_callback else None
    log_every, stop_at = 2, 6
    straight = _medium(n_steps=stop_at, log_every=log_every).fit(X)
    positions = 0
    for position in range(0, 100):
        gan, fired = _fit_interrupted_in_log_fn(X, position, stop_at, callback, n_steps=10, log_every=log_every)
        if not fired:  # past the last line of the logging function
            break
        positions += 1
        assert gan.n_steps_ == stop_at == int(gan._state["counters"][0]), (position, gan.n_steps_)
        lengths = {k: len(v) for k, v in gan.history_.items()}
        assert len(set(lengths.values())) == 1, (position, lengths)
        assert gan.history_["step"].tolist() == list(range(log_every, stop_at + 1, log_every)), \
            (position, gan.history_["step"])
        for k in straight.history_:
            np.testing.assert_array_equal(gan.history_[k], straight.history_[k], err_msg=f"{k} at position {position}")
    assert positions >= 3  # the entry and at least two lines of the logging function were hit


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
