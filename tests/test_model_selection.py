"""genmix.select_n_components (cv / bic / aic) and GridSearchCV over GaussianMixture."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import GridSearchCV, KFold

from genmix import ComponentSelection, GaussianMixture, select_n_components
from genmix.datasets import load_faithful
from genmix.model_selection import kfold_indices

from _gmm_common import separated_data

# three well separated 3-D clusters (tests/_gmm_common.py): the true k is 3
X3 = separated_data(n=450, seed=4)


def test_kfold_indices_match_sklearn_shuffled_kfold():
    for n, k, seed in [(20, 5, 0), (23, 4, 7), (10, 10, 1)]:
        ours = kfold_indices(n, k, seed)
        theirs = list(KFold(k, shuffle=True, random_state=seed).split(np.zeros((n, 1))))
        assert len(ours) == k
        for (tr, te), (tr2, te2) in zip(ours, theirs):
            assert_array_equal(tr, tr2)
            assert_array_equal(te, te2)
        tests = np.concatenate([te for _, te in ours])
        assert_array_equal(np.sort(tests), np.arange(n))  # a partition


def test_cv_chooses_the_true_k_and_the_table_is_what_it_says():
    res = select_n_components(X3, range(1, 7), criterion="cv", cv=5, random_state=0, n_threads=1)
    assert isinstance(res, ComponentSelection)
    assert res.best_n_components == 3
    assert_array_equal(res.n_components, np.arange(1, 7))
    assert res.fold_scores.shape == (6, 5)
    # every entry is a GaussianMixture fitted on the training folds, scored on the held-out fold
    folds = kfold_indices(len(X3), 5, 0)
    train, test = folds[2]
    gm = GaussianMixture(4, random_state=0).fit(X3[train])
    assert res.fold_scores[3, 2] == pytest.approx(gm.score(X3[test]), rel=1e-12)
    assert_allclose(res.scores, res.fold_scores.mean(axis=1))
    assert_allclose(res.std_errors, res.fold_scores.std(axis=1, ddof=1) / np.sqrt(5))
    # the one-standard-error rule
    best = int(np.argmax(res.scores))
    within = res.scores >= res.scores[best] - res.std_errors[best]
    assert res.best_n_components == res.n_components[np.flatnonzero(within)[0]]
    assert res.scores[0] < res.scores[1] < res.scores[2]  # 1 and 2 components are clearly worse
    # the refitted estimator, on all of X
    est = res.best_estimator
    assert est.n_components == 3 and est.n_features_in_ == 3
    assert_allclose(est.means_, GaussianMixture(3, random_state=0).fit(X3).means_)


def test_one_standard_error_rule_prefers_the_smaller_k():
    # two overlapping components: extra components barely change the held-out likelihood
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(0, 1, (150, 2)), rng.normal(3.5, 1, (150, 2))])
    res = select_n_components(X, range(1, 6), cv=5, random_state=1, n_threads=1)
    best = int(np.argmax(res.scores))
    chosen = int(np.flatnonzero(res.n_components == res.best_n_components)[0])
    assert chosen <= best
    assert np.all(res.scores[:chosen] < res.scores[best] - res.std_errors[best])
    assert res.best_n_components == 2


@pytest.mark.parametrize("criterion", ["bic", "aic"])
def test_information_criteria(criterion):
    res = select_n_components(X3, [5, 1, 2, 3, 3, 4], criterion=criterion, covariance_type="diag",
                              random_state=0)
    assert_array_equal(res.n_components, [1, 2, 3, 4, 5])  # sorted, duplicates dropped
    expected = [getattr(GaussianMixture(k, covariance_type="diag", random_state=0).fit(X3), criterion)(X3)
                for k in range(1, 6)]
    assert_allclose(res.scores, expected, rtol=1e-12)
    assert res.best_n_components == 1 + int(np.argmin(expected))
    assert res.std_errors is None and res.fold_scores is None
    assert res.best_estimator.covariance_type == "diag"
    assert res.best_estimator.n_components == res.best_n_components


def test_bic_chooses_the_true_k():
    # the clusters have full (correlated) covariances: with covariance_type="full" BIC finds 3
    res = select_n_components(X3, range(1, 7), criterion="bic", random_state=0)
    assert res.best_n_components == 3
    assert res.best_estimator.n_components == 3


def test_table_printing():
    res = select_n_components(X3, range(1, 5), cv=3, random_state=0)
    text = str(res)
    assert text == res.to_string()
    lines = text.splitlines()
    assert "3-fold cross-validation" in lines[0]
    rows = lines[2:6]
    for k, row in zip(range(1, 5), rows):
        fields = row.split()
        assert int(fields[0]) == k
        assert float(fields[1]) == pytest.approx(res.scores[k - 1], abs=1e-5)
        assert float(fields[2]) == pytest.approx(res.std_errors[k - 1], abs=1e-5)
        assert (fields[-1] == "*") == (k == res.best_n_components)
    assert f"chosen k = {res.best_n_components}" in lines[-1]


def test_old_faithful_table():
    X = load_faithful()
    bic = select_n_components(X, range(1, 7), criterion="bic", random_state=0, n_init=3)
    cv = select_n_components(X, range(1, 7), criterion="cv", random_state=0, n_init=3)
    print("\nOld Faithful, full covariances\n" + str(bic) + "\n\n" + str(cv))
    # two clusters (short and long eruptions) are plain in a scatter plot; a third
    # component is sometimes used for the long-eruption cluster's skew
    assert bic.best_n_components in (2, 3)
    assert cv.best_n_components in (2, 3)
    assert bic.scores[1] < bic.scores[0] - 200  # a single Gaussian is far worse


def test_gridsearchcv_over_n_components_covariance_type_and_reg_covar():
    folds = KFold(5, shuffle=True, random_state=0)
    grid = GridSearchCV(
        GaussianMixture(random_state=0, n_threads=1),
        {"n_components": [1, 2, 3, 4, 5], "covariance_type": ["full", "diag"], "reg_covar": [1e-6, 1e-2]},
        cv=folds,
    ).fit(X3)
    assert grid.best_params_["n_components"] >= 3
    assert grid.best_estimator_.n_components == grid.best_params_["n_components"]
    # GridSearchCV's mean_test_score is the same held-out mean log-likelihood as ours
    res = select_n_components(X3, range(1, 6), cv=5, random_state=0, covariance_type="diag", reg_covar=1e-2,
                              n_threads=1)
    table = grid.cv_results_
    for i, k in enumerate(range(1, 6)):
        (j,) = [j for j, p in enumerate(table["params"])
                if p == {"n_components": k, "covariance_type": "diag", "reg_covar": 1e-2}]
        assert table["mean_test_score"][j] == pytest.approx(res.scores[i], rel=1e-10)


def test_works_without_scikit_learn():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["sklearn"] = None  # any import of scikit-learn now fails
        import numpy as np
        import genmix
        rng = np.random.default_rng(0)
        X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(6, 1, (60, 2))])
        res = genmix.select_n_components(X, range(1, 4), cv=3, random_state=0)
        assert res.best_n_components == 2, str(res)
        y = np.repeat(["p", "q"], 60)
        clf = genmix.GaussianMixtureClassifier(random_state=0).fit(X, y)
        assert clf.score(X, y) == 1.0
        assert "sklearn" not in type(clf).__mro__[1].__module__
        print("ok")
        """
    )
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ---------------------------------------------------------------------------------------
# bad input: a clear error naming the problem, before any fit


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(criterion="likelihood"), ValueError, "criterion"),
        (dict(criterion=None), ValueError, "criterion"),
        (dict(n_components=[]), ValueError, "n_components is empty"),
        (dict(n_components=range(0, 4)), ValueError, ">= 1; got 0"),
        (dict(n_components=[2, -1]), ValueError, ">= 1; got -1"),
        (dict(n_components=[1, 2.5]), TypeError, "ints; got 2.5"),
        (dict(n_components="123"), TypeError, "iterable of ints"),
        (dict(cv=1), ValueError, "2 <= cv"),
        (dict(cv=451), ValueError, "cv <= n_samples = 450"),
        (dict(cv=2.0), TypeError, "cv must be an int"),
        (dict(n_components=[1, 400], cv=3), ValueError, "larger than the 300 training rows"),
        (dict(n_components=[1, 451], criterion="bic"), ValueError, "larger than n_samples = 450"),
        (dict(covariance_type="round"), ValueError, "covariance_type"),
        (dict(reg_covar=-1.0), ValueError, "reg_covar"),
        (dict(colour="red"), TypeError, "colour"),
        (dict(random_state="seed"), ValueError, "random_state"),
    ],
)
def test_bad_arguments(kwargs, exc, match, monkeypatch):
    fits = []
    monkeypatch.setattr(GaussianMixture, "fit", lambda self, *a, **k: fits.append(1) or self)
    with pytest.raises(exc, match=match):
        select_n_components(X3, **kwargs)
    assert fits == []  # raised before any work


