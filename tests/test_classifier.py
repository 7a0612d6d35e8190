"""genmix.GaussianMixtureClassifier: Bayes' rule over per-class Gaussian mixtures."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.utils.estimator_checks import check_estimator

from genmix import GaussianMixture, GaussianMixtureClassifier, NotFittedError


def _two_gaussians(n=200, seed=0, labels=("a", "b"), shift=3.0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0.0, 1.0, (n // 2, 2)), rng.normal(shift, 1.0, (n - n // 2, 2)) * [1.0, 2.0]])
    y = np.repeat(np.asarray(labels), [n // 2, n - n // 2])
    perm = rng.permutation(n)
    return X[perm], y[perm]


def _three_classes(n=300, seed=1):
    """Three classes; class 2 is itself a two-component mixture (bimodal)."""
    rng = np.random.default_rng(seed)
    m = n // 4
    X = np.vstack([
        rng.normal([0, 0], 0.7, (m, 2)),
        rng.normal([4, 0], 0.7, (m, 2)),
        rng.normal([0, 5], 0.6, (m, 2)),
        rng.normal([5, 5], 0.6, (m, 2)),
    ])
    y = np.repeat([0, 1, 2, 2], m)
    return X, y


# ---------------------------------------------------------------------------------------
# the model


def test_matches_bayes_rule_computed_by_hand():
    X, y = _three_classes()
    clf = GaussianMixtureClassifier(2, covariance_type="diag", random_state=0, n_threads=1).fit(X, y)
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert len(clf.estimators_) == 3
    counts = np.bincount(y)
    assert_allclose(clf.class_prior_, counts / counts.sum())
    Xt = np.random.default_rng(5).normal(2.5, 3.0, (50, 2))
    # each class's mixture is the GaussianMixture fitted on that class's rows alone
    jll = np.empty((50, 3))
    for j, c in enumerate(clf.classes_):
        gm = GaussianMixture(2, covariance_type="diag", random_state=0, n_threads=1).fit(X[y == c])
        assert_allclose(clf.estimators_[j].means_, gm.means_)
        jll[:, j] = np.log(counts[j] / counts.sum()) + gm.score_samples(Xt)
    log_post = jll - np.log(np.exp(jll).sum(axis=1, keepdims=True))
    assert_allclose(clf.predict_log_proba(Xt), log_post, rtol=1e-10, atol=1e-10)
    assert_allclose(clf.predict_proba(Xt), np.exp(log_post), rtol=1e-10, atol=1e-12)
    assert_allclose(clf.predict_proba(Xt).sum(axis=1), 1.0)
    assert_array_equal(clf.predict(Xt), clf.classes_[np.argmax(jll, axis=1)])


def test_missing_values_marginalise_in_every_class_mixture():
    # missing="em": each class's mixture is fitted with EM on the observed entries and a row
    # with gaps is classified by the densities of its observed features
    X, y = _three_classes()
    rng = np.random.default_rng(7)
    Xm = X.copy()
    gone = rng.random(X.shape) < 0.2
    gone[gone.all(axis=1), 0] = False
    Xm[gone] = np.nan
    clf = GaussianMixtureClassifier(2, missing="em", random_state=0, n_threads=1).fit(Xm, y)
    for j, c in enumerate(clf.classes_):
        gm = GaussianMixture(2, missing="em", random_state=0, n_threads=1).fit(Xm[y == c])
        assert_allclose(clf.estimators_[j].means_, gm.means_)
    jll = np.log(clf.class_prior_) + np.column_stack([gm.score_samples(Xm) for gm in clf.estimators_])
    assert_allclose(clf.predict_log_proba(Xm), jll - np.log(np.exp(jll).sum(axis=1, keepdims=True)),
                    rtol=1e-10, atol=1e-10)
    # rows with one coordinate missing are still mostly classified right
    assert clf.score(Xm, y) > 0.85
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixtureClassifier(2).fit(Xm, y)


def test_log_proba_is_stable_far_from_the_data():
    X, y = _two_gaussians()
    clf = GaussianMixtureClassifier(random_state=0).fit(X, y)
    far = np.array([[1e3, -1e3], [-5e3, 2e3]])  # densities underflow to 0 in linear space
    lp = clf.predict_log_proba(far)
    assert np.all(np.isfinite(lp))
    assert_allclose(np.exp(lp).sum(axis=1), 1.0)
    assert np.all(np.isfinite(clf.predict_proba(far)))


def _interleaved(n, seed):
    """Class 0 has modes at x = 0 and 6, class 1 at x = 3 and 9: the classes have the same
    covariance, so one Gaussian per class gives a linear boundary at x = 4.5 (about 50%)."""
    rng = np.random.default_rng(seed)
    modes = np.array([0.0, 6.0, 3.0, 9.0])
    z = rng.integers(0, 4, n)
    X = np.c_[modes[z] + rng.normal(0, 0.5, n), rng.normal(0, 1.0, n)]
    return X, (z >= 2).astype(int)


def test_mixture_per_class_beats_one_gaussian_per_class_on_bimodal_classes():
    X, y = _interleaved(400, seed=2)
    Xt, yt = _interleaved(400, seed=3)
    one = GaussianMixtureClassifier(1, random_state=0).fit(X, y).score(Xt, yt)
    two = GaussianMixtureClassifier(2, random_state=0).fit(X, y).score(Xt, yt)
    assert two > 0.97
    assert one < 0.7


def test_string_labels_and_score_is_accuracy():
    X, y = _two_gaussians(labels=("setosa", "virginica"))
    clf = GaussianMixtureClassifier(random_state=0).fit(X, y)
    assert_array_equal(clf.classes_, ["setosa", "virginica"])
    pred = clf.predict(X)
    assert pred.dtype.kind == "U" and set(pred) <= {"setosa", "virginica"}
    assert clf.score(X, y) == pytest.approx(np.mean(pred == y))
    assert clf.score(X, y) > 0.9
    assert clf.n_features_in_ == 2


def test_given_priors_shift_the_decision():
    X, y = _two_gaussians(shift=1.5)
    Xt = np.random.default_rng(3).normal(0.75, 1.5, (400, 2))
    p_a = GaussianMixtureClassifier(priors=[0.99, 0.01], random_state=0).fit(X, y)
    p_b = GaussianMixtureClassifier(priors=[0.01, 0.99], random_state=0).fit(X, y)
    assert_allclose(p_a.class_prior_, [0.99, 0.01])
    assert np.mean(p_a.predict(Xt) == "a") > np.mean(p_b.predict(Xt) == "a") + 0.3
    # the mixtures do not depend on the priors; only the log prior term changes
    assert_allclose(p_a.estimators_[0].means_, p_b.estimators_[0].means_)
    diff = p_a.predict_log_proba(Xt) - p_b.predict_log_proba(Xt)
    # log-odds a:b shift by exactly 2 log(99)
    assert_allclose(diff[:, 0] - diff[:, 1], 2 * np.log(99.0), rtol=1e-8)


def test_zero_prior_class_is_never_predicted():
    X, y = _three_classes()
    clf = GaussianMixtureClassifier(priors=[0.5, 0.0, 0.5], random_state=0).fit(X, y)
    assert not np.any(clf.predict(X) == 1)
    assert np.all(clf.predict_proba(X)[:, 1] == 0.0)


def test_parameters_are_passed_to_every_mixture():
    X, y = _three_classes()
    clf = GaussianMixtureClassifier(2, covariance_type="spherical", reg_covar=0.1, tol=1e-5, max_iter=50,
                                    n_init=2, init_params="random_from_data", algorithm="hard",
                                    random_state=3, n_threads=1).fit(X, y)
    for gm in clf.estimators_:
        params = gm.get_params()
        assert params["n_components"] == 2 and params["covariance_type"] == "spherical"
        assert params["reg_covar"] == 0.1 and params["tol"] == 1e-5 and params["max_iter"] == 50
        assert params["n_init"] == 2 and params["init_params"] == "random_from_data"
        assert params["algorithm"] == "hard" and params["random_state"] == 3 and params["n_threads"] == 1
        assert gm.covariances_.shape == (2,)
    assert clf.n_iter_.shape == (3,)


def test_float32_and_pickle():
    X, y = _two_gaussians()
    clf = GaussianMixtureClassifier(random_state=0).fit(X.astype(np.float32), y)
    proba = clf.predict_proba(X.astype(np.float32))
    assert proba.dtype == np.float64
    again = pickle.loads(pickle.dumps(clf))
    assert_array_equal(again.predict_proba(X.astype(np.float32)), proba)


def test_unfitted_raises_not_fitted():
    with pytest.raises(NotFittedError):
        GaussianMixtureClassifier().predict(np.zeros((2, 2)))


# ---------------------------------------------------------------------------------------
# scikit-learn


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")  # array API / pandas not set up
@pytest.mark.parametrize("algorithm", ["soft", "hard"])
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("n_components", [1, 2, 3])
def test_check_estimator_passes(n_components, covariance_type, algorithm):
    clf = GaussianMixtureClassifier(n_components, covariance_type=covariance_type, algorithm=algorithm, n_threads=1)
    results = check_estimator(clf, on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"]
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) >= 40


def test_clone_and_params():
    clf = GaussianMixtureClassifier(3, reg_covar=0.5, priors=[0.2, 0.8])
    cl = clone(clf)
    assert cl.get_params() == clf.get_params()
    assert "priors=[0.2, 0.8]" in repr(clf)


def test_digits_accuracy_with_hyperparameters_chosen_by_cv():
    """Issue 4 section 4: >= 98% test accuracy on digits, 70/30 stratified split,
    hyperparameters chosen by 3-fold CV on the training part only."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    grid = GridSearchCV(
        GaussianMixtureClassifier(covariance_type="full", random_state=0, n_threads=1),
        {"n_components": [1, 2], "reg_covar": [0.01, 0.1, 1.0, 10.0]},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        n_jobs=1,
    ).fit(X_train, y_train)
    accuracy = grid.score(X_test, y_test)
    print(f"digits: best {grid.best_params_}, CV accuracy {grid.best_score_:.4f}, test accuracy {accuracy:.4f}")
    assert grid.best_params_["reg_covar"] in (1.0, 10.0)  # tiny ridges overfit 64-d covariances
    assert accuracy >= 0.98


