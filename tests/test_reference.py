"""Tests of the NumPy reference EM (genmix.reference) against scikit-learn."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from genmix import reference

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


# ---------------------------------------------------------------------------
# data and starting points


def separated_data(seed=0, n=500):
    """Three well separated 3-D Gaussian clusters (float64)."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [-6.0, 5.0, 4.0]])
    scales = [np.diag([1.0, 0.5, 2.0]), 0.7 * np.eye(3), np.array(
        [[1.5, 0.6, 0.0], [0.6, 1.0, 0.3], [0.0, 0.3, 0.8]])]
    sizes = [n - 2 * (n // 3), n // 3, n // 3]
    X = np.concatenate(
        [rng.multivariate_normal(c, s, size=m) for c, s, m in zip(centers, scales, sizes)]
    )
    return X[rng.permutation(len(X))]


def random_precisions(rng, covariance_type, k, d):
    """Random valid (symmetric positive definite) precision parameters."""
    def spd():
        A = rng.normal(size=(d, d))
        return A @ A.T / d + 0.5 * np.eye(d)

    if covariance_type == "full":
        return np.stack([spd() for _ in range(k)])
    if covariance_type == "tied":
        return spd()
    if covariance_type == "diag":
        return rng.uniform(0.3, 2.0, size=(k, d))
    return rng.uniform(0.3, 2.0, size=k)


def random_start(X, k, covariance_type, seed):
    """weights, means (random rows of X), precisions for a given seed."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 5.0))
    means = X[rng.choice(len(X), size=k, replace=False)]
    precisions = random_precisions(rng, covariance_type, k, X.shape[1])
    return weights, means, precisions


def covariances_of(covariance_type, k, d, value):
    """Covariance parameters equal to ``value`` times the identity."""
    return {
        "full": np.stack([value * np.eye(d)] * k),
        "tied": value * np.eye(d),
        "diag": np.full((k, d), value),
        "spherical": np.full(k, value),
    }[covariance_type]


def fit_sklearn(X, weights, means, precisions, covariance_type, max_iter, tol=0.0):
    gm = GaussianMixture(
        n_components=len(weights),
        covariance_type=covariance_type,
        tol=tol,
        max_iter=max_iter,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
        init_params="random_from_data",
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
    return gm


# ---------------------------------------------------------------------------
# agreement with scikit-learn


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("k, seed", [(2, 1), (3, 2), (3, 3)])
def test_em_matches_sklearn(covariance_type, k, seed):
    X = separated_data(seed=seed)
    weights, means, precisions = random_start(X, k, covariance_type, seed)
    n_iter = 25
    gm = fit_sklearn(X, weights, means, precisions, covariance_type, n_iter)
    assert gm.n_iter_ == n_iter and len(gm.lower_bounds_) == n_iter

    prec_chol = reference.precisions_cholesky_from_precisions(precisions, covariance_type)
    result = reference.em(
        X, weights, means, prec_chol, covariance_type, n_iter=n_iter
    )

    assert result["n_iter"] == n_iter
    assert result["converged"] is False
    assert len(result["lower_bounds"]) == n_iter
    assert_allclose(result["lower_bounds"], gm.lower_bounds_, rtol=1e-9, atol=0)
    assert_allclose(result["weights"], gm.weights_, rtol=1e-7, atol=0)
    assert_allclose(result["means"], gm.means_, rtol=1e-7, atol=0)
    assert_allclose(result["covariances"], gm.covariances_, rtol=1e-7, atol=0)
    assert_allclose(result["precisions_chol"], gm.precisions_cholesky_, rtol=1e-7, atol=0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_tol_stops_like_sklearn(covariance_type):
    X = separated_data(seed=4)
    weights, means, precisions = random_start(X, 3, covariance_type, 4)
    gm = fit_sklearn(X, weights, means, precisions, covariance_type, 200, tol=1e-6)
    prec_chol = reference.precisions_cholesky_from_precisions(precisions, covariance_type)
    result = reference.em(
        X, weights, means, prec_chol, covariance_type, n_iter=200, tol=1e-6
    )
    assert gm.converged_ and result["converged"]
    assert 1 < result["n_iter"] < 200
    assert result["n_iter"] == gm.n_iter_
    assert_allclose(result["lower_bounds"], gm.lower_bounds_, rtol=1e-9, atol=0)
    assert_allclose(result["means"], gm.means_, rtol=1e-7, atol=0)


def test_em_zero_iterations_returns_start():
    X = separated_data(seed=5)
    weights, means, precisions = random_start(X, 3, "full", 5)
    prec_chol = reference.precisions_cholesky_from_precisions(precisions, "full")
    result = reference.em(X, weights, means, prec_chol, "full", n_iter=0)
    assert result["n_iter"] == 0 and result["lower_bounds"] == []
    assert_array_equal(result["means"], means)
    assert_allclose(result["covariances"], np.linalg.inv(precisions), rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_e_step_and_score_samples_match_sklearn(covariance_type):
    X = separated_data(seed=6)
    gm = fit_sklearn(X, *random_start(X, 3, covariance_type, 6), covariance_type, 5)
    params = (gm.weights_, gm.means_, gm.precisions_cholesky_, covariance_type)

    objective, resp = reference.e_step(X, *params)
    assert_allclose(resp, gm.predict_proba(X), rtol=1e-9, atol=1e-15)
    assert_allclose(objective, gm.score(X), rtol=1e-12)
    assert_allclose(reference.score_samples(X, *params), gm.score_samples(X), rtol=1e-12)

    objective_hard, resp_hard = reference.e_step(X, *params, algorithm="hard")
    assert_array_equal(resp_hard.argmax(axis=1), gm.predict(X))
    assert_array_equal(resp_hard.sum(axis=1), 1.0)
    assert set(np.unique(resp_hard)) <= {0.0, 1.0}
    # max_k <= logsumexp_k, so the hard objective is the smaller one
    assert objective_hard <= objective


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_matches_sklearn_parameters(covariance_type):
    X = separated_data(seed=7)
    start = random_start(X, 3, covariance_type, 7)
    # one sklearn iteration = M-step on the E-step responsibilities at the start
    gm = fit_sklearn(X, *start, covariance_type, max_iter=1)
    prec_chol = reference.precisions_cholesky_from_precisions(start[2], covariance_type)
    _, resp = reference.e_step(X, start[0], start[1], prec_chol, covariance_type)
    weights, means, covariances, pc = reference.m_step(X, resp, covariance_type)
    assert_allclose(weights, gm.weights_, rtol=1e-7)
    assert_allclose(means, gm.means_, rtol=1e-7)
    assert_allclose(covariances, gm.covariances_, rtol=1e-7)
    assert_allclose(pc, gm.precisions_cholesky_, rtol=1e-7)


# ---------------------------------------------------------------------------
# parametrisation


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_precisions_cholesky_round_trip(covariance_type):
    rng = np.random.default_rng(8)
    precisions = random_precisions(rng, covariance_type, 3, 4)
    from_prec = reference.precisions_cholesky_from_precisions(precisions, covariance_type)
    if covariance_type in ("full", "tied"):
        covariances = np.linalg.inv(precisions)
    else:
        covariances = 1.0 / precisions
    from_cov = reference.precisions_cholesky(covariances, covariance_type)

    for pc in (from_prec, from_cov):
        if covariance_type in ("full", "tied"):
            assert_array_equal(pc, np.triu(pc))
            assert np.all(np.diagonal(pc, axis1=-2, axis2=-1) > 0)
            assert_allclose(pc @ np.swapaxes(pc, -1, -2), precisions, rtol=1e-10)
        else:
            assert_allclose(pc * pc, precisions, rtol=1e-12)
    # U U^T = P has a unique upper-triangular solution with positive diagonal
    assert_allclose(from_cov, from_prec, rtol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_precisions_cholesky_names_failing_component(covariance_type):
    covariances = covariances_of(covariance_type, 3, 2, 1.0)
    if covariance_type == "full":
        covariances[1] = [[1.0, 2.0], [2.0, 1.0]]  # indefinite
        match = "component 1"
    elif covariance_type == "tied":
        covariances[:] = [[1.0, 2.0], [2.0, 1.0]]
        match = "tied"
    elif covariance_type == "diag":
        covariances[2, 1] = 0.0
        match = "component 2"
    else:
        covariances[1] = -1.0
        match = "component 1"
    with pytest.raises(ValueError, match=match):
        reference.precisions_cholesky(covariances, covariance_type)


def test_log_gaussian_prob_matches_scipy_full():
    rng = np.random.default_rng(9)
    d, k = 4, 3
    X = rng.normal(size=(50, d)) * 2.0
    means = rng.normal(size=(k, d))
    covariances = np.linalg.inv(random_precisions(rng, "full", k, d))
    pc = reference.precisions_cholesky(covariances, "full")
    log_prob = reference.log_gaussian_prob(X, means, pc, "full")
    assert log_prob.shape == (50, k)
    for j in range(k):
        expected = multivariate_normal(means[j], covariances[j]).logpdf(X)
        assert_allclose(log_prob[:, j], expected, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", ["tied", "diag", "spherical"])
def test_log_gaussian_prob_other_types_match_full(covariance_type):
    """tied/diag/spherical agree with 'full' on the equivalent full matrices."""
    rng = np.random.default_rng(10)
    d, k = 3, 2
    X = rng.normal(size=(40, d))
    means = rng.normal(size=(k, d))
    precisions = random_precisions(rng, covariance_type, k, d)
    if covariance_type == "tied":
        covariances = np.linalg.inv(precisions)
    else:
        covariances = 1.0 / precisions
    if covariance_type == "tied":
        full = np.stack([covariances] * k)
    elif covariance_type == "diag":
        full = np.stack([np.diag(c) for c in covariances])
    else:
        full = np.stack([c * np.eye(d) for c in covariances])
    got = reference.log_gaussian_prob(
        X, means, reference.precisions_cholesky(covariances, covariance_type),
        covariance_type)
    expected = reference.log_gaussian_prob(
        X, means, reference.precisions_cholesky(full, "full"), "full")
    assert_allclose(got, expected, rtol=1e-12)


# ---------------------------------------------------------------------------
# monotonicity


def random_problem(seed, covariance_type, n=300, d=3, k=4):
    """Unstructured random data and a random (poor) starting point."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    X[: n // 3] += 3.0 * rng.normal(size=d)
    weights = np.full(k, 1.0 / k)
    means = X[rng.choice(n, size=k, replace=False)]
    pc = reference.precisions_cholesky(
        covariances_of(covariance_type, k, d, float(np.var(X))), covariance_type)
    return X, weights, means, pc


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("algorithm", ["soft", "hard"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_objective_is_monotone(covariance_type, algorithm, seed):
    X, weights, means, pc = random_problem(seed, covariance_type)
    result = reference.em(
        X, weights, means, pc, covariance_type, algorithm=algorithm, n_iter=30
    )
    lower_bounds = np.asarray(result["lower_bounds"])
    assert lower_bounds.shape == (30,)
    assert np.all(np.isfinite(lower_bounds))
    assert np.all(np.diff(lower_bounds) >= -1e-10), np.diff(lower_bounds).min()
    # the run must actually move, otherwise monotonicity is vacuous
    assert lower_bounds[-1] > lower_bounds[0] + 1e-3


# ---------------------------------------------------------------------------
# hard EM details


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_hard_em_drops_empty_component(covariance_type):
    X = separated_data(seed=11)
    k, d = 4, X.shape[1]
    weights = np.full(k, 0.25)
    means = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [-6.0, 5.0, 4.0],
                      [500.0, -500.0, 500.0]])  # far from every sample
    covariances = covariances_of(covariance_type, k, d, 1.0)
    pc = reference.precisions_cholesky(covariances, covariance_type)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # log(0), 0/0 ... must not warn
        _, resp = reference.e_step(X, weights, means, pc, covariance_type, "hard")
        assert resp[:, 3].sum() == 0
        result = reference.em(
            X, weights, means, pc, covariance_type, algorithm="hard", n_iter=10
        )
        score = reference.score_samples(
            X, result["weights"], result["means"], result["precisions_chol"],
            covariance_type)

    assert result["weights"][3] == 0.0
    assert_allclose(result["weights"].sum(), 1.0, rtol=1e-15)
    assert_array_equal(result["means"][3], means[3])
    if covariance_type != "tied":
        assert_allclose(result["covariances"][3], covariances[3], rtol=1e-12)
    for key in ("weights", "means", "covariances", "precisions_chol"):
        assert not np.any(np.isnan(result[key])), key
    assert np.all(np.isfinite(result["lower_bounds"]))
    assert np.all(np.isfinite(score))
    # the surviving components found the three clusters
    assert_allclose(np.sort(result["weights"][:3] * len(X)), [166, 166, 168], atol=3)


def test_hard_em_ties_go_to_lowest_index():
    X = separated_data(seed=12)
    means = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])  # identical components
    pc = reference.precisions_cholesky(covariances_of("full", 2, 3, 4.0), "full")
    _, resp = reference.e_step(X, [0.5, 0.5], means, pc, "full", algorithm="hard")
    assert_array_equal(resp[:, 0], 1.0)
    assert_array_equal(resp[:, 1], 0.0)
    result = reference.em(X, [0.5, 0.5], means, pc, "full", algorithm="hard", n_iter=3)
    assert_array_equal(result["weights"], [1.0, 0.0])


