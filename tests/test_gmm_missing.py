"""genmix.GaussianMixture(missing="em") (issue 4, section 2): EM with NaN entries missing at
random. The plain NumPy oracle (genmix.reference.*_missing, impute) is checked against
scipy and textbook formulas and for monotone EM; the estimator is checked against the
oracle from the same start (soft and hard EM, all covariance types, float64 and float32,
with sample weights and semi-supervised labels), for impute / score_samples /
predict_proba on rows with gaps, bit-identical results without NaN and for any thread
count, clear errors that leave the estimator as it was, and recovery of the parameters on
data with 30% of the entries removed (closer to the complete-data fit than mean
imputation followed by a fit)."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import linear_sum_assignment
from scipy.stats import multivariate_normal
from sklearn.base import clone

from genmix import GaussianMixture, NotFittedError, reference
from genmix.mixture import _mean_imputed

from _gmm_common import (
    ALGORITHMS,
    COVARIANCE_TYPES,
    FITTED_ARRAYS,
    REFERENCE_KEYS,
    assert_same_state,
    covariance_matrices,
    random_precisions,
    random_start,
    separated_data,
    separated_data_with_labels,
    snapshot,
    start_kwargs,
)

TOLERANCES = {  # (objective rtol, parameter rtol, parameter atol relative to the array's scale)
    np.float64: (1e-9, 1e-7, 1e-7),
    np.float32: (2e-5, 2e-4, 2e-4),  # the float32 oracle itself stays within ~1e-6 of float64 here
}


def with_nan(X, fraction, seed):
    """A copy of X with each entry set to NaN with probability `fraction` (completely at
    random); a row that lost every entry gets one random entry back."""
    rng = np.random.default_rng(seed)
    X = np.array(X, copy=True)
    gone = rng.random(X.shape) < fraction
    empty = np.flatnonzero(gone.all(axis=1))
    gone[empty, rng.integers(0, X.shape[1], size=len(empty))] = False
    X[gone] = np.nan
    return X


def mean_imputed(X):
    return np.where(np.isnan(X), np.nanmean(X, axis=0), X)


def covariances_from_precisions(precisions, covariance_type):
    """Covariance parameters from precision parameters, computed independently of genmix."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / precisions
    return np.linalg.inv(precisions)


def reference_params(weights, means, precisions, covariance_type, dtype=np.float64):
    precisions = np.asarray(precisions, dtype=dtype)
    return (np.asarray(weights, dtype=dtype), np.asarray(means, dtype=dtype),
            reference.precisions_cholesky_from_precisions(precisions, covariance_type))


def fitted_params(gm):
    return gm.weights_, gm.means_, gm.precisions_cholesky_, gm.covariance_type