# ---------------------------------------------------------------------------------------
# bad input: a clear error before any work, a fitted classifier left as it was


def _assert_unchanged_after(clf, exc, match, X, y):
    before = pickle.dumps(clf)
    with pytest.raises(exc, match=match):
        clf.fit(X, y)
    assert pickle.dumps(clf) == before


@pytest.fixture
def fitted():
    X, y = _two_gaussians()
    return GaussianMixtureClassifier(random_state=0).fit(X, y), X, y


def test_y_of_the_wrong_length(fitted):
    clf, X, y = fitted
    _assert_unchanged_after(clf, ValueError, "X has 200 rows but y has 199 labels", X, y[:-1])


def test_y_two_dimensional(fitted):
    clf, X, y = fitted
    _assert_unchanged_after(clf, ValueError, "1d array", X, np.c_[y, y])


def test_y_none(fitted):
    clf, X, _ = fitted
    _assert_unchanged_after(clf, ValueError, "requires y", X, None)


def test_single_class(fitted):
    clf, X, _ = fitted
    _assert_unchanged_after(clf, ValueError, "only one class", X, np.full(len(X), "a"))


def test_continuous_labels(fitted):
    clf, X, _ = fitted
    _assert_unchanged_after(clf, ValueError, "Unknown label type: continuous", X, np.linspace(0, 1, len(X)))


