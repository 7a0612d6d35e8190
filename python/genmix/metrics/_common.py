"""Helpers shared by the metrics: input validation, exact power-of-two rescaling, and
pairwise distances in blocks of bounded memory."""

from __future__ import annotations

import numbers

import numpy as np


# Maximum number of float64 entries of one block of pairwise distances
# (2**22 entries = 32 MiB; a few temporaries of this size exist at once).
_BLOCK_ELEMENTS = 1 << 22
# Up to this many features, squared distances are accumulated coordinate by
# coordinate (exact zeros for duplicates, no cancellation); above it the
# ||a||^2 + ||b||^2 - 2 a.b expansion (a matrix product) is used.
_DIRECT_MAX_FEATURES = 8


# ---------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------
def _as_samples(X, name, min_rows=1):
    """Validate a 2-D finite real array of samples and return it as float64."""
    if isinstance(X, (str, bytes)):
        raise TypeError(f"{name} must be an array of shape (n_samples, n_features), got str")
    try:
        arr = np.asarray(X)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{name} cannot be converted to an array of shape (n_samples, n_features): {exc}"
        ) from exc
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must contain real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D of shape (n_samples, n_features), got shape {arr.shape}"
        )
    if arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one feature, got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise ValueError(
            f"{name} must have at least {min_rows} sample(s), got {arr.shape[0]}"
        )
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_same_features(A, B, name_a, name_b):
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same number of features, got "
            f"{A.shape[1]} and {B.shape[1]}"
        )


def _check_positive_float(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value



def _pow2_scale(m):
    """A power of two s with m / s in [1, 2) (1 for m == 0): dividing by it is exact."""
    return 1.0 if m == 0.0 else float(np.ldexp(1.0, int(np.frexp(m)[1]) - 1))


def _max_abs(*arrays):
    return max(float(np.max(np.abs(a))) for a in arrays)


def _standardise(*arrays):
    """(arrays, s): all arrays shifted by the mean of the first and divided by one power of
    two s, so that their largest |value| is in [1, 2). Squared distances then neither
    overflow (data near 1e200) nor underflow (near 1e-200); distances shrink by exactly s."""
    s = _pow2_scale(_max_abs(*arrays))  # first, so that the mean cannot overflow
    arrays = [a / s for a in arrays]
    shift = arrays[0].mean(axis=0)
    arrays = [a - shift for a in arrays]
    s2 = _pow2_scale(_max_abs(*arrays))  # data far from the origin: its spread to about 1
    return [a / s2 for a in arrays], s * s2


# ---------------------------------------------------------------------------
# blocked distance helpers
# ---------------------------------------------------------------------------
def _sq_dists(A, B, A_sq=None, B_sq=None):
    """Squared Euclidean distances between the rows of A and the rows of B.

    For few features the sum of squared coordinate differences is used
    (exact for duplicated points); otherwise the matrix-product expansion,
    clipped at zero, with precomputed squared row norms ``A_sq``/``B_sq``.
    """
    if A.shape[1] <= _DIRECT_MAX_FEATURES:
        D = np.subtract.outer(A[:, 0], B[:, 0])
        D *= D
        if A.shape[1] > 1:
            tmp = np.empty_like(D)
            for c in range(1, A.shape[1]):
                np.subtract.outer(A[:, c], B[:, c], out=tmp)
                tmp *= tmp
                D += tmp
        return D
    if A_sq is None:
        A_sq = np.einsum("ij,ij->i", A, A)
    if B_sq is None:
        B_sq = np.einsum("ij,ij->i", B, B)
    D = A @ B.T
    D *= -2.0
    D += A_sq[:, None]
    D += B_sq[None, :]
    np.maximum(D, 0.0, out=D)
    return D


def _row_norms_sq(A):
    return np.einsum("ij,ij->i", A, A)


def _row_blocks(n_rows, n_cols):
    """Yield slices of rows so that a (rows x n_cols) block stays bounded."""
    step = max(1, _BLOCK_ELEMENTS // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def _nearest(Q, R):
    """Index of and squared distance to the nearest row of R for each row of Q.

    The returned distances are recomputed directly from the coordinates of
    the selected neighbour, so an exact copy has distance exactly 0.
    """
    idx = np.empty(Q.shape[0], dtype=np.intp)
    R_sq = _row_norms_sq(R)
    for sl in _row_blocks(Q.shape[0], R.shape[0]):
        D = _sq_dists(Q[sl], R, None, R_sq)
        idx[sl] = np.argmin(D, axis=1)
    diff = Q - R[idx]
    return idx, np.einsum("ij,ij->i", diff, diff)


def _kth_neighbour_sq_dist(X, k):
    """Squared distance of each row of X to its k-th nearest *other* row.

    A point is never its own neighbour, but exact duplicates of it are
    (they give distance 0).
    """
    n = X.shape[0]
    out = np.empty(n)
    X_sq = _row_norms_sq(X)
    for sl in _row_blocks(n, n):
        D = _sq_dists(X[sl], X, X_sq[sl], X_sq)
        rows = np.arange(sl.stop - sl.start)
        D[rows, rows + sl.start] = np.inf
        out[sl] = np.partition(D, k - 1, axis=1)[:, k - 1]
    return out