def fit_quietly(gm, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning (tol=0), dropped components
        return gm.fit(*args, **kwargs)


# =======================================================================================
# 1. The NumPy oracle (these do not need the C++ implementation)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_oracle_marginal_log_prob_matches_scipy(covariance_type):
    rng = np.random.default_rng(1)
    k, d = 3, 4
    X = with_nan(rng.normal(size=(40, d)) * 2.0, 0.35, seed=2)
    X[0] = rng.normal(size=d)  # one complete row
    means = rng.normal(size=(k, d))
    precisions = random_precisions(rng, covariance_type, k, d)
    covs = covariance_matrices(covariances_from_precisions(precisions, covariance_type), covariance_type, k, d)
    _, _, prec_chol = reference_params(np.ones(k) / k, means, precisions, covariance_type)

    log_prob = reference.log_gaussian_prob_missing(X, means, prec_chol, covariance_type)
    assert log_prob.shape == (len(X), k)
    for i, row in enumerate(X):
        o = ~np.isnan(row)
        for j in range(k):
            expected = multivariate_normal(means[j, o], covs[j][np.ix_(o, o)]).logpdf(row[o])
            assert_allclose(log_prob[i, j], expected, rtol=1e-10, err_msg=f"row {i}, component {j}")
    complete = ~np.isnan(X).any(axis=1)
    assert_allclose(log_prob[complete],
                    reference.log_gaussian_prob(X[complete], means, prec_chol, covariance_type), rtol=1e-13)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_oracle_without_nan_equals_the_complete_data_functions(covariance_type, algorithm):
    X = separated_data(n=300, seed=3)
    weights, means, precisions = random_start(X, 3, covariance_type, seed=4)
    w, m, pc = reference_params(weights, means, precisions, covariance_type)
    assert_array_equal(reference.log_gaussian_prob_missing(X, m, pc, covariance_type),
                       reference.log_gaussian_prob(X, m, pc, covariance_type))
    objective, resp = reference.e_step_missing(X, w, m, pc, covariance_type, algorithm)
    objective_c, resp_c = reference.e_step(X, w, m, pc, covariance_type, algorithm)
    assert objective == objective_c
    assert_array_equal(resp, resp_c)
    assert_array_equal(reference.score_samples_missing(X, w, m, pc, covariance_type),
                       reference.score_samples(X, w, m, pc, covariance_type))
    assert_array_equal(reference.impute(X, w, m, pc, covariance_type), X)

    filled, corrections = reference.conditional_moments(X, m, pc, covariance_type)
    assert_array_equal(filled, np.broadcast_to(X, filled.shape))
    assert not np.any(corrections)
    previous = (m, covariances_from_precisions(precisions, covariance_type)) if algorithm == "hard" else None
    new = reference.m_step_missing(filled, corrections, resp, covariance_type, 1e-6, previous)
    expected = reference.m_step(X, resp, covariance_type, 1e-6, previous)
    for a, b in zip(new, expected):
        assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    step = reference.em_step_missing(X, w, m, pc, covariance_type, algorithm)
    assert step[0] == objective_c
    for a, b in zip(step[1:], expected):
        assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_oracle_conditional_moments_and_impute_of_one_gaussian_are_textbook(covariance_type):
    rng = np.random.default_rng(5)
    d = 4
    mean = rng.normal(size=d)
    precision = random_precisions(rng, covariance_type, 1, d)
    S = covariance_matrices(covariances_from_precisions(precision, covariance_type), covariance_type, 1, d)[0]
    X = with_nan(rng.normal(size=(30, d)), 0.4, seed=6)
    X[1] = np.nan  # no observed feature: the mean and the covariance
    w, m, pc = reference_params([1.0], mean[None], precision, covariance_type)

    filled, corrections = reference.conditional_moments(X, m, pc, covariance_type)
    imputed = reference.impute(X, w, m, pc, covariance_type)
    for i, row in enumerate(X):
        o, mi = ~np.isnan(row), np.isnan(row)
        inv_oo = np.linalg.inv(S[np.ix_(o, o)])
        expected_mean = mean[mi] + S[np.ix_(mi, o)] @ inv_oo @ (row[o] - mean[o])
        expected_cov = S[np.ix_(mi, mi)] - S[np.ix_(mi, o)] @ inv_oo @ S[np.ix_(o, mi)]
        assert_allclose(filled[0, i, mi], expected_mean, rtol=1e-10, atol=1e-12)
        assert_array_equal(filled[0, i, o], row[o])
        assert_allclose(corrections[0, i][np.ix_(mi, mi)], expected_cov, rtol=1e-10, atol=1e-12)
        assert not np.any(corrections[0, i][o, :]) and not np.any(corrections[0, i][:, o])
        assert_allclose(imputed[i, mi], expected_mean, rtol=1e-10, atol=1e-12)
        assert_array_equal(imputed[i, o], row[o])
    assert np.isnan(X).any()  # impute returned a copy


def test_oracle_impute_of_a_mixture_weights_the_components_by_their_posterior():
    rng = np.random.default_rng(7)
    k, d = 3, 3
    weights = np.array([0.2, 0.5, 0.3])
    means = rng.normal(size=(k, d)) * 3
    precisions = random_precisions(rng, "full", k, d)
    S = covariances_from_precisions(precisions, "full")
    w, m, pc = reference_params(weights, means, precisions, "full")
    X = np.array([[0.5, np.nan, -1.0], [np.nan, np.nan, 2.0], [np.nan, np.nan, np.nan], [1.0, 2.0, 3.0]])
    imputed = reference.impute(X, w, m, pc, "full")
    for i, row in enumerate(X):
        o, mi = ~np.isnan(row), np.isnan(row)
        log_post = np.array([np.log(weights[j]) + (multivariate_normal(means[j, o], S[j][np.ix_(o, o)])
                                                  .logpdf(row[o]) if o.any() else 0.0) for j in range(k)])
        post = np.exp(log_post - log_post.max())
        post /= post.sum()
        cond = [means[j, mi] + (S[j][np.ix_(mi, o)] @ np.linalg.solve(S[j][np.ix_(o, o)], row[o] - means[j, o])
                                if o.any() else 0.0) for j in range(k)]
        assert_allclose(imputed[i, mi], sum(p * c for p, c in zip(post, cond)), rtol=1e-10, atol=1e-12)
        assert_array_equal(imputed[i, o], row[o])
    assert_allclose(imputed[2], weights @ means, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_oracle_em_fixed_point_is_a_stationary_point_of_the_observed_likelihood(covariance_type):
    # one component: EM converges to the maximum-likelihood estimate from incomplete data,
    # where every partial derivative of the observed-data log-likelihood vanishes. Without
    # the conditional-covariance correction the fixed point would be off (variances too small).
    rng = np.random.default_rng(8)
    d = 3
    A = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [-0.3, 0.4, 0.9]])
    X = with_nan(rng.standard_normal((150, d)) @ A.T + [1.0, -2.0, 0.5], 0.3, seed=9)
    Xi = mean_imputed(X)
    w, m = np.ones(1), Xi.mean(axis=0)[None]
    cov = {"full": np.cov(Xi.T)[None], "tied": np.cov(Xi.T), "diag": Xi.var(axis=0)[None],
           "spherical": np.array([Xi.var()])}[covariance_type]
    pc = reference.precisions_cholesky(cov, covariance_type)
    for _ in range(150):
        _, w, m, cov, pc = reference.em_step_missing(X, w, m, pc, covariance_type, reg_covar=0.0)

    def loglik(means, covariances):
        prec_chol = reference.precisions_cholesky(covariances, covariance_type)
        return np.mean(reference.score_samples_missing(X, w, means, prec_chol, covariance_type))

    eps = 1e-5
    for array in (m, cov):
        for index in np.ndindex(array.shape):
            plus, minus = array.copy(), array.copy()
            plus[index] += eps
            minus[index] -= eps
            if array.ndim == 3 or (array.ndim == 2 and array is cov and covariance_type == "tied"):
                sym = index[:-2] + index[:-3:-1]  # keep the covariance symmetric
                plus[sym], minus[sym] = plus[index], minus[index]
            plus_args, minus_args = ((plus, cov), (minus, cov)) if array is m else ((m, plus), (m, minus))
            gradient = (loglik(*plus_args) - loglik(*minus_args)) / (2 * eps)
            assert abs(gradient) < 1e-6, (index, gradient)


