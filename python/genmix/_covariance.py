"""The covariance types of a Gaussian mixture: their shapes, parameter counts and the
conversions between covariances, precisions and precision Cholesky factors.

Each ``covariance_type`` stores one array per kind, shaped by the table below; the
precision factor is upper-triangular ``U`` with ``precision = U @ U.T`` (full, tied) or
``1 / sqrt(covariance)`` (diag, spherical). (``reference.py``, the plain-NumPy oracle,
keeps its own copies on purpose: it must not share code with what it checks.)
"""

from __future__ import annotations

import numpy as np

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def cov_shape(covariance_type: str, k: int, d: int) -> tuple:
    """Shape of the covariances (precisions, factors) of k components in d dimensions."""
    return {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[covariance_type]


def n_covariance_parameters(covariance_type: str, k: int, d: int) -> float:
    """Free parameters of the covariances of k components in d dimensions."""
    return {"full": k * d * (d + 1) / 2.0, "tied": d * (d + 1) / 2.0, "diag": k * d,
            "spherical": k}[covariance_type]


def precisions_cholesky_from_precisions(precisions: np.ndarray, covariance_type: str) -> np.ndarray:
    """Upper-triangular U with U U^T = precision (the unique one with a positive diagonal)."""
    if covariance_type in ("diag", "spherical"):
        return np.sqrt(precisions)
    flip = lambda a: a[..., ::-1, ::-1]  # noqa: E731 - chol of the flipped matrix, flipped back
    return flip(np.linalg.cholesky(flip(precisions)))


def covariances_from_precisions_cholesky(prec_chol: np.ndarray, covariance_type: str) -> np.ndarray:
    if covariance_type in ("diag", "spherical"):
        return 1.0 / prec_chol**2
    inv_u = np.linalg.inv(prec_chol)  # covariance = (U U^T)^-1 = U^-T U^-1
    return np.swapaxes(inv_u, -1, -2) @ inv_u


def precisions_from_cholesky(prec_chol: np.ndarray, covariance_type: str) -> np.ndarray:
    if covariance_type in ("diag", "spherical"):
        return prec_chol**2
    return prec_chol @ np.swapaxes(prec_chol, -1, -2)
