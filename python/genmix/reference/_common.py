"""Small helpers shared by the reference modules: argument checks, dtype handling,
log-sum-exp."""

import math

import numpy as np


COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
ALGORITHMS = ("soft", "hard")

_LOG_2PI = math.log(2.0 * math.pi)  # a Python float: does not upcast float32


# ---------------------------------------------------------------------------
# small helpers


def _check_covariance_type(covariance_type):
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            "covariance_type must be one of %s, got %r"
            % (COVARIANCE_TYPES, covariance_type)
        )


def _check_algorithm(algorithm):
    if algorithm not in ALGORITHMS:
        raise ValueError(
            "algorithm must be one of %s, got %r" % (ALGORITHMS, algorithm)
        )


def _as_float_2d(X):
    """Return X as a 2-D floating array (float64 unless already float)."""
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    if X.ndim != 2:
        raise ValueError("X must be 2-D (n_samples, n_features), got %r" % (X.shape,))
    return X


def _as_dtype(a, dtype):
    return np.asarray(a).astype(dtype, copy=False)


def _logsumexp_rows(a):
    """log(sum(exp(a), axis=1)), stable, tolerating -inf entries."""
    a_max = np.max(a, axis=1, keepdims=True)
    # A row that is entirely -inf would give (-inf) - (-inf) = nan; it cannot
    # occur for a valid mixture (some weight is > 0 and log N is finite).
    with np.errstate(under="ignore"):
        summed = np.sum(np.exp(a - a_max), axis=1)
    return np.log(summed) + a_max[:, 0]


def _log_weights(weights):
    """log(weights) with log(0) = -inf and no warning."""
    with np.errstate(divide="ignore"):
        return np.log(weights)
