"""Complete-data EM: log-densities, the E-step, the M-step and the EM loop."""

import numpy as np

from ._common import (
    _LOG_2PI,
    _as_dtype,
    _as_float_2d,
    _check_algorithm,
    _check_covariance_type,
    _log_weights,
    _logsumexp_rows,
)
from .precisions import _covariances_from_precisions_cholesky, precisions_cholesky


# ---------------------------------------------------------------------------
# densities and E-step


def log_gaussian_prob(X, means, precisions_chol, covariance_type):
    """Log density of every sample under every Gaussian component.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    means : ndarray of shape (k, d)
    precisions_chol : ndarray
        See :func:`precisions_cholesky`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    log_prob : ndarray of shape (n, k), dtype of X
        ``log N(x_i | mu_k, Sigma_k)``.
    """
    _check_covariance_type(covariance_type)
    X = _as_float_2d(X)
    dtype = X.dtype
    means = _as_dtype(means, dtype)
    precisions_chol = _as_dtype(precisions_chol, dtype)
    n, d = X.shape
    n_components = means.shape[0]

    log_prob = np.empty((n, n_components), dtype=dtype)
    for k in range(n_components):
        diff = X - means[k]
        if covariance_type in ("full", "tied"):
            U = precisions_chol[k] if covariance_type == "full" else precisions_chol
            y = diff @ U
            log_det = np.sum(np.log(np.diagonal(U)))
        elif covariance_type == "diag":
            y = diff * precisions_chol[k]
            log_det = np.sum(np.log(precisions_chol[k]))
        else:  # spherical
            y = diff * precisions_chol[k]
            log_det = d * np.log(precisions_chol[k])
        mahalanobis_sq = np.sum(y * y, axis=1)
        log_prob[:, k] = -0.5 * (d * _LOG_2PI + mahalanobis_sq) + log_det
    return log_prob


def _weighted_log_prob(X, weights, means, precisions_chol, covariance_type):
    X = _as_float_2d(X)
    log_w = _log_weights(_as_dtype(weights, X.dtype))
    return log_gaussian_prob(X, means, precisions_chol, covariance_type) + log_w


def e_step(X, weights, means, precisions_chol, covariance_type, algorithm="soft"):
    """E-step: objective at the given parameters and responsibilities.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights : ndarray of shape (k,)
        Mixture weights; zero weights (dropped components) are allowed.
    means : ndarray of shape (k, d)
    precisions_chol : ndarray
        See :func:`precisions_cholesky`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    algorithm : {'soft', 'hard'}, default='soft'
        'soft': objective is the mean log-likelihood
        ``mean_i logsumexp_k(log w_k + log N(x_i | k))`` and the
        responsibilities are the posterior probabilities.
        'hard': objective is the per-sample complete-data log-likelihood
        ``mean_i max_k(log w_k + log N(x_i | k))`` and the responsibilities
        are one-hot on the argmax (ties go to the lowest index).

    Returns
    -------
    objective : NumPy floating scalar of the dtype of X
    resp : ndarray of shape (n, k), dtype of X
    """
    _check_algorithm(algorithm)
    X = _as_float_2d(X)
    weighted = _weighted_log_prob(X, weights, means, precisions_chol, covariance_type)
    per_row, resp = _responsibilities(weighted, algorithm)
    return np.mean(per_row), resp


def _responsibilities(weighted, algorithm):
    """Per-row objective and responsibilities from ``log w_k + log N(x_i | k)``.

    'soft': ``logsumexp_k`` and the posteriors; 'hard': ``max_k`` and one-hot
    responsibilities on the argmax (ties go to the lowest index).
    """
    n, n_components = weighted.shape
    if algorithm == "soft":
        log_norm = _logsumexp_rows(weighted)
        with np.errstate(under="ignore"):
            resp = np.exp(weighted - log_norm[:, np.newaxis])
        return log_norm, resp

    labels = np.argmax(weighted, axis=1)
    resp = np.zeros((n, n_components), dtype=weighted.dtype)
    resp[np.arange(n), labels] = 1
    return weighted[np.arange(n), labels], resp


def score_samples(X, weights, means, precisions_chol, covariance_type):
    """Log-likelihood of each sample under the mixture.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights, means, precisions_chol, covariance_type
        Mixture parameters, see :func:`e_step`.

    Returns
    -------
    log_prob : ndarray of shape (n,), dtype of X
        ``log p(x_i) = logsumexp_k(log w_k + log N(x_i | k))``.
    """
    X = _as_float_2d(X)
    weighted = _weighted_log_prob(X, weights, means, precisions_chol, covariance_type)
    return _logsumexp_rows(weighted)


# ---------------------------------------------------------------------------
# M-step


def _scatter(X, resp_k, mean_k):
    """sum_i resp_ik (x_i - mu_k)(x_i - mu_k)^T, exactly symmetric."""
    diff = X - mean_k
    scatter = (resp_k[:, np.newaxis] * diff).T @ diff
    return 0.5 * (scatter + scatter.T)


def _drop_empty(nk_raw, nk, means, previous, dtype):
    """Hard EM's dropped components (previous is not None): a component whose
    responsibilities sum to exactly 0 keeps its previous mean (set here in `means`) and
    covariance, and gets weight 0. Returns (dropped mask, nk, previous covariances)."""
    if previous is None:
        return np.zeros(len(nk), dtype=bool), nk, None
    dropped = nk_raw == 0
    means[dropped] = _as_dtype(previous[0], dtype)[dropped]
    return dropped, np.where(dropped, dtype.type(0), nk), _as_dtype(previous[1], dtype)


