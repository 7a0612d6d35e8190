"""Generative adversarial networks whose whole training loop runs in the C++ core.

A training step (minibatch and latent draws, the generator's forward pass, the
discriminator's forward/backward on real and generated rows with the exact gradient of its
gradient penalty, both optimizer updates, the EMA of the generator) runs in C++ without the
GIL; Python sees the trainer only every ``log_every`` steps (history, callback, progress
bar, Ctrl-C). After training, copies of the discriminator are calibrated against the fixed
generator, and :meth:`GAN.sample` uses them for discriminator rejection sampling by default.
See :class:`GAN`.
"""

from __future__ import annotations

import os
import warnings
from typing import BinaryIO, Callable

import numpy as np
from numpy.typing import ArrayLike

from . import _core, _gan_file
from ._base import BaseEstimator, NotFittedError, check_random_state, draw_seed
from ._gan_calibration import CALIBRATION_KEYS, calibrate, calibration_rounds, rejection_sample
from ._gan_file import HISTORY_KEYS
from ._typing import RandomStateLike
from ._validation import check_array, check_int, check_n_threads, check_option, check_real
from .nn import MLP, check_widths

__all__ = ["GAN"]

_LOSSES = ("minimax", "non-saturating", "wasserstein", "hinge")
_UPDATES = ("simultaneous", "alternating")
_OPTIMIZERS = ("adam", "sgd")
_LATENTS = ("normal", "uniform")
_SCHEDULES = ("constant", "linear", "cosine")
_ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "identity")


def _complete_history(history, record):
    """history (lists per key) with no partial entry and with the newest logged step, ``record`` =
    ``[step, stats...]`` as the core wrote it, when log_fn was interrupted before recording it."""
    m = min(len(v) for v in history.values())
    history = {k: v[:m] for k, v in history.items()}
    step = int(record[0])
    if step > 0 and (m == 0 or history["step"][-1] < step):
        history["step"].append(step)
        for k, v in zip(HISTORY_KEYS[1:], record[1:]):
            history[k].append(float(v))
    return history


