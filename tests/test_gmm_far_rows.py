"""Rows far from every component (issue #12, item 6): the log-density is the correctly
rounded value or -inf, never NaN; posteriors are well defined (the exact ones, which for a
far row go to the component with the smallest Mahalanobis distance, equal covariances
decided by the linear term); predict is their argmax. For GaussianMixture (score_samples,
score, predict, predict_proba, impute, missing values, predict_class_proba) and
GaussianMixtureClassifier, every covariance type, float64 and float32.

The oracle computes the squared Mahalanobis distances exactly in rational arithmetic
(``fractions.Fraction``) from the fitted float parameters.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from genmix import GaussianMixture, GaussianMixtureClassifier
from genmix._far_rows import careful_posteriors, mixture_components

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
# far scales: beyond the overflow of the squared distance (float64 ~1e154, float32 ~1e19),
# and below it but past where the core's log-odds mean anything (tied 1e100 / 1e10)
FAR = {np.float64: (1e100, 1e155, 1e200, 1e300, 1.7e308), np.float32: (1e10, 1e19, 1e20, 1e30, 3.4e38)}
DIRECTIONS = np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 0.5], [-1.0, 0.25, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def _data(seed=0):
    rng = np.random.default_rng(seed)
    A = np.array([[1.0, 0.0, 0.0], [0.4, 0.7, 0.0], [0.1, -0.3, 1.3]])
    return np.vstack([rng.normal(size=(150, 3)) @ A, rng.normal(size=(150, 3)) * 0.6 + [4.0, -3.0, 2.0]])


def _far_rows(dtype):
    rows = [s * d for s in FAR[dtype] for d in DIRECTIONS]
    rows.append([1.0, 2.0, FAR[dtype][2]])  # far along one feature only
    with np.errstate(over="ignore"):
        return np.array(rows).astype(dtype)


def _fitted(cov, dtype, **kw):
    return GaussianMixture(2, covariance_type=cov, random_state=0, **kw).fit(_data().astype(dtype))


def _exact_terms(x, gm):
    """[(K_j, q_j)]: the float constant log w + log det - d/2 log 2pi and the exact squared
    Mahalanobis distance (a Fraction) of row x under every component of gm."""
    cov, d = gm.covariance_type, len(x)
    out = []
    for j, (w, mu) in enumerate(zip(gm.weights_, gm.means_)):
        P = gm.precisions_cholesky_
        U = P if cov == "tied" else P[j] if cov == "full" else np.diag(P[j]) if cov == "diag" else P[j] * np.eye(d)
        U = np.asarray(U, dtype=np.float64)
        diff = [Fraction(float(a)) - Fraction(float(m)) for a, m in zip(x, mu)]
        q = sum((sum(diff[i] * Fraction(float(U[i, e])) for i in range(d)) ** 2 for e in range(d)), Fraction(0))
        with np.errstate(divide="ignore"):
            K = float(np.log(np.float64(w))) + float(np.log(np.diag(U)).sum()) - 0.5 * d * math.log(2 * math.pi)
        out.append((K, q))
    return out


def _to_float(f):
    try:
        return float(f)
    except OverflowError:
        return math.inf if f > 0 else -math.inf


def _exact(terms):
    """(log-density, posteriors) from the exact terms: the log-odds are exact rationals
    (rounded once), the log-density their best term plus log-sum-exp of the rest."""
    values = [Fraction(K) - q / 2 for K, q in terms if math.isfinite(K)]
    best = max(values)
    odds = np.array([_to_float(Fraction(K) - q / 2 - best) if math.isfinite(K) else -math.inf for K, q in terms])
    p = np.exp(odds)
    return _to_float(best) + math.log(p.sum()), p / p.sum()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_far_rows_get_the_exact_log_density_and_posteriors(cov, dtype):
    gm = _fitted(cov, dtype)
    X = _far_rows(dtype)
    log_prob = gm.score_samples(X)
    proba = gm.predict_proba(X)
    labels = gm.predict(X)
    assert not np.isnan(log_prob).any()
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert_array_equal(labels, np.argmax(proba, axis=1))
    for x, lp, p in zip(X, log_prob, proba):
        want_lp, want_p = _exact(_exact_terms(x, gm))
        if math.isinf(want_lp):
            assert lp == want_lp, x
        else:
            assert_allclose(lp, want_lp, rtol=1e-12, err_msg=str(x))
        assert_allclose(p, want_p, atol=1e-6, err_msg=str(x))
    assert gm.score(X) == -np.inf if dtype == np.float64 else np.isfinite(gm.score(X))


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_far_rows_match_scikit_learn_where_it_is_finite_or_minus_inf(cov):
    from sklearn.mixture import GaussianMixture as SkGM

    gm = _fitted(cov, np.float64)
    sk = SkGM(2, covariance_type=cov)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        setattr(sk, name, getattr(gm, name))
    X = _far_rows(np.float64)
    with np.errstate(all="ignore"):
        want = sk.score_samples(X)
    ok = ~np.isnan(want)
    assert ok.sum() >= 10
    got = gm.score_samples(X)
    assert_array_equal(np.isinf(got[ok]), np.isinf(want[ok]))
    assert_allclose(got[ok & np.isfinite(want)], want[ok & np.isfinite(want)], rtol=1e-9)


def test_the_reported_reproducers():
    rng = np.random.default_rng(0)
    g = GaussianMixture(2, random_state=0).fit(rng.normal(size=(200, 2)))
    assert g.score_samples([[1e155, 1e155]])[0] == -np.inf
    proba = g.predict_proba([[1e200, 1e200]])
    assert np.all(np.isfinite(proba)) and proba.sum() == pytest.approx(1.0)
    X = rng.normal(size=(200, 2))
    clf = GaussianMixtureClassifier(random_state=0).fit(X, (X[:, 0] > 0).astype(int))
    proba = clf.predict_proba([[1e200, 1e200]])
    assert np.all(np.isfinite(proba)) and proba.sum() == pytest.approx(1.0)
    g32 = GaussianMixture(2, random_state=0).fit(rng.normal(size=(200, 2)).astype(np.float32))
    assert np.isfinite(g32.score_samples(np.array([[1e20, 1e20]], np.float32))[0])  # -1e40 fits float64


@pytest.mark.parametrize("cov", ["tied", "spherical"])
def test_equal_covariances_are_decided_by_the_linear_term(cov):
    """Equal covariances: the log-odds are linear in x, so the component towards which the
    row lies wins however far it is (the core's log-densities had lost that difference)."""
    gm = GaussianMixture(2, covariance_type=cov, means_init=[[-1.0, 0.0], [1.0, 0.0]],
                         weights_init=[0.9, 0.1], precisions_init=np.eye(2) if cov == "tied" else [1.0, 1.0],
                         max_iter=0).fit(np.zeros((4, 2)) + [[1, 0], [-1, 0], [0, 1], [0, -1]])
    for s in (1e10, 1e100, 1e200, 1e300):
        proba = gm.predict_proba([[s, 1.0], [-s, 1.0]])
        assert_array_equal(proba, [[0.0, 1.0], [1.0, 0.0]])
    # and identical components share by their weights, at any distance
    same = GaussianMixture(2, covariance_type=cov, means_init=[[1.0, 0.0], [1.0, 0.0]], weights_init=[0.75, 0.25],
                           precisions_init=np.eye(2) if cov == "tied" else [1.0, 1.0],
                           max_iter=0).fit(np.zeros((4, 2)) + [[1, 0], [-1, 0], [0, 1], [0, -1]])
    assert_allclose(same.predict_proba([[1e200, -1e250], [3.0, 4.0]]), [[0.75, 0.25]] * 2)


def _marginal_model(gm, observed):
    """The mixture of gm's marginals over the features `observed`, as a fitted GaussianMixture."""
    cov = gm.covariance_type
    m = GaussianMixture(len(gm.weights_), covariance_type=cov)
    m.weights_ = gm.weights_
    m.means_ = np.ascontiguousarray(gm.means_[:, observed])
    if cov == "spherical":
        c = gm.covariances_
    elif cov == "diag":
        c = gm.covariances_[:, observed]
    elif cov == "tied":
        c = gm.covariances_[np.ix_(observed, observed)]
    else:
        c = gm.covariances_[:, observed][:, :, observed]
    c = np.asarray(c, dtype=np.float64)
    if cov in ("diag", "spherical"):
        m.precisions_cholesky_ = (1 / np.sqrt(c)).astype(gm.means_.dtype)
    else:
        L = np.linalg.cholesky(c)
        m.precisions_cholesky_ = np.swapaxes(np.linalg.inv(L), -1, -2).astype(gm.means_.dtype)
    m.covariances_ = c.astype(gm.means_.dtype)
    m.n_features_in_ = int(observed.sum())
    return m


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_far_rows_with_missing_values_are_the_marginal_models_rows(cov, dtype):
    X = _data().astype(dtype)
    Xm = X.copy()
    Xm[np.random.default_rng(1).random(len(X)) < 0.2, 1] = np.nan
    gm = GaussianMixture(2, covariance_type=cov, missing="em", random_state=0).fit(Xm)
    observed = np.array([True, False, True])
    far = _far_rows(dtype)
    R = far.copy()
    R[:, 1] = np.nan
    marginal = _marginal_model(gm, observed)
    got_lp, got_p = gm.score_samples(R), gm.predict_proba(R)
    want_lp, want_p = marginal.score_samples(far[:, observed]), marginal.predict_proba(far[:, observed])
    assert not np.isnan(got_lp).any() and np.all(np.isfinite(got_p))
    assert_array_equal(np.isinf(got_lp), np.isinf(want_lp))
    fin = np.isfinite(want_lp)
    assert_allclose(got_lp[fin], want_lp[fin], rtol=1e-5 if dtype == np.float32 else 1e-9)
    assert_allclose(got_p, want_p, atol=1e-6)
    assert_array_equal(gm.predict(R), np.argmax(got_p, axis=1))
    imputed = gm.impute(R)
    assert imputed.dtype == dtype
    assert not np.isnan(imputed).any()
    assert_array_equal(imputed[:, observed], R[:, observed])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_classifier_far_rows_have_well_defined_posteriors(cov, dtype):
    X = _data().astype(dtype)
    y = np.repeat(["a", "b"], 150)
    clf = GaussianMixtureClassifier(2, covariance_type=cov, random_state=0).fit(X, y)
    R = _far_rows(dtype)
    proba = clf.predict_proba(R)
    log_proba = clf.predict_log_proba(R)
    assert np.all(np.isfinite(proba)) and not np.isnan(log_proba).any()
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert_allclose(np.exp(log_proba), proba)
    assert_array_equal(clf.predict(R), clf.classes_[np.argmax(proba, axis=1)])
    assert 0.0 <= clf.score(R, np.repeat("a", len(R))) <= 1.0
    # the oracle: all classes' components pooled, weighted by the priors
    for x, p in zip(R, proba):
        terms = []
        for prior, gm in zip(clf.class_prior_, clf.estimators_):
            terms += [(K + math.log(prior), q) for K, q in _exact_terms(x, gm)]
        _, post = _exact(terms)
        assert_allclose(p, post.reshape(2, -1).sum(axis=1), atol=1e-6, err_msg=str(x))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_semi_supervised_class_posteriors_of_far_rows(dtype):
    X = _data().astype(dtype)
    y = np.where(np.arange(300) % 3 == 0, np.repeat([0, 1], 150), -1)
    gm = GaussianMixture(2, semi_supervised=True, random_state=0).fit(X, y)
    R = _far_rows(dtype)
    proba = gm.predict_class_proba(R)
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert_array_equal(gm.predict_class(R), gm.classes_[np.argmax(proba, axis=1)])


def test_ordinary_rows_keep_the_cores_results():
    gm = _fitted("full", np.float64)
    X = _data(1)
    lp, log_resp, _ = careful_posteriors(X, mixture_components(gm.weights_, gm.means_, gm.precisions_cholesky_,
                                                               "full"))
    assert_allclose(gm.score_samples(X), lp, rtol=1e-12)  # the careful path agrees where both work
    assert_allclose(gm.predict_proba(X), np.exp(log_resp), atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_classifier_far_rows_with_missing_values(cov, dtype):
    X = _data().astype(dtype)
    X[np.random.default_rng(2).random(len(X)) < 0.2, 1] = np.nan
    clf = GaussianMixtureClassifier(2, covariance_type=cov, missing="em", random_state=0).fit(X, np.repeat([0, 1], 150))
    R = _far_rows(dtype)
    R[::2, 1] = np.nan
    R[1::4, 0] = np.nan
    proba = clf.predict_proba(R)
    assert np.all(np.isfinite(proba)) and not np.isnan(clf.predict_log_proba(R)).any()
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert_array_equal(clf.predict(R), clf.classes_[np.argmax(proba, axis=1)])
