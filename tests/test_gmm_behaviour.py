"""Behaviour of genmix.GaussianMixture: recovering known mixtures, initialisations,
n_init, warm_start, pickling, float32, thread-count invariance, batch invariance of
predictions, degenerate covariances, dropped components in hard EM, sampling,
ConvergenceWarning and max_iter=0."""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import linear_sum_assignment

from genmix import ConvergenceWarning, GaussianMixture, reference

from _gmm_common import (
    ALGORITHMS,
    COVARIANCE_TYPES,
    FITTED_ARRAYS,
    covariance_matrices,
    fitted_state,
    assert_same_state,
    identity_precisions,
    random_precisions,
    separated_data,
    separated_data_with_labels,
    start_kwargs,
)

# ---------------------------------------------------------------------------------------
# A known 2-D mixture of each covariance type

TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_MEANS = np.array([[0.0, 0.0], [10.0, 1.0], [1.0, 11.0]])
TRUE_COVARIANCES = {
    "full": np.array([[[1.0, 0.6], [0.6, 1.0]], [[2.0, -0.5], [-0.5, 0.5]], [[0.5, 0.0], [0.0, 1.5]]]),
    "tied": np.array([[1.5, 0.4], [0.4, 0.8]]),
    "diag": np.array([[1.0, 0.3], [2.0, 0.6], [0.4, 1.5]]),
    "spherical": np.array([1.0, 0.5, 2.0]),
}


def known_mixture(covariance_type, n=3000, seed=0):
    rng = np.random.default_rng(seed)
    covs = covariance_matrices(TRUE_COVARIANCES[covariance_type], covariance_type, 3, 2)
    z = rng.choice(3, size=n, p=TRUE_WEIGHTS)
    X = np.empty((n, 2))
    for j in range(3):
        X[z == j] = rng.multivariate_normal(TRUE_MEANS[j], covs[j], size=int(np.sum(z == j)))
    return X, z


def empirical_parameters(X, z, covariance_type, k=3):
    """Maximum-likelihood parameters given the true labels (the MLE of well separated data)."""
    n, d = X.shape
    weights = np.bincount(z, minlength=k) / n
    means = np.stack([X[z == j].mean(axis=0) for j in range(k)])
    scatter = np.stack([np.cov(X[z == j].T, bias=True).reshape(d, d) for j in range(k)])
    covariances = {
        "full": lambda: scatter,
        "tied": lambda: np.tensordot(weights, scatter, axes=1),
        "diag": lambda: np.stack([np.diag(s) for s in scatter]),
        "spherical": lambda: np.array([np.mean(np.diag(s)) for s in scatter]),
    }[covariance_type]()
    return weights, means, covariances


def match_components(fitted_means, true_means):
    """perm[j] = index of the fitted component that corresponds to true component j."""
    cost = ((fitted_means[:, None, :] - true_means[None, :, :]) ** 2).sum(axis=-1)
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(len(cols), dtype=int)
    perm[cols] = rows
    return perm


def permuted_covariances(covariances, covariance_type, perm):
    return covariances if covariance_type == "tied" else covariances[perm]


# ---------------------------------------------------------------------------------------
# 4. Recovery, initialisations, n_init, warm_start


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_recovers_a_known_mixture(covariance_type):
    X, z = known_mixture(covariance_type)
    gm = GaussianMixture(3, covariance_type=covariance_type, tol=1e-6, n_init=2, random_state=0,
                         n_threads=1).fit(X)
    perm = match_components(gm.means_, TRUE_MEANS)
    means, weights = gm.means_[perm], gm.weights_[perm]
    covariances = permuted_covariances(gm.covariances_, covariance_type, perm)
    # against the generating parameters: sampling error only (n = 3000)
    assert_allclose(means, TRUE_MEANS, rtol=0, atol=0.2)
    assert_allclose(weights, TRUE_WEIGHTS, rtol=0, atol=0.03)
    assert_allclose(covariances, TRUE_COVARIANCES[covariance_type], rtol=0.15, atol=0.05)
    # against the MLE given the true labels: the clusters barely overlap
    emp_w, emp_m, emp_c = empirical_parameters(X, z, covariance_type)
    assert_allclose(means, emp_m, rtol=0, atol=1e-3)
    assert_allclose(weights, emp_w, rtol=0, atol=1e-4)
    assert_allclose(covariances, emp_c, rtol=1e-3, atol=1e-4)
    assert gm.converged_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_hard_em_recovers_separated_clusters(covariance_type):
    X, z = known_mixture(covariance_type, seed=1)
    gm = GaussianMixture(3, covariance_type=covariance_type, algorithm="hard", random_state=0,
                         n_threads=1).fit(X)
    perm = match_components(gm.means_, TRUE_MEANS)
    labels = np.argsort(perm)[gm.predict(X)]
    assert_array_equal(labels, z)  # every row in its own cluster
    # with the right labels, the hard-EM fixed point is exactly the per-cluster MLE (+ reg_covar)
    emp_w, emp_m, emp_c = empirical_parameters(X, z, covariance_type)
    assert_allclose(gm.means_[perm], emp_m, rtol=0, atol=1e-10)
    assert_allclose(gm.weights_[perm], emp_w, rtol=1e-12)
    reg = gm.reg_covar * {"full": np.eye(2), "tied": np.eye(2), "diag": np.ones(2), "spherical": 1.0}[covariance_type]
    assert_allclose(permuted_covariances(gm.covariances_, covariance_type, perm), emp_c + reg, rtol=1e-9)
    assert gm.converged_


