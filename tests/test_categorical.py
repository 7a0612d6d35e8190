"""genmix.CategoricalMixture: EM for latent class models, against the NumPy reference."""

import itertools
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from genmix import CategoricalMixture, ConvergenceWarning, NotFittedError, _core, reference
from genmix.categorical import MAX_TABLE_CELLS


def planted(n=3000, weights=(0.5, 0.3, 0.2), n_features=6, n_categories=4, concentration=0.3, seed=0):
    """Rows of a latent class model with known parameters."""
    rng = np.random.default_rng(seed)
    k = len(weights)
    probs = rng.dirichlet(np.full(n_categories, concentration), size=(k, n_features))  # (k, d, m)
    z = rng.choice(k, size=n, p=weights)
    u = rng.random((n, n_features, 1))
    X = (u > np.cumsum(probs[z], axis=2)).sum(axis=2)
    return X, z, np.asarray(weights), probs


def fitted_probs(cm):
    return np.stack(cm.category_probabilities_, axis=1)  # (k, d, m)


def test_recovers_a_planted_latent_class_model():
    X, z, weights, probs = planted()
    cm = CategoricalMixture(3, n_init=5, tol=1e-8, max_iter=500, random_state=0).fit(X)
    # match fitted components to the true ones
    best = min(itertools.permutations(range(3)), key=lambda p: np.abs(fitted_probs(cm)[list(p)] - probs).sum())
    assert np.abs(fitted_probs(cm)[list(best)] - probs).max() < 0.06
    assert_allclose(cm.weights_[list(best)], weights, atol=0.03)
    relabel = np.argsort(best)
    assert np.mean(relabel[cm.predict(X)] == z) > 0.97


@pytest.mark.parametrize("algorithm", ["soft", "hard"])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_each_iteration_matches_the_numpy_reference(algorithm, alpha):
    X, _, _, _ = planted(n=800, seed=1)
    start = CategoricalMixture(3, alpha=alpha, algorithm=algorithm, max_iter=1, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(X)
    w, probs = start.weights_, start.category_probabilities_
    cm = CategoricalMixture(3, alpha=alpha, algorithm=algorithm, max_iter=6, tol=0, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cm.fit(X)
    # replay from the same random start: the fitted run's first iterate is `start`
    objectives = [start.lower_bounds_[0]]
    for _ in range(5):
        obj, w, probs = reference.categorical_em_step(X, w, probs, alpha=alpha, algorithm=algorithm)
        objectives.append(obj)
    assert_allclose(cm.lower_bounds_, objectives, rtol=1e-10)
    assert_allclose(cm.weights_, w, rtol=1e-9, atol=1e-12)
    for got, want in zip(cm.category_probabilities_, probs):
        assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("algorithm", ["soft", "hard"])
@pytest.mark.parametrize("seed", range(4))
def test_objective_never_decreases(algorithm, seed):
    X, _, _, _ = planted(n=500, n_features=5, n_categories=3, concentration=1.0, seed=seed)
    for alpha in (0.0, 0.5):
        cm = CategoricalMixture(4, alpha=alpha, algorithm=algorithm, tol=0, max_iter=40, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            cm.fit(X)
        lb = np.asarray(cm.lower_bounds_)
        assert np.all(np.diff(lb) >= -1e-10 * np.abs(lb[1:]))
        assert lb[-1] > lb[0]


def test_predictions_scores_and_criteria():
    X, _, _, _ = planted(n=1000, seed=3)
    cm = CategoricalMixture(3, random_state=0).fit(X)
    proba = cm.predict_proba(X)
    assert proba.shape == (1000, 3)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(cm.predict(X), np.argmax(proba, axis=1))
    lp = reference.categorical_log_prob(X, cm.weights_, cm.category_probabilities_)
    expected = np.logaddexp.reduce(lp, axis=1)
    assert_allclose(cm.score_samples(X), expected, rtol=1e-12)
    assert cm.score(X) == pytest.approx(expected.mean())
    n_params = 2 + 3 * X.shape[1] * 3  # (k - 1) + k * sum(m_j - 1)
    assert cm.bic(X) == pytest.approx(-2 * expected.sum() + n_params * np.log(1000))
    assert cm.aic(X) == pytest.approx(-2 * expected.sum() + 2 * n_params)


def test_thread_count_does_not_change_the_bits():
    X, _, _, _ = planted(n=20000, seed=4)
    fits = [CategoricalMixture(3, max_iter=20, tol=0, random_state=5, n_threads=t) for t in (1, 2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for cm in fits:
            cm.fit(X)
    assert fits[0].lower_bounds_ == fits[1].lower_bounds_
    for a, b in zip(fits[0].category_probabilities_, fits[1].category_probabilities_):
        assert_array_equal(a, b)


def test_sample_follows_the_model_and_pickle_round_trip():
    X, _, _, _ = planted(n=2000, seed=6)
    cm = CategoricalMixture(3, random_state=0).fit(X)
    Xs, ys = cm.sample(20000)
    assert Xs.shape == (20000, X.shape[1]) and Xs.dtype == np.int64
    assert_allclose(np.bincount(ys, minlength=3) / 20000, cm.weights_, atol=0.015)
    first = ys == np.argmax(cm.weights_)
    freq = np.bincount(Xs[first, 0], minlength=cm.n_categories_[0]) / first.sum()
    assert_allclose(freq, cm.category_probabilities_[0][np.argmax(cm.weights_)], atol=0.02)
    back = pickle.loads(pickle.dumps(cm))
    assert_array_equal(back.score_samples(X), cm.score_samples(X))


def test_n_categories_given_and_inferred():
    X = np.array([[0, 1], [1, 0], [0, 0], [1, 1]] * 10)
    inferred = CategoricalMixture(1).fit(X)
    assert_array_equal(inferred.n_categories_, [2, 2])
    given = CategoricalMixture(1, n_categories=[3, 2], alpha=1.0).fit(X)
    assert given.category_probabilities_[0].shape == (1, 3)
    # the unseen category gets the smoothing mass only: (0 + 1) / (40 + 3)
    assert given.category_probabilities_[0][0, 2] == pytest.approx(1 / 43)
    assert given.predict_proba(np.array([[2, 0]])).shape == (1, 1)


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[0, -1], [1, 0]]), "negative"),
        (np.array([[0.5, 1.0], [1.0, 0.0]]), "integer"),
        (np.array([[np.nan, 1.0], [1.0, 0.0]]), "NaN"),
        (np.array([["a", "b"], ["c", "d"]]), "integer"),
        (np.array([0, 1, 2]), "2D"),
    ],
)
def test_bad_training_data(X, match):
    with pytest.raises(ValueError, match=match):
        CategoricalMixture(1).fit(X)


