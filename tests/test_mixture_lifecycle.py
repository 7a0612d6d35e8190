"""The life cycle the mixtures share (genmix._mixture_base) and the declared parameter
constraints (genmix._validation): the same rules, errors and warm start for every mixture."""

import inspect
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone

from genmix import CategoricalMixture, ConvergenceWarning, GaussianMixture, GaussianMixtureClassifier
from genmix._validation import Interval, Options, as_int, check_int, check_value

ESTIMATORS = (GaussianMixture, CategoricalMixture, GaussianMixtureClassifier)
CODES = np.random.RandomState(0).randint(0, 3, size=(200, 4))
X_REAL = np.random.RandomState(0).normal(size=(200, 2)) + np.repeat([[0, 0], [6, 6]], 100, axis=0)
Y = np.repeat([0, 1], 100)


def fit(est):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if isinstance(est, GaussianMixtureClassifier):
            return est.fit(X_REAL, Y)
        return est.fit(CODES if isinstance(est, CategoricalMixture) else X_REAL)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_constraints_cover_exactly_the_init_parameters(cls):
    params = {p for p in inspect.signature(cls.__init__).parameters if p != "self"}
    assert set(cls._parameter_constraints) == params


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("param, value, error, text", [
    ("n_components", 0, ValueError, "must be an int >= 1; got 0"),
    ("n_components", 2.5, TypeError, "must be an int; got 2.5"),
    ("tol", -1.0, ValueError, "must be >= 0.0; got -1.0"),
    ("tol", "small", TypeError, "must be a real number"),
    ("max_iter", -1, ValueError, "must be an int >= 0; got -1"),
    ("n_init", 0, ValueError, "must be an int >= 1"),
    ("algorithm", "medium", ValueError, "must be one of ['hard', 'soft']"),
    ("n_threads", 0, ValueError, "must be an int >= 1 (or None); got 0"),
    ("n_threads", 2**40, ValueError, "must be an int in 1 .. 1024 (or None)"),
    ("random_state", "seed", ValueError, "must be None, an int, a RandomState or a Generator"),
])
def test_the_same_bad_parameter_gets_the_same_error_everywhere(cls, param, value, error, text):
    est = fit(cls(2, random_state=0))
    before, original = pickle.dumps(est), est.get_params()[param]
    est.set_params(**{param: value})
    with pytest.raises(error) as info:
        fit(est)
    assert str(info.value).startswith(f"The '{param}' parameter of {cls.__name__} {text}")
    est.set_params(**{param: original})
    assert pickle.dumps(est) == before  # nothing changed


@pytest.mark.parametrize("cls", [GaussianMixture, CategoricalMixture])
def test_max_iter_zero_keeps_the_initial_parameters_in_both_mixtures(cls):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning: nothing was iterated
        est = fit(cls(2, max_iter=0, random_state=0))
    assert est.n_iter_ == 0 and not est.converged_
    assert est.lower_bounds_ == [] and est.lower_bound_ == -np.inf
    one = fit(cls(2, max_iter=1, tol=0, random_state=0))
    assert est.score(CODES if cls is CategoricalMixture else X_REAL) <= one.score(
        CODES if cls is CategoricalMixture else X_REAL) + 1e-12


@pytest.mark.parametrize("algorithm", ["soft", "hard"])
def test_categorical_warm_start_continues_the_previous_fit(algorithm):
    whole = fit(CategoricalMixture(3, algorithm=algorithm, max_iter=6, tol=0, random_state=1))
    part = fit(CategoricalMixture(3, algorithm=algorithm, max_iter=3, tol=0, random_state=1, warm_start=True))
    part.set_params(n_init=4, random_state=123)  # a warm start is one run and draws nothing
    fit(part)
    assert_array_equal(part.weights_, whole.weights_)
    for a, b in zip(part.category_probabilities_, whole.category_probabilities_):
        assert_array_equal(a, b)
    assert part.lower_bounds_ == whole.lower_bounds_[3:]
    assert part.n_iter_ == 3


