"""When lower_bounds_ is monotone (issue #12, item 9).

lower_bounds_[i] is the objective (weighted mean log-likelihood; hard EM: its
complete-data version) at the parameters after i M-steps. EM never decreases it when the
M-step maximises the expected complete-data log-likelihood Q, i.e. with reg_covar=0. The
ridge M-step (scikit-learn's: reg_covar*I added to each covariance) maximises
Q - pen_t instead, pen_t(theta) = reg_covar/2 * sum_j N_j tr(Sigma_j^-1) with N_j the
(weighted) responsibility sums of step t, so one step can lose at most

    L(theta_t+1) - L(theta_t) >= (pen_t(theta_t+1) - pen_t(theta_t)) / W
                              >= -reg_covar/2 * sum_j w_j(t+1) tr(P_j(t))

(w_j(t+1) = N_j / W the new weights, P_j(t) the precisions before the step). The tests
check both statements, step by step (warm_start with max_iter=1 gives the parameters of
every step), and that decreases do occur with a ridge.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from genmix import GaussianMixture
from genmix import reference as ref

from _gmm_common import COVARIANCE_TYPES, separated_data


def _quiet_fit(gm, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gm.fit(*args, **kw)


def _traces(gm):
    """tr(precision_j) of every component."""
    P = np.asarray(gm.precisions_, dtype=np.float64)
    cov, k, d = gm.covariance_type, len(gm.weights_), gm.means_.shape[1]
    return {"full": lambda: np.trace(P, axis1=1, axis2=2), "tied": lambda: np.full(k, np.trace(P)),
            "diag": lambda: P.sum(axis=1), "spherical": lambda: d * P}[cov]()


def _ridges(gm):
    """The largest ridge each component's last M-step can have added: reg_covar, raised to
    4 (d + 1) eps of the largest variance where the stored matrix needs it (see reg_covar)."""
    C = np.asarray(gm.covariances_, dtype=np.float64)
    k, d = gm.means_.shape
    largest = {"full": lambda: np.linalg.eigvalsh(C)[:, -1], "tied": lambda: np.full(k, np.linalg.eigvalsh(C)[-1]),
               "diag": lambda: C.max(axis=1), "spherical": lambda: C}[gm.covariance_type]()
    return np.maximum(gm.reg_covar, 4 * (d + 1) * np.finfo(gm.means_.dtype).eps * largest)


def _overlapping_data(seed, n=240, d=3, missing=0.0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n // 2, d)) @ rng.normal(size=(d, d)), rng.normal(size=(n // 2, d)) * 0.5 + 1.5])
    if missing:
        X[:, 1:][rng.random((n, d - 1)) < missing] = np.nan
    return X


@pytest.mark.parametrize("algorithm", ["soft", "hard"])
@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_without_a_ridge_lower_bounds_never_decrease(cov, algorithm):
    for seed in range(6):
        for missing in (0.0, 0.15):
            X = _overlapping_data(seed, missing=missing)
            gm = _quiet_fit(GaussianMixture(3, covariance_type=cov, reg_covar=0.0, algorithm=algorithm, tol=0,
                                            max_iter=60, random_state=seed, missing="em"), X)
            lb = np.asarray(gm.lower_bounds_)
            assert np.all(np.diff(lb) >= -1e-12 * np.maximum(1.0, np.abs(lb[:-1]))), (seed, missing, np.diff(lb).min())


def _steps(X, cov, reg, seed, n_steps, sample_weight=None):
    """[(L(theta_t), weights after step t+1, traces before, traces after)] from max_iter=1 warm starts."""
    gm = GaussianMixture(3, covariance_type=cov, reg_covar=reg, max_iter=1, tol=0, warm_start=True,
                         random_state=seed, missing="em")
    _quiet_fit(gm, X, sample_weight=sample_weight)
    bounds, weights, traces = [gm.lower_bound_], [np.asarray(gm.weights_, dtype=np.float64)], [_traces(gm)]
    for _ in range(n_steps):
        _quiet_fit(gm, X, sample_weight=sample_weight)
        bounds.append(gm.lower_bound_)
        weights.append(np.asarray(gm.weights_, dtype=np.float64))
        traces.append(_traces(gm))
    # bounds[t] = L(theta_t); weights[t], traces[t] belong to theta_t+1
    return bounds, weights, traces


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
@pytest.mark.parametrize("reg", [1.0, 1e-3])
def test_with_a_ridge_each_step_loses_at_most_the_penalty(cov, reg):
    for seed in range(4):
        for missing, weighted in ((0.0, False), (0.15, False), (0.0, True)):
            X = _overlapping_data(seed, missing=missing)
            sw = np.random.default_rng(seed).uniform(0.2, 3.0, size=len(X)) if weighted else None
            bounds, weights, traces = _steps(X, cov, reg, seed, 25, sw)
            for t in range(1, len(bounds) - 1):
                change = bounds[t + 1] - bounds[t]
                tol = 1e-10 * max(1.0, abs(bounds[t]))
                tight = 0.5 * reg * np.sum(weights[t] * (traces[t] - traces[t - 1]))
                documented = -0.5 * reg * np.sum(weights[t] * traces[t - 1])
                assert change >= tight - tol, (seed, missing, weighted, t, change, tight)
                assert change >= documented - tol


def test_the_steps_of_warm_starts_are_the_steps_of_one_fit():
    X = _overlapping_data(0)
    bounds, _, _ = _steps(X, "full", 1.0, 0, 20)
    gm = _quiet_fit(GaussianMixture(3, reg_covar=1.0, max_iter=21, tol=0, random_state=0), X)
    assert_allclose(bounds, gm.lower_bounds_, rtol=1e-12)


def test_with_a_large_ridge_decreases_do_occur():
    decreased = 0
    for seed in range(8):
        gm = _quiet_fit(GaussianMixture(3, reg_covar=1.0, max_iter=50, tol=0, random_state=seed),
                        _overlapping_data(seed))
        decreased += np.diff(gm.lower_bounds_).min() < -1e-6
    assert decreased >= 4


def test_separated_data_without_a_ridge_in_float32_stay_monotone_up_to_rounding():
    for cov in COVARIANCE_TYPES:
        X = separated_data(600, seed=1, dtype=np.float32)
        gm = _quiet_fit(GaussianMixture(3, covariance_type=cov, reg_covar=0.0, tol=0, max_iter=40, random_state=0), X)
        lb = np.asarray(gm.lower_bounds_)
        assert np.all(np.diff(lb) >= -1e-5 * np.abs(lb[:-1])), cov


# ---------------------------------------------------------------------------------------
# float32 rows with missing values under a narrow component: the core added the gaps'
# terms back in float32 to a value that contained them (diag, spherical) or to the
# complete-row kernel's value (full), cancelling terms of size p (mu - c)^2 / 2 — whole
# nats, and lower_bounds_ decreased by up to 10% on small float32 fits with missing="em".


def _narrow_model(cov, dtype):
    """Two components in 3-D, the second narrow (variance 1e-6 in every feature, or a
    correlation of 1 - 1e-6 between features 0 and 1 for full), both far from the origin."""
    gm = GaussianMixture(2, covariance_type=cov, missing="em")
    means = np.array([[40.0, -30.0, 25.0], [41.0, -29.0, 26.0]])
    if cov == "full":
        wide = np.eye(3) * 4.0
        rho = 1.0 - 1e-6
        narrow = np.array([[1.0, rho, 0.0], [rho, 1.0, 0.0], [0.0, 0.0, 1.0]])
        covs = np.stack([wide, narrow])
        chol = np.linalg.cholesky(covs)
        gm.precisions_cholesky_ = np.swapaxes(np.linalg.inv(chol), 1, 2).astype(dtype)
    elif cov == "tied":
        covs = np.eye(3) * 1e-3
        gm.precisions_cholesky_ = (np.eye(3) / np.sqrt(1e-3)).astype(dtype)
    elif cov == "diag":
        covs = np.array([[4.0, 4.0, 4.0], [1e-6, 1e-6, 1e-6]])
        gm.precisions_cholesky_ = (1 / np.sqrt(covs)).astype(dtype)
    else:
        covs = np.array([4.0, 1e-6])
        gm.precisions_cholesky_ = (1 / np.sqrt(covs)).astype(dtype)
    gm.weights_ = np.array([0.6, 0.4], dtype=dtype)
    gm.means_ = means.astype(dtype)
    gm.covariances_ = np.asarray(covs, dtype=dtype)
    gm.n_features_in_ = 3
    return gm


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_float32_rows_with_gaps_near_a_narrow_component_get_their_log_density(cov):
    gm = _narrow_model(cov, np.float32)
    rng = np.random.default_rng(0)
    scale = {"full": 1.0, "tied": 0.03, "diag": 1e-3, "spherical": 1e-3}[cov]
    X = (gm.means_[1] + scale * rng.normal(size=(40, 3))).astype(np.float32)
    X[::2, 2] = np.nan
    X[1::4, 1] = np.nan
    got = gm.score_samples(X)
    want = ref.score_samples_missing(X.astype(np.float64), gm.weights_.astype(np.float64),
                                     gm.means_.astype(np.float64),
                                     np.asarray(gm.precisions_cholesky_, dtype=np.float64), cov)
    assert_allclose(got, want, atol=2e-3, rtol=1e-5)


def _small_gappy(seed):
    """The small float32 fits with missing values on which lower_bounds_ fell by up to 10%."""
    rng = np.random.default_rng(seed)
    n, d, k = int(rng.integers(5, 60)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
    frac, scale = rng.uniform(0.1, 0.2), 10 ** rng.uniform(-2, 3)
    X = rng.normal(size=(n, d)) * scale
    X[rng.random(X.shape) < frac] = np.nan
    return X[~np.isnan(X).all(axis=1)].astype(np.float32), k


@pytest.mark.parametrize("seed,cov", [(479529674, "diag"), (99379575, "diag"), (458958737, "diag"),
                                      (881475482, "spherical"), (673292805, "full"), (360105196, "full"),
                                      (180098797, "full")])
def test_float32_missing_em_reports_the_exact_objective_within_the_ridge_bound(seed, cov):
    """Each entry is the observed-data objective at that step's parameters (float64 oracle
    on the same float32 data and parameters) to float32 rounding, and a step loses at most
    the documented ridge bound (components with a near-singular scatter have variances
    near reg_covar, so here the bound is large and decreases are legitimate)."""
    X, k = _small_gappy(seed)
    gm = GaussianMixture(k, covariance_type=cov, missing="em", max_iter=1, tol=0, warm_start=True, random_state=0)
    _quiet_fit(gm, X)
    prev = None
    for _ in range(40):
        params = (np.asarray(gm.weights_, dtype=np.float64), np.asarray(gm.means_, dtype=np.float64),
                  np.asarray(gm.precisions_cholesky_, dtype=np.float64))
        exact = ref.score_samples_missing(X.astype(np.float64), *params, cov).mean()
        weights, traces = params[0], _traces(gm)
        _quiet_fit(gm, X)
        assert abs(gm.lower_bound_ - exact) <= 1e-4 * max(1.0, abs(exact)), (gm.lower_bound_, exact)
        if prev is not None:
            change = gm.lower_bound_ - prev[0]
            assert change >= -0.5 * np.sum(prev[2] * weights * prev[1]) - 1e-4
        prev = (gm.lower_bound_, traces, _ridges(gm))