@st.composite
def missing_problems(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    d = draw(st.integers(1, 3))
    n_clusters = draw(st.integers(1, 3))
    per_cluster = draw(st.integers(15, 40))
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_clusters, d)) * draw(st.floats(0.0, 6.0))
    X = np.repeat(centers, per_cluster, axis=0) + rng.standard_normal((n_clusters * per_cluster, d))
    X = with_nan(X * 10.0 ** draw(st.floats(-1.0, 1.0)), draw(st.floats(0.0, 0.5)), seed=seed % 1000)
    return dict(X=X, k=draw(st.integers(1, 3)), covariance_type=draw(st.sampled_from(COVARIANCE_TYPES)),
                algorithm=draw(st.sampled_from(ALGORITHMS)), seed=draw(st.integers(0, 1000)))


# EM is monotone for the exact M-step, so reg_covar=0 (see test_gmm_reference); components
# collapsing onto a few rows are filtered out.
@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(problem=missing_problems())
def test_oracle_em_missing_never_decreases(problem):
    X, k, cov = problem["X"], problem["k"], problem["covariance_type"]
    weights, means, precisions = random_start(mean_imputed(X), k, cov, problem["seed"])
    w, m, pc = reference_params(weights, means, precisions, cov)
    try:
        with np.errstate(all="ignore"):
            result = reference.em_missing(X, w, m, pc, cov, problem["algorithm"], n_iter=15, reg_covar=0.0)
    except (ValueError, np.linalg.LinAlgError):
        assume(False)
    live = result["weights"] > 0
    variances = np.linalg.eigvalsh(covariance_matrices(result["covariances"], cov, k, X.shape[1]))
    assume(np.min(variances[live]) > 1e-6 * np.nanmin(np.nanvar(X, axis=0)))
    lb = np.asarray(result["lower_bounds"])
    assert np.all(np.isfinite(lb))
    assert np.all(lb[:-1] - lb[1:] <= 1e-9 * np.maximum(1.0, np.abs(lb[1:]))), lb


