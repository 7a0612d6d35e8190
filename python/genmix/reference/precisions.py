"""The parametrisation: Cholesky factors of the precisions from covariances or precisions,
and back."""

import numpy as np

from ._common import _check_covariance_type


def _covariances_from_precisions_cholesky(precisions_chol, covariance_type):
    """Inverse of :func:`precisions_cholesky` (used to seed ``em``)."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / (precisions_chol * precisions_chol)
    if covariance_type == "tied":
        U_inv = np.linalg.inv(precisions_chol)
        return U_inv.T @ U_inv  # cov = inv(U U^T) = inv(U)^T inv(U)
    covariances = np.empty_like(precisions_chol)
    for k in range(precisions_chol.shape[0]):
        U_inv = np.linalg.inv(precisions_chol[k])
        covariances[k] = U_inv.T @ U_inv
    return covariances


def _upper_precision_cholesky(covariance, what):
    """U (upper) with inv(covariance) = U @ U.T, for one (d, d) matrix."""
    d = covariance.shape[0]
    try:
        if not np.all(np.isfinite(covariance)):
            raise np.linalg.LinAlgError("non-finite covariance")
        L = np.linalg.cholesky(covariance)  # covariance = L @ L.T
    except np.linalg.LinAlgError:
        raise ValueError(
            "Cholesky decomposition of the covariance of %s failed: the "
            "covariance is not (numerically) positive definite. Increase "
            "reg_covar, reduce the number of components or rescale the data."
            % what
        ) from None
    # precision = inv(L).T @ inv(L), so U = inv(L).T is upper triangular.
    identity = np.eye(d, dtype=covariance.dtype)
    return np.linalg.solve(L, identity).T


def precisions_cholesky(covariances, covariance_type):
    """Cholesky factors of the precision matrices from the covariances.

    Parameters
    ----------
    covariances : ndarray
        ``(k, d, d)`` for 'full', ``(d, d)`` for 'tied', ``(k, d)`` for
        'diag', ``(k,)`` for 'spherical'.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    precisions_chol : ndarray
        Same shape and dtype as ``covariances``.  Upper-triangular ``U`` with
        ``U @ U.T = inv(cov)`` for 'full'/'tied', ``1 / sqrt(cov)`` otherwise.

    Raises
    ------
    ValueError
        If a covariance is not positive definite; the message names the
        offending component.
    """
    _check_covariance_type(covariance_type)
    covariances = np.asarray(covariances)
    if covariance_type == "full":
        result = np.empty_like(covariances)
        for k in range(covariances.shape[0]):
            result[k] = _upper_precision_cholesky(covariances[k], "component %d" % k)
        return result
    if covariance_type == "tied":
        return _upper_precision_cholesky(covariances, "the tied covariance")
    # diag / spherical
    bad = ~(covariances > 0) | ~np.isfinite(covariances)
    if np.any(bad):
        k = int(np.argwhere(bad)[0][0])
        raise ValueError(
            "covariance of component %d is not positive (or not finite). "
            "Increase reg_covar, reduce the number of components or rescale "
            "the data." % k
        )
    return 1.0 / np.sqrt(covariances)


def _flip_rows_and_columns(matrix):
    return matrix[::-1, ::-1]


def _upper_cholesky_of_precision(precision):
    """U (upper) with precision = U @ U.T, computed from the precision itself.

    With J the exchange matrix, chol(J P J) = L gives P = (J L J)(J L J)^T and
    J L J is upper triangular (same construction as scikit-learn).
    """
    L = np.linalg.cholesky(_flip_rows_and_columns(precision))
    return np.ascontiguousarray(_flip_rows_and_columns(L))


def precisions_cholesky_from_precisions(precisions, covariance_type):
    """Cholesky factors of the precision matrices from the precisions.

    Parameters
    ----------
    precisions : ndarray
        Precision (inverse covariance) parameters, shaped like the covariances.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    precisions_chol : ndarray
        Upper-triangular ``U`` with ``U @ U.T = precision`` for 'full'/'tied',
        ``sqrt(precision)`` for 'diag'/'spherical'.
    """
    _check_covariance_type(covariance_type)
    precisions = np.asarray(precisions)
    if covariance_type == "full":
        result = np.empty_like(precisions)
        for k in range(precisions.shape[0]):
            result[k] = _upper_cholesky_of_precision(precisions[k])
        return result
    if covariance_type == "tied":
        return _upper_cholesky_of_precision(precisions)
    return np.sqrt(precisions)
