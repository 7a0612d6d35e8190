"""EM with missing features (NaN entries, missing at random)."""

import numpy as np

from ._common import _as_dtype, _as_float_2d, _check_algorithm, _check_covariance_type, _log_weights, _logsumexp_rows
from .complete import _covariances, _drop_empty, _responsibilities, _scatter, log_gaussian_prob
from .precisions import _covariances_from_precisions_cholesky, precisions_cholesky


# ---------------------------------------------------------------------------
# missing features (NaN entries, missing at random)
#
# For a row with observed features o and missing features m, and a component
# with mean mu and covariance S:
#
# * the E-step uses the marginal density  N(x_o | mu_o, S_oo);
# * the M-step replaces the row by its conditional expectation
#       x_hat_m = mu_m + S_mo S_oo^{-1} (x_o - mu_o)       (x_hat_o = x_o)
#   and adds the conditional covariance
#       C_mm = S_mm - S_mo S_oo^{-1} S_om                  (zero elsewhere)
#   to the row's second moment: E[x x^T | x_o] = x_hat x_hat^T + C.
#   For 'diag' and 'spherical' S_mo = 0, so x_hat_m = mu_m and C_mm holds the
#   component's variances at the missing features; for 'tied' S is the shared
#   covariance (x_hat still depends on the component through mu).
#
# Rows are grouped by their pattern of missing features; within a pattern every
# quantity is the complete-data one of the marginal Gaussian.


def _missing_patterns(X):
    """[(observed, rows)]: the boolean mask (d,) of observed features and the row
    indices of each distinct pattern of NaN entries in X."""
    missing = np.isnan(X)
    patterns, inverse = np.unique(missing, axis=0, return_inverse=True)
    inverse = np.ravel(inverse)
    return [(~patterns[p], np.flatnonzero(inverse == p)) for p in range(len(patterns))]


def _covariance_stack(precisions_chol, covariance_type, n_components, d):
    """The covariance of every component as a (k, d, d) array."""
    covariances = _covariances_from_precisions_cholesky(precisions_chol, covariance_type)
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, d, d))
    if covariance_type == "spherical":
        covariances = np.repeat(covariances[:, np.newaxis], d, axis=1)
    stack = np.zeros((n_components, d, d), dtype=covariances.dtype)
    for k in range(n_components):
        stack[k] = np.diag(covariances[k])
    return stack


def _marginal_precisions_chol(precisions_chol, covariance_type, observed):
    """precisions_chol of the marginal Gaussians over the features ``observed``.

    A Gaussian's marginal keeps ``mu_o`` and ``S_oo``; with every feature observed
    the parameters are returned unchanged.
    """
    if np.all(observed):
        return precisions_chol
    if covariance_type == "spherical":  # the same variance on fewer features
        return precisions_chol
    if covariance_type == "diag":
        return precisions_chol[:, observed]
    covariances = _covariances_from_precisions_cholesky(precisions_chol, covariance_type)
    if covariance_type == "tied":
        return precisions_cholesky(covariances[np.ix_(observed, observed)], "tied")
    return precisions_cholesky(covariances[:, observed][:, :, observed], "full")


def log_gaussian_prob_missing(X, means, precisions_chol, covariance_type):
    """Marginal log density of the observed part of every sample under every component.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        NaN marks a missing entry.
    means : ndarray of shape (k, d)
    precisions_chol : ndarray
        See :func:`precisions_cholesky`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    log_prob : ndarray of shape (n, k), dtype of X
        ``log N(x_o | mu_o, Sigma_oo)`` with ``o`` the observed features of the row;
        rows without NaN get :func:`log_gaussian_prob`, rows without any observed
        feature get 0 (the density of the empty marginal).
    """
    _check_covariance_type(covariance_type)
    X = _as_float_2d(X)
    dtype = X.dtype
    means = _as_dtype(means, dtype)
    precisions_chol = _as_dtype(precisions_chol, dtype)
    log_prob = np.zeros((X.shape[0], means.shape[0]), dtype=dtype)
    for observed, rows in _missing_patterns(X):
        if not np.any(observed):
            continue
        log_prob[rows] = log_gaussian_prob(
            X[np.ix_(rows, observed)],
            means[:, observed],
            _marginal_precisions_chol(precisions_chol, covariance_type, observed),
            covariance_type,
        )
    return log_prob


def _weighted_log_prob_missing(X, weights, means, precisions_chol, covariance_type, allowed=None):
    X = _as_float_2d(X)
    log_w = _log_weights(_as_dtype(weights, X.dtype))
    weighted = log_gaussian_prob_missing(X, means, precisions_chol, covariance_type) + log_w
    if allowed is not None:
        weighted = np.where(allowed, weighted, -np.inf).astype(X.dtype, copy=False)
    return weighted