def test_nan_in_X():
    X = X3.copy()
    X[7, 0] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        select_n_components(X, range(1, 3))


def test_single_int_candidate_is_accepted():
    res = select_n_components(X3, 3, criterion="bic", random_state=0)
    assert_array_equal(res.n_components, [3])
    assert res.best_n_components == 3


def test_kfold_indices_rejects_bad_splits():
    with pytest.raises(ValueError, match="n_splits must be >= 2"):
        kfold_indices(10, 1)
    with pytest.raises(ValueError, match="larger than n_samples = 10"):
        kfold_indices(10, 11)
    with pytest.raises(TypeError, match="n_splits must be an integer"):
        kfold_indices(10, 2.0)


@pytest.mark.parametrize("criterion", ["bic", "cv"])
def test_missing_values_pass_through_to_the_mixtures(criterion):
    # with missing="em" among the mixture parameters, X may hold NaN: every candidate is
    # fitted and scored on the observed entries, and the true k is still found
    rng = np.random.default_rng(3)
    X = X3.copy()
    X[rng.random(X.shape) < 0.15] = np.nan
    X[np.isnan(X).all(axis=1), 0] = X3[np.isnan(X).all(axis=1), 0]
    res = select_n_components(X, range(1, 6), criterion=criterion, random_state=0, missing="em")
    assert res.best_n_components == 3
    assert res.best_estimator.missing == "em"
    with pytest.raises(ValueError, match="NaN"):
        select_n_components(X, range(1, 6), criterion=criterion, random_state=0)


def test_cv_selection_with_a_fold_scoring_minus_infinity():
    # a row at 1e154 gives every k a held-out score of -inf: the standard errors are NaN
    # (inf - inf), which used to select nothing and raise IndexError
    X = np.random.default_rng(0).normal(size=(10, 1))
    X[-1] = 1e154
    result = select_n_components(X, [1, 2], criterion="cv", cv=2, random_state=0)
    assert np.all(result.scores == -np.inf)
    assert result.best_n_components == 1  # every k ties at -inf: the smallest