def test_labels_mixing_numbers_and_strings(fitted):
    clf, X, y = fitted
    y_mixed = np.array([0 if v == "a" else "b" for v in y], dtype=object)  # was a raw "'<' not supported"
    _assert_unchanged_after(clf, TypeError, r"mixes class labels of types \['int', 'str'\]", X, y_mixed)


def test_bad_n_threads(fitted):
    clf, X, y = fitted
    clf.set_params(n_threads=2**40)
    with pytest.raises(ValueError, match=r"'n_threads'.*1 \.\. 1024"):
        clf.fit(X, y)
    with pytest.raises(ValueError, match=r"'n_threads'.*1 \.\. 1024"):
        clf.predict(X)


def test_missing_labels(fitted):
    clf, X, y = fitted
    y_obj = y.astype(object)
    y_obj[3] = None
    _assert_unchanged_after(clf, ValueError, "missing labels", X, y_obj)
    y_nan = np.where(y == "a", 0.0, 1.0)
    y_nan[0] = np.nan
    _assert_unchanged_after(clf, ValueError, "NaN", X, y_nan)


def test_nan_in_X(fitted):
    clf, X, y = fitted
    X = X.copy()
    X[5, 1] = np.nan
    _assert_unchanged_after(clf, ValueError, "contains NaN", X, y)