# =======================================================================================
# 2. GaussianMixture(missing="em") against the oracle


def _data(n=600, seed=20, fraction=0.2, dtype=np.float64):
    X = separated_data(n=n, seed=seed)
    return X.astype(dtype), with_nan(X, fraction, seed + 1).astype(dtype)


def _fit_and_reference(X_complete, X, covariance_type, algorithm, n_iter=5, start=None):
    """A genmix fit and reference.em_missing from the same start, n_iter iterations each."""
    start = start or start_kwargs(X_complete, 3, covariance_type, seed=30)
    gm = GaussianMixture(3, covariance_type=covariance_type, algorithm=algorithm, missing="em", tol=0.0,
                         max_iter=n_iter, n_threads=1, **start)
    fit_quietly(gm, X)
    ref = reference.em_missing(X, *reference_params(start["weights_init"], start["means_init"],
                                                    start["precisions_init"], covariance_type, X.dtype),
                               covariance_type, algorithm, n_iter=n_iter)
    return gm, ref


def _assert_matches_reference(gm, ref, dtype):
    lb_rtol, rtol, atol_rel = TOLERANCES[dtype]
    assert gm.n_iter_ == len(ref["lower_bounds"])
    assert_allclose(gm.lower_bounds_, np.asarray(ref["lower_bounds"], dtype=np.float64), rtol=lb_rtol)
    for name, key in REFERENCE_KEYS.items():
        expected = ref[key]
        assert_allclose(getattr(gm, name), expected, rtol=rtol, atol=atol_rel * np.max(np.abs(expected)),
                        err_msg=name)
    for name in FITTED_ARRAYS:
        assert getattr(gm, name).dtype == dtype, name


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_matches_reference(covariance_type, algorithm):
    X_complete, X = _data()
    gm, ref = _fit_and_reference(X_complete, X, covariance_type, algorithm)
    _assert_matches_reference(gm, ref, np.float64)
    assert gm.lower_bounds_[-1] - gm.lower_bounds_[0] > 0.1  # the trajectory moves


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_wide_data_with_many_gap_patterns_matches_reference(covariance_type):
    # 30 features (the padded SIMD layout of the full-covariance kernels, not the d <= 8
    # one) and half the entries missing: nearly every row has its own gap pattern, so the
    # table of per-pattern factorisations (bounded by the size of X) holds only the first
    # ones and the others are computed per use.
    rng = np.random.default_rng(41)
    n, d, k = 2000, 30, 3
    centres = rng.normal(scale=3.0, size=(k, d))
    X_complete = centres[rng.integers(0, k, size=n)] + rng.standard_normal((n, d)) @ (
        np.eye(d) + 0.3 * rng.standard_normal((d, d))) * 0.5
    X = with_nan(X_complete, 0.5, 42)
    gm, ref = _fit_and_reference(X_complete, X, covariance_type, "soft", n_iter=2,
                                 start=start_kwargs(X_complete, k, covariance_type, seed=43))
    _assert_matches_reference(gm, ref, np.float64)
    ref_params = reference_params(gm.weights_, gm.means_, gm.precisions_, covariance_type)
    assert_allclose(gm.score_samples(X),
                    reference.score_samples_missing(X, *ref_params, covariance_type), rtol=1e-10)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_matches_reference_in_float32(covariance_type, algorithm):
    X_complete, X = _data(dtype=np.float32)
    gm, ref = _fit_and_reference(X_complete, X, covariance_type, algorithm)
    assert ref["means"].dtype == np.float32  # the oracle ran in float32 too
    _assert_matches_reference(gm, ref, np.float32)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_hard_em_drops_an_empty_component_as_the_reference(covariance_type):
    X_complete, X = _data(seed=40)
    start = start_kwargs(X_complete, 3, covariance_type, seed=41)
    start["means_init"][2] = 100.0  # far from every row: no row in the first hard E-step
    gm, ref = _fit_and_reference(X_complete, X, covariance_type, "hard", start=start)
    assert ref["weights"][2] == 0
    assert gm.weights_[2] == 0
    _assert_matches_reference(gm, ref, np.float64)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_weighted_semi_supervised_fit_matches_reference(covariance_type, algorithm):
    X_complete, z = separated_data_with_labels(n=300, seed=50)
    X = with_nan(X_complete, 0.25, seed=51)
    rng = np.random.default_rng(52)
    y = np.where(rng.random(len(z)) < 0.3, z, -1)
    w = rng.uniform(0.2, 3.0, len(X))
    start = start_kwargs(X_complete, 6, covariance_type, seed=53)  # two components per class
    component_class = np.arange(6) // 2
    allowed = (y[:, None] < 0) | (component_class[None, :] == y[:, None])
    gm = GaussianMixture(6, covariance_type=covariance_type, algorithm=algorithm, missing="em", tol=0.0,
                         max_iter=4, semi_supervised=True, n_threads=1, **start)
    fit_quietly(gm, X, y, sample_weight=w)
    ref = reference.em_missing(X, *reference_params(start["weights_init"], start["means_init"],
                                                    start["precisions_init"], covariance_type),
                               covariance_type, algorithm, n_iter=4, sample_weight=w, allowed=allowed)
    _assert_matches_reference(gm, ref, np.float64)
    assert_array_equal(gm.component_class_, component_class)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(covariance_type, algorithm):
    X_complete, X = _data(n=300, seed=60, fraction=0.25)
    w = np.random.default_rng(61).integers(0, 4, size=len(X))
    kw = dict(covariance_type=covariance_type, algorithm=algorithm, missing="em", tol=0.0, max_iter=10,
              n_threads=1, **start_kwargs(X_complete, 3, covariance_type, seed=62))
    weighted = fit_quietly(GaussianMixture(3, **kw), X, sample_weight=w)
    repeated = fit_quietly(GaussianMixture(3, **kw), np.repeat(X, w, axis=0))
    for name in FITTED_ARRAYS:
        assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-10, atol=1e-10, err_msg=name)
    assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------------------
