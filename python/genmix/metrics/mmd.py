"""Maximum mean discrepancy with a Gaussian (RBF) kernel, and the median-heuristic bandwidth."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._common import _as_samples, _check_positive_float, _check_same_features, _row_norms_sq, _sq_dists, _standardise


# Side of the square blocks used by the kernel sums of ``mmd_rbf``.
_KERNEL_BLOCK = 1024
# Number of points taken from each sample by the median heuristic.
_MEDIAN_MAX_POINTS = 1000


# ---------------------------------------------------------------------------
# MMD
# ---------------------------------------------------------------------------
def _subsample_evenly(X, max_points):
    if X.shape[0] <= max_points:
        return X
    idx = np.linspace(0, X.shape[0] - 1, max_points).round().astype(np.intp)
    return X[idx]


def median_heuristic_bandwidth(X: ArrayLike, Y: ArrayLike) -> float:
    """Median heuristic bandwidth for an RBF kernel on two samples.

    Returns the median of the Euclidean distances ``||z_i - z_j||``,
    ``i < j``, over the pooled sample ``Z = [X; Y]`` (Gretton et al., 2012).
    To keep the cost bounded, at most 1000 points of each sample are used:
    larger samples are subsampled deterministically at evenly spaced row
    indices (first and last rows included).

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
    Y : array-like of shape (n_samples_Y, n_features)

    Returns
    -------
    float
        The bandwidth ``h`` (> 0).  If the median distance is 0 (more than
        half of the pairs are identical points) the mean of the non-zero
        distances is used instead, and if all points coincide ``h = 1.0``
        (the MMD is then 0 for any bandwidth).

    Raises
    ------
    TypeError, ValueError
        On invalid input (see :func:`mmd_rbf`).
    """
    X = _as_samples(X, "X")
    Y = _as_samples(Y, "Y")
    _check_same_features(X, Y, "X", "Y")
    Z = np.concatenate(
        [_subsample_evenly(X, _MEDIAN_MAX_POINTS), _subsample_evenly(Y, _MEDIAN_MAX_POINTS)]
    )
    if Z.shape[0] < 2:  # pragma: no cover - X and Y have >= 1 row each
        return 1.0
    (Z,), scale = _standardise(Z)
    D = _sq_dists(Z, Z)
    iu = np.triu_indices(Z.shape[0], k=1)
    dist = np.sqrt(D[iu])
    h = float(np.median(dist))
    if h > 0.0:
        return h * scale
    positive = dist[dist > 0.0]
    if positive.size:
        return float(positive.mean()) * scale
    return 1.0


def _kernel_sum(A, B, gamma, same):
    """Sum of exp(-gamma ||a - b||^2) over all pairs (i != j when ``same``)."""
    A_sq = _row_norms_sq(A)
    B_sq = A_sq if same else _row_norms_sq(B)
    total = 0.0
    b = _KERNEL_BLOCK
    for i0 in range(0, A.shape[0], b):
        i1 = min(i0 + b, A.shape[0])
        j_start = i0 if same else 0
        for j0 in range(j_start, B.shape[0], b):
            j1 = min(j0 + b, B.shape[0])
            K = _sq_dists(A[i0:i1], B[j0:j1], A_sq[i0:i1], B_sq[j0:j1])
            with np.errstate(over="ignore"):  # a huge gamma: -inf, whose exp is the kernel's 0
                K *= -gamma
            np.exp(K, out=K)
            if same and i0 == j0:
                np.fill_diagonal(K, 0.0)
                total += float(K.sum())
            elif same:
                total += 2.0 * float(K.sum())
            else:
                total += float(K.sum())
    return total


def mmd_rbf(X: ArrayLike, Y: ArrayLike, bandwidth: float | None = None) -> float:
    """Unbiased estimate of the squared MMD with a Gaussian (RBF) kernel.

    With ``k(x, y) = exp(-||x - y||^2 / (2 h^2))``, returns

    .. math::

        \\widehat{\\mathrm{MMD}}^2_u =
        \\frac{1}{m(m-1)} \\sum_{i \\ne j} k(x_i, x_j)
        + \\frac{1}{n(n-1)} \\sum_{i \\ne j} k(y_i, y_j)
        - \\frac{2}{mn} \\sum_{i, j} k(x_i, y_j)

    (Gretton et al., 2012, eq. 3).  Being unbiased, it fluctuates around 0,
    and can be slightly negative, when X and Y come from the same
    distribution.

    Parameters
    ----------
    X : array-like of shape (m, n_features)
        First sample (at least 2 rows).
    Y : array-like of shape (n, n_features)
        Second sample (at least 2 rows).
    bandwidth : float or None, default=None
        Kernel bandwidth ``h`` (> 0).  ``None`` uses the median heuristic:
        the median pairwise Euclidean distance of the pooled sample, see
        :func:`median_heuristic_bandwidth`.

    Returns
    -------
    float
        The unbiased squared-MMD estimate.

    Raises
    ------
    TypeError, ValueError
        On non-real input, wrong shapes, fewer than 2 rows, non-finite
        values, different numbers of features or a non-positive bandwidth.

    Notes
    -----
    The kernel matrices are never stored: sums are accumulated over square
    blocks of 1024 x 1024 entries, using the symmetry of the within-sample
    sums, so memory stays at a few tens of MiB for any sample size; time is
    O((m + n)^2 n_features).
    """
    X = _as_samples(X, "X", min_rows=2)
    Y = _as_samples(Y, "Y", min_rows=2)
    _check_same_features(X, Y, "X", "Y")
    if bandwidth is None:
        h = median_heuristic_bandwidth(X, Y)
    else:
        h = _check_positive_float(bandwidth, "bandwidth")
    (_, X, Y), scale = _standardise(np.concatenate([X, Y]), X, Y)
    h /= scale
    # a bandwidth tiny against the data: every kernel value between distinct points is 0
    with np.errstate(over="ignore", divide="ignore"):
        gamma = min(0.5 / h / h, np.finfo(np.float64).max)  # 1 / (2 h^2), h*h may underflow
    m, n = X.shape[0], Y.shape[0]
    kxx = _kernel_sum(X, X, gamma, same=True)
    kyy = _kernel_sum(Y, Y, gamma, same=True)
    kxy = _kernel_sum(X, Y, gamma, same=False)
    return kxx / (m * (m - 1)) + kyy / (n * (n - 1)) - 2.0 * kxy / (m * n)
