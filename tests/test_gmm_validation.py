"""Every bad input to genmix.GaussianMixture raises a ValueError or TypeError that names
the problem, before any work starts, and leaves a previously fitted estimator as it was."""

import numpy as np
import pytest
import scipy.sparse as sp

import genmix._core
from genmix import GaussianMixture, NotFittedError

from _gmm_common import assert_same_state, separated_data, snapshot

# the C++ entry points that do work; validation may only use _core.all_finite
WORK_FUNCTIONS = ("em_fit", "params_from_labels", "evaluate", "kmeans_plusplus", "kmeans_lloyd")

X_GOOD = separated_data(n=120, seed=0)  # (120, 3)


@pytest.fixture
def work_calls(monkeypatch):
    """Records every call into the C++ core's working functions."""
    calls = []
    for name in WORK_FUNCTIONS:
        real = getattr(genmix._core.gmm, name)

        def recorder(*args, _name=name, _real=real, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(genmix._core.gmm, name, recorder)
    return calls


@pytest.fixture
def fitted(work_calls):
    gm = GaussianMixture(3, random_state=0, n_threads=1).fit(X_GOOD)
    assert work_calls  # the recorder sees real work
    work_calls.clear()
    return gm


def _spd(d, scale=1.0):
    return scale * np.eye(d)


# ---------------------------------------------------------------------------------------
# bad X (fit and predict)

def _bad_X():
    nan = X_GOOD.copy()
    nan[5, 1] = np.nan
    inf = X_GOOD.copy()
    inf[7, 2] = np.inf
    ninf = X_GOOD.copy()
    ninf[0, 0] = -np.inf
    nan32 = nan.astype(np.float32)
    return [
        ("nan", nan, ValueError, r"NaN or infinity"),
        ("inf", inf, ValueError, r"NaN or infinity"),
        ("-inf", ninf, ValueError, r"NaN or infinity"),
        ("nan float32", nan32, ValueError, r"NaN or infinity"),
        ("1-D", X_GOOD[:, 0], ValueError, r"Expected 2D array, got 1D array"),
        ("3-D", X_GOOD.reshape(12, 10, 3), ValueError, r"Expected 2D array, got 3D array"),
        ("empty rows", np.empty((0, 3)), ValueError, r"0 sample\(s\)"),
        ("empty list", [], ValueError, r"Expected 2D array|0 sample\(s\)"),
        ("no features", np.empty((10, 0)), ValueError, r"0 feature\(s\)"),
        ("complex", X_GOOD.astype(np.complex128), ValueError, r"[Cc]omplex"),
        ("strings", np.array([["a", "b", "c"]] * 10), ValueError, r"numeric"),
        ("ragged (X, y) tuple", (X_GOOD, np.zeros(len(X_GOOD))), ValueError, r"could not be converted"),
        ("datetime64", np.arange(30).astype("datetime64[s]").reshape(10, 3), TypeError, r"datetime64"),
        ("timedelta64", np.arange(30).astype("timedelta64[s]").reshape(10, 3), TypeError, r"timedelta64"),
        ("object of dates", np.array([[np.datetime64("2020-01-01")] * 3] * 10, dtype=object), TypeError,
         r"datetime64"),
        ("object of strings", np.array([["a", "b", 1]] * 10, dtype=object), ValueError, r"real numbers"),
        ("sparse csr", sp.csr_matrix(X_GOOD), TypeError, r"[Ss]parse"),
        ("sparse csc array", sp.csc_array(X_GOOD), TypeError, r"[Ss]parse"),
    ]


BAD_X = _bad_X()


@pytest.mark.parametrize("name,X,error,match", BAD_X, ids=[case[0] for case in BAD_X])
def test_fit_rejects_bad_X_before_any_work(fitted, work_calls, name, X, error, match):
    before = snapshot(fitted)
    with pytest.raises(error, match=match):
        fitted.fit(X)
    assert work_calls == []
    assert_same_state(before, fitted.__dict__)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score", "bic", "aic"])
@pytest.mark.parametrize("name,X,error,match", BAD_X, ids=[case[0] for case in BAD_X])
def test_predict_rejects_bad_X_before_any_work(fitted, work_calls, method, name, X, error, match):
    if name == "no features":  # a 3-feature model reports the feature count first
        match = r"0 features|0 feature\(s\)"
    before = snapshot(fitted)
    with pytest.raises(error, match=match):
        getattr(fitted, method)(X)
    assert work_calls == []
    assert_same_state(before, fitted.__dict__)


def test_fit_rejects_too_few_samples(fitted, work_calls):
    before = snapshot(fitted)
    with pytest.raises(ValueError, match=r"n_samples >= n_components.*n_components = 3, n_samples = 2"):
        fitted.fit(X_GOOD[:2])
    with pytest.raises(ValueError, match=r"1 sample\(s\).*minimum of 2"):
        fitted.fit(X_GOOD[:1])
    fitted.set_params(n_components=50)
    with pytest.raises(ValueError, match=r"n_samples >= n_components.*n_components = 50, n_samples = 40"):
        fitted.fit(X_GOOD[:40])
    assert work_calls == []
    assert_same_state({k: v for k, v in before.items() if k != "n_components"},
                      {k: v for k, v in fitted.__dict__.items() if k != "n_components"})


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score", "bic"])
def test_predict_rejects_wrong_number_of_features(fitted, work_calls, method):
    before = snapshot(fitted)
    with pytest.raises(ValueError, match=r"X has 2 features, but GaussianMixture is expecting 3 features"):
        getattr(fitted, method)(X_GOOD[:, :2])
    with pytest.raises(ValueError, match=r"X has 4 features, but GaussianMixture is expecting 3 features"):
        getattr(fitted, method)(np.hstack([X_GOOD, X_GOOD[:, :1]]))
    assert work_calls == []
    assert_same_state(before, fitted.__dict__)


def test_warm_start_rejects_wrong_number_of_features(fitted, work_calls):
    fitted.set_params(warm_start=True)
    before = snapshot(fitted)
    with pytest.raises(ValueError, match=r"X has 2 features, but GaussianMixture is expecting 3 features"):
        fitted.fit(X_GOOD[:, :2])
    assert work_calls == []
    assert_same_state(before, fitted.__dict__)


def test_unfitted_estimator_raises_not_fitted(work_calls):
    gm = GaussianMixture(2)
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(NotFittedError, match="not fitted"):
            getattr(gm, method)(X_GOOD)
    with pytest.raises(NotFittedError, match="not fitted"):
        gm.sample(3)
    assert work_calls == []


# ---------------------------------------------------------------------------------------
# bad parameters

BAD_PARAMS = [
    ({"n_components": 0}, ValueError, r"'n_components'.*>= 1"),
    ({"n_components": -2}, ValueError, r"'n_components'"),
    ({"n_components": 2.5}, TypeError, r"'n_components'.*int"),
    ({"n_components": 3.0}, TypeError, r"'n_components'.*int"),
    ({"n_components": "3"}, TypeError, r"'n_components'.*int"),
    ({"n_components": None}, TypeError, r"'n_components'"),
    ({"covariance_type": "bogus"}, ValueError, r"'covariance_type'.*'bogus'"),
    ({"covariance_type": None}, ValueError, r"'covariance_type'"),
    ({"tol": -1}, ValueError, r"'tol'.*>= 0"),
    ({"tol": np.nan}, ValueError, r"'tol'"),
    ({"tol": "small"}, TypeError, r"'tol'"),
    ({"reg_covar": -1}, ValueError, r"'reg_covar'.*>= 0"),
    ({"reg_covar": np.inf}, ValueError, r"'reg_covar'"),
    ({"max_iter": -1}, ValueError, r"'max_iter'.*>= 0"),
    ({"max_iter": 10.5}, TypeError, r"'max_iter'"),
    ({"n_init": 0}, ValueError, r"'n_init'.*>= 1"),
    ({"init_params": "x"}, ValueError, r"'init_params'.*'x'"),
    ({"algorithm": "x"}, ValueError, r"'algorithm'.*'x'"),
    ({"algorithm": "Hard"}, ValueError, r"'algorithm'"),
    ({"n_threads": 0}, ValueError, r"'n_threads'.*>= 1"),
    ({"n_threads": -1}, ValueError, r"'n_threads'"),
    ({"n_threads": 1.5}, TypeError, r"'n_threads'"),
    ({"n_threads": 2**40}, ValueError, r"'n_threads'.*1 \.\. 1024"),
    ({"n_threads": 2**31}, ValueError, r"'n_threads'.*1 \.\. 1024"),
    ({"verbose_interval": 0}, ValueError, r"'verbose_interval'.*>= 1"),
    ({"verbose": -1}, ValueError, r"'verbose'"),
    ({"warm_start": "yes"}, TypeError, r"'warm_start'"),
    ({"random_state": "seed"}, ValueError, r"random_state"),
    # weights_init
    ({"weights_init": [0.5, 0.5]}, ValueError, r"'weights_init'.*shape \(3,\)"),
    ({"weights_init": [[0.2, 0.3, 0.5]]}, ValueError, r"'weights_init'.*shape"),
    ({"weights_init": [0.2, 0.3, 0.4]}, ValueError, r"'weights_init' must sum to 1"),
    ({"weights_init": [1.2, -0.2, 0.0]}, ValueError, r"'weights_init' must lie in \[0, 1\]"),
    ({"weights_init": [np.nan, 0.5, 0.5]}, ValueError, r"'weights_init'.*NaN"),
    ({"weights_init": ["a", "b", "c"]}, TypeError, r"'weights_init'"),
    # means_init
    ({"means_init": np.zeros((2, 3))}, ValueError, r"'means_init'.*shape \(3, 3\).*\(2, 3\)"),
    ({"means_init": np.zeros((3, 2))}, ValueError, r"'means_init'.*shape"),
    ({"means_init": np.zeros(9)}, ValueError, r"'means_init'.*shape"),
    ({"means_init": np.full((3, 3), np.inf)}, ValueError, r"'means_init'.*NaN or infinity"),
    # precisions_init
    ({"precisions_init": np.stack([np.eye(3)] * 2)}, ValueError, r"'precisions_init'.*shape \(3, 3, 3\)"),
    ({"covariance_type": "tied", "precisions_init": np.stack([np.eye(3)] * 3)}, ValueError,
     r"'precisions_init'.*shape \(3, 3\)"),
    ({"covariance_type": "diag", "precisions_init": np.ones(3)}, ValueError, r"'precisions_init'.*shape \(3, 3\)"),
    ({"covariance_type": "spherical", "precisions_init": np.ones((3, 3))}, ValueError,
     r"'precisions_init'.*shape \(3,\)"),
    ({"precisions_init": np.stack([np.eye(3), np.triu(np.ones((3, 3))), np.eye(3)])}, ValueError,
     r"precision 1 is not symmetric"),
    ({"precisions_init": np.stack([np.eye(3), np.eye(3), -np.eye(3)])}, ValueError,
     r"precision 2 is not positive definite"),
    ({"precisions_init": np.stack([np.eye(3), np.ones((3, 3)), np.eye(3)])}, ValueError,
     r"precision 1 is not positive definite"),
    ({"covariance_type": "tied", "precisions_init": np.triu(np.ones((3, 3)))}, ValueError,
     r"tied precision is not symmetric"),
    ({"covariance_type": "tied", "precisions_init": np.diag([1.0, 0.0, 1.0])}, ValueError,
     r"tied precision is not positive definite"),
    ({"covariance_type": "diag", "precisions_init": np.array([[1.0, 1, 1], [1, 0, 1], [1, 1, 1]])}, ValueError,
     r"'precisions_init'.*positive"),
    ({"covariance_type": "spherical", "precisions_init": np.array([1.0, -1.0, 1.0])}, ValueError,
     r"'precisions_init'.*positive"),
]


@pytest.mark.parametrize("params,error,match", BAD_PARAMS, ids=[repr(case[0])[:60] for case in BAD_PARAMS])
def test_fit_rejects_bad_parameters_before_any_work(fitted, work_calls, params, error, match):
    before = {k: v for k, v in snapshot(fitted).items() if k.endswith("_")}
    fitted.set_params(**params)  # setting is never an error (scikit-learn convention)
    with pytest.raises(error, match=match):
        fitted.fit(X_GOOD)
    assert work_calls == []
    after = {k: v for k, v in fitted.__dict__.items() if k.endswith("_")}
    assert_same_state(before, after)


@pytest.mark.parametrize("params,error,match", BAD_PARAMS[:26], ids=[repr(c[0])[:60] for c in BAD_PARAMS[:26]])
def test_fresh_estimator_rejects_bad_parameters_before_any_work(work_calls, params, error, match):
    gm = GaussianMixture(**{"n_components": 3, **params})  # construction never validates
    with pytest.raises(error, match=match):
        gm.fit(X_GOOD)
    assert work_calls == []
    assert not any(k.endswith("_") for k in gm.__dict__)  # nothing fitted
    with pytest.raises(error, match=match):
        gm.fit_predict(X_GOOD)
    assert work_calls == []


def test_predict_rejects_bad_n_threads(fitted, work_calls):
    before = {k: v for k, v in snapshot(fitted).items() if k.endswith("_")}
    fitted.set_params(n_threads=0)
    with pytest.raises(ValueError, match=r"'n_threads'"):
        fitted.predict(X_GOOD)
    assert work_calls == []
    assert_same_state(before, {k: v for k, v in fitted.__dict__.items() if k.endswith("_")})


def test_sample_rejects_bad_n_samples(fitted):
    with pytest.raises(ValueError, match=r"'n_samples'.*>= 1"):
        fitted.sample(0)
    with pytest.raises(TypeError, match=r"'n_samples'"):
        fitted.sample(2.5)


def test_bad_n_threads_message_is_short(fitted, work_calls):
    """The message names n_threads and does not print the data (pybind11's overload error did)."""
    fitted.set_params(n_threads=2**40)
    with pytest.raises(ValueError) as info:
        fitted.predict(X_GOOD)
    assert "n_threads" in str(info.value) and len(str(info.value)) < 200
    assert work_calls == []


@pytest.mark.parametrize("kind", ["datetime64[D]", "timedelta64[ms]"])
def test_time_sample_weight_is_rejected(work_calls, kind):
    w = np.ones(len(X_GOOD)).astype(kind)
    with pytest.raises(TypeError, match=kind.split("[")[0]):
        GaussianMixture(2).fit(X_GOOD, sample_weight=w)
    assert work_calls == []