def e_step_missing(X, weights, means, precisions_chol, covariance_type, algorithm="soft"):
    """E-step of :func:`e_step` on data with NaN entries, using marginal densities.

    The objective is ``mean_i logsumexp_k(log w_k + log N(x_io | k))`` (soft: the
    observed-data mean log-likelihood) or ``mean_i max_k(...)`` (hard), and the
    responsibilities are the corresponding posteriors or one-hot assignments.  On
    data without NaN the result equals :func:`e_step`.

    Returns
    -------
    objective : NumPy floating scalar of the dtype of X
    resp : ndarray of shape (n, k), dtype of X
    """
    _check_algorithm(algorithm)
    weighted = _weighted_log_prob_missing(X, weights, means, precisions_chol, covariance_type)
    per_row, resp = _responsibilities(weighted, algorithm)
    return np.mean(per_row), resp


def score_samples_missing(X, weights, means, precisions_chol, covariance_type):
    """Marginal log-likelihood of the observed part of each sample, shape (n,)."""
    weighted = _weighted_log_prob_missing(X, weights, means, precisions_chol, covariance_type)
    return _logsumexp_rows(weighted)


def conditional_moments(X, means, precisions_chol, covariance_type):
    """Conditional mean and covariance of every row given its observed features.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        NaN marks a missing entry.
    means, precisions_chol, covariance_type
        Mixture parameters, see :func:`e_step`.

    Returns
    -------
    filled : ndarray of shape (k, n, d)
        ``filled[j, i]`` is row ``i`` with each missing entry replaced by
        ``E[x_m | x_o, component j] = mu_m + S_mo S_oo^{-1} (x_o - mu_o)``;
        observed entries are copied unchanged.
    corrections : ndarray of shape (k, n, d, d)
        ``Cov[x | x_o, component j]``: ``S_mm - S_mo S_oo^{-1} S_om`` on the block of
        the missing features, zero elsewhere (all zero for a complete row).
    """
    _check_covariance_type(covariance_type)
    X = _as_float_2d(X)
    dtype = X.dtype
    means = _as_dtype(means, dtype)
    precisions_chol = _as_dtype(precisions_chol, dtype)
    n, d = X.shape
    n_components = means.shape[0]
    covariances = _covariance_stack(precisions_chol, covariance_type, n_components, d)

    filled = np.repeat(X[np.newaxis], n_components, axis=0)
    corrections = np.zeros((n_components, n, d, d), dtype=dtype)
    for observed, rows in _missing_patterns(X):
        missing = ~observed
        if not np.any(missing):
            continue
        for j in range(n_components):
            S = covariances[j]
            S_oo = S[np.ix_(observed, observed)]
            S_mo = S[np.ix_(missing, observed)]
            S_mm = S[np.ix_(missing, missing)]
            if np.any(observed):
                B = np.linalg.solve(S_oo, S_mo.T).T  # regression of x_m on x_o
            else:
                B = np.zeros((int(np.sum(missing)), 0), dtype=dtype)
            diff = X[np.ix_(rows, observed)] - means[j, observed]
            filled[j][np.ix_(rows, missing)] = means[j, missing] + diff @ B.T
            C = S_mm - B @ S_mo.T
            corrections[j][np.ix_(rows, missing, missing)] = 0.5 * (C + C.T)
    return filled, corrections


def m_step_missing(filled, corrections, resp, covariance_type, reg_covar=1e-6, previous=None):
    """M-step of :func:`m_step` from conditional moments (see :func:`conditional_moments`).

    Component ``j`` is fitted to the rows ``filled[j]`` with their second moments
    corrected by ``corrections[j]``:

    * ``mean_j = sum_i r_ij x_hat_ij / N_j``;
    * ``scatter_j = sum_i r_ij [(x_hat_ij - mean_j)(x_hat_ij - mean_j)^T + C_ij]``;
    * full: ``scatter_j / N_j``; tied: ``sum_j scatter_j / sum_j N_j``; diag: the
      diagonal of ``scatter_j / N_j``; spherical: its mean; plus ``reg_covar`` on the
      diagonal.

    With no missing entries (``filled[j] = X``, ``corrections = 0``) this is
    :func:`m_step` up to rounding.  ``resp`` (n, k) may already include sample
    weights; ``previous`` drops components with zero responsibility as in
    :func:`m_step`.

    Returns
    -------
    weights, means, covariances, precisions_chol
    """
    _check_covariance_type(covariance_type)
    filled = np.asarray(filled)
    dtype = filled.dtype
    corrections = _as_dtype(corrections, dtype)
    resp = _as_dtype(resp, dtype)
    reg = dtype.type(reg_covar)
    n_components = filled.shape[0]

    nk_raw = np.sum(resp, axis=0)
    nk = nk_raw + 10 * np.finfo(dtype).eps
    means = np.stack([resp[:, j] @ filled[j] for j in range(n_components)]) / nk[:, np.newaxis]

    dropped, nk, prev_covariances = _drop_empty(nk_raw, nk, means, previous, dtype)

    def scatter(j):
        correction = np.tensordot(resp[:, j], corrections[j], axes=1)
        return _scatter(filled[j], resp[:, j], means[j]) + correction

    covariances = _covariances(covariance_type, nk, dropped, prev_covariances, reg, scatter)
    weights = nk / np.sum(nk)
    return weights, means, covariances, precisions_cholesky(covariances, covariance_type)


