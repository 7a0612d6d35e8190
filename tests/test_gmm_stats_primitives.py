"""EM as three primitives on sufficient statistics (`_core.gmm.e_step_stats`, `GmmStats.merge`,
`_core.gmm.m_step`): driven chunk by chunk from Python they must give the in-memory fit's bits,
because the scale-out work (chunked, distributed and online EM) is built on them."""

import pickle

import numpy as np
import pytest

from genmix import _core
from genmix.reference import e_step as reference_e_step

from _gmm_common import COVARIANCE_TYPES, separated_data_with_labels

K = 3
PARAMS = ("weights", "means", "covariances", "precisions_cholesky")


def _data(kind, dtype, n=12_000):
    X, z = separated_data_with_labels(n, seed=1, dtype=dtype)
    rng = np.random.default_rng(2)
    sw = row_class = component_class = None
    if kind == "weights":
        sw = rng.uniform(0.2, 3.0, n).astype(dtype)
    elif kind == "semi":
        row_class = np.where(rng.random(n) < 0.2, z, -1).astype(np.int64)
        component_class = np.arange(K, dtype=np.int64)
    elif kind == "missing":
        X = X.copy()
        X[rng.random(X.shape) < 0.1] = np.nan
        X[np.isnan(X).all(axis=1), 0] = 0.5  # every row keeps a feature
    return X, sw, row_class, component_class


def _start(X, cov, dtype):
    labels = np.arange(len(X), dtype=np.int64) % K
    Xs = np.where(np.isnan(X), 0, X).astype(dtype)
    return _core.gmm.params_from_labels(Xs, labels, K, cov, 1e-6, 0, 1)


def _em_fit(X, sw, start, cov, algorithm, n_iter, row_class, component_class, n_threads=2):
    return _core.gmm.em_fit(
        X, sw, start["weights"], start["means"], start["covariances"], start["precisions_cholesky"], cov,
        algorithm, -1.0, 1e-6, n_iter, n_threads, -np.inf, None, row_class, component_class,
        bool(np.isnan(X).any()),
    )


def _by_hand(X, sw, start, cov, algorithm, n_iter, row_class, component_class, chunks):
    """EM driven from Python: statistics per chunk (one_chunk), merged in order, M-step."""
    missing = bool(np.isnan(X).any())
    centre = _core.gmm.column_centre(X, sw, missing)
    params, bounds = start, []
    for _ in range(n_iter):
        total = None
        for a, b in zip(chunks[:-1], chunks[1:]):
            st = _core.gmm.e_step_stats(
                X[a:b], None if sw is None else sw[a:b], params["weights"], params["means"],
                params["precisions_cholesky"], cov, centre, algorithm, 1, True,
                None if row_class is None else row_class[a:b], component_class, missing,
            )
            if total is None:
                total = st
            else:
                total.merge(st)
        bounds.append(total.lower_bound)
        params = _core.gmm.m_step(total, *(params[key] for key in PARAMS), algorithm, 1e-6)
    return params, bounds


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["plain", "weights", "semi", "missing"])
@pytest.mark.parametrize("algorithm", ["soft", "hard"])
@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_chunk_by_chunk_gives_em_fits_bits(cov, algorithm, kind, dtype):
    X, sw, row_class, component_class = _data(kind, dtype)
    start = _start(X, cov, dtype)
    n_iter = 4
    fit = _em_fit(X, sw, start, cov, algorithm, n_iter, row_class, component_class)
    chunks = _core.gmm.stats_chunks(len(X), cov, K, X.shape[1])
    assert len(chunks) > 2 and chunks[0] == 0 and chunks[-1] == len(X)
    params, bounds = _by_hand(X, sw, start, cov, algorithm, n_iter, row_class, component_class, chunks)
    assert bounds == fit["lower_bounds"]
    for key in PARAMS:
        np.testing.assert_array_equal(params[key], fit[key], err_msg=key)


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_one_call_on_all_rows_is_em_fits_iteration_for_any_thread_count(cov):
    X, _, _, _ = _data("plain", np.float64)
    start = _start(X, cov, np.float64)
    centre = _core.gmm.column_centre(X)
    fit = _em_fit(X, None, start, cov, "soft", 1, None, None)
    for n_threads in (1, 2, 3):
        st = _core.gmm.e_step_stats(X, None, start["weights"], start["means"], start["precisions_cholesky"], cov,
                                centre, "soft", n_threads)
        assert st.lower_bound == fit["lower_bounds"][0]
        params = _core.gmm.m_step(st, *(start[key] for key in PARAMS), "soft", 1e-6)
        for key in PARAMS:
            np.testing.assert_array_equal(params[key], fit[key], err_msg=key)


def test_statistics_are_the_reference_sums():
    X, _ = separated_data_with_labels(3000, seed=3)
    cov = "diag"
    start = _start(X, cov, np.float64)
    centre = _core.gmm.column_centre(X)
    st = _core.gmm.e_step_stats(X, None, start["weights"], start["means"], start["precisions_cholesky"], cov,
                            centre, "soft", 0)
    log_norm, resp = reference_e_step(X, start["weights"], start["means"], start["precisions_cholesky"], cov)
    np.testing.assert_allclose(st.N, resp.sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(st.S1, resp.T @ (X - centre), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(st.S2, resp.T @ (X - centre) ** 2, rtol=1e-10)
    assert st.wsum == len(X)
    assert st.lower_bound == pytest.approx(np.mean(log_norm), rel=1e-12)


def test_statistics_pickle_and_merge_like_the_original():
    X, _ = separated_data_with_labels(3000, seed=4)
    start = _start(X, "full", np.float64)
    centre = _core.gmm.column_centre(X)

    def stats(rows):
        return _core.gmm.e_step_stats(X[rows], None, start["weights"], start["means"], start["precisions_cholesky"],
                                  "full", centre, "soft", 1, True)

    a, b = stats(slice(0, 1024)), stats(slice(1024, None))
    a2 = pickle.loads(pickle.dumps(a))
    a.merge(b)
    a2.merge(pickle.loads(pickle.dumps(b)))
    for name in ("N", "S1", "S2", "centre"):
        np.testing.assert_array_equal(getattr(a2, name), getattr(a, name))
    assert (a2.obj, a2.wsum, a2.covariance_type, a2.float32) == (a.obj, a.wsum, "full", False)


def test_mixing_frames_is_refused():
    X, _ = separated_data_with_labels(1000, seed=5)
    start = _start(X, "full", np.float64)
    centre = _core.gmm.column_centre(X)
    args = (start["weights"], start["means"], start["precisions_cholesky"])
    st = _core.gmm.e_step_stats(X, None, *args, "full", centre, "soft", 1)
    with pytest.raises(ValueError, match="another centre"):
        st.merge(_core.gmm.e_step_stats(X, None, *args, "full", centre + 1, "soft", 1))
    with pytest.raises(ValueError, match="another model shape or dtype"):
        st.merge(_core.gmm.e_step_stats(X.astype(np.float32), None, *args, "full", centre, "soft", 1))
    moved = dict(start, means=start["means"] + 1)
    with pytest.raises(ValueError, match="other parameters"):
        _core.gmm.m_step(st, *(moved[key] for key in PARAMS), "soft", 1e-6)
