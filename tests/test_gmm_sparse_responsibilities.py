"""The sparse M-step: on well separated mixtures most responsibilities are astronomically
small, and blocks where at most a quarter of them exceed tau * (row weight) (tau = 1e-40 in
float64, 1e-25 in float32) skip the others when accumulating the statistics. The fits must
still follow scikit-learn's (dense) iterates to working precision, and stay bit-identical
for any thread count."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from genmix import GaussianMixture

from _gmm_common import FITTED_ARRAYS, start_kwargs

# d > 8: full covariance uses the padded-row kernels (where the sparse path lives) above 8
K, D, N = 12, 12, 40_000  # 40,000 rows: several chunks of blocks, so threads really split the work


def far_apart_data(n=N, seed=0, dtype=np.float64, scale=8.0):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=scale, size=(K, D))
    z = rng.integers(K, size=n)
    X = means[z] + rng.standard_normal((n, D)) * rng.uniform(0.5, 1.5, size=(K, D))[z]
    return X.astype(dtype)


def kept_fraction(model, X, tau=1e-40):
    return float(np.mean(model.predict_proba(X) > tau))


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_sparse_blocks_follow_sklearn_iterates(covariance_type):
    X = far_apart_data()
    params = dict(n_components=K, covariance_type=covariance_type, tol=0.0, max_iter=8,
                  **start_kwargs(X, K, covariance_type, seed=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkGaussianMixture(**params).fit(X)
        gm = GaussianMixture(**params, n_threads=2).fit(X)
    # the premise: responsibilities are sparse, so the sparse path is what ran
    assert kept_fraction(sk, X) < 0.25
    assert_allclose(gm.lower_bounds_, sk.lower_bounds_, rtol=1e-9)
    for name in FITTED_ARRAYS:
        expected = getattr(sk, name)
        assert_allclose(getattr(gm, name), expected, rtol=1e-7, atol=1e-10 * np.max(np.abs(expected)), err_msg=name)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_overlapping_components_follow_sklearn_iterates(covariance_type):
    # the dense fallback: most responsibilities are far above tau
    X = far_apart_data(scale=0.3)
    params = dict(n_components=K, covariance_type=covariance_type, tol=0.0, max_iter=5,
                  **start_kwargs(X, K, covariance_type, seed=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkGaussianMixture(**params).fit(X)
        gm = GaussianMixture(**params, n_threads=2).fit(X)
    assert kept_fraction(sk, X) > 0.5
    assert_allclose(gm.lower_bounds_, sk.lower_bounds_, rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_blocks_same_bits_for_any_thread_count(covariance_type, dtype, weighted):
    X = far_apart_data(dtype=dtype)
    sw = np.random.default_rng(1).uniform(0.5, 1.5, size=len(X)) if weighted else None
    params = dict(n_components=K, covariance_type=covariance_type, tol=0.0, max_iter=4,
                  **start_kwargs(X, K, covariance_type, seed=3))
    fits = []
    for threads in (1, 2, 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.append(GaussianMixture(**params, n_threads=threads).fit(X, sample_weight=sw))
    for other in fits[1:]:
        assert_array_equal(other.lower_bounds_, fits[0].lower_bounds_)
        for name in FITTED_ARRAYS:
            assert_array_equal(getattr(other, name), getattr(fits[0], name), err_msg=name)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_float32_sparse_blocks_close_to_float64(covariance_type):
    X = far_apart_data()
    params = dict(n_components=K, covariance_type=covariance_type, tol=0.0, max_iter=6,
                  **start_kwargs(X, K, covariance_type, seed=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g64 = GaussianMixture(**params).fit(X)
        g32 = GaussianMixture(**params).fit(X.astype(np.float32))
    assert_allclose(g32.lower_bounds_, g64.lower_bounds_, rtol=1e-5)
    assert_allclose(g32.means_, g64.means_, rtol=1e-4, atol=1e-4)
    assert_allclose(g32.covariances_, g64.covariances_, rtol=1e-3, atol=1e-4)
