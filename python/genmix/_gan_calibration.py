"""Discriminator rejection sampling for :class:`genmix.GAN`: after training, copies of the
discriminator are calibrated against the fixed generator (rounds of discriminator-only training
in the core), and :meth:`GAN.sample` keeps candidates by their calibrated log ratio. See the
``calibration_steps`` parameter and :meth:`GAN.sample`.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from . import _core
from ._validation import check_int

# what _calibrate adds to the state (redone by every fit, never passed to the trainer)
CALIBRATION_KEYS = ("d_cal", "log_m", "log_ratio_q")
# the quantile levels of state['log_ratio_q']
FLOOR_GRID = np.linspace(0.0, 1.0, 1001)

# the calibration rounds' optimizer settings; log M is this percentile of the training rows' logits
_CALIBRATION = {"loss": "non-saturating", "penalty": "none", "optimizer": "adam", "lr_d": 1e-2, "beta1": 0.9,
                "beta2": 0.999, "lr_schedule": "linear", "lr_end_factor": 0.0}
_LOG_M_PERCENTILE = 95.0
# sample()'s default floor: candidates whose log ratio is below this quantile of the training rows' are rejected
DEFAULT_FLOOR = 0.05
_POOL_CANDIDATES = 100_000


def calibration_rounds(value):
    """The ``calibration_steps`` parameter ``value`` as a tuple of the rounds' step counts (>= 1 each)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        check_int(value, "calibration_steps", "GAN", low=0)
        return (int(value),) if value > 0 else ()
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"The 'calibration_steps' parameter of GAN must be an int or a sequence of ints; "
                        f"got {value!r}.")
    rounds = tuple(value)
    for k in rounds:
        check_int(k, "calibration_steps", "GAN", low=1)
    return tuple(int(k) for k in rounds)


def calibrate(gan, X, config, rounds):
    """The calibrated discriminators ``state['d_cal']`` (one row per round), ``state['log_m']`` and
    ``state['log_ratio_q']`` (the quantiles 0, 0.001, ..., 1 of the calibrated log ratio over the rows of X).

    X is the standardised training data; everything here works in standardised space.
    """
    dtype = X.dtype
    g = gan._state["g_ema" if config["ema"] >= 0 else "g"]
    G = gan._mlp(config["g_sizes"], g, dtype)
    d = gan._state["d"].copy()
    stages, fake = [], g  # round 1 trains against G itself, later rounds against a pool
    for r, steps in enumerate(rounds):
        cal = dict(config, lr_decay_steps=steps, **_CALIBRATION)
        seed = (int(gan._seed) + r) % 2**64
        status = _core.gan.calibrate(cal, X, fake, d, steps, seed)
        if status == "diverged":
            warnings.warn("GAN: the discriminator's calibration diverged (non-finite loss or gradient); "
                          "sample() can only use the raw generator (rejection=False).", RuntimeWarning,
                          stacklevel=3)
            return
        stages.append(d.copy())
        nets = [gan._mlp(config["d_sizes"], w, dtype) for w in stages]
        r_train = gan._log_ratio(nets, X)
        if not np.all(np.isfinite(r_train)):  # a finite row whose logit overflows the model's dtype
            warnings.warn("GAN: the calibrated discriminator's log ratio is not finite at some training rows "
                          "(values too large for the model's dtype; standardize=True avoids this); sample() can "
                          "only use the raw generator (rejection=False).", RuntimeWarning, stacklevel=3)
            return
        log_m = np.percentile(r_train, _LOG_M_PERCENTILE)
        if r + 1 < len(rounds):  # the next round's pool: what rejection with these rounds accepts
            rs = np.random.RandomState(seed % 2**32)
            z = gan.sample_latent(_POOL_CANDIDATES, rs).astype(dtype)
            cand = G.forward(z, n_threads=gan.n_threads)
            keep = rs.uniform(size=len(cand)) < np.exp(np.minimum(gan._log_ratio(nets, cand) - log_m, 0))
            if not keep.any():
                break
            fake = np.ascontiguousarray(cand[keep])
    gan._state["d_cal"] = np.stack(stages)
    gan._state["log_m"] = np.array([log_m])
    gan._state["log_ratio_q"] = np.quantile(r_train, FLOOR_GRID)


def rejection_sample(gan, G, n, rs, floor):
    """``n`` rows of the generator ``G`` (data space) kept by rejection with the calibrated
    discriminators, as :meth:`GAN.sample` documents; ``floor`` checked by the caller (None: the default)."""
    if "d_cal" not in gan._state:
        raise ValueError("GAN.sample(rejection=True) needs the calibrated discriminator, which this GAN does not "
                         "have (calibration_steps=0, training diverged or was interrupted, or the calibration "
                         "failed); use "
                         "rejection=False for the raw generator, or fit(X, resume=True) with n_steps=0 and "
                         "calibration_steps > 0 to calibrate.")
    nets = [gan._discriminator(w) for w in gan._state["d_cal"]]
    log_m = float(gan._state["log_m"][0])
    table = gan._state.get("log_ratio_q")
    if floor is None:
        floor = DEFAULT_FLOOR if table is not None else 0.0
    if floor > 0 and table is None:
        raise ValueError("GAN.sample: this GAN was calibrated by a genmix that did not record the training rows' "
                         "log ratios, so it has no floor; use floor=0, or calibrate again with "
                         "fit(X, resume=True) with n_steps=0.")
    r_floor = float(np.interp(floor, FLOOR_GRID, table)) if floor > 0 else -np.inf
    kept, n_kept, batch = [], 0, max(n, 10000)
    for _ in range(1000):
        x = G.forward(gan.sample_latent(batch, rs).astype(G.dtype), n_threads=gan.n_threads)
        r = gan._log_ratio(nets, x)
        keep = (rs.uniform(size=batch) < np.exp(np.minimum(r - log_m, 0))) & (r >= r_floor)
        kept.append(x[keep])
        n_kept += int(keep.sum())
        if n_kept >= n:
            return np.concatenate(kept)[:n]
    raise RuntimeError(f"GAN.sample: rejection sampling kept only {n_kept} of {1000 * batch} candidates; "
                       "use rejection=False.")