CODES = np.array([[0, 1], [1, 0], [0, 2], [1, 1]] * 5)
HUGE_CODES = [
    # before the cast to int64: 2**64 - 1 wrapped to -1 and the core wrote out of bounds
    ("uint64 max", np.array([[0, 1], [1, 0], [2**64 - 1, 1]], dtype=np.uint64), r"1\.8\d*e\+19"),
    ("uint64 2**63", np.array([[0, 1], [1, 0], [2**63, 1]], dtype=np.uint64), "outside"),
    ("float 1e20", np.array([[0.0, 1.0], [1.0, 0.0], [1e20, 1.0]]), "outside"),  # was silently category 0
    ("float 1e300", np.array([[0.0, 1.0], [1.0, 0.0], [1e300, 1.0]]), "outside"),
    # one large code sized the per-category tables by itself: 10**9 codes, gigabytes
    ("int 10**9", np.array([[0, 1], [1, 0], [10**9, 1]]), "MAX_TABLE_CELLS"),
    ("int64 max", np.array([[0, 1], [1, 0], [2**63 - 1, 1]]), "MAX_TABLE_CELLS"),
]


@pytest.mark.parametrize("name, X, match", HUGE_CODES, ids=[c[0] for c in HUGE_CODES])
def test_huge_codes_are_rejected_in_fit(name, X, match):
    with pytest.raises(ValueError, match=match):
        CategoricalMixture(1).fit(X)


