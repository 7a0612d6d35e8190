"""genmix.GaussianMixture against scikit-learn: same iterates from the same start,
convergence bookkeeping, verbose output, BIC/AIC, and scikit-learn integration
(check_estimator, clone, Pipeline, GridSearchCV)."""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator, check_sample_weight_equivalence_on_dense_data

from genmix import GaussianMixture, NotFittedError, reference

from _gmm_common import (
    ALGORITHMS,
    COVARIANCE_TYPES,
    FITTED_ARRAYS,
    separated_data,
    start_kwargs,
)


def fit_both(X, **params):
    """The same parameters fitted by scikit-learn and by genmix (warnings recorded, not raised)."""
    with warnings.catch_warnings(record=True) as sk_warnings:
        warnings.simplefilter("always")
        sk = SkGaussianMixture(**params).fit(X)
    with warnings.catch_warnings(record=True) as gm_warnings:
        warnings.simplefilter("always")
        gm = GaussianMixture(**params, n_threads=1).fit(X)
    return sk, gm, sk_warnings, gm_warnings


def tiny_atol(expected, rel=1e-10):
    """An absolute tolerance only for entries that are ~0 relative to the array's scale."""
    return rel * float(np.max(np.abs(expected)))


# ---------------------------------------------------------------------------------------
# 1. Same start, same iterates


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_iterates_as_sklearn_from_same_start(covariance_type):
    X = separated_data(n=600, seed=0)
    params = dict(n_components=3, covariance_type=covariance_type, tol=0.0, max_iter=25,
                  **start_kwargs(X, 3, covariance_type, seed=1))
    sk, gm, sk_w, gm_w = fit_both(X, **params)

    # tol=0 never converges: both run exactly max_iter iterations and both warn
    assert any(issubclass(w.category, ConvergenceWarning) for w in sk_w)
    assert any(issubclass(w.category, ConvergenceWarning) for w in gm_w)
    assert gm.n_iter_ == sk.n_iter_ == 25
    assert gm.converged_ is False and sk.converged_ is False

    assert len(gm.lower_bounds_) == len(sk.lower_bounds_) == 25
    assert_allclose(gm.lower_bounds_, sk.lower_bounds_, rtol=1e-9)
    assert_allclose(gm.lower_bound_, sk.lower_bound_, rtol=1e-9)
    # the trajectory really moves: otherwise agreeing on it would prove little
    assert sk.lower_bounds_[-1] - sk.lower_bounds_[0] > 0.1

    for name in FITTED_ARRAYS:
        expected = getattr(sk, name)
        got = getattr(gm, name)
        assert got.shape == expected.shape, name
        assert got.dtype == np.float64, name
        assert_allclose(got, expected, rtol=1e-7, atol=tiny_atol(expected), err_msg=name)

    # and the fitted models then say the same things about data
    assert_array_equal(gm.predict(X), sk.predict(X))
    assert_allclose(gm.predict_proba(X), sk.predict_proba(X), rtol=1e-7, atol=1e-12)
    assert_allclose(gm.score_samples(X), sk.score_samples(X), rtol=1e-9)
    assert_allclose(gm.score(X), sk.score(X), rtol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("tol", [1e-2, 1e-3, 1e-7])
def test_convergence_bookkeeping_matches_sklearn(covariance_type, tol):
    X = separated_data(n=450, seed=2)
    params = dict(n_components=3, covariance_type=covariance_type, tol=tol, max_iter=300,
                  **start_kwargs(X, 3, covariance_type, seed=5))
    sk, gm, _, gm_w = fit_both(X, **params)
    assert sk.converged_ is True  # precondition: the problem converges within max_iter
    assert gm.converged_ is sk.converged_
    assert gm.n_iter_ == sk.n_iter_
    assert len(gm.lower_bounds_) == gm.n_iter_
    assert_allclose(gm.lower_bounds_, sk.lower_bounds_, rtol=1e-9)
    assert not any(issubclass(w.category, ConvergenceWarning) for w in gm_w)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_not_converged_within_max_iter_matches_sklearn(covariance_type):
    X = separated_data(n=450, seed=2)
    params = dict(n_components=3, covariance_type=covariance_type, tol=1e-12, max_iter=4,
                  **start_kwargs(X, 3, covariance_type, seed=5))
    sk, gm, _, gm_w = fit_both(X, **params)
    assert sk.converged_ is False and gm.converged_ is False
    assert gm.n_iter_ == sk.n_iter_ == 4
    assert any(issubclass(w.category, ConvergenceWarning) for w in gm_w)


def test_max_iter_zero_keeps_the_start():
    # (scikit-learn 1.9 itself fails here: with all three *_init given and max_iter=0 it
    # never sets covariances_, so the oracle is the reference implementation.)
    X = separated_data(n=300, seed=3)
    init = start_kwargs(X, 3, "full", seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # in particular no ConvergenceWarning
        gm = GaussianMixture(3, covariance_type="full", max_iter=0, n_threads=1, **init).fit(X)
    assert gm.n_iter_ == 0
    assert gm.converged_ is False
    assert gm.lower_bound_ == -np.inf
    assert list(gm.lower_bounds_) == []
    assert_allclose(gm.weights_, init["weights_init"], rtol=1e-15)
    assert_allclose(gm.means_, init["means_init"], rtol=1e-15)
    assert_allclose(gm.precisions_, init["precisions_init"], rtol=1e-12)
    prec_chol = reference.precisions_cholesky_from_precisions(init["precisions_init"], "full")
    assert_allclose(gm.precisions_cholesky_, prec_chol, rtol=1e-12, atol=1e-15)
    assert_allclose(gm.covariances_, np.linalg.inv(init["precisions_init"]), rtol=1e-10)
    expected = reference.score_samples(X, init["weights_init"], init["means_init"], prec_chol, "full")
    assert_allclose(gm.score_samples(X), expected, rtol=1e-10)


def _far_component_problem(distance):
    X = np.random.default_rng(0).standard_normal((500, 2))
    params = dict(n_components=2, weights_init=[0.5, 0.5], means_init=[[0.0, 0.0], [distance, 0.0]],
                  precisions_init=np.stack([np.eye(2)] * 2), tol=0.0, max_iter=1)
    return X, params


@pytest.mark.parametrize("distance", [8.0, 10.0])
def test_nearly_empty_full_component_same_as_sklearn(distance):
    # The second component starts `distance` standard deviations away from every row, so
    # its total responsibility N_k is tiny (5e-5, 2e-10) and N_k + 10 eps differs from N_k
    # by a relative 4e-11, 1e-5: the scatter must be taken around the mean actually used,
    # mu = sum resp x / (N_k + 10 eps), as scikit-learn does.
    X, params = _far_component_problem(distance)
    sk, gm, _, _ = fit_both(X, **params)
    for name in FITTED_ARRAYS:
        expected = getattr(sk, name)
        assert_allclose(getattr(gm, name), expected, rtol=1e-6, atol=tiny_atol(expected), err_msg=name)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=1, tol=0
@pytest.mark.parametrize("distance", [12.0, 13.0])
def test_nearly_empty_full_component_scatter_is_around_its_mean(distance):
    # N_k ~ 1e-17, 1e-20 << 10 eps: the "+ 10 eps" pulls such a component's mean towards the
    # origin of the coordinates used (0 for scikit-learn, the data's mean for genmix), so
    # the means differ from scikit-learn's by design. The covariance must still be the
    # (positive definite) weighted scatter around the mean that was fitted, plus reg_covar.
    X, params = _far_component_problem(distance)
    gm = GaussianMixture(**params, n_threads=1).fit(X)
    resp = reference.e_step(X, np.array([0.5, 0.5]), np.array(params["means_init"]),
                            reference.precisions_cholesky_from_precisions(params["precisions_init"], "full"),
                            "full")[1]
    nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps
    for j in range(2):
        diff = X - gm.means_[j]
        expected = (resp[:, j, None] * diff).T @ diff / nk[j] + 1e-6 * np.eye(2)
        assert_allclose(gm.covariances_[j], expected, rtol=1e-6, err_msg=str(j))
        assert np.linalg.eigvalsh(gm.covariances_[j]).min() > 0


# ---------------------------------------------------------------------------------------
# BIC / AIC: scikit-learn's formulas evaluated at genmix's parameters


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bic_aic_equal_sklearn_formulas(covariance_type):
    X = separated_data(n=300, seed=6)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0, n_threads=1).fit(X)
    sk = SkGaussianMixture(3, covariance_type=covariance_type)
    for name in FITTED_ARRAYS:
        setattr(sk, name, getattr(gm, name).copy())
    sk.n_features_in_ = X.shape[1]
    sk.converged_, sk.n_iter_, sk.lower_bound_ = gm.converged_, gm.n_iter_, gm.lower_bound_
    assert gm._n_parameters() == sk._n_parameters()
    X_new = separated_data(n=150, seed=7)
    for data in (X, X_new):
        assert_allclose(gm.bic(data), sk.bic(data), rtol=1e-11)
        assert_allclose(gm.aic(data), sk.aic(data), rtol=1e-11)
        assert_allclose(gm.score_samples(data), sk.score_samples(data), rtol=1e-11)
    # and by hand, with the reference log-likelihood
    n, d, k = X.shape[0], X.shape[1], 3
    n_cov = {"full": k * d * (d + 1) // 2, "tied": d * (d + 1) // 2, "diag": k * d, "spherical": k}
    p = n_cov[covariance_type] + k * d + k - 1
    ll = np.sum(reference.score_samples(X, gm.weights_, gm.means_, gm.precisions_cholesky_, covariance_type))
    assert_allclose(gm.bic(X), -2 * ll + p * np.log(n), rtol=1e-11)
    assert_allclose(gm.aic(X), -2 * ll + 2 * p, rtol=1e-11)


# ---------------------------------------------------------------------------------------
# verbose


def _verbose_run(estimator_class, X, capsys, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        extra = {"n_threads": 1} if estimator_class is GaussianMixture else {}
        estimator_class(**params, **extra).fit(X)
    return capsys.readouterr()


def _verbose_params(X, verbose):
    return dict(n_components=3, covariance_type="diag", max_iter=7, tol=0.0, verbose_interval=2,
                n_init=2, verbose=verbose, **start_kwargs(X, 3, "diag", seed=8))


def test_verbose_0_prints_nothing(capsys):
    X = separated_data(n=300, seed=9)
    out = _verbose_run(GaussianMixture, X, capsys, **_verbose_params(X, 0))
    assert out.out == "" and out.err == ""
    # nor does the default
    GaussianMixture(2, random_state=0).fit(X)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_verbose_1_prints_sklearns_messages(capsys):
    X = separated_data(n=300, seed=9)
    ours = _verbose_run(GaussianMixture, X, capsys, **_verbose_params(X, 1)).out
    theirs = _verbose_run(SkGaussianMixture, X, capsys, **_verbose_params(X, 1)).out
    assert ours == theirs
    assert ours.count("Initialization 0\n") == 1 and "  Iteration 6\n" in ours  # not vacuous


_NUMBER = r"(-?(?:inf|\d+\.\d+))"


def _parse_verbose_2(text):
    """Lines with timings masked, plus the printed numbers (ll change, lower bound)."""
    skeleton, numbers = [], []
    for line in text.splitlines():
        line = re.sub(r"time lapse \d+\.\d{5}s", "time lapse <t>s", line)
        for m in re.finditer(r"(ll change|lower bound) " + _NUMBER, line):
            numbers.append(float(m.group(2)))
        skeleton.append(re.sub(r"(ll change|lower bound) " + _NUMBER, r"\1 <x>", line))
    return skeleton, numbers


def test_verbose_2_prints_sklearns_messages_with_timings(capsys):
    X = separated_data(n=300, seed=9)
    ours = _verbose_run(GaussianMixture, X, capsys, **_verbose_params(X, 2)).out
    theirs = _verbose_run(SkGaussianMixture, X, capsys, **_verbose_params(X, 2)).out
    assert re.search(r"^  Iteration 2\t time lapse \d+\.\d{5}s\t ll change -?(inf|\d+\.\d{5})$", ours, re.M)
    assert re.search(r"^Initialization did not converge\. time lapse \d+\.\d{5}s\t lower bound -?\d+\.\d{5}\.$",
                     ours, re.M)
    ours_lines, ours_numbers = _parse_verbose_2(ours)
    theirs_lines, theirs_numbers = _parse_verbose_2(theirs)
    assert ours_lines == theirs_lines
    assert len(ours_numbers) == len(theirs_numbers) > 0
    # printed with 5 decimals: equal up to the last printed digit (and -0.00000 vs 0.00000)
    assert_allclose(ours_numbers, theirs_numbers, rtol=0, atol=1.01e-5)


# ---------------------------------------------------------------------------------------
# 5. scikit-learn integration


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")  # array-API check, needs SCIPY_ARRAY_API
@pytest.mark.parametrize("n_threads", [1, None])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_components", [1, 2, 3])
def test_check_estimator_passes(n_components, covariance_type, algorithm, n_threads):
    gm = GaussianMixture(n_components, covariance_type=covariance_type, algorithm=algorithm, n_threads=n_threads)
    results = check_estimator(gm, on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"]
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) >= 30  # the checks really ran
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    assert "check_sample_weight_equivalence_on_dense_data" in passed


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_components", [2, 3])
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_sample_weight_equivalence_check_passes_for_every_init(init_params, n_components, covariance_type,
                                                               algorithm):
    # integer weights on shuffled rows against the rows repeated, same random_state
    gm = GaussianMixture(n_components, covariance_type=covariance_type, algorithm=algorithm,
                         init_params=init_params)
    check_sample_weight_equivalence_on_dense_data("GaussianMixture", gm)


def test_clone():
    X = separated_data(n=300, seed=10)
    means_init = np.array(separated_data(n=30, seed=11)[:3])
    gm = GaussianMixture(3, covariance_type="diag", algorithm="hard", means_init=means_init, tol=1e-5,
                         random_state=0, n_threads=1).fit(X)
    cl = clone(gm)
    assert type(cl) is GaussianMixture
    params, cl_params = gm.get_params(), cl.get_params()
    assert params.keys() == cl_params.keys()
    for key, value in params.items():
        if isinstance(value, np.ndarray):
            assert_array_equal(cl_params[key], value)
        else:
            assert cl_params[key] == value, key
    assert cl.means_init is not gm.means_init  # a copy, as scikit-learn's clone makes
    assert not hasattr(cl, "weights_") and not hasattr(cl, "n_features_in_")
    with pytest.raises(NotFittedError):
        cl.predict(X)
    cl.fit(X)
    for name in FITTED_ARRAYS:
        assert_array_equal(getattr(cl, name), getattr(gm, name))
    assert cl.lower_bounds_ == gm.lower_bounds_


def test_pipeline_with_standard_scaler():
    X = separated_data(n=450, seed=12) * np.array([1.0, 100.0, 0.01]) + np.array([0.0, 5e3, -2.0])
    pipe = Pipeline([("scale", StandardScaler()),
                     ("gmm", GaussianMixture(3, random_state=0, n_threads=1))]).fit(X)
    Xs = StandardScaler().fit_transform(X)
    gm = GaussianMixture(3, random_state=0, n_threads=1).fit(Xs)
    assert_array_equal(pipe.predict(X), gm.predict(Xs))
    assert_array_equal(pipe.predict_proba(X), gm.predict_proba(Xs))
    assert_array_equal(pipe.score_samples(X), gm.score_samples(Xs))
    fitted = pipe.named_steps["gmm"]
    expected = np.mean(reference.score_samples(Xs, fitted.weights_, fitted.means_,
                                               fitted.precisions_cholesky_, "full"))
    assert_allclose(pipe.score(X), expected, rtol=1e-10)


def test_grid_search_over_components_and_covariance_type():
    X = separated_data(n=450, seed=13)
    grid = {"n_components": [1, 2, 3, 4], "covariance_type": ["full", "spherical"]}
    cv = KFold(3, shuffle=True, random_state=0)
    base = GaussianMixture(random_state=0, tol=1e-6, max_iter=1000, n_threads=1)
    search = GridSearchCV(base, grid, cv=cv).fit(X)

    # every split score is the mean log-likelihood of the held-out rows (reference oracle)
    for c, params in enumerate(search.cv_results_["params"]):
        for split, (train, test) in enumerate(cv.split(X)):
            est = clone(base).set_params(**params).fit(X[train])
            expected = np.mean(reference.score_samples(X[test], est.weights_, est.means_,
                                                       est.precisions_cholesky_, params["covariance_type"]))
            assert_allclose(search.cv_results_[f"split{split}_test_score"][c], expected, rtol=1e-10)
    best = int(np.argmax(search.cv_results_["mean_test_score"]))
    assert search.best_params_ == search.cv_results_["params"][best]
    # three well separated, non-spherical clusters
    assert search.best_params_ == {"covariance_type": "full", "n_components": 3}
    assert isinstance(search.best_estimator_, GaussianMixture)
    assert search.best_estimator_.means_.shape == (3, 3)