def test_hard_objective_is_complete_data_log_likelihood():
    X = separated_data(seed=13)
    weights, means, precisions = random_start(X, 3, "diag", 13)
    pc = reference.precisions_cholesky_from_precisions(precisions, "diag")
    objective, resp = reference.e_step(X, weights, means, pc, "diag", algorithm="hard")
    weighted = reference.log_gaussian_prob(X, means, pc, "diag") + np.log(weights)
    assert_allclose(objective, np.mean(np.sum(resp * weighted, axis=1)), rtol=1e-14)


def test_soft_m_step_without_previous_keeps_sklearn_convention():
    """An empty column without ``previous`` follows sklearn: tiny, not zero, weight."""
    X = separated_data(seed=14)
    resp = np.zeros((len(X), 2))
    resp[:, 0] = 1.0
    weights, means, covariances, _ = reference.m_step(X, resp, "full")
    assert 0.0 < weights[1] < 1e-15
    assert_array_equal(means[1], 0.0)
    assert_allclose(covariances[1], 1e-6 * np.eye(3))


# ---------------------------------------------------------------------------
# dtype handling


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("algorithm", ["soft", "hard"])
def test_float32_in_float32_out(covariance_type, algorithm):
    X64 = separated_data(seed=15)
    weights, means, precisions = random_start(X64, 3, covariance_type, 15)
    pc64 = reference.precisions_cholesky_from_precisions(precisions, covariance_type)
    X = X64.astype(np.float32)
    # parameters deliberately left in float64: the dtype of X decides
    pc32 = reference.precisions_cholesky_from_precisions(
        precisions.astype(np.float32), covariance_type)
    assert pc32.dtype == np.float32

    log_prob = reference.log_gaussian_prob(X, means, pc64, covariance_type)
    assert log_prob.dtype == np.float32
    objective, resp = reference.e_step(X, weights, means, pc64, covariance_type, algorithm)
    assert resp.dtype == np.float32 and objective.dtype == np.float32
    out = reference.m_step(X, resp, covariance_type)
    assert all(a.dtype == np.float32 for a in out)
    assert reference.score_samples(X, weights, means, pc64, covariance_type).dtype \
        == np.float32
    assert reference.precisions_cholesky(out[2], covariance_type).dtype == np.float32

    result = reference.em(X, weights, means, pc64, covariance_type, algorithm, n_iter=10)
    for key in ("weights", "means", "covariances", "precisions_chol"):
        assert result[key].dtype == np.float32, key
    assert all(np.asarray(lb).dtype == np.float32 for lb in result["lower_bounds"])

    result64 = reference.em(X64, weights, means, pc64, covariance_type, algorithm, n_iter=10)
    assert_allclose(result["lower_bounds"], result64["lower_bounds"], rtol=1e-4)
    assert_allclose(result["means"], result64["means"], rtol=1e-3, atol=1e-3)


def test_invalid_arguments():
    X = separated_data(seed=16)
    weights, means, precisions = random_start(X, 2, "full", 16)
    pc = reference.precisions_cholesky_from_precisions(precisions, "full")
    with pytest.raises(ValueError, match="covariance_type"):
        reference.em(X, weights, means, pc, "banana")
    with pytest.raises(ValueError, match="algorithm"):
        reference.e_step(X, weights, means, pc, "full", algorithm="medium")