# prediction, score and impute on rows with gaps


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_score_samples_and_predict_proba_use_the_marginal_density(covariance_type):
    X_complete, X = _data(seed=70, fraction=0.3)
    gm = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, missing="em", random_state=0,
                                     n_threads=1), X)
    X_test = with_nan(separated_data(n=200, seed=71), 0.4, seed=72)
    params = fitted_params(gm)
    expected = reference.score_samples_missing(X_test, *params)
    assert_allclose(gm.score_samples(X_test), expected, rtol=1e-10)
    assert_allclose(gm.score(X_test), np.mean(expected), rtol=1e-10)
    _, resp = reference.e_step_missing(X_test, *params)
    proba = gm.predict_proba(X_test)
    assert_allclose(proba, resp, rtol=1e-8, atol=1e-10)
    assert_array_equal(gm.predict(X_test), np.argmax(proba, axis=1))
    assert_array_equal(gm.fit_predict(X), np.argmax(gm.predict_proba(X), axis=1))
    assert np.isnan(X_test).sum() > 0.3 * X_test.size  # the inputs are not modified


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_impute_matches_reference(covariance_type, dtype):
    _, X = _data(seed=80, fraction=0.3, dtype=dtype)
    gm = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, missing="em", random_state=0,
                                     n_threads=1), X)
    X_test = with_nan(separated_data(n=200, seed=81), 0.4, seed=82).astype(dtype)
    before = X_test.copy()
    imputed = gm.impute(X_test)
    assert imputed.dtype == dtype and imputed.shape == X_test.shape
    assert imputed is not X_test
    assert_array_equal(X_test, before)  # not modified in place
    assert not np.any(np.isnan(imputed))
    observed = ~np.isnan(X_test)
    assert_array_equal(imputed[observed], X_test[observed])  # observed entries (and complete rows) unchanged
    expected = reference.impute(X_test, *(np.asarray(p, dtype=dtype) for p in fitted_params(gm)[:3]),
                                covariance_type)
    tol = 1e-9 if dtype == np.float64 else 1e-4
    assert_allclose(imputed, expected, rtol=tol, atol=tol * np.max(np.abs(expected)))


