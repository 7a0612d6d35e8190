"""Fréchet (2-Wasserstein) distance between Gaussians and between Gaussian fits of two samples."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._common import _as_samples, _check_same_features, _max_abs, _pow2_scale, _standardise


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


def gaussian_frechet_distance(mean1: ArrayLike, cov1: ArrayLike, mean2: ArrayLike, cov2: ArrayLike) -> float:
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


def frechet_distance(X: ArrayLike, Y: ArrayLike) -> float:
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