def test_class_with_fewer_samples_than_components(fitted):
    clf, X, y = fitted
    y_rare = y.astype(object)
    y_rare[:3] = "rare"
    clf.set_params(n_components=4)
    before = pickle.dumps(clf.estimators_)
    with pytest.raises(ValueError, match=r"at least max\(2, n_components\) = 4.*'rare': 3"):
        clf.fit(X, y_rare)
    assert pickle.dumps(clf.estimators_) == before
    # a single row is never enough, whatever n_components
    y_lonely = y.astype(object)
    y_lonely[0] = "lonely"
    with pytest.raises(ValueError, match="'lonely': 1"):
        GaussianMixtureClassifier().fit(X, y_lonely)


@pytest.mark.parametrize(
    "priors, exc, match",
    [
        ([0.5, 0.3, 0.2], ValueError, r"shape \(2,\)"),
        ([[0.5, 0.5]], ValueError, r"shape \(2,\)"),
        ([1.2, -0.2], ValueError, "non-negative"),
        ([0.5, 0.6], ValueError, "sum to 1"),
        ([np.nan, 1.0], ValueError, "NaN"),
        (["x", "y"], TypeError, "array of numbers"),
    ],
)
def test_invalid_priors(fitted, priors, exc, match):
    clf, X, y = fitted
    clf.set_params(priors=priors)
    before = [gm.means_.copy() for gm in clf.estimators_]
    with pytest.raises(exc, match=match):
        clf.fit(X, y)
    assert_allclose(clf.class_prior_, [0.5, 0.5])
    for gm, m in zip(clf.estimators_, before):
        assert_array_equal(gm.means_, m)


@pytest.mark.parametrize(
    "param, value, exc",
    [("n_components", 0, ValueError), ("covariance_type", "round", ValueError), ("reg_covar", -1.0, ValueError),
     ("max_iter", 1.5, TypeError), ("algorithm", "medium", ValueError)],
)
def test_invalid_mixture_parameters(fitted, param, value, exc):
    clf, X, y = fitted
    clf.set_params(**{param: value})
    before = pickle.dumps(clf.estimators_)
    with pytest.raises(exc, match=f"'{param}' parameter of GaussianMixtureClassifier"):
        clf.fit(X, y)
    assert pickle.dumps(clf.estimators_) == before


def test_predict_with_wrong_number_of_features(fitted):
    clf, X, _ = fitted
    with pytest.raises(ValueError, match="X has 3 features, but GaussianMixtureClassifier is expecting 2"):
        clf.predict(np.zeros((4, 3)))
