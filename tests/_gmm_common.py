"""Shared data and helpers for the genmix.GaussianMixture tests (tests/test_gmm_*.py).

Everything here is deterministic (fixed seeds) and small: the GaussianMixture tests run on
a shared two-core machine, so data are kept to a few thousand rows unless a test needs
more (thread invariance, long calls).
"""

import copy

import numpy as np

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
ALGORITHMS = ("soft", "hard")
FITTED_ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")

# three well separated 3-D clusters with different shapes
CENTERS = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [-6.0, 5.0, 4.0]])
SHAPES = [
    np.array([[1.0, 0.0, 0.0], [0.3, 0.6, 0.0], [0.0, -0.2, 1.2]]),
    0.7 * np.eye(3),
    np.array([[1.1, 0.0, 0.0], [0.5, 0.8, 0.0], [0.1, 0.3, 0.7]]),
]


def separated_data(n=600, seed=0, dtype=np.float64):
    """Three well separated 3-D Gaussian clusters, rows shuffled; returns X."""
    return separated_data_with_labels(n, seed, dtype)[0]


def separated_data_with_labels(n=600, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    sizes = [n - 2 * (n // 3), n // 3, n // 3]
    X = np.concatenate([rng.standard_normal((m, 3)) @ A.T + c for c, A, m in zip(CENTERS, SHAPES, sizes)])
    z = np.repeat(np.arange(3), sizes)
    perm = rng.permutation(n)
    return X[perm].astype(dtype), z[perm]


def random_precisions(rng, covariance_type, k, d):
    """Random valid precision parameters (symmetric positive definite / positive)."""

    def spd():
        A = rng.normal(size=(d, d))
        return A @ A.T / d + 0.5 * np.eye(d)

    if covariance_type == "full":
        return np.stack([spd() for _ in range(k)])
    if covariance_type == "tied":
        return spd()
    if covariance_type == "diag":
        return rng.uniform(0.3, 2.0, size=(k, d))
    return rng.uniform(0.3, 2.0, size=k)


def random_start(X, k, covariance_type, seed):
    """(weights, means, precisions): Dirichlet weights, means near random rows, random precisions."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 5.0))
    means = np.asarray(X, dtype=np.float64)[rng.choice(len(X), size=k, replace=False)]
    means = means + 0.3 * rng.standard_normal(means.shape)
    precisions = random_precisions(rng, covariance_type, k, X.shape[1])
    return weights, means, precisions


def start_kwargs(X, k, covariance_type, seed):
    w, m, p = random_start(X, k, covariance_type, seed)
    return dict(weights_init=w, means_init=m, precisions_init=p)


def identity_precisions(covariance_type, k, d, scale=1.0):
    return {
        "full": np.stack([scale * np.eye(d)] * k),
        "tied": scale * np.eye(d),
        "diag": np.full((k, d), scale),
        "spherical": np.full(k, scale),
    }[covariance_type]


def covariance_matrices(covariances, covariance_type, k, d):
    """Covariance parameters of any type as a (k, d, d) stack."""
    c = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        return c
    if covariance_type == "tied":
        return np.broadcast_to(c, (k, d, d))
    if covariance_type == "diag":
        return np.stack([np.diag(v) for v in c])
    return np.stack([v * np.eye(d) for v in c])


def snapshot(estimator):
    """Deep copy of every attribute of a fitted estimator (its __dict__)."""
    return copy.deepcopy(estimator.__dict__)


def fitted_state(estimator):
    """Deep copy of the fitted attributes (names ending in '_')."""
    return {k: copy.deepcopy(v) for k, v in estimator.__dict__.items() if k.endswith("_")}


def assert_same_state(before, after):
    """Two attribute dicts are identical: same keys, bit-identical arrays, equal values."""
    assert set(before) == set(after), (set(before) ^ set(after))
    for key, value in before.items():
        other = after[key]
        if isinstance(value, np.ndarray):
            assert isinstance(other, np.ndarray), key
            assert value.dtype == other.dtype, key
            np.testing.assert_array_equal(value, other, err_msg=key)
        else:
            assert type(value) is type(other), key
            if isinstance(value, float) and np.isnan(value):
                assert np.isnan(other), key
            else:
                assert value == other, key


# genmix attribute -> key of the parameters reference.em and reference.em_missing return
REFERENCE_KEYS = {
    "weights_": "weights",
    "means_": "means",
    "covariances_": "covariances",
    "precisions_cholesky_": "precisions_chol",
}
