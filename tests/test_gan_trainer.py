"""genmix.GAN's C++ trainer against closed forms, finite differences and the NumPy reference
MLP: gradients of every loss and penalty, optimizer steps, minibatch and latent draws."""

import numpy as np
import pytest

from genmix import GAN, _core
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
    gd, gg, stats = _core.gan.gradients(cfg, g, d, real, z, eps)
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
    gd, gg, _ = _core.gan.gradients(cfg, g, d, real, z, eps)
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
    idx, z, eps = _core.gan.draws(cfg, int(seed), step, 0, n_rows, False)
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
    idx, z, eps = _core.gan.draws(cfg, int(seed), 0, 1, len(X2), False)
    d = d - 0.1 * ref_d_grad(cfg, g, d, X2[idx], z, eps)
    idx, z, eps = _draws(cfg, seed, 0, len(X2))
    d = d - 0.1 * ref_d_grad(cfg, g, d, X2[idx], z, eps)
    g = g - 0.1 * ref_g_grad(cfg, g, d, z)
    np.testing.assert_allclose(gan._state["d"], d, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gan._state["g"], g, rtol=1e-9, atol=1e-12)


def test_draws_latent_distributions():
    cfg = _tiny().fit(np.zeros((3, 2)))._fit_config
    cfg = dict(cfg, batch_size=4000)
    idx, z, eps = _core.gan.draws(cfg, 5, 0, 0, 10, False)
    assert idx.min() >= 0 and idx.max() < 10
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05
    assert 0 <= eps.min() and eps.max() < 1
    cfg["latent_distribution"] = "uniform"
    _, z, _ = _core.gan.draws(cfg, 5, 0, 0, 10, False)
    assert z.min() >= -1 and z.max() < 1 and abs(z.std() - np.sqrt(1 / 3)) < 0.02