class GAN(BaseEstimator):
    """A generative adversarial network of two MLPs, trained in C++.

    Parameters
    ----------
    latent_dim : int, default=8
        Dimension of the latent noise ``z``.
    latent_distribution : {'normal', 'uniform'}, default='normal'
        Standard normal, or uniform on ``[-1, 1)`` per coordinate.
    generator_hidden, discriminator_hidden : sequence of int, default=(128, 128)
        Hidden widths of the generator ``latent_dim -> ... -> n_features`` and of the
        discriminator ``n_features -> ... -> 1``. Both output layers are linear: the
        discriminator returns a logit (or a critic value).
    activation : {'leaky_relu', 'relu', 'tanh', 'sigmoid', 'identity'}, default='leaky_relu'
        Activation of every hidden layer of both networks (leaky slope 0.2).
    loss : {'non-saturating', 'minimax', 'wasserstein', 'hinge'}, default='non-saturating'
        With ``f`` the discriminator's output, ``D = sigmoid(f)``:
        ``'minimax'`` is the lecture's game as written, D maximises
        ``E log D(x) + E log(1 - D(G(z)))`` and G minimises ``E log(1 - D(G(z)))``;
        ``'non-saturating'``: same D, G maximises ``E log D(G(z))``;
        ``'wasserstein'``: a critic, D minimises ``E f(G(z)) - E f(x)``, G minimises
        ``-E f(G(z))`` (use it with ``penalty='gp'``); ``'hinge'``: D minimises
        ``E relu(1 - f(x)) + E relu(1 + f(G(z)))``, G minimises ``-E f(G(z))``.
    penalty : {None, 'r1', 'r2', 'gp'}, default='r1'
        Gradient penalty added to the discriminator's loss,
        ``(penalty_weight / 2) * E ||grad_x f(x)||^2`` on real rows (``'r1'``), on generated
        rows (``'r2'``), or ``(penalty_weight / 2) * E (||grad_x f(x_hat)|| - 1)^2`` on
        random interpolates ``x_hat`` of real and generated rows (``'gp'``, WGAN-GP; its
        ``lambda`` is ``penalty_weight / 2``). Its parameter gradient is exact (double
        backpropagation).
    penalty_weight : float, default=0.1
        ``gamma`` above (>= 0).
    update : {'alternating', 'simultaneous'}, default='alternating'
        ``'simultaneous'``: both gradients are taken at the same point, then both players
        step (the lecture's rule). ``'alternating'``: the discriminator steps first and the
        generator's gradient is taken against the updated discriminator.
    d_steps : int, default=1
        Discriminator updates per generator update. The first ``d_steps - 1`` are
        discriminator-only steps, each with its own minibatch; the last one is combined
        with the generator's step as ``update`` says.
    optimizer : {'adam', 'sgd'}, default='adam'
        Adam (bias-corrected, eps 1e-8, as PyTorch) or SGD with heavy-ball momentum
        ``betas[0]`` (``buf = betas[0] * buf + grad; w -= lr * buf``, as PyTorch).
    lr_g, lr_d : float, default=3e-3
        Learning rates (> 0): the initial rates when ``lr_schedule`` decays them.
    lr_schedule : {'constant', 'linear', 'cosine'}, default='constant'
        Both learning rates are multiplied by ``lr_end_factor + (1 - lr_end_factor) * w(x)``
        at step ``s`` (counted over all ``fit`` calls), ``x = min(s / lr_decay_steps, 1)``,
        with ``w = 1`` ('constant'), ``1 - x`` ('linear') or ``(1 + cos(pi x)) / 2``
        ('cosine'): a decay that ends at ``lr_end_factor`` and stays there.
    lr_end_factor : float, default=0.0
        Final fraction of the learning rates, in ``[0, 1]`` (unused by 'constant').
    lr_decay_steps : int or None, default=None
        Length of the decay in steps (>= 1). None: the ``n_steps`` of the fit that starts
        the training; a ``fit(resume=True)`` keeps the length it started with, so resumed
        steps past it train at the final rate.
    betas : (float, float), default=(0.5, 0.99)
        Adam's ``(beta1, beta2)``; SGD uses ``betas[0]`` as its momentum. In ``[0, 1)``.
    batch_size : int, default=256
        Rows per minibatch. Minibatches are drawn uniformly **with replacement** from X,
        so X may have fewer rows than ``batch_size``.
    n_steps : int, default=20000
        Generator updates per call to :meth:`fit`.
    ema : float or None, default=0.999
        Decay of an exponential moving average of the generator's weights, updated after
        every step; :meth:`sample` and :attr:`generator_` use the average. None: no EMA.
        The decay at step ``t`` (1-based) is ``min(ema, (1 + t) / (10 + t))`` (a warm-up,
        so short runs are not dominated by the initial weights).
    standardize : bool, default=True
        Train on standardised data, ``(X - mean) / std`` per feature (a constant feature
        keeps scale 1), with the mean and std of the X of the first fit (kept by
        ``resume``). The networks then see the same scale whatever the units of X, so one
        set of defaults fits data of any offset and spread. It is invisible from outside:
        :meth:`sample` returns data-space rows and :meth:`discriminate` takes them, and
        :attr:`generator_` / :attr:`discriminator_` have the map folded into their last /
        first layer.
    calibration_steps : int or sequence of int, default=(6000, 3000, 3000)
        Discriminator rejection sampling (:meth:`sample`) needs an estimate of
        ``log(p_data(x) / p_model(x))``; the training discriminator, which chases a moving
        generator and ends near ``D = 1/2``, is no such estimate. So after training, a copy
        of it is trained alone, for each entry of ``calibration_steps`` in turn (a round):
        the first round against the fixed generator that samples (the EMA one), each later
        round, starting from the previous round's weights, against the samples that
        rejection with the rounds so far accepts (100,000 candidates; without the floor of
        :meth:`sample`), so it learns what is still wrong with them. Every round uses the
        logistic loss whatever ``loss`` is, no penalty, Adam (0.9, 0.999) whatever ``optimizer``
        is, from fresh moments at rate 1e-2 decaying linearly to 0. A calibration that diverges,
        or whose log ratio is not finite at every training row, is dropped with a RuntimeWarning.
        The sum of the rounds' logits is the estimate. None of it changes the training
        state or :attr:`discriminator_`; it is redone at the end of every ``fit`` (also with
        ``resume``), so resumed runs stay bit-identical to straight ones. An int is one
        round; 0 or ``()``: no calibration (``sample`` then needs ``rejection=False``).
        The default costs about as much as 12,000 discriminator-only steps (a quarter of the
        default fit's time on small networks); set 0 when only the raw generator is needed.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the initial weights and the training stream (minibatches, noise).
    n_threads : int or None, default=None
        Threads of the C++ core; None: all cores. Results are bit-identical for any value.
        A process forked after a parallel call runs on one thread (see GaussianMixture).
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
    log_every : int, default=100
        The trainer returns to Python (history, callback, progress, Ctrl-C) every
        ``log_every`` steps and after the last.

    The defaults were chosen on the PacGAN ring and grid (``bench/bench_gan.py``):
    standardising puts both data sets (and any other) on one scale; a small R1 weight lets
    the discriminator resolve modes of standard deviation 0.01-0.05 (0.014-0.018 after
    standardising); ``lr=3e-3`` gets the grid's 25 modes separated within ``n_steps``
    (at ``1e-3`` most samples still lie between modes after 20,000 steps); the EMA of the
    generator removes most of the step-to-step jitter of Adam. A decaying ``lr_schedule``
    did not improve the samples there. A generator that maps a connected latent space onto
    separated modes must leave some mass between them (a fifth to a third of its samples on
    the grid); discriminator rejection sampling with the calibrated discriminator removes
    most of it, and its floor (:meth:`sample`) most of what is left just outside the modes,
    at the cost of drawing several candidates per sample.

    Attributes
    ----------
    history_ : dict of ndarray
        One entry per logged step: ``step``, ``d_loss`` (with the penalty term),
        ``g_loss``, ``penalty`` (``E ||grad_x f||^2``, or ``E (||grad_x f|| - 1)^2`` for
        'gp', without the weight), ``d_real`` / ``d_fake`` (mean ``D(x)`` and
        ``D(G(z))``: ``sigmoid(f)`` for 'minimax' and 'non-saturating', the raw critic
        value ``f`` for 'wasserstein' and 'hinge'), ``d_grad_norm`` / ``g_grad_norm``
        (Euclidean norms of the players' parameter gradients). The values are those of the
        logged step itself.
    n_steps_ : int
        Generator updates done so far (over all ``fit`` calls with ``resume=True``).
    diverged_ : bool
        Whether the last fit stopped on a non-finite loss or gradient.
    n_features_in_ : int

    Notes
    -----
    The random numbers of step ``s`` depend only on ``(seed, s)``, so the RNG state is a
    seed and a step count. N steps, :meth:`save`, :meth:`load` and ``fit(X, resume=True)``
    for N more steps give the same bits as 2N steps straight through (same X, same
    ``n_steps``-independent settings; with a decaying ``lr_schedule`` that includes an
    explicit ``lr_decay_steps``). A non-finite loss or gradient stops training with a
    RuntimeWarning and keeps the last finite state: that of the last completed step whose
    weights, optimizer moments and EMA are all finite and whose losses and gradients were
    finite when evaluated (a step that overflows the weights, or makes the next step's loss
    overflow, is rolled back, with any discriminator update made within the failing step).
    Ctrl-C stops between two steps, keeping every completed step.
    """

    def __init__(self, latent_dim=8, latent_distribution="normal", generator_hidden=(128, 128),
                 discriminator_hidden=(128, 128), activation="leaky_relu", loss="non-saturating", penalty="r1",
                 penalty_weight=0.1, update="alternating", d_steps=1, optimizer="adam", lr_g=3e-3, lr_d=3e-3,
                 lr_schedule="constant", lr_end_factor=0.0, lr_decay_steps=None, betas=(0.5, 0.99), batch_size=256,
                 n_steps=20000, ema=0.999, standardize=True, calibration_steps=(6000, 3000, 3000), random_state=None,
                 n_threads=None, dtype=np.float32, log_every=100):
        self.latent_dim = latent_dim
        self.latent_distribution = latent_distribution
        self.generator_hidden = generator_hidden
        self.discriminator_hidden = discriminator_hidden
        self.activation = activation
        self.loss = loss
        self.penalty = penalty
        self.penalty_weight = penalty_weight
        self.update = update
        self.d_steps = d_steps
        self.optimizer = optimizer
        self.lr_g = lr_g
        self.lr_d = lr_d
        self.lr_schedule = lr_schedule
        self.lr_end_factor = lr_end_factor
        self.lr_decay_steps = lr_decay_steps
        self.betas = betas
        self.batch_size = batch_size
        self.n_steps = n_steps
        self.ema = ema
        self.standardize = standardize
        self.calibration_steps = calibration_steps
        self.random_state = random_state
        self.n_threads = n_threads
        self.dtype = dtype
        self.log_every = log_every

    # --- validation -----------------------------------------------------------------------

    def _check_params(self):
        o = "GAN"
        check_int(self.latent_dim, "latent_dim", o, low=1)
        check_option(self.latent_distribution, "latent_distribution", o, _LATENTS)
        g_hidden = check_widths(self.generator_hidden, "The 'generator_hidden' parameter of GAN")
        d_hidden = check_widths(self.discriminator_hidden, "The 'discriminator_hidden' parameter of GAN")
        check_option(self.activation, "activation", o, _ACTIVATIONS)
        check_option(self.loss, "loss", o, _LOSSES)
        if self.penalty is not None:
            check_option(self.penalty, "penalty", o, ("r1", "r2", "gp"))
        check_real(self.penalty_weight, "penalty_weight", o, low=0)
        check_option(self.update, "update", o, _UPDATES)
        check_int(self.d_steps, "d_steps", o, low=1)
        check_option(self.optimizer, "optimizer", o, _OPTIMIZERS)
        check_real(self.lr_g, "lr_g", o, low=0, low_inclusive=False)
        check_real(self.lr_d, "lr_d", o, low=0, low_inclusive=False)
        check_option(self.lr_schedule, "lr_schedule", o, _SCHEDULES)
        check_real(self.lr_end_factor, "lr_end_factor", o, low=0)
        if self.lr_end_factor > 1:
            raise ValueError(f"The 'lr_end_factor' parameter of GAN must lie in [0, 1]; got {self.lr_end_factor!r}.")
        check_int(self.lr_decay_steps, "lr_decay_steps", o, low=1, allow_none=True)
        cal_steps = calibration_rounds(self.calibration_steps)
        if not isinstance(self.standardize, (bool, np.bool_)):
            raise TypeError(f"The 'standardize' parameter of GAN must be a bool; got {self.standardize!r}.")
        if isinstance(self.betas, (str, bytes)) or not hasattr(self.betas, "__len__") or len(self.betas) != 2:
            raise TypeError(f"The 'betas' parameter of GAN must be a pair of floats; got {self.betas!r}.")
        for b in self.betas:
            check_real(b, "betas", o, low=0)
            if b >= 1:
                raise ValueError(f"The 'betas' parameter of GAN must lie in [0, 1); got {self.betas!r}.")
        check_int(self.batch_size, "batch_size", o, low=1)
        check_int(self.n_steps, "n_steps", o, low=0)
        if self.ema is not None:
            check_real(self.ema, "ema", o, low=0)
            if self.ema >= 1:
                raise ValueError(f"The 'ema' parameter of GAN must be None or in [0, 1); got {self.ema!r}.")
        nt = check_n_threads(self.n_threads, o)
        try:
            dt = np.dtype(self.dtype)
        except TypeError:
            raise TypeError(f"The 'dtype' parameter of GAN must be float32 or float64; got {self.dtype!r}.") from None
        if dt not in (np.float32, np.float64):
            raise ValueError(f"The 'dtype' parameter of GAN must be float32 or float64; got {dt}.")
        check_int(self.log_every, "log_every", o, low=1)
        check_random_state(self.random_state)
        return g_hidden, d_hidden, nt, np.dtype(dt.name), cal_steps

    def _config(self, n_features, g_hidden, d_hidden, nt, lr_decay_steps):
        return {
            "g_sizes": [int(self.latent_dim), *g_hidden, int(n_features)],
            "d_sizes": [int(n_features), *d_hidden, 1],
            "activation": self.activation,
            "negative_slope": 0.2,
            "loss": self.loss,
            "penalty": "none" if self.penalty is None else self.penalty,
            "penalty_weight": float(self.penalty_weight),
            "update": self.update,
            "d_steps": int(self.d_steps),
            "optimizer": self.optimizer,
            "lr_g": float(self.lr_g),
            "lr_d": float(self.lr_d),
            "lr_schedule": self.lr_schedule,
            "lr_end_factor": float(self.lr_end_factor),
            "lr_decay_steps": int(lr_decay_steps),
            "beta1": float(self.betas[0]),
            "beta2": float(self.betas[1]),
            "batch_size": int(self.batch_size),
            "ema": -1.0 if self.ema is None else float(self.ema),
            "latent_distribution": self.latent_distribution,
            "n_threads": int(nt),
        }

    def _mlp(self, sizes, params, dtype):
        # the activation the weights were trained with (set_params after fit must not change the nets)
        net = MLP(sizes, activation=self._fit_config["activation"], output_activation="identity", dtype=dtype,
                  random_state=0)
        net._params = np.array(params, dtype=dtype, copy=True)
        return net

    # --- training -------------------------------------------------------------------------

    def _init_state(self, config, dtype, rs):
        g_seed, d_seed, train_seed = (draw_seed(rs) for _ in range(3))
        f32 = dtype == np.float32
        g = _core.nn.init(config["g_sizes"], self.activation, "identity", 0.2, "auto", g_seed, f32)
        d = _core.nn.init(config["d_sizes"], self.activation, "identity", 0.2, "auto", d_seed, f32)
        state = {
            "g": g, "d": d, "g_ema": g.copy(),
            "g_m": np.zeros_like(g), "g_v": np.zeros_like(g),
            "d_m": np.zeros_like(d), "d_v": np.zeros_like(d),
            "counters": np.zeros(3, dtype=np.int64),
        }
        return state, np.uint64(train_seed)

    def _standardizer(self, X):
        """(mean, scale) per feature, float64; (0, 1) when ``standardize`` is off or a feature is constant."""
        n = X.shape[1]
        if not self.standardize:
            return np.zeros(n), np.ones(n)
        mean = X.mean(axis=0, dtype=np.float64)
        scale = X.std(axis=0, dtype=np.float64)
        peak = np.max(np.abs(X), axis=0).astype(np.float64)
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and np.all((scale > 0) | (peak == 0))):
            # sums of squares beyond the float64 range, or below it: the same statistics of X / peak
            peak[~(peak > 0)] = 1.0
            Xs = X / peak
            mean, scale = Xs.mean(axis=0) * peak, Xs.std(axis=0) * peak
        ok = np.isfinite(scale) & (scale > 0)
        return np.where(np.isfinite(mean), mean, 0.0), np.where(ok, scale, 1.0)

    def fit(self, X: ArrayLike, y: object = None, *, callback: Callable[[GAN, int, dict], bool | None] | None = None,
            progress: bool = False, resume: bool = False) -> GAN:
        """Train for ``n_steps`` generator updates.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (finite). Minibatches are drawn with replacement.
        y : ignored
        callback : callable, optional
            ``callback(gan, step, stats)`` every ``log_every`` steps, with the state of
            that step visible on ``gan`` (``history_``, ``generator_``...) and ``stats`` a
            dict of the step's history values. Returning ``True`` stops training.
        progress : bool, default=False
            Show a tqdm progress bar (nothing when tqdm is not installed).
        resume : bool, default=False
            Continue from the current state (weights, optimizer moments, EMA, RNG step)
            instead of starting afresh; the configuration must be unchanged.

        Returns
        -------
        self : GAN
        """
        g_hidden, d_hidden, nt, dtype, cal_steps = self._check_params()
        if callback is not None and not callable(callback):
            raise TypeError(f"GAN.fit: 'callback' must be callable or None; got {callback!r}.")
        X = check_array(X, dtype_like=dtype, n_threads=nt)
        if resume:
            if not hasattr(self, "_state"):
                raise NotFittedError("GAN.fit(resume=True) needs a fitted (or loaded) GAN.")
            # lr_decay_steps=None means the n_steps of the fit that created the state
            decay = self._fit_config["lr_decay_steps"] if self.lr_decay_steps is None else self.lr_decay_steps
        else:
            decay = self.n_steps if self.lr_decay_steps is None else self.lr_decay_steps
        config = self._config(X.shape[1], g_hidden, d_hidden, nt, max(int(decay), 1))
        if resume:
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but GAN is expecting {self.n_features_in_} "
                                 "features as input.")
            if {k: v for k, v in config.items() if k != "n_threads"} != \
                    {k: v for k, v in self._fit_config.items() if k != "n_threads"}:
                raise ValueError("GAN.fit(resume=True): the configuration changed since the state was created.")
            if np.dtype(self._state["g"].dtype) != dtype:
                raise ValueError("GAN.fit(resume=True): the dtype changed since the state was created.")
            state = {k: np.array(v, copy=True) for k, v in self._state.items() if k not in CALIBRATION_KEYS}
            seed = self._seed
            history = {k: list(v) for k, v in self.history_.items()}
        else:
            state, seed = self._init_state(config, dtype, check_random_state(self.random_state))
            state["x_mean"], state["x_scale"] = self._standardizer(X)
            history = {k: [] for k in HISTORY_KEYS}
            self.n_features_in_ = int(X.shape[1])
        self._fit_config = config
        # the networks see standardised data; the shift and scale are those of the first fit
        X = np.ascontiguousarray((X - state["x_mean"]) / state["x_scale"], dtype=dtype)

        bar = None
        if progress:
            try:
                from tqdm.auto import tqdm
                bar = tqdm(total=int(self.n_steps), desc="GAN")
            except ImportError:
                bar = None
        start = int(state["counters"][0])
        last_seen = [start]
        # The core writes each logged step and its stats here before it calls log_fn, so an entry
        # that log_fn could not record (a Ctrl-C pending while the core computed the step fires as
        # soon as log_fn starts; one may also land between its appends) is recovered below.
        record = np.full(len(HISTORY_KEYS), -1.0)

        def publish():
            self._state = {k: v.copy() for k, v in state.items()}
            self._seed = seed
            self.history_ = {k: np.asarray(v, dtype=np.int64 if k == "step" else np.float64)
                             for k, v in history.items()}
            self.n_steps_ = int(state["counters"][0])

        def log_fn(step, stats):
            history["step"].append(int(step))
            for k, v in zip(HISTORY_KEYS[1:], stats):
                history[k].append(float(v))
            if bar is not None:
                bar.update(int(step) - last_seen[0])
                bar.set_postfix(d_loss=f"{stats[0]:.3f}", g_loss=f"{stats[1]:.3f}", refresh=False)
            last_seen[0] = int(step)
            if callback is not None:
                publish()
                return bool(callback(self, int(step), dict(zip(HISTORY_KEYS[1:], map(float, stats)))))
            return False

        self.diverged_ = False
        try:
            status, _ = _core.gan.train(config, X, state, int(seed), int(self.n_steps), int(self.log_every),
                                        log_fn, record)
        finally:
            if bar is not None:
                bar.close()
            history = _complete_history(history, record)
            # a divergence may roll back past a logged step: keep the history of the state kept
            kept = [i for i, s in enumerate(history["step"]) if s <= state["counters"][0]]
            history = {k: [v[i] for i in kept] for k, v in history.items()}
            publish()
        if status == "diverged":
            self.diverged_ = True
            warnings.warn(
                f"GAN training diverged (non-finite loss, gradient or weights) after step {self.n_steps_}; "
                f"stopped, keeping the last finite state (step {self.n_steps_}).", RuntimeWarning, stacklevel=2)
        elif cal_steps:
            calibrate(self, X, config, cal_steps)
        return self

    def _log_ratio(self, nets, X):
        """The calibrated estimate of log(p_data / p_model) at the rows of X: the sum of the rounds' logits."""
        return sum(D.forward(X, n_threads=self.n_threads)[:, 0].astype(np.float64) for D in nets)

    # --- using the model ------------------------------------------------------------------

    def _check_fitted(self):
        if not hasattr(self, "_state"):
            raise NotFittedError(
                "This GAN instance is not fitted yet. Call 'fit' with appropriate arguments before using this "
                "estimator.")

    @property
    def generator_(self) -> MLP:
        """The generator as a :class:`genmix.nn.MLP` (a copy; the EMA weights when ``ema`` is set)."""
        self._check_fitted()
        c = self._fit_config
        key = "g_ema" if c["ema"] >= 0 else "g"
        mean, scale = self._affine()
        net = self._mlp(c["g_sizes"], self._state[key], self._state[key].dtype)
        W, b = net.unflatten(net._params)[-1]  # views: fold x = mean + scale * out into the last layer
        W[...] = W * scale
        b[...] = b * scale + mean
        return net

    @property
    def discriminator_(self) -> MLP:
        """The discriminator as a :class:`genmix.nn.MLP` (a copy); its output is the logit / critic value."""
        self._check_fitted()
        return self._discriminator(self._state["d"])

    def _discriminator(self, params):
        """The discriminator with weights ``params``, taking data-space rows."""
        c = self._fit_config
        mean, scale = self._affine()
        net = self._mlp(c["d_sizes"], params, params.dtype)
        W, b = net.unflatten(net._params)[0]  # views: fold (x - mean) / scale into the first layer
        b[...] = b - (mean / scale) @ W
        W[...] = W / scale[:, None]
        return net

    def _affine(self):
        n = self.n_features_in_
        return self._state.get("x_mean", np.zeros(n)), self._state.get("x_scale", np.ones(n))

    def sample_latent(self, n: int, random_state: RandomStateLike = None) -> np.ndarray:
        """``n`` latent vectors from ``latent_distribution`` (NumPy random numbers)."""
        check_int(n, "n", "GAN.sample", low=1)
        rs = check_random_state(random_state)
        c = self._fit_config
        k = c["g_sizes"][0]
        if c["latent_distribution"] == "normal":
            return rs.standard_normal((n, k))
        return rs.uniform(-1.0, 1.0, size=(n, k))

    def sample(self, n: int, random_state: RandomStateLike = None, *, rejection: bool = True,
               floor: float | None = None) -> np.ndarray:
        """Generate ``n`` samples.

        Parameters
        ----------
        n : int
            Number of samples (>= 1).
        random_state : int, RandomState, Generator or None, default=None
            Seeds the latent noise (and the rejection step's uniforms).
        rejection : bool, default=True
            True: discriminator rejection sampling (Azadi et al., 2019) with a floor.
            Candidates ``x = G(z)`` are drawn in batches of ``max(n, 10000)`` and each is
            kept with probability ``min(1, exp(r(x) - log M))`` if ``r(x) >= r_floor``, and
            rejected otherwise. ``r`` is the calibrated estimate of
            ``log(p_data(x) / p_model(x))`` (see ``calibration_steps``), ``log M`` its 95th
            percentile over the training rows (ratios above it, rare, are clipped to
            probability 1) and ``r_floor`` its ``floor`` quantile over the training rows.
            With an exact ``r`` and ``M`` and no floor the kept rows would follow the data
            distribution; in practice this removes most of the samples a generator leaves
            between the modes of the data. The floor removes what is left near them: the
            estimate is smooth, so a candidate just outside a mode still gets a ratio that
            makes it likely enough to be kept, but lower than that of nearly every real
            row. Needs ``calibration_steps``. False: the raw generator, ``G(z)``.
        floor : float or None, default=None
            The quantile, in ``[0, 1)``, of the training rows' ``r`` below which candidates
            are rejected; 0: no floor (plain rejection sampling, Azadi et al.'s rule with
            the 95th percentile as ``M``). None: 0.05 (on the PacGAN grid it raises the
            high-quality fraction from 0.94 to 0.96 and keeps the modes balanced; a
            higher floor trades balance for quality), or 0 for a GAN calibrated by a
            genmix that did not record the training rows' ``r`` (an explicit ``floor > 0``
            then raises ValueError: calibrate again with ``fit(X, resume=True)`` and
            ``n_steps=0``). Ignored when ``rejection=False``.

        Returns
        -------
        X : ndarray of shape (n, n_features), the model's dtype
        """
        self._check_fitted()
        if not isinstance(rejection, (bool, np.bool_)):
            raise TypeError(f"GAN.sample: 'rejection' must be a bool; got {rejection!r}.")
        check_int(n, "n", "GAN.sample", low=1)
        if floor is not None:
            check_real(floor, "floor", "GAN.sample", low=0)
            if floor >= 1:
                raise ValueError(f"The 'floor' parameter of GAN.sample must lie in [0, 1); got {floor!r}.")
        rs = check_random_state(random_state)
        G = self.generator_
        if not rejection:
            return G.forward(self.sample_latent(n, rs).astype(G.dtype), n_threads=self.n_threads)
        return rejection_sample(self, G, n, rs, floor)

    def discriminate(self, X: ArrayLike) -> np.ndarray:
        """The discriminator's verdict on each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        d : ndarray of shape (n_samples,)
            ``D(x) = sigmoid(f(x))``, the probability that ``x`` is real, for the
            'minimax' and 'non-saturating' losses. For 'wasserstein' and 'hinge' the
            discriminator is a critic with no probabilistic meaning and this is the raw
            critic value ``f(x)`` (higher = judged more real).
        """
        self._check_fitted()
        c = self._fit_config
        D = self._mlp(c["d_sizes"], self._state["d"], self._state["d"].dtype)
        X = check_array(X, dtype_like=D.dtype, n_threads=check_n_threads(self.n_threads, "GAN"))
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but GAN is expecting {self.n_features_in_} features "
                             "as input.")
        mean, scale = self._affine()  # standardise in float64: exact for data far from the origin
        X = np.ascontiguousarray((X - mean) / scale, dtype=D.dtype)
        f = D.forward(X, n_threads=self.n_threads)[:, 0].astype(np.float64)
        if self._fit_config["loss"] in ("minimax", "non-saturating"):
            return np.where(f >= 0, 1 / (1 + np.exp(-np.abs(f))), np.exp(-np.abs(f)) / (1 + np.exp(-np.abs(f))))
        return f

    # --- persistence ----------------------------------------------------------------------

    def save(self, path: str | os.PathLike | BinaryIO) -> None:
        """Save configuration and full training state (weights, optimizer, EMA, RNG, history) with np.savez,
        to ``path`` (a str or path-like, to which '.npz' is appended unless it ends with it, or a binary file
        object)."""
        self._check_fitted()
        _gan_file.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike | BinaryIO) -> GAN:
        """Load a GAN written by :meth:`save`, from the same ``path`` (a str or path-like, to
        which '.npz' is appended as :meth:`save` does, or a binary file object).

        The file is checked as :meth:`fit` checks its inputs (parameters, configuration,
        the shape, dtype and finiteness of every array) before anything is built; a file
        that fails raises ``ValueError("... is not a genmix model file: ...")``. Array
        headers are read before their data, so a damaged file cannot make it allocate more
        than the file's size; pickled objects are never loaded.
        """
        return _gan_file.load(cls, path)

    def __getstate__(self):
        return dict(self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "_state" in self.__dict__:
            self._state = {k: np.ascontiguousarray(v) for k, v in self._state.items()}