def test_impute_works_for_a_model_fitted_without_missing_values():
    X_complete, _ = _data(seed=90)
    gm = GaussianMixture(3, random_state=0, n_threads=1).fit(X_complete)  # missing="error"
    assert gm.missing == "error"
    X_test = with_nan(separated_data(n=100, seed=91), 0.3, seed=92)
    assert_allclose(gm.impute(X_test), reference.impute(X_test, *fitted_params(gm)), rtol=1e-9, atol=1e-9)
    assert_array_equal(gm.impute(X_complete), X_complete)  # nothing to fill: an exact copy


def test_impute_needs_a_fitted_model_and_finite_or_nan_entries():
    X_complete, X = _data(n=120, seed=93)
    with pytest.raises(NotFittedError):
        GaussianMixture(3, missing="em").impute(X)
    gm = GaussianMixture(3, missing="em", random_state=0, n_threads=1).fit(X)
    bad = X.copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="inf"):
        gm.impute(bad)
    with pytest.raises(ValueError, match="features"):
        gm.impute(X[:, :2])


# ---------------------------------------------------------------------------------------
# invariants


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_observed_data_likelihood_never_decreases(covariance_type, algorithm):
    X = with_nan(separated_data(n=1500, seed=100), 0.3, seed=101)
    gm = GaussianMixture(5, covariance_type=covariance_type, algorithm=algorithm, missing="em",
                         init_params="random_from_data", tol=0.0, max_iter=40, random_state=0, n_threads=1)
    fit_quietly(gm, X)
    lb = np.asarray(gm.lower_bounds_)
    assert lb.shape == (40,) and np.all(np.isfinite(lb))
    assert np.all(lb[:-1] - lb[1:] <= 1e-9 * np.maximum(1.0, np.abs(lb[1:]))), lb
    assert lb[-1] - lb[0] > 0.1


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_without_nan_the_fit_is_identical_to_missing_error(covariance_type, algorithm):
    X, _ = _data(n=400, seed=110)
    kw = dict(covariance_type=covariance_type, algorithm=algorithm, n_init=2, random_state=0, n_threads=1)
    a = fit_quietly(GaussianMixture(3, missing="error", **kw), X)
    b = fit_quietly(GaussianMixture(3, missing="em", **kw), X)
    assert_same_state(snapshot(a) | {"missing": None}, snapshot(b) | {"missing": None})
    assert_array_equal(a.score_samples(X), b.score_samples(X))
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_initialisation_runs_on_the_mean_imputed_data(init_params):
    _, X = _data(n=300, seed=120, fraction=0.3)
    kw = dict(init_params=init_params, max_iter=0, random_state=3, n_threads=1)
    with_gaps = fit_quietly(GaussianMixture(3, missing="em", **kw), X)
    # the random draws depend on the exact values of the rows (not on their positions), so
    # compare with the very values the fit imputes, and those with an independent mean
    X_imputed = _mean_imputed(X, None)
    assert_allclose(X_imputed, mean_imputed(X), rtol=1e-13)
    imputed = fit_quietly(GaussianMixture(3, **kw), X_imputed)
    for name in FITTED_ARRAYS:
        assert_allclose(getattr(with_gaps, name), getattr(imputed, name), rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_thread_count_does_not_change_a_bit(covariance_type, dtype):
    X = with_nan(separated_data(n=6000, seed=130), 0.2, seed=131).astype(dtype)
    fits = [fit_quietly(GaussianMixture(4, covariance_type=covariance_type, missing="em", max_iter=8, tol=0.0,
                                        random_state=0, n_threads=t), X) for t in (1, 2)]
    assert_same_state(snapshot(fits[0]) | {"n_threads": None}, snapshot(fits[1]) | {"n_threads": None})
    assert_array_equal(fits[0].impute(X), fits[1].impute(X))
    assert_array_equal(fits[0].score_samples(X), fits[1].score_samples(X))


# ---------------------------------------------------------------------------------------
# parameters and bad input


def test_missing_is_a_parameter():
    assert GaussianMixture().missing == "error"
    gm = GaussianMixture(2, missing="em")
    assert gm.get_params()["missing"] == "em"
    assert clone(gm).missing == "em"


def _bad_fits(X, X_complete):
    X_inf = X.copy()
    X_inf[5, 0] = np.inf
    X_row = X.copy()
    X_row[123] = np.nan
    X_col = X_complete.copy()  # the other features observed: every row keeps one
    X_col[:, 1] = np.nan
    return [
        ("bad option", dict(missing="drop"), X, "missing"),
        ("bad option type", dict(missing=None), X, "missing"),
        ("NaN with missing='error'", dict(missing="error"), X, "contains NaN or infinity"),
        ("inf with missing='em'", dict(missing="em"), X_inf, "inf"),
        ("empty row", dict(missing="em"), X_row, "no observed features"),
        ("empty column", dict(missing="em"), X_col, "no observed values"),
    ]


@pytest.mark.parametrize("case", range(6))
def test_bad_input_is_rejected_and_leaves_the_estimator_as_it_was(case):
    X_complete, X = _data(n=300, seed=140, fraction=0.2)
    name, params, X_bad, match = _bad_fits(X, X_complete)[case]

    fresh = GaussianMixture(3, n_threads=1, **params)
    before = snapshot(fresh)
    with pytest.raises(ValueError, match=match) as info:
        fresh.fit(X_bad)
    if name == "empty row":
        assert "123" in str(info.value)  # names the row
    assert_same_state(before, snapshot(fresh))  # not fitted
    assert not any(key.endswith("_") for key in vars(fresh))

    fitted = GaussianMixture(3, missing="em", random_state=0, n_threads=1).fit(X)
    fitted.set_params(**params)
    before = snapshot(fitted)
    with pytest.raises(ValueError, match=match):
        fitted.fit(X_bad)
    assert_same_state(before, snapshot(fitted))


# ---------------------------------------------------------------------------------------
# recovery (issue 4, section 2): 30% of the entries removed completely at random


def _planted(seed, n=1500, d=5, k=3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 6.0
    parts = [rng.standard_normal((n // k, d)) @ (0.5 * rng.normal(size=(d, d)) + np.eye(d)).T + c
             for c in centers]
    return np.concatenate(parts)[rng.permutation(n - n % k)]


def _distance_to(reference_fit, fit):
    """(means error, covariances error), Frobenius, after matching the components by their means."""
    cost = ((reference_fit.means_[:, None] - fit.means_[None]) ** 2).sum(axis=-1)
    a, b = linear_sum_assignment(cost)
    return (np.linalg.norm(reference_fit.means_[a] - fit.means_[b]),
            np.linalg.norm(reference_fit.covariances_[a] - fit.covariances_[b]))


@pytest.mark.parametrize("seed", [0, 1])
def test_em_recovers_the_parameters_better_than_mean_imputation(seed):
    X = _planted(seed, k=3 + seed)
    X_gaps = with_nan(X, 0.3, seed=seed + 10)
    k = 3 + seed
    kw = dict(random_state=0, n_threads=1, max_iter=300)
    complete = GaussianMixture(k, **kw).fit(X)
    em = GaussianMixture(k, missing="em", **kw).fit(X_gaps)
    imputed = GaussianMixture(k, **kw).fit(mean_imputed(X_gaps))
    em_means, em_covs = _distance_to(complete, em)
    mi_means, mi_covs = _distance_to(complete, imputed)
    # closer, by a wide margin (typically 20-40x on these data)
    assert em_means < 0.25 * mi_means, (em_means, mi_means)
    assert em_covs < 0.25 * mi_covs, (em_covs, mi_covs)
    assert em.converged_
    lb = np.asarray(em.lower_bounds_)
    assert np.all(lb[:-1] - lb[1:] <= 1e-9 * np.maximum(1.0, np.abs(lb[1:])))