def em_step_missing(
    X,
    weights,
    means,
    precisions_chol,
    covariance_type,
    algorithm="soft",
    reg_covar=1e-6,
    sample_weight=None,
    allowed=None,
):
    """One EM iteration on data with NaN entries (missing at random).

    E-step with the marginal densities (:func:`e_step_missing`), conditional moments
    of the missing entries under the *current* parameters
    (:func:`conditional_moments`), M-step :func:`m_step_missing`.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        NaN marks a missing entry; every row needs an observed feature.
    weights, means, precisions_chol, covariance_type
        Current parameters, see :func:`e_step`.
    algorithm : {'soft', 'hard'}, default='soft'
        'hard': one-hot on ``argmax_k(log w_k + log N(x_o | k))``; components that
        receive no sample are dropped (weight 0, previous mean and covariance).
    reg_covar : float, default=1e-6
    sample_weight : ndarray of shape (n,) or None, default=None
        A row of weight ``w`` counts as ``w`` copies; the objective is the weighted
        mean.
    allowed : boolean ndarray of shape (n, k) or None, default=None
        If given, row ``i`` can only be assigned to the components with
        ``allowed[i]`` True (semi-supervised labelled rows); each row needs one.

    Returns
    -------
    objective : NumPy floating scalar
        At the given parameters (before the M-step): the observed-data mean
        log-likelihood (soft) or the mean of the per-row maxima (hard).
    weights, means, covariances, precisions_chol
        The parameters after the M-step.
    """
    _check_covariance_type(covariance_type)
    _check_algorithm(algorithm)
    X = _as_float_2d(X)
    dtype = X.dtype
    means = _as_dtype(means, dtype)
    precisions_chol = _as_dtype(precisions_chol, dtype)
    weighted = _weighted_log_prob_missing(X, weights, means, precisions_chol, covariance_type, allowed)
    per_row, resp = _responsibilities(weighted, algorithm)
    if sample_weight is None:
        objective = np.mean(per_row)
    else:
        sample_weight = _as_dtype(sample_weight, dtype)
        objective = np.sum(sample_weight * per_row) / np.sum(sample_weight)
        resp = resp * sample_weight[:, np.newaxis]
    filled, corrections = conditional_moments(X, means, precisions_chol, covariance_type)
    previous = None
    if algorithm == "hard":
        previous = (means, _covariances_from_precisions_cholesky(precisions_chol, covariance_type))
    return (objective,) + m_step_missing(filled, corrections, resp, covariance_type, reg_covar, previous)


def em_missing(
    X,
    weights,
    means,
    precisions_chol,
    covariance_type,
    algorithm="soft",
    n_iter=10,
    reg_covar=1e-6,
    sample_weight=None,
    allowed=None,
):
    """Run ``n_iter`` iterations of :func:`em_step_missing` (no stopping rule).

    Returns
    -------
    result : dict
        As :func:`em`: ``weights``, ``means``, ``covariances``, ``precisions_chol``,
        ``lower_bounds`` (the objective of each iteration, at the parameters before
        its M-step) and ``n_iter``.
    """
    X = _as_float_2d(X)
    covariances = _covariances_from_precisions_cholesky(_as_dtype(precisions_chol, X.dtype), covariance_type)
    lower_bounds = []
    for _ in range(n_iter):
        objective, weights, means, covariances, precisions_chol = em_step_missing(
            X, weights, means, precisions_chol, covariance_type, algorithm, reg_covar, sample_weight, allowed
        )
        lower_bounds.append(objective)
    return {
        "weights": _as_dtype(weights, X.dtype),
        "means": _as_dtype(means, X.dtype),
        "covariances": covariances,
        "precisions_chol": _as_dtype(precisions_chol, X.dtype),
        "lower_bounds": lower_bounds,
        "n_iter": n_iter,
    }


def impute(X, weights, means, precisions_chol, covariance_type):
    """X with every NaN replaced by its conditional expectation under the mixture.

    ``E[x_m | x_o] = sum_j r_ij E[x_m | x_o, j]`` with ``r_ij`` the posterior of
    component ``j`` given the observed features (soft marginal responsibilities,
    :func:`e_step_missing`).  Observed entries are copied exactly; a row without any
    observed feature gets the mixture mean ``sum_j w_j mu_j``.

    Returns
    -------
    X_imputed : ndarray of shape (n, d), a new array in the dtype of X
    """
    X = _as_float_2d(X)
    _, resp = e_step_missing(X, weights, means, precisions_chol, covariance_type, "soft")
    filled, _ = conditional_moments(X, means, precisions_chol, covariance_type)
    expected = np.einsum("ij,jid->id", resp, filled)
    result = X.copy()
    missing = np.isnan(X)
    result[missing] = expected[missing]
    return result
