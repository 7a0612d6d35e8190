"""Benign data is never refused and a fit never stores a broken model (issue #12, items 4, 7,
8 and 12): data at any scale in both dtypes, huge and zero sample weights, float32 covariances
that stay positive definite, and one reg_covar=0 rule for every covariance type."""
import warnings

import numpy as np
import pytest

from genmix import GaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
INITS = ["kmeans", "k-means++", "random", "random_from_data"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on tiny or collapsed fits
        yield


def stored_matrices(g):
    """Each component's covariance as a d x d float64 matrix of the values stored in g."""
    cov = np.asarray(g.covariances_, dtype=np.float64)
    k, d = g.means_.shape
    if g.covariance_type == "full":
        return list(cov)
    if g.covariance_type == "tied":
        return [cov]
    if g.covariance_type == "diag":
        return [np.diag(c) for c in cov]
    return [np.eye(d) * c for c in cov]


def assert_sound(g, X):
    """Finite parameters, positive-definite covariances as stored, and a usable model."""
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert np.isfinite(getattr(g, name)).all(), name
    assert np.isclose(g.weights_.sum(), 1.0, rtol=1e-5)
    for c in stored_matrices(g):
        np.linalg.cholesky(c)  # raises LinAlgError when not positive definite
    assert np.isfinite(g.lower_bound_)
    assert np.isfinite(g.score_samples(X)).all()
    p = g.predict_proba(X)
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-4)
    Xs, _ = g.sample(5)
    assert np.isfinite(Xs).all()


def two_blobs(rng, scale, dtype, n=100):
    X = rng.normal(size=(n, 2))
    X[: n // 2] += 6.0
    return (X * scale + 5 * scale).astype(dtype)


# ------------------------------------------------------------------ item 12: any scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", INITS)
def test_plain_data_fits_at_every_scale(dtype, covariance_type, init_params):
    # scikit-learn fits these; k-means++ and random_from_data start from one row per
    # component, whose scatter is pure rounding noise (of either sign) at large scales
    for exponent in range(-6, 7):
        for seed in range(3):
            X = two_blobs(np.random.default_rng(seed), 10.0**exponent, dtype)
            g = GaussianMixture(2, covariance_type=covariance_type, init_params=init_params,
                                random_state=seed).fit(X)
            assert_sound(g, X)


def test_the_reported_float32_reproducer_fits():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        X = (rng.normal(size=(100, 2)) * 100 + 5).astype(np.float32)
        g = GaussianMixture(2, covariance_type="diag", init_params="k-means++", random_state=seed).fit(X)
        assert_sound(g, X)


def test_data_whose_squares_overflow_gets_a_clear_error():
    X = np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32) * np.float32(1e20)
    with pytest.raises(ValueError, match="overflow float32.*Pass float64"):
        GaussianMixture(2, random_state=0).fit(X)
    # the same values in float64 are fine
    assert_sound(GaussianMixture(2, random_state=0).fit(X.astype(np.float64)), X.astype(np.float64))


# ------------------------------------------------------------------ item 7: float32 storage


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_float32_covariances_are_positive_definite_as_stored(covariance_type):
    # two rows: a rank-one scatter of size 1e7 plus the 1e-6 ridge, which float32 cannot hold
    X = np.array([[4001, -1999], [-3999, -999]], np.float32)
    g = GaussianMixture(1, covariance_type=covariance_type).fit(X)
    assert_sound(g, X)


# ------------------------------------------------------------------ item 8: reg_covar = 0


def data_with_repeated_rows(rng, value=(1.3, -0.7)):
    repeated = np.tile([value], (40, 1))
    return np.vstack([repeated, rng.normal(size=(60, 2)) * 0.5 + [6.0, 6.0]])


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
@pytest.mark.parametrize("value", [(1.3, -0.7), (1e3, 2e3)])
def test_reg_covar_zero_refuses_a_component_of_repeated_rows_for_every_type(covariance_type, value):
    # the scatter of the repeated rows is rounding noise; as a positive number (1e-15 or 1e-9
    # here) it used to pass for diag/spherical as a variance, giving a spike of high likelihood
    X = data_with_repeated_rows(np.random.default_rng(0), value)
    start = dict(weights_init=[0.4, 0.6], means_init=[value, [6.0, 6.0]],
                 precisions_init={"full": np.array([np.eye(2)] * 2), "diag": np.ones((2, 2)),
                                  "spherical": np.ones(2)}[covariance_type])
    with pytest.raises(ValueError, match="not positive definite"):
        GaussianMixture(2, covariance_type=covariance_type, reg_covar=0, **start).fit(X)
    # any ridge makes the same fit well defined: the repeated rows' component has variance reg_covar
    g = GaussianMixture(2, covariance_type=covariance_type, reg_covar=1e-4, **start).fit(X)
    assert_sound(g, X)
    j = int(np.argmin(np.abs(g.means_[:, 0] - value[0])))
    assert np.allclose(stored_matrices(g)[j], 1e-4 * np.eye(2), rtol=1e-6)