def _three_cluster_problem():
    X, z = known_mixture("full", n=900, seed=2)
    true_ll = np.mean(reference.score_samples(
        X, TRUE_WEIGHTS, TRUE_MEANS, reference.precisions_cholesky(TRUE_COVARIANCES["full"], "full"), "full"))
    return X, true_ll


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_each_init_reaches_a_good_likelihood_with_restarts(init_params):
    X, true_ll = _three_cluster_problem()
    for seed in range(3):
        gm = GaussianMixture(3, init_params=init_params, n_init=4, tol=1e-8, max_iter=1000, random_state=seed,
                             n_threads=1).fit(X)
        # the global maximum is at least the likelihood of the generating parameters
        assert gm.score(X) >= true_ll - 1e-3, (seed, gm.score(X), true_ll)
        assert gm.converged_


def test_n_init_keeps_the_best_run():
    rng = np.random.default_rng(3)
    X = np.repeat(rng.uniform(-10, 10, size=(8, 2)), 60, axis=0) + rng.standard_normal((480, 2))
    params = dict(n_components=6, init_params="random_from_data", max_iter=200, n_threads=1)
    # n_init=5 draws its five initialisations from one RandomState; five n_init=1 fits that
    # share one RandomState object draw exactly the same ones
    shared = np.random.RandomState(1)
    runs = [GaussianMixture(**params, random_state=shared).fit(X) for _ in range(5)]
    bounds = [run.lower_bound_ for run in runs]
    best_index = int(np.argmax(bounds))
    assert len(set(bounds)) > 1 and best_index not in (0, 4)  # precondition: a non-trivial choice
    best = GaussianMixture(**params, n_init=5, random_state=np.random.RandomState(1)).fit(X)
    assert best.lower_bound_ == max(bounds)
    assert_same_state(fitted_state(best), fitted_state(runs[best_index]))
    # an int seed gives the same stream
    assert GaussianMixture(**params, n_init=5, random_state=1).fit(X).lower_bound_ == max(bounds)
    # more restarts from the same seed can only help
    lbs = [GaussianMixture(**params, n_init=m, random_state=1).fit(X).lower_bound_ for m in range(1, 6)]
    assert all(a <= b for a, b in zip(lbs, lbs[1:])) and lbs[-1] == max(bounds)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_continues_from_the_previous_solution(covariance_type, algorithm):
    X = separated_data(n=500, seed=4)
    common = dict(n_components=3, covariance_type=covariance_type, algorithm=algorithm, tol=0.0, random_state=0,
                  init_params="random_from_data", n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        straight = GaussianMixture(**common, max_iter=12).fit(X)
        warm = GaussianMixture(**common, max_iter=5, warm_start=True).fit(X)
        first = list(warm.lower_bounds_)
        warm.set_params(max_iter=7).fit(X)
    assert first == straight.lower_bounds_[:5]
    assert warm.n_iter_ == 7
    assert_allclose(warm.lower_bounds_, straight.lower_bounds_[5:], rtol=1e-12)
    for name in FITTED_ARRAYS:
        assert_allclose(getattr(warm, name), getattr(straight, name), rtol=1e-10, atol=1e-12, err_msg=name)


def test_warm_start_from_a_converged_fit_stops_at_once():
    X = separated_data(n=500, seed=4)
    gm = GaussianMixture(3, warm_start=True, tol=1e-4, random_state=0, n_threads=1).fit(X)
    assert gm.converged_
    previous = gm.lower_bound_
    gm.fit(X)
    # the first change is measured against the previous fit's objective, as in scikit-learn
    assert gm.n_iter_ == 1 and gm.converged_
    assert abs(gm.lower_bound_ - previous) < 1e-4


def test_without_warm_start_each_fit_starts_afresh():
    X = separated_data(n=500, seed=4)
    gm = GaussianMixture(3, random_state=0, tol=1e-6, n_threads=1)
    first = fitted_state(gm.fit(X))
    second = fitted_state(gm.fit(X))
    assert_same_state(first, second)


# ---------------------------------------------------------------------------------------
# 6. Pickle, float32, threads, batch invariance


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pickle_round_trip(covariance_type, algorithm):
    X = separated_data(n=400, seed=5)
    gm = GaussianMixture(3, covariance_type=covariance_type, algorithm=algorithm, random_state=7,
                         n_threads=1).fit(X)
    clone = pickle.loads(pickle.dumps(gm))
    assert_same_state(fitted_state(clone), fitted_state(gm))
    X_new = separated_data(n=200, seed=6)
    assert_array_equal(clone.predict(X_new), gm.predict(X_new))
    assert_array_equal(clone.predict_proba(X_new), gm.predict_proba(X_new))
    assert_array_equal(clone.score_samples(X_new), gm.score_samples(X_new))
    assert clone.score(X_new) == gm.score(X_new)
    for a, b in zip(clone.sample(50), gm.sample(50)):
        assert_array_equal(a, b)
    assert clone.get_params().keys() == gm.get_params().keys()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_fit_is_float32_and_close_to_float64(covariance_type, algorithm):
    X = separated_data(n=600, seed=7)
    init = start_kwargs(X, 3, covariance_type, seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm64 = GaussianMixture(3, covariance_type=covariance_type, algorithm=algorithm, tol=0.0, max_iter=20,
                               n_threads=1, **init).fit(X)
        gm32 = GaussianMixture(3, covariance_type=covariance_type, algorithm=algorithm, tol=0.0, max_iter=20,
                               n_threads=1, **init).fit(X.astype(np.float32))
    for name in FITTED_ARRAYS:
        got, expected = getattr(gm32, name), getattr(gm64, name)
        assert got.dtype == np.float32, name
        assert gm64.__dict__[name].dtype == np.float64, name
        assert_allclose(got, expected, rtol=2e-4, atol=2e-4 * np.max(np.abs(expected)), err_msg=name)
    assert_allclose(gm32.lower_bounds_, gm64.lower_bounds_, rtol=1e-5)
    X32 = X.astype(np.float32)
    assert_array_equal(gm32.predict(X32), gm64.predict(X))
    assert_allclose(gm32.score_samples(X32), gm64.score_samples(X), rtol=1e-4, atol=1e-4)
    assert_allclose(gm32.predict_proba(X32), gm64.predict_proba(X), rtol=0, atol=1e-4)
    # a float32 fit continues in float32 (also int data becomes float64, not float32)
    assert GaussianMixture(2, n_threads=1).fit(np.rint(X).astype(np.int32)).means_.dtype == np.float64


def _threads_data(dtype):
    # 20480 rows = 80 blocks of 256 rows, grouped into 64 chunks of one or two blocks
    rng = np.random.default_rng(9)
    X = np.repeat(rng.uniform(-6, 6, size=(4, 3)), 5120, axis=0) + rng.standard_normal((20480, 3))
    return X[rng.permutation(len(X))].astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_thread_count_does_not_change_a_bit(covariance_type, algorithm, dtype):
    X = _threads_data(dtype)
    fits = []
    for n_threads in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(GaussianMixture(4, covariance_type=covariance_type, algorithm=algorithm, tol=0.0,
                                        max_iter=8, random_state=0, n_threads=n_threads).fit(X))
    one, two = fits
    for name in FITTED_ARRAYS:
        assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
    assert one.lower_bounds_ == two.lower_bounds_
    assert_array_equal(one.score_samples(X), two.score_samples(X))
    assert_array_equal(one.predict_proba(X), two.predict_proba(X))
    assert_array_equal(one.predict(X), two.predict(X))


@pytest.mark.parametrize("init_params", ["k-means++", "random", "random_from_data"])
def test_thread_count_does_not_change_a_bit_for_other_inits(init_params):
    X = _threads_data(np.float64)
    fits = [GaussianMixture(4, init_params=init_params, tol=0.0, max_iter=5, random_state=0,
                            n_threads=n_threads) for n_threads in (1, 2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for gm in fits:
            gm.fit(X)
    assert_same_state(fitted_state(fits[0]), fitted_state(fits[1]))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_predictions_do_not_depend_on_the_batch(covariance_type):
    X = separated_data(n=1000, seed=10)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0, n_threads=1).fit(X)
    X_new = separated_data(n=3000, seed=11)
    labels, log_prob, resp = gm.predict(X_new), gm.score_samples(X_new), gm.predict_proba(X_new)
    perm = np.random.default_rng(0).permutation(len(X_new))
    assert_array_equal(gm.predict(X_new[perm]), labels[perm])
    assert_allclose(gm.score_samples(X_new[perm]), log_prob[perm], rtol=1e-12)
    assert_allclose(gm.predict_proba(X_new[perm]), resp[perm], rtol=1e-10, atol=1e-14)
    for start, stop in [(0, 1), (5, 6), (0, 7), (13, 270), (100, 1100), (2999, 3000)]:
        assert_array_equal(gm.predict(X_new[start:stop]), labels[start:stop])
        assert_allclose(gm.score_samples(X_new[start:stop]), log_prob[start:stop], rtol=1e-12)
        assert_allclose(gm.predict_proba(X_new[start:stop]), resp[start:stop], rtol=1e-10, atol=1e-14)
    # and against the reference
    expected = reference.score_samples(X_new, gm.weights_, gm.means_, gm.precisions_cholesky_, covariance_type)
    assert_allclose(log_prob, expected, rtol=1e-11)
    assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    # fit_predict is fit followed by predict
    assert_array_equal(GaussianMixture(3, covariance_type=covariance_type, random_state=0, n_threads=1)
                       .fit_predict(X), gm.predict(X))


# ---------------------------------------------------------------------------------------
# 8. Degenerate covariances and dropped components


def _duplicated_points():
    """128 rows: 64 copies of each of two points, all exactly representable, so that the
    within-cluster scatter is exactly zero."""
    a, b = np.array([1.0, 2.0, 3.0]), np.array([5.0, -2.0, 7.0])
    X = np.vstack([np.tile(a, (64, 1)), np.tile(b, (64, 1))])
    return X[np.random.default_rng(0).permutation(len(X))], a, b


def _duplicates_init(covariance_type, a, b):
    return dict(weights_init=[0.5, 0.5], means_init=np.vstack([a + 0.5, b - 0.5]),
                precisions_init=identity_precisions(covariance_type, 2, 3))


@pytest.mark.parametrize("init", ["kmeans", "user"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_collapsed_covariance_raises_a_value_error(covariance_type, algorithm, init):
    X, a, b = _duplicated_points()
    kwargs = _duplicates_init(covariance_type, a, b) if init == "user" else {}
    gm = GaussianMixture(2, covariance_type=covariance_type, algorithm=algorithm, random_state=0, n_threads=1)
    gm.fit(separated_data(n=100, seed=12))  # a previous, good fit
    before = fitted_state(gm)
    gm.set_params(reg_covar=0.0, **kwargs)
    what = r"the tied covariance" if covariance_type == "tied" else r"component [01]"
    with pytest.raises(ValueError, match=r"(?s)" + what + r".*reg_covar"):
        gm.fit(X)
    assert_same_state(before, fitted_state(gm))


@pytest.mark.parametrize("init", ["kmeans", "user"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_duplicated_points_fit_with_default_reg_covar(covariance_type, algorithm, init):
    X, a, b = _duplicated_points()
    kwargs = _duplicates_init(covariance_type, a, b) if init == "user" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = GaussianMixture(2, covariance_type=covariance_type, algorithm=algorithm, random_state=0,
                             n_threads=1, **kwargs).fit(X)
    for name in FITTED_ARRAYS:
        assert np.all(np.isfinite(getattr(gm, name))), name
    assert np.all(np.isfinite(gm.lower_bounds_))
    # zero scatter: every covariance is exactly reg_covar * I, the means are the two points
    expected = covariance_matrices(identity_precisions(covariance_type, 2, 3, scale=1e-6), covariance_type, 2, 3)
    assert_allclose(covariance_matrices(gm.covariances_, covariance_type, 2, 3), expected, rtol=1e-9, atol=1e-300)
    assert_allclose(np.sort(gm.means_, axis=0), np.sort(np.vstack([a, b]), axis=0), rtol=1e-12)
    assert_allclose(gm.weights_, [0.5, 0.5], rtol=1e-12)
    # objective: log(1/2) + log N(x | x, 1e-6 I) for every row
    expected_lb = np.log(0.5) - 1.5 * np.log(2 * np.pi * 1e-6)
    assert_allclose(gm.lower_bound_, expected_lb, rtol=1e-9)
    assert np.all(np.isfinite(gm.score_samples(X))) and np.all(np.isfinite(gm.predict_proba(X)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_responsibilities_that_underflow_are_exactly_zero(dtype):
    X = np.array([[0.0], [0.1], [-0.1], [0.2], [-0.2], [0.3], [0.4], [50.0], [50.1], [49.9]], dtype=dtype)
    one = np.ones((2, 1, 1))
    # a component of weight exactly 0 has posterior probability exactly 0 for every row
    gm = GaussianMixture(2, weights_init=[1.0, 0.0], means_init=[[0.0], [0.05]], precisions_init=one,
                         max_iter=0, n_threads=1).fit(X)
    resp = gm.predict_proba(X)
    assert np.all(resp[:, 1] == 0) and np.all(resp[:, 0] == 1)
    # rows 50 standard deviations from a component: exp(-1250) is 0, as in NumPy / scikit-learn
    gm = GaussianMixture(2, weights_init=[0.5, 0.5], means_init=[[0.0], [50.0]], precisions_init=one,
                         max_iter=0, n_threads=1).fit(X)
    resp = gm.predict_proba(X)
    assert np.all(resp[:7, 1] == 0) and np.all(resp[7:, 0] == 0)
    assert np.all(resp[:7, 0] == 1) and np.all(resp[7:, 1] == 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_hard_em_drops_an_empty_component(covariance_type, dtype):
    X, z = separated_data_with_labels(n=600, seed=13, dtype=dtype)
    weights = np.full(3, 1.0 / 3)
    means = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [100.0, 100.0, 100.0]])  # no row is near the third
    precisions = identity_precisions(covariance_type, 3, 3)
    with pytest.warns(UserWarning, match=r"component\(s\) \[2\].*dropped"):
        gm = GaussianMixture(3, covariance_type=covariance_type, algorithm="hard", weights_init=weights,
                             means_init=means, precisions_init=precisions, n_threads=1).fit(X)
    assert gm.weights_[2] == 0.0  # exactly
    assert_allclose(gm.weights_.sum(), 1.0, rtol=1e-6)
    assert_array_equal(gm.means_[2], means[2].astype(dtype))  # frozen at its last value
    if covariance_type != "tied":
        expected_cov = covariance_matrices(identity_precisions(covariance_type, 3, 3), covariance_type, 3, 3)[2]
        got_cov = covariance_matrices(gm.covariances_, covariance_type, 3, 3)[2]
        assert_allclose(got_cov, expected_cov, rtol=1e-6)
    for name in FITTED_ARRAYS:
        assert getattr(gm, name).dtype == dtype
        assert not np.any(np.isnan(getattr(gm, name))), name
    assert np.all(np.isfinite(gm.lower_bounds_))
    resp = gm.predict_proba(X)
    log_prob = gm.score_samples(X)
    assert not np.any(np.isnan(resp)) and np.all(np.isfinite(log_prob))
    assert np.all(resp[:, 2] == 0)
    assert np.all(gm.predict(X) != 2)
    assert np.isfinite(gm.bic(X)) and np.isfinite(gm.aic(X))
    samples, labels = gm.sample(500)
    assert not np.any(np.isnan(samples)) and np.all(labels != 2)
    # the other two components share the remaining rows: clusters 1 and 2 merge into one
    assert_allclose(np.sort(gm.weights_[:2]), np.sort([np.mean(z == 0), np.mean(z != 0)]), rtol=1e-5)


# starts (seed of the random start, component) where hard EM empties a component only after
# its second iteration; found by a search over seeds (a full-covariance component rather
# collapses onto a few rows and keeps them)
LATE_DROPS = {"tied": (7, 2), "diag": (115, 0), "spherical": (201, 5)}


@pytest.mark.parametrize("covariance_type", sorted(LATE_DROPS))
def test_hard_em_component_that_becomes_empty_later(covariance_type):
    seed, j = LATE_DROPS[covariance_type]
    X = separated_data(n=300, seed=0)
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(6))
    means = X[rng.choice(len(X), 6, replace=False)]
    precisions = random_precisions(rng, covariance_type, 6, 3)
    params = dict(covariance_type=covariance_type, algorithm="hard", weights_init=weights, means_init=means,
                  precisions_init=precisions, tol=0.0, n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (another component may be dropped early)
        assert GaussianMixture(6, max_iter=2, **params).fit(X).weights_[j] > 0  # precondition
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match=rf"component\(s\) \[[^]]*{j}[^]]*\].*dropped"):
            gm = GaussianMixture(6, max_iter=30, **params).fit(X)
    assert gm.weights_[j] == 0.0
    for name in FITTED_ARRAYS:
        assert np.all(np.isfinite(getattr(gm, name))), name
    resp = gm.predict_proba(X)
    assert np.all(np.isfinite(resp)) and np.all(resp[:, j] == 0)
    assert np.all(np.isfinite(gm.score_samples(X))) and np.all(np.isfinite(gm.lower_bounds_))
    # the whole trajectory, drop included, as in the reference
    ref = reference.em(X, weights, means, reference.precisions_cholesky_from_precisions(precisions, covariance_type),
                       covariance_type, algorithm="hard", n_iter=30)
    assert ref["weights"][j] == 0
    assert_allclose(gm.lower_bounds_, np.asarray(ref["lower_bounds"]), rtol=1e-10)
    assert_allclose(gm.means_, ref["means"], rtol=1e-8, atol=1e-10)
    assert_allclose(gm.covariances_, ref["covariances"], rtol=1e-8, atol=1e-12)


def test_hard_em_dropped_component_stays_dropped_with_warm_start():
    X = separated_data(n=600, seed=13)
    means = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [100.0, 100.0, 100.0]])
    gm = GaussianMixture(3, algorithm="hard", means_init=means, warm_start=True, n_threads=1)
    with pytest.warns(UserWarning, match="dropped"):
        gm.fit(X)
    with pytest.warns(UserWarning, match="dropped"):
        gm.fit(X)
    assert gm.weights_[2] == 0.0
    assert not np.any(np.isnan(gm.covariances_))


# ---------------------------------------------------------------------------------------
# 10. ConvergenceWarning, max_iter=0, sample()


def test_convergence_warning_when_max_iter_is_too_small():
    X = separated_data(n=300, seed=14)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        gm = GaussianMixture(3, max_iter=2, tol=1e-12, init_params="random", random_state=0, n_threads=1).fit(X)
    assert gm.converged_ is False and gm.n_iter_ == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = GaussianMixture(3, max_iter=500, random_state=0, n_threads=1).fit(X)
    assert gm.converged_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_max_iter_zero_returns_the_initialisation(covariance_type):
    X = separated_data(n=300, seed=15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = GaussianMixture(3, covariance_type=covariance_type, max_iter=0, random_state=0, n_threads=1).fit(X)
    assert gm.n_iter_ == 0 and gm.converged_ is False and gm.lower_bounds_ == []
    for name in FITTED_ARRAYS:
        assert np.all(np.isfinite(getattr(gm, name))), name
    # the k-means start of separated clusters already has the three cluster means
    perm = match_components(gm.means_, np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [-6.0, 5.0, 4.0]]))
    assert_allclose(gm.means_[perm], [[0, 0, 0], [6, 6, 0], [-6, 5, 4]], atol=0.5)
    assert gm.predict(X).shape == (300,)
    # one EM step from there is exactly the first step of a longer fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = GaussianMixture(3, covariance_type=covariance_type, max_iter=1, tol=0.0, random_state=0,
                              n_threads=1).fit(X)
    ref = reference.em(X, gm.weights_, gm.means_, gm.precisions_cholesky_, covariance_type, n_iter=1)
    assert_allclose(one.lower_bounds_, np.asarray(ref["lower_bounds"]), rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample(covariance_type):
    X = separated_data(n=600, seed=16)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=3, n_threads=1).fit(X)
    n = 30000
    samples, labels = gm.sample(n)
    assert samples.shape == (n, 3) and labels.shape == (n,)
    assert samples.dtype == np.float64 and np.issubdtype(labels.dtype, np.integer)
    # labels come grouped by component, in component order
    assert np.all(np.diff(labels) >= 0)
    counts = np.bincount(labels, minlength=3)
    assert counts.sum() == n
    sd = np.sqrt(gm.weights_ * (1 - gm.weights_) / n)
    assert np.all(np.abs(counts / n - gm.weights_) < 5 * sd)
    covs = covariance_matrices(gm.covariances_, covariance_type, 3, 3)
    for j in range(3):
        part = samples[labels == j]
        se = np.sqrt(np.diag(covs[j]) / len(part))
        assert np.all(np.abs(part.mean(axis=0) - gm.means_[j]) < 5 * se)
        assert_allclose(np.cov(part.T), covs[j], rtol=0, atol=0.1 * np.max(np.abs(covs[j])))
    # reproducible with an int random_state, different for another one
    again = gm.sample(n)
    assert_array_equal(again[0], samples) and assert_array_equal(again[1], labels)
    other = gm.set_params(random_state=4).sample(n)[0]
    assert not np.array_equal(other, samples)
    assert gm.sample(1)[0].shape == (1, 3)
    with pytest.raises((ValueError, TypeError), match="n_samples"):
        gm.sample(0)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_nearly_empty_component_matches_reference(covariance_type):
    # A component 12 sd away from every row gets N_k ~ 1e-17 << 10 eps. Its mean
    # S1 / (N_k + 10 eps) then depends on the origin of the coordinates (genmix works around
    # the data's column medians, the lower one for an even count), but its covariance must be the
    # exact weighted scatter around that mean - as genmix.reference computes it in the same frame - and a shift of the
    # data must not change it.
    X = np.random.default_rng(0).standard_normal((500, 2))
    weights = np.array([0.5, 0.5])
    means = np.array([[0.0, 0.0], [12.0, 0.0]])
    precisions = {
        "full": np.stack([np.eye(2)] * 2), "tied": np.eye(2),
        "diag": np.ones((2, 2)), "spherical": np.ones(2),
    }[covariance_type]
    centre = np.sort(X, axis=0)[(len(X) - 1) // 2]
    ref = reference.em(X - centre, weights, means - centre,
                       reference.precisions_cholesky_from_precisions(precisions, covariance_type),
                       covariance_type, n_iter=1)
    for shift in (0.0, 1e3):
        gm = GaussianMixture(2, covariance_type=covariance_type, weights_init=weights, means_init=means + shift,
                             precisions_init=precisions, max_iter=1, tol=0, n_threads=1)
        with pytest.warns(ConvergenceWarning):
            gm.fit(X + shift)
        assert_allclose(gm.covariances_, ref["covariances"], rtol=1e-6, atol=1e-12)
        assert_allclose(gm.means_ - shift, ref["means"] + centre, rtol=1e-6, atol=1e-9)


def test_max_iter_zero_keeps_the_last_initialisation_like_sklearn():
    # scikit-learn keeps the last of n_init initialisations when max_iter == 0 (no run has
    # a likelihood to compare). Replay the random stream to know which rows seeded it:
    # random_from_data draws among the distinct rows sorted by hash, by weight (here 1).
    from genmix._base import draw_seed
    from genmix._core.gmm import row_hash

    X = np.random.default_rng(1).standard_normal((200, 3))
    gm = GaussianMixture(2, max_iter=0, n_init=3, init_params="random_from_data", random_state=0).fit(X)
    h = row_hash(X, 1)
    values = np.unique(h)
    assert len(values) == len(X)
    rs = np.random.RandomState(0)
    for _ in range(3):
        draw_seed(rs)
        chosen = values[rs.choice(len(values), size=2, replace=False, p=np.ones(len(values)) / len(values))]
    rows = [np.flatnonzero(h == v)[0] for v in chosen]
    assert_allclose(gm.means_, X[rows])
    assert gm.n_iter_ == 0 and gm.lower_bounds_ == []


def test_unpickled_arrays_are_accepted():
    # an unpickled array carries its own (equal, not identical) dtype descriptor
    X = pickle.loads(pickle.dumps(np.random.default_rng(0).standard_normal((300, 2)).astype(np.float32)))
    gm = GaussianMixture(2, random_state=0).fit(X)
    assert gm.means_.dtype == np.float32
    assert gm.score_samples(pickle.loads(pickle.dumps(X))).shape == (300,)
