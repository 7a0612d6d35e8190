"""Sample-based evaluation metrics for generative models.

A GAN has no tractable likelihood, so its samples are judged with heuristics
instead.  This module implements the usual ones in plain numpy (no scipy or
scikit-learn at import time or at run time):

mode_statistics
    Modes captured, fraction of high-quality samples and reverse KL of the
    mode histogram, for synthetic mixtures with known mode centres (the
    PacGAN / VEEGAN protocol; see :mod:`genmix.datasets`).
frechet_distance, gaussian_frechet_distance
    Fréchet (2-Wasserstein) distance between Gaussian fits of two samples,
    i.e. the formula behind FID, computed without complex arithmetic.
mmd_rbf, median_heuristic_bandwidth
    Unbiased estimate of the squared maximum mean discrepancy with a
    Gaussian (RBF) kernel.
precision_recall_density_coverage
    k-nearest-neighbour precision/recall (Kynkäänniemi et al., 2019) and
    density/coverage (Naeem et al., 2020).
memorization
    Whether generated samples are closer to the training set than to a
    held-out set from the same distribution.

All pairwise-distance computations are done in blocks of bounded size
(a few tens of MiB), so sample sizes of tens of thousands are fine; the
work is still quadratic in the number of points.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ._validation import as_int

__all__ = [
    "ModeStatistics",
    "PRDCResult",
    "MemorizationResult",
    "mode_statistics",
    "frechet_distance",
    "gaussian_frechet_distance",
    "mmd_rbf",
    "median_heuristic_bandwidth",
    "precision_recall_density_coverage",
    "memorization",
]

# Maximum number of float64 entries of one block of pairwise distances
# (2**22 entries = 32 MiB; a few temporaries of this size exist at once).
_BLOCK_ELEMENTS = 1 << 22
# Side of the square blocks used by the kernel sums of ``mmd_rbf``.
_KERNEL_BLOCK = 1024
# Up to this many features, squared distances are accumulated coordinate by
# coordinate (exact zeros for duplicates, no cancellation); above it the
# ||a||^2 + ||b||^2 - 2 a.b expansion (a matrix product) is used.
_DIRECT_MAX_FEATURES = 8
# Number of points taken from each sample by the median heuristic.
_MEDIAN_MAX_POINTS = 1000


# ---------------------------------------------------------------------------
# result containers
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ModeStatistics:
    """Result of :func:`mode_statistics`.

    Attributes
    ----------
    n_modes_captured : int
        Number of modes that are the nearest mode of at least one
        high-quality sample.
    high_quality_fraction : float
        Fraction of all samples that are high quality (within
        ``n_std * std`` of their nearest mode).
    reverse_kl : float
        ``KL(q || p)`` in nats, where ``q`` is the normalised histogram of
        the nearest modes of the high-quality samples and ``p`` is uniform
        over the modes.  ``nan`` when there is no high-quality sample.
    counts : ndarray of shape (n_modes,), dtype int64
        Number of high-quality samples whose nearest mode is each mode.
    n_high_quality : int
        Number of high-quality samples (``counts.sum()``).
    n_samples : int
        Number of samples evaluated.
    n_modes : int
        Number of modes.
    """

    n_modes_captured: int
    high_quality_fraction: float
    reverse_kl: float
    counts: np.ndarray
    n_high_quality: int
    n_samples: int
    n_modes: int


@dataclass(frozen=True)
class PRDCResult:
    """Result of :func:`precision_recall_density_coverage`.

    Attributes
    ----------
    precision : float
        Fraction of fake samples inside the k-NN ball of some real sample.
    recall : float
        Fraction of real samples inside the k-NN ball of some fake sample.
    density : float
        Average number of real k-NN balls containing a fake sample, divided
        by ``k`` (can exceed 1).
    coverage : float
        Fraction of real samples whose k-NN ball contains a fake sample.
    k : int
        Number of neighbours used.
    """

    precision: float
    recall: float
    density: float
    coverage: float
    k: int


@dataclass(frozen=True)
class MemorizationResult:
    """Result of :func:`memorization`.

    Attributes
    ----------
    distance_to_train : ndarray of shape (n_samples,)
        Euclidean distance of each sample to its nearest training point.
    distance_to_heldout : ndarray of shape (n_samples,)
        Euclidean distance of each sample to its nearest held-out point.
    fraction_closer_to_train : float
        Fraction of samples strictly closer to the training set than to the
        held-out set; exact ties count one half.
    null_fraction : float
        ``n_train / (n_train + n_heldout)``: the expected value of
        ``fraction_closer_to_train`` for a generator that does not memorise
        (0.5 for equal-size sets).
    median_distance_ratio : float
        Median over samples of ``distance_to_train / distance_to_heldout``
        (with ``0/0 := 1`` and ``x/0 := inf``); about 1 without memorisation
        for equal-size sets, 0 when more than half the samples are copies of
        training points.
    """

    distance_to_train: np.ndarray
    distance_to_heldout: np.ndarray
    fraction_closer_to_train: float
    null_fraction: float
    median_distance_ratio: float


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


# ---------------------------------------------------------------------------
# mode statistics
# ---------------------------------------------------------------------------
def mode_statistics(samples, modes, std, n_std=3.0):
    """Mode-collapse statistics of samples from a mixture with known modes.

    Each sample is assigned to its nearest mode (Euclidean distance).  A
    sample is *high quality* when this distance is at most ``n_std * std``.
    This is the evaluation protocol of VEEGAN (Srivastava et al., 2017) and
    PacGAN (Lin et al., 2018) for the 2D ring and grid data sets.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
        Generated samples (at least one).
    modes : array-like of shape (n_modes, n_features)
        Mode centres, e.g. the second output of
        :func:`genmix.datasets.make_ring` or :func:`genmix.datasets.make_grid`.
    std : float
        Standard deviation of each mode (> 0).
    n_std : float, default=3.0
        Quality threshold in units of ``std`` (> 0).

    Returns
    -------
    ModeStatistics
        With fields

        * ``n_modes_captured``: number of modes that are the nearest mode of
          at least one high-quality sample;
        * ``high_quality_fraction``: number of high-quality samples divided
          by ``n_samples``;
        * ``reverse_kl``: ``KL(q || p) = sum_k q_k log(q_k / p_k)`` in nats,
          where ``q_k = counts[k] / counts.sum()`` and ``p_k = 1 / n_modes``,
          with ``0 log 0 = 0``.  It lies in ``[0, log(n_modes)]``: 0 for a
          perfectly balanced histogram, ``log(n_modes)`` when all
          high-quality samples sit on one mode.  When there is no
          high-quality sample ``q`` is undefined and ``reverse_kl`` is
          ``nan`` (``n_modes_captured`` is then 0 and
          ``high_quality_fraction`` is 0, which already flag the failure);
        * ``counts``: per-mode number of high-quality samples;
        * ``n_high_quality``, ``n_samples``, ``n_modes``.

    Raises
    ------
    TypeError
        If an input has the wrong type.
    ValueError
        If an array has the wrong shape or non-finite values, if the numbers
        of features differ, or if ``std`` or ``n_std`` is not positive.

    Notes
    -----
    Ties between equidistant modes go to the mode with the lowest index.
    """
    samples = _as_samples(samples, "samples")
    modes = _as_samples(modes, "modes")
    _check_same_features(samples, modes, "samples", "modes")
    std = _check_positive_float(std, "std")
    n_std = _check_positive_float(n_std, "n_std")

    (modes_c, samples_c), scale = _standardise(modes, samples)
    nearest, sq_dist = _nearest(samples_c, modes_c)
    threshold = n_std * (std / scale)
    high_quality = sq_dist <= threshold * threshold

    n_samples = samples.shape[0]
    n_modes = modes.shape[0]
    counts = np.bincount(nearest[high_quality], minlength=n_modes).astype(np.int64)
    n_hq = int(counts.sum())
    if n_hq == 0:
        reverse_kl = float("nan")
    else:
        q = counts[counts > 0] / n_hq
        reverse_kl = float(np.sum(q * np.log(q * n_modes)))
        reverse_kl = max(reverse_kl, 0.0)  # remove tiny negative rounding
    return ModeStatistics(
        n_modes_captured=int(np.count_nonzero(counts)),
        high_quality_fraction=n_hq / n_samples,
        reverse_kl=reverse_kl,
        counts=counts,
        n_high_quality=n_hq,
        n_samples=n_samples,
        n_modes=n_modes,
    )


# ---------------------------------------------------------------------------
# Fréchet distance
# ---------------------------------------------------------------------------
def _sym_sqrtm(S):
    """Symmetric PSD square root via eigh, negative eigenvalues clipped to 0."""
    S = 0.5 * (S + S.T)
    w, V = np.linalg.eigh(S)
    w = np.sqrt(np.clip(w, 0.0, None))
    return (V * w) @ V.T


def _frechet_from_moments(mu1, S1, mu2, S2):
    diff = mu1 - mu2
    root1 = _sym_sqrtm(S1)
    M = root1 @ S2 @ root1
    M = 0.5 * (M + M.T)
    eig = np.linalg.eigvalsh(M)
    trace_sqrt = float(np.sum(np.sqrt(np.clip(eig, 0.0, None))))
    value = float(diff @ diff) + float(np.trace(S1)) + float(np.trace(S2)) - 2.0 * trace_sqrt
    return max(value, 0.0)


def _rescale(d2, s):
    """A squared distance d2 computed in units of s, in the original units (inf if too large)."""
    return d2 * s * s if d2 else 0.0


def _as_mean_cov(mean, cov, name):
    mean = np.asarray(mean)
    cov = np.asarray(cov)
    if mean.dtype.kind not in "iuf" or cov.dtype.kind not in "iuf":
        raise TypeError(f"mean{name} and cov{name} must contain real numbers")
    mean = np.atleast_1d(mean.astype(np.float64))
    cov = np.atleast_2d(cov.astype(np.float64))
    if mean.ndim != 1:
        raise ValueError(f"mean{name} must be 1-D, got shape {mean.shape}")
    d = mean.shape[0]
    if cov.shape != (d, d):
        raise ValueError(
            f"cov{name} must have shape ({d}, {d}) to match mean{name}, got {cov.shape}"
        )
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
        raise ValueError(f"mean{name} and cov{name} must be finite")
    unit = cov / _pow2_scale(_max_abs(cov))  # checked at scale 1, whatever the units
    if not np.allclose(unit, unit.T, rtol=0.0, atol=1e-10):
        raise ValueError(f"cov{name} must be symmetric")
    if np.linalg.eigvalsh(0.5 * (unit + unit.T))[0] < -1e-10:
        raise ValueError(f"cov{name} must be positive semi-definite")
    return mean, cov


def gaussian_frechet_distance(mean1, cov1, mean2, cov2):
    """Squared Fréchet (2-Wasserstein) distance between two Gaussians.

    .. math::

        d^2 = \\lVert \\mu_1 - \\mu_2 \\rVert^2
              + \\operatorname{tr}\\bigl(\\Sigma_1 + \\Sigma_2
              - 2 (\\Sigma_1^{1/2} \\Sigma_2 \\Sigma_1^{1/2})^{1/2}\\bigr)

    Parameters
    ----------
    mean1, mean2 : array-like of shape (n_features,)
        Means.
    cov1, cov2 : array-like of shape (n_features, n_features)
        Symmetric positive semi-definite covariance matrices.

    Returns
    -------
    float
        The (non-negative) squared distance.  This is the quantity usually
        called "Fréchet distance" (e.g. FID); take the square root for the
        2-Wasserstein metric itself.

    Raises
    ------
    TypeError, ValueError
        On non-real input, mismatched shapes, non-finite values, or a
        covariance that is not symmetric positive semi-definite.

    Notes
    -----
    Both matrix square roots are symmetric square roots computed from
    ``numpy.linalg.eigh`` with tiny negative eigenvalues (rounding noise)
    clipped to zero, so no complex numbers appear and singular covariances
    are handled.  A tiny negative total caused by rounding is returned as 0.
    """
    mean1, cov1 = _as_mean_cov(mean1, cov1, "1")
    mean2, cov2 = _as_mean_cov(mean2, cov2, "2")
    if mean1.shape != mean2.shape:
        raise ValueError(
            f"the two Gaussians must have the same dimension, got {mean1.shape[0]} "
            f"and {mean2.shape[0]}"
        )
    # means in units of s, covariances of s^2, so that no product over- or underflows
    s = _pow2_scale(max(_max_abs(mean1, mean2), np.sqrt(_max_abs(cov1, cov2))))
    return _rescale(_frechet_from_moments(mean1 / s, cov1 / s / s, mean2 / s, cov2 / s / s), s)


def frechet_distance(X, Y):
    """Fréchet distance between Gaussian fits of two samples.

    Fits a Gaussian to each sample (sample mean, unbiased sample covariance
    with ``ddof=1``) and returns
    ``||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^{1/2} S2 S1^{1/2})^{1/2})``,
    the formula behind the Fréchet Inception Distance (Heusel et al., 2017)
    applied to the raw features.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
        First sample (at least 2 rows).
    Y : array-like of shape (n_samples_Y, n_features)
        Second sample (at least 2 rows).

    Returns
    -------
    float
        Non-negative squared Fréchet distance; 0 (up to rounding) when X and
        Y have the same mean and covariance.

    Raises
    ------
    TypeError, ValueError
        On non-real input, wrong shapes, fewer than 2 samples, non-finite
        values or different numbers of features.

    See Also
    --------
    gaussian_frechet_distance : the same formula from means and covariances.

    Notes
    -----
    The matrix square roots are symmetric eigendecomposition-based roots
    with tiny negative eigenvalues clipped to zero (see
    :func:`gaussian_frechet_distance`); the result is real by construction
    and is equal to the usual ``tr sqrtm(S1 @ S2)`` form because
    ``S1 S2`` and ``S1^{1/2} S2 S1^{1/2}`` are similar matrices.  The
    estimate is biased upwards for small samples.
    """
    X = _as_samples(X, "X", min_rows=2)
    Y = _as_samples(Y, "Y", min_rows=2)
    _check_same_features(X, Y, "X", "Y")
    (X, Y), scale = _standardise(X, Y)  # d^2 scales as scale^2
    mu1 = X.mean(axis=0)
    mu2 = Y.mean(axis=0)
    S1 = np.atleast_2d(np.cov(X, rowvar=False, ddof=1))
    S2 = np.atleast_2d(np.cov(Y, rowvar=False, ddof=1))
    return _rescale(_frechet_from_moments(mu1, S1, mu2, S2), scale)


# ---------------------------------------------------------------------------
# MMD
# ---------------------------------------------------------------------------
def _subsample_evenly(X, max_points):
    if X.shape[0] <= max_points:
        return X
    idx = np.linspace(0, X.shape[0] - 1, max_points).round().astype(np.intp)
    return X[idx]


def median_heuristic_bandwidth(X, Y):
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


def mmd_rbf(X, Y, bandwidth=None):
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


# ---------------------------------------------------------------------------
# precision / recall / density / coverage
# ---------------------------------------------------------------------------
def precision_recall_density_coverage(real, fake, k=5):
    """k-NN precision, recall, density and coverage of generated samples.

    Let ``r_i`` be the distance from real point ``x_i`` to its k-th nearest
    other real point, ``s_j`` the distance from fake point ``y_j`` to its
    k-th nearest other fake point, and ``B(c, r)`` the closed ball of radius
    ``r`` around ``c``.  With N real and M fake points:

    * precision = (1/M) sum_j 1[exists i: y_j in B(x_i, r_i)]
      (Kynkäänniemi et al., 2019);
    * recall = (1/N) sum_i 1[exists j: x_i in B(y_j, s_j)]
      (Kynkäänniemi et al., 2019);
    * density = 1/(kM) sum_j sum_i 1[y_j in B(x_i, r_i)]
      (Naeem et al., 2020);
    * coverage = (1/N) sum_i 1[exists j: y_j in B(x_i, r_i)]
      (Naeem et al., 2020).

    Parameters
    ----------
    real : array-like of shape (N, n_features)
        Samples from the data distribution (more than ``k`` rows).
    fake : array-like of shape (M, n_features)
        Generated samples (more than ``k`` rows).
    k : int, default=5
        Number of nearest neighbours defining the radii (>= 1).

    Returns
    -------
    PRDCResult
        ``precision``, ``recall``, ``coverage`` in [0, 1]; ``density`` in
        [0, N / k]; and ``k``.

    Raises
    ------
    TypeError, ValueError
        On non-real input, wrong shapes, non-finite values, different
        numbers of features, or ``k`` not an integer in ``[1, min(N, M) - 1]``.

    Notes
    -----
    Nearest neighbours are exact (brute force, in blocks of bounded memory).
    A point is never its own neighbour, but exact duplicates of it count.
    Balls are closed (``<=``), as in Kynkäänniemi et al.; the reference code
    of Naeem et al. uses strict inequalities, which only differs on ties.
    """
    real = _as_samples(real, "real", min_rows=2)
    fake = _as_samples(fake, "fake", min_rows=2)
    _check_same_features(real, fake, "real", "fake")
    k = as_int(k, "k", 1)
    n_real, n_fake = real.shape[0], fake.shape[0]
    if k >= n_real or k >= n_fake:
        raise ValueError(
            f"k must be smaller than the number of real ({n_real}) and fake "
            f"({n_fake}) samples, got k={k}"
        )
    (real, fake), _ = _standardise(real, fake)  # the balls only compare distances
    real_r2 = _kth_neighbour_sq_dist(real, k)
    fake_r2 = _kth_neighbour_sq_dist(fake, k)

    real_sq = _row_norms_sq(real)
    fake_sq = _row_norms_sq(fake)
    fake_in_balls = np.zeros(n_fake, dtype=np.int64)  # real balls containing y_j
    recall_hit = np.zeros(n_real, dtype=bool)
    coverage_hit = np.zeros(n_real, dtype=bool)
    for sl in _row_blocks(n_real, n_fake):
        D = _sq_dists(real[sl], fake, real_sq[sl], fake_sq)
        inside_real = D <= real_r2[sl, None]
        fake_in_balls += inside_real.sum(axis=0)
        coverage_hit[sl] = inside_real.any(axis=1)
        recall_hit[sl] = (D <= fake_r2[None, :]).any(axis=1)

    return PRDCResult(
        precision=float(np.mean(fake_in_balls > 0)),
        recall=float(np.mean(recall_hit)),
        density=float(fake_in_balls.sum()) / (k * n_fake),
        coverage=float(np.mean(coverage_hit)),
        k=k,
    )


# ---------------------------------------------------------------------------
# memorisation
# ---------------------------------------------------------------------------
def memorization(samples, train, heldout):
    """Compare distances of generated samples to training and held-out data.

    For each generated sample, computes the Euclidean distance to its
    nearest training point, ``d_train``, and to its nearest held-out point,
    ``d_heldout``.  If train and held-out sets are independent samples from
    the same (continuous) distribution and the generator's output does not
    depend on the training set, then by exchangeability the nearest point of
    the pooled set ``train + heldout`` is equally likely to be any of its
    points, so ``P(d_train < d_heldout) = n_train / (n_train + n_heldout)``
    (``null_fraction``; 0.5 for equal sizes).  A generator that copies
    training points gives ``d_train = 0`` and a fraction close to 1.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
        Generated samples.
    train : array-like of shape (n_train, n_features)
        The training data of the generator.
    heldout : array-like of shape (n_heldout, n_features)
        Data from the same distribution not used for training; use the same
        size as ``train`` for the most readable result.

    Returns
    -------
    MemorizationResult
        Per-sample ``distance_to_train`` and ``distance_to_heldout``, and the
        summaries ``fraction_closer_to_train`` (ties count 1/2),
        ``null_fraction`` and ``median_distance_ratio`` (median of
        ``d_train / d_heldout``; the median, unlike the mean, is not ruined
        by the infinite ratios of samples that copy held-out points).

    Raises
    ------
    TypeError, ValueError
        On non-real input, wrong shapes, non-finite values or different
        numbers of features.

    Notes
    -----
    ``fraction_closer_to_train`` well above ``null_fraction`` indicates
    memorisation (or overfitting to the training set); its sampling spread
    is at least of order ``0.5 / sqrt(n_samples)``.  Nearest neighbours are
    exact and the reported distances are computed directly from the
    coordinates, so a copied point has distance exactly 0.
    """
    samples = _as_samples(samples, "samples")
    train = _as_samples(train, "train")
    heldout = _as_samples(heldout, "heldout")
    _check_same_features(samples, train, "samples", "train")
    _check_same_features(samples, heldout, "samples", "heldout")
    (_, samples_c, train_c, heldout_c), scale = _standardise(np.concatenate([train, heldout]), samples, train,
                                                            heldout)
    idx_tr, _ = _nearest(samples_c, train_c)
    idx_ho, _ = _nearest(samples_c, heldout_c)
    # Distances from the original coordinates (divided by the power of two `scale`, which is
    # exact, against overflow), so that exact copies give 0.
    d_tr = scale * np.sqrt(np.sum(((samples - train[idx_tr]) / scale) ** 2, axis=1))
    d_ho = scale * np.sqrt(np.sum(((samples - heldout[idx_ho]) / scale) ** 2, axis=1))

    closer = (d_tr < d_ho).astype(np.float64) + 0.5 * (d_tr == d_ho)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = d_tr / d_ho
    ratio[(d_tr == 0.0) & (d_ho == 0.0)] = 1.0
    return MemorizationResult(
        distance_to_train=d_tr,
        distance_to_heldout=d_ho,
        fraction_closer_to_train=float(np.mean(closer)),
        null_fraction=train.shape[0] / (train.shape[0] + heldout.shape[0]),
        median_distance_ratio=float(np.median(ratio)),
    )