def _covariances(covariance_type, nk, dropped, prev_covariances, reg, scatter, variances=None):
    """The M-step's covariances from each component's weighted scatter around its new mean,
    scatter(k) (d x d); variances(k), when given, is its diagonal computed directly (cheaper
    for 'diag' and 'spherical'). Dropped components keep their previous covariance; `reg`
    is added to every variance."""
    n_components = len(nk)
    if covariance_type == "tied":
        # one covariance shared by all components: pooled within-component scatter
        covariances = sum(scatter(k) for k in range(n_components) if not dropped[k])
        covariances = covariances / np.sum(nk)
        covariances.flat[:: covariances.shape[0] + 1] += reg
        return covariances
    if variances is None:
        variances = lambda k: np.diagonal(scatter(k))  # noqa: E731
    covariances = []
    for k in range(n_components):
        if dropped[k]:
            covariances.append(prev_covariances[k])
        elif covariance_type == "full":
            covariance = scatter(k) / nk[k]
            covariance.flat[:: covariance.shape[0] + 1] += reg
            covariances.append(covariance)
        else:
            v = variances(k) / nk[k] + reg
            # spherical: one variance, the mean over features
            covariances.append(v if covariance_type == "diag" else np.mean(v))
    return np.asarray(covariances, dtype=np.result_type(*covariances))


def m_step(X, resp, covariance_type, reg_covar=1e-6, previous=None):
    """M-step: maximum-likelihood parameters given responsibilities.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    resp : ndarray of shape (n, k)
        Responsibilities (soft posteriors or one-hot hard assignments).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    previous : tuple (means, covariances) or None, default=None
        If given, a component whose responsibilities sum to exactly 0 is
        dropped: its weight is set to exactly 0 and its mean and covariance
        are copied from ``previous`` (hard EM).  If None, the plain
        scikit-learn formulas are applied to every component.

    Returns
    -------
    weights : ndarray of shape (k,)
    means : ndarray of shape (k, d)
    covariances : ndarray
        Shape depends on ``covariance_type``.
    precisions_chol : ndarray
        See :func:`precisions_cholesky`.
    """
    _check_covariance_type(covariance_type)
    X = _as_float_2d(X)
    dtype = X.dtype
    resp = _as_dtype(resp, dtype)
    reg = dtype.type(reg_covar)

    nk_raw = np.sum(resp, axis=0)
    nk = nk_raw + 10 * np.finfo(dtype).eps
    means = (resp.T @ X) / nk[:, np.newaxis]

    dropped, nk, prev_covariances = _drop_empty(nk_raw, nk, means, previous, dtype)

    def variances(k):
        diff = X - means[k]
        return resp[:, k] @ (diff * diff)

    covariances = _covariances(covariance_type, nk, dropped, prev_covariances, reg,
                               lambda k: _scatter(X, resp[:, k], means[k]), variances)
    weights = nk / np.sum(nk)
    return weights, means, covariances, precisions_cholesky(covariances, covariance_type)


# ---------------------------------------------------------------------------
# EM loop


def em(
    X,
    weights,
    means,
    precisions_chol,
    covariance_type,
    algorithm="soft",
    n_iter=10,
    reg_covar=1e-6,
    tol=None,
):
    """Run EM from the given parameters.

    One iteration evaluates the objective and responsibilities at the current
    parameters (E-step) and then re-estimates the parameters (M-step).  The
    objective recorded for iteration ``t`` is therefore the one at the
    parameters *before* that iteration's M-step, as in scikit-learn's
    ``lower_bounds_``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights : ndarray of shape (k,)
    means : ndarray of shape (k, d)
    precisions_chol : ndarray
        See :func:`precisions_cholesky`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    algorithm : {'soft', 'hard'}, default='soft'
        See :func:`e_step`.  Hard EM drops components that receive no sample.
    n_iter : int, default=10
        Maximum number of iterations.
    reg_covar : float, default=1e-6
    tol : float or None, default=None
        If given, stop after the first iteration ``t`` with
        ``|objective_t - objective_(t-1)| < tol`` (``objective_0 = -inf``).

    Returns
    -------
    result : dict
        ``weights``, ``means``, ``covariances``, ``precisions_chol`` (final
        parameters), ``lower_bounds`` (list of objectives, one per
        iteration), ``n_iter`` (iterations run) and ``converged`` (bool).
    """
    _check_covariance_type(covariance_type)
    _check_algorithm(algorithm)
    X = _as_float_2d(X)
    dtype = X.dtype
    weights = _as_dtype(weights, dtype)
    means = _as_dtype(means, dtype)
    precisions_chol = _as_dtype(precisions_chol, dtype)
    covariances = _covariances_from_precisions_cholesky(precisions_chol, covariance_type)

    lower_bounds = []
    converged = False
    objective = -np.inf
    iterations = 0
    for iterations in range(1, n_iter + 1):
        previous_objective = objective
        objective, resp = e_step(
            X, weights, means, precisions_chol, covariance_type, algorithm
        )
        previous = (means, covariances) if algorithm == "hard" else None
        weights, means, covariances, precisions_chol = m_step(
            X, resp, covariance_type, reg_covar=reg_covar, previous=previous
        )
        lower_bounds.append(objective)
        if tol is not None and abs(objective - previous_objective) < tol:
            converged = True
            break

    return {
        "weights": weights,
        "means": means,
        "covariances": covariances,
        "precisions_chol": precisions_chol,
        "lower_bounds": lower_bounds,
        "n_iter": iterations,
        "converged": converged,
    }
