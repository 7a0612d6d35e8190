"""Plain NumPy reference implementation of EM for Gaussian mixtures.

This module is the test oracle and the NumPy benchmark baseline for the C++
kernels.  It favours clarity over speed: every step is written out with
ordinary NumPy operations, looping over the (few) components.

Conventions follow ``sklearn.mixture.GaussianMixture``:

* ``covariance_type`` is one of ``'full'``, ``'tied'``, ``'diag'``,
  ``'spherical'``.  With ``k`` components and ``d`` features the covariances
  have shape ``(k, d, d)``, ``(d, d)``, ``(k, d)`` and ``(k,)`` respectively.
* ``precisions_chol`` has the same shape as the covariances.  For ``'full'``
  and ``'tied'`` it is the upper-triangular ``U`` with ``precision = U @ U.T``
  (``U = inv(L).T`` where ``L`` is the lower Cholesky factor of the
  covariance); for ``'diag'`` and ``'spherical'`` it is ``1 / sqrt(cov)``.
* ``log N(x | k) = -0.5 * (d * log(2 pi) + ||(x - mu_k) @ U_k||^2)
  + sum(log(diag(U_k)))``.

Two flavours of EM are provided: ``'soft'`` (ordinary EM, identical to
scikit-learn) and ``'hard'`` (classification EM: one-hot responsibilities on
the most probable component; components that receive no sample are dropped,
i.e. get weight exactly 0 and keep their previous mean and covariance).

Missing features (``GaussianMixture(missing="em")``): the ``*_missing`` functions and
:func:`impute` accept NaN entries in ``X``, treated as missing at random.  A row's
density is the marginal over its observed features and the M-step uses the
conditional expectations of the missing entries (with the conditional-covariance
correction of the second moments); rows are grouped by their pattern of missing
features and each pattern is handled with the complete-data functions above applied
to the marginal Gaussians.

All computations happen in the floating dtype of ``X`` (float32 in, float32
out).  Nothing here keeps global state or prints.
"""

import math

import numpy as np

__all__ = [
    "COVARIANCE_TYPES",
    "precisions_cholesky",
    "precisions_cholesky_from_precisions",
    "log_gaussian_prob",
    "e_step",
    "m_step",
    "em",
    "score_samples",
    "log_gaussian_prob_missing",
    "e_step_missing",
    "score_samples_missing",
    "conditional_moments",
    "m_step_missing",
    "em_step_missing",
    "em_missing",
    "impute",
]

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


# ---------------------------------------------------------------------------
# parametrisation


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


from .reference_nn import MLP as ReferenceMLP  # noqa: E402,F401  (plain-NumPy MLP oracle, see reference_nn)


# --- categorical mixtures (genmix.CategoricalMixture) ---------------------------------------

def categorical_log_prob(X, weights, probabilities):
    """log w_k + sum_j log P(x_j | k) for integer codes X (n, d); `probabilities` is a list
    of (k, m_j) arrays, one per feature. Returns (n, k)."""
    X = np.asarray(X)
    with np.errstate(divide="ignore"):
        out = np.log(weights)[None, :].repeat(X.shape[0], axis=0)
        for j, probs in enumerate(probabilities):
            out = out + np.log(probs[:, X[:, j]]).T
    return out


def categorical_em_step(X, weights, probabilities, alpha=1.0, algorithm="soft"):
    """One EM iteration of a categorical mixture with additive smoothing `alpha`.

    Returns (objective at the given parameters, new weights, new probabilities). The
    objective is the mean log-likelihood (soft) or complete-data log-likelihood (hard)
    plus alpha * sum(log probabilities) / n, the quantity smoothed EM never decreases."""
    X = np.asarray(X)
    lp = categorical_log_prob(X, weights, probabilities)
    if algorithm == "hard":
        rows = np.max(lp, axis=1)
        resp = np.zeros_like(lp)
        resp[np.arange(len(X)), np.argmax(lp, axis=1)] = 1.0
    else:
        mx = np.max(lp, axis=1, keepdims=True)
        e = np.exp(lp - mx)
        rows = mx[:, 0] + np.log(e.sum(axis=1))
        resp = e / e.sum(axis=1, keepdims=True)
    prior = alpha * sum(np.log(p).sum() for p in probabilities) if alpha > 0 else 0.0
    objective = (rows.sum() + prior) / len(X)
    nk = resp.sum(axis=0)
    new_probs = []
    for j, probs in enumerate(probabilities):
        m = probs.shape[1]
        counts = np.stack([resp[X[:, j] == c].sum(axis=0) for c in range(m)], axis=1)  # (k, m)
        denom = counts.sum(axis=1, keepdims=True) + alpha * m
        new = np.where(denom > 0, (counts + alpha) / np.where(denom > 0, denom, 1), probs)
        new_probs.append(new)
    return objective, nk / nk.sum(), new_probs