def test_categorical_without_warm_start_starts_afresh():
    est = fit(CategoricalMixture(3, max_iter=3, tol=0, random_state=1))
    first = est.weights_.copy()
    fit(est)
    assert_array_equal(est.weights_, first)


def test_categorical_warm_start_keeps_the_fitted_categories():
    est = fit(CategoricalMixture(2, random_state=0, warm_start=True))
    before = pickle.dumps(est)
    with pytest.raises(ValueError, match="category 5"):
        est.fit(np.array([[0, 1, 2, 5]] * 10))
    assert pickle.dumps(est) == before
    fit(est.set_params(n_categories=7))  # the fitted tables are continued
    assert_array_equal(est.n_categories_, [3, 3, 3, 3])


@pytest.mark.parametrize("cls", [GaussianMixture, CategoricalMixture])
def test_warm_start_with_another_n_components_is_an_error(cls):
    est = fit(cls(2, random_state=0, warm_start=True))
    before = pickle.dumps(est)
    est.set_params(n_components=3)
    with pytest.raises(ValueError, match="warm_start continues the previous fit of 2 components"):
        fit(est)
    est.set_params(n_components=2)
    assert pickle.dumps(est) == before


@pytest.mark.parametrize("cls", [GaussianMixture, CategoricalMixture])
def test_the_mixtures_share_the_verbose_output(cls, capsys):
    fit(cls(2, verbose=1, verbose_interval=1, max_iter=2, tol=0, n_init=2, random_state=0))
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["Initialization 0", "  Iteration 1", "  Iteration 2", "Initialization did not converge.",
                     "Initialization 1", "  Iteration 1", "  Iteration 2", "Initialization did not converge."]


def test_categorical_fit_predict_is_predict_after_fit():
    est = CategoricalMixture(3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = est.fit_predict(CODES)
    assert_array_equal(labels, est.predict(CODES))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_clone_and_get_params(cls):
    est = cls(2, random_state=3, max_iter=7)
    copy = clone(est)
    assert copy is not est and copy.get_params() == est.get_params()
    assert fit(copy).n_iter_ is not None
    if cls is not GaussianMixtureClassifier:
        assert "warm_start" in est.get_params()


def test_check_value_messages():
    with pytest.raises(ValueError, match=r"^The 'k' parameter of F must be > 0; got 0\.$"):
        check_value(0, "k", "F", [Interval(float, 0, low_inclusive=False)])
    with pytest.raises(ValueError, match=r"must be finite; got nan"):
        check_value(float("nan"), "k", "F", [Interval(float, 0)])
    with pytest.raises(TypeError, match=r"must be an int or one of \['auto'\]; got 1\.5"):
        check_value(1.5, "k", "F", [Interval(int, 1), Options("auto")])
    with pytest.raises(TypeError, match=r"must be an int"):
        check_value(True, "k", "F", [Interval(int, 0)])  # a bool is not an int here
    check_value(None, "k", "F", [None, Interval(int, 1)])
    check_value("auto", "k", "F", [Interval(int, 1), Options("auto")])


def test_the_single_value_checkers_keep_their_messages():
    with pytest.raises(ValueError, match=r"^The 'n' parameter of GAN.sample must be an int >= 1; got 0\.$"):
        check_int(0, "n", "GAN.sample", low=1)
    check_int(None, "n", "GAN", low=1, allow_none=True)
    with pytest.raises(TypeError, match=r"^max_k must be an integer, got float$"):
        as_int(1.0, "max_k", 1)
    with pytest.raises(ValueError, match=r"^max_k must be >= 1, got 0$"):
        as_int(0, "max_k", 1)
    assert as_int(np.int64(4), "k", 1) == 4 and type(as_int(np.int64(4), "k", 1)) is int


def test_validation_draws_nothing_from_a_generator():
    a = fit(GaussianMixture(2, random_state=np.random.default_rng(7)))
    b = GaussianMixture(2, random_state=np.random.default_rng(7))
    b._check_parameters()
    fit(b)
    assert_array_equal(a.means_, b.means_)