def test_reg_covar_zero_tied_pools_the_other_components_scatter():
    # tied: one covariance for all, positive definite from the other rows: a valid fit
    X = data_with_repeated_rows(np.random.default_rng(0))
    g = GaussianMixture(2, covariance_type="tied", reg_covar=0, random_state=0).fit(X)
    assert_sound(g, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_reg_covar_zero_on_ordinary_data_is_unchanged(covariance_type):
    X = two_blobs(np.random.default_rng(1), 1.0, np.float64)
    g0 = GaussianMixture(2, covariance_type=covariance_type, reg_covar=0, random_state=0).fit(X)
    assert_sound(g0, X)
    # no direction is near rounding level, so no floor was applied: the tiny-ridge fit is close
    g1 = GaussianMixture(2, covariance_type=covariance_type, reg_covar=1e-12, random_state=0).fit(X)
    assert np.allclose(g0.covariances_, g1.covariances_, rtol=1e-9)


# ------------------------------------------------------------------ item 4: weights


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_finite_weights_fit(covariance_type, dtype):
    X = two_blobs(np.random.default_rng(0), 1.0, dtype)
    w = np.ones(len(X))
    w[:10] = 1e300  # beyond float32 when cast without care
    g = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X, sample_weight=w)
    assert_sound(g, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_only_the_ratios_of_weights_matter(covariance_type):
    X = two_blobs(np.random.default_rng(2), 1.0, np.float64)
    w = np.random.default_rng(3).uniform(0.5, 2.0, size=len(X))
    fits = [GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X, sample_weight=w * s)
            for s in (1.0, 2.0**60, 2.0**-60)]
    for g in fits[1:]:
        # scaled by a power of two to weights near 1: the same fit up to rounding
        np.testing.assert_allclose(g.means_, fits[0].means_, rtol=1e-12)
        np.testing.assert_allclose(g.covariances_, fits[0].covariances_, rtol=1e-12)
        assert np.isclose(g.lower_bound_, fits[0].lower_bound_, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype,far", [(np.float64, 1e200), (np.float32, 1e17), (np.float32, 3e38)])
def test_zero_weight_rows_have_no_influence(covariance_type, dtype, far):
    rng = np.random.default_rng(4)
    X = two_blobs(rng, 1.0, dtype)
    X[[3, 70]] = far
    w = np.ones(len(X))
    w[[3, 70]] = 0
    keep = w > 0
    g = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X, sample_weight=w)
    ref = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X[keep], sample_weight=w[keep])
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_array_equal(getattr(g, name), getattr(ref, name))
    assert g.lower_bound_ == ref.lower_bound_
    assert_sound(g, X[keep])
    # fit_predict still labels every row, the zero-weight ones included
    labels = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit_predict(X, sample_weight=w)
    assert labels.shape == (len(X),)
    np.testing.assert_array_equal(labels[keep], ref.predict(X[keep]))


def test_zero_weight_rows_and_partial_labels():
    rng = np.random.default_rng(5)
    X = two_blobs(rng, 1.0, np.float64)
    y = np.full(len(X), -1)
    y[:5], y[60:65] = 0, 1
    w = np.ones(len(X))
    w[[1, 61, 80]] = 0
    X[80] = 1e200
    keep = w > 0
    g = GaussianMixture(2, semi_supervised=True, random_state=0).fit(X, y, sample_weight=w)
    ref = GaussianMixture(2, semi_supervised=True, random_state=0).fit(X[keep], y[keep], sample_weight=w[keep])
    np.testing.assert_array_equal(g.means_, ref.means_)
    np.testing.assert_array_equal(g.component_class_, ref.component_class_)


# ------------------------------------------------------------------ siblings from fuzzing


def test_warm_start_on_float32_data_never_stores_overflowed_parameters():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(20, 2)), [[1e150, 1e150]]])
    gm = GaussianMixture(2, algorithm="hard", warm_start=True, random_state=0).fit(X)
    before = {name: getattr(gm, name).copy() for name in ("means_", "covariances_", "weights_")}
    # hard EM keeps the dropped far component's parameters, which float32 cannot hold
    with pytest.raises(ValueError, match="beyond the range of float32"):
        gm.fit(rng.normal(size=(20, 2)).astype(np.float32))
    for name, value in before.items():  # the failed call changed nothing
        np.testing.assert_array_equal(getattr(gm, name), value)


@pytest.mark.parametrize("X", [[[0.1], [-0.5], [1e150]], [[0.1], [-0.5], [3.0]]])
@pytest.mark.parametrize("algorithm", ["soft", "hard"])
def test_reg_covar_zero_refuses_a_one_row_component_whatever_the_seed(X, algorithm):
    # a one-row initial component's scatter is rounding noise of the row's own size; it
    # used to pass for some seeds (1-D full covariance), giving lower bounds of -1e30 or -inf
    for seed in range(6):
        with pytest.raises(ValueError, match="not positive definite"):
            GaussianMixture(1, init_params="k-means++", algorithm=algorithm, reg_covar=0.0, max_iter=1,
                            random_state=seed).fit(np.array(X))