@pytest.mark.parametrize("name, X, match", HUGE_CODES, ids=[c[0] for c in HUGE_CODES])
def test_huge_codes_are_rejected_in_predict(name, X, match):
    cm = CategoricalMixture(2, random_state=0).fit(CODES)
    before = pickle.dumps(cm)
    for method in (cm.predict, cm.predict_proba, cm.score_samples):
        with pytest.raises(ValueError, match="outside 0 .. 1 known to the fitted model"):
            method(X)
    assert pickle.dumps(cm) == before


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.array([[True, False], [False, True]]), TypeError, "bool"),
        (np.array([[0, 1], [1, 0]], dtype=object), TypeError, "object"),
        (np.array([[0, 1], [1, 0]]).astype("datetime64[D]"), TypeError, "datetime64"),
        (np.array([[0, 1], [1, 0]]).astype("timedelta64[s]"), TypeError, "timedelta64"),
        (np.array([[0, 1], [1, 0]], dtype=complex), ValueError, "complex"),
        (np.array([[1.5, 1.0], [1.0, 0.0]]), ValueError, "integer"),
        (np.array([[np.inf, 1.0], [1.0, 0.0]]), ValueError, "infinity"),
        (np.array([[0.0, 1.0], [-1e300, 0.0]]), ValueError, "negative"),
    ],
)
def test_codes_of_the_wrong_kind_are_rejected(X, error, match):
    with pytest.raises(error, match=match):
        CategoricalMixture(1).fit(X)


def test_codes_in_other_dtypes_fit_as_int64():
    ref = CategoricalMixture(2, random_state=0).fit(CODES)
    for dtype in (np.uint8, np.uint64, np.int32, np.float32, np.float64):
        cm = CategoricalMixture(2, random_state=0).fit(CODES.astype(dtype))
        assert_allclose(cm.weights_, ref.weights_)
        assert_array_equal(cm.predict(CODES.astype(dtype)), ref.predict(CODES))


def test_table_size_is_bounded_before_allocation():
    X = np.array([[0, 0], [1, 1], [MAX_TABLE_CELLS // 2, 0]])
    assert CategoricalMixture(1).fit(X).n_categories_[0] == MAX_TABLE_CELLS // 2 + 1  # within the limit
    with pytest.raises(ValueError, match=r"n_components \* sum\(n_categories\).*MAX_TABLE_CELLS"):
        CategoricalMixture(2).fit(X)
    with pytest.raises(ValueError, match="MAX_TABLE_CELLS"):
        CategoricalMixture(1, n_categories=10**12).fit(CODES)
    with pytest.raises(ValueError, match="MAX_TABLE_CELLS"):
        CategoricalMixture(1, n_categories=np.array([2**64 - 1, 3], dtype=np.uint64)).fit(CODES)


def test_core_rejects_out_of_range_codes():
    """The core never trusts its caller: a bad code is an error, not a write out of bounds."""
    theta = np.full((5, 1), 0.5)
    for bad in (-1, 2, 2**62):
        X = np.array([[0, 1], [bad, 0]], dtype=np.int64)
        with pytest.raises(ValueError, match="outside"):
            _core.categorical.em(X, [0, 2, 5], np.ones(1), theta, 1.0, "soft", 1e-3, 1, 1, None)
        with pytest.raises(ValueError, match="outside"):
            _core.categorical.evaluate(X, [0, 2, 5], np.ones(1), theta, True, False, False, 1)


@pytest.mark.parametrize(
    "params, error, match",
    [
        (dict(n_components=0), ValueError, "n_components"),
        (dict(alpha=-1.0), ValueError, "alpha"),
        (dict(algorithm="fuzzy"), ValueError, "algorithm"),
        (dict(init_params="kmeans"), ValueError, "init_params"),
        (dict(n_categories=1), ValueError, "n_categories"),
        (dict(n_categories=[2]), ValueError, "n_categories"),
        (dict(max_iter=-1), ValueError, "max_iter"),
        (dict(n_components=2.5), TypeError, "n_components"),
    ],
)
def test_bad_parameters(params, error, match):
    X = np.array([[0, 1], [1, 0], [0, 2], [1, 1]])
    with pytest.raises(error, match=match):
        CategoricalMixture(**params).fit(X)


def test_bad_prediction_input_leaves_the_model_unchanged():
    X = np.array([[0, 1], [1, 0], [0, 2], [1, 1]] * 5)
    with pytest.raises(NotFittedError):
        CategoricalMixture(2).predict(X)
    cm = CategoricalMixture(2, random_state=0).fit(X)
    before = pickle.dumps(cm)
    with pytest.raises(ValueError, match="category 3"):
        cm.predict(np.array([[0, 3]]))
    with pytest.raises(ValueError, match="features"):
        cm.score_samples(np.array([[0, 1, 1]]))
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        CategoricalMixture(3).fit(X[:2])
    assert pickle.dumps(cm) == before
