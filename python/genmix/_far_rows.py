"""Log-densities and posteriors of rows far from every component, without overflow.

The C++ core computes ``log w_j + log N(x | mu_j, Sigma_j)`` in the data's dtype. For a
row far from every component the squared Mahalanobis distance overflows (about 1e154 in
float64, 1e19 in float32): every component's log-density becomes -inf (or NaN through
inf - inf), the log-sum-exp NaN, and so are the responsibilities. Long before that the
posteriors lose their meaning: they are decided by differences of log-densities that are
smaller than the rounding error of each (the linear term ``x' P (mu_j - mu_k)`` of equal
covariances, say).

The core's results are kept for every ordinary row; :func:`needs_careful_path` flags the
others and :func:`careful_posteriors` recomputes just those, in float64 NumPy, in a
rescaled way (one power of two per row, so nothing overflows and no digit is lost):

- the log-density is ``K_j - 0.5 * q_j`` with ``q_j`` evaluated as ``2**(2e) * r_j``
  (``r_j`` the squared distance of the row and mean scaled by ``2**-e``): the correctly
  rounded value up to a few ulps when it is representable, else -inf — never NaN;
- the posteriors come from the exact log-odds against the best component,
  ``(K_j - K_ref) - 0.5 * (q_j - q_ref)`` with ``q_j - q_ref = d_j' (P_j - P_ref) d_j +
  (mu_ref - mu_j)' P_ref (d_j + d_ref)`` (``d = x - mu``), which is exactly 0 for equal
  parameters and otherwise computed to the precision of its leading term. So a far row
  goes to the component (class) whose Mahalanobis distance is smallest, equal covariances
  are decided by the linear term, equal distances by the log-weight and log-determinant,
  and identical components share. Rows sum to 1 and predict = argmax of the posteriors.

One place for :class:`GaussianMixture` (``score_samples``, ``predict``,
``predict_proba``, ``impute``, ``predict_class_proba``) and
:class:`GaussianMixtureClassifier` (its classes' components pooled, weighted by the
priors).
"""

from __future__ import annotations

import numpy as np

_LOG_2PI = np.log(2.0 * np.pi)
_ROW_CHUNK = 256  # rows per vectorised group (bounds the (rows, k, d) temporaries)


def needs_careful_path(log_prob, dtype):
    """Rows whose core result cannot be trusted: a non-finite log-density (a finite row
    always has a finite one, or -inf through overflow only), or one so large in magnitude
    (beyond 1 / (16 eps) of the core's dtype: 2.8e14 in float64, 1.0e6 in float32) that
    the rounding error of the log-densities, about eps * |log p| each, approaches the
    log-odds that decide the posteriors."""
    limit = 1.0 / (16.0 * np.finfo(dtype).eps)
    with np.errstate(invalid="ignore"):
        return ~(np.abs(log_prob) <= limit)


def mixture_components(weights, means, precisions_cholesky, covariance_type):
    """(log_weights (k,), means (k, d), factors, kind) in float64: kind 'full' with
    factors U (k, d, d), precision = U U^T (tied repeated), or 'diag' with the inverse
    standard deviations (k, d) (spherical repeated)."""
    weights = np.asarray(weights, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    k, d = means.shape
    u = np.asarray(precisions_cholesky, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    if covariance_type == "full":
        return log_w, means, u, "full"
    if covariance_type == "tied":
        return log_w, means, np.broadcast_to(u, (k, d, d)), "full"
    if covariance_type == "diag":
        return log_w, means, u, "diag"
    return log_w, means, np.repeat(u[:, np.newaxis], d, axis=1), "diag"


def pool_components(parts):
    """The components of several mixtures as one list (all of one kind), e.g. the classes
    of a classifier with their log-priors added to the log-weights; parts: tuples from
    :func:`mixture_components`. Returns the pooled tuple and each component's part index."""
    log_w = np.concatenate([p[0] for p in parts])
    means = np.concatenate([p[1] for p in parts])
    factors = np.concatenate([np.asarray(p[2]) for p in parts])
    owner = np.concatenate([np.full(len(p[0]), i, dtype=np.int64) for i, p in enumerate(parts)])
    return (log_w, means, factors, parts[0][3]), owner


def _marginal(means, factors, kind, observed):
    """means, factors and the regression of the missing features on the observed ones
    (full only, else None) of the marginals over `observed`."""
    if kind == "diag":
        return means[:, observed], factors[:, observed], None
    if observed.all():
        return means, factors, None
    missing = ~observed
    inv_u = np.linalg.inv(factors)
    cov = np.swapaxes(inv_u, 1, 2) @ inv_u  # (U U^T)^-1 = U^-T U^-1
    s_oo = cov[:, observed][:, :, observed]
    s_mo = cov[:, missing][:, :, observed]
    chol = np.linalg.cholesky(s_oo)  # S_oo = L L^T, so P_oo = L^-T L^-1 and U_oo = L^-T
    u = np.swapaxes(np.linalg.inv(chol), 1, 2)
    regression = np.swapaxes(np.linalg.solve(s_oo, np.swapaxes(s_mo, 1, 2)), 1, 2)  # S_mo S_oo^-1
    return means[:, observed], u, regression


def _scaled_distances(x, means, factors, kind):
    """z = (x - mu_j) 2^-e per row (rows, k, d), e per row, r = ||z U_j||^2 (rows, k)."""
    top = np.maximum(np.abs(x).max(axis=1), np.abs(means).max())
    e = np.frexp(top)[1].astype(np.int64)  # |x| 2^-e, |mu| 2^-e <= 1: nothing overflows
    z = np.ldexp(x, -e[:, None])[:, None, :] - np.ldexp(means[None, :, :], -e[:, None, None])
    if kind == "diag":
        r = np.square(z * factors[None]).sum(axis=2)
    else:
        r = np.square(np.einsum("nkd,kde->nke", z, factors)).sum(axis=2)
    return z, e, r


def _log_odds(z, e, r, means, factors, kind, K, ref):
    """(K_j - K_ref) - 0.5 (q_j - q_ref) for every row and component, exact 0 at ref and
    for components equal to ref; the difference of distances is formed without the
    cancellation of q_j - q_ref (see the module docstring), in units of 2^(2e)."""
    rows = np.arange(len(ref))
    z_ref = z[rows, ref]  # (n, d)
    mu_diff = np.ldexp(means[ref][:, None, :], -e[:, None, None]) - np.ldexp(means[None], -e[:, None, None])
    zsum = z + z_ref[:, None, :]
    if kind == "diag":
        p = np.square(factors)  # (k, d)
        p_ref = p[ref]  # (n, d)
        quad = (np.square(z) * (p[None] - p_ref[:, None, :])).sum(axis=2)
        lin = (mu_diff * p_ref[:, None, :] * zsum).sum(axis=2)
    else:
        k = len(factors)
        equal = np.array([[np.array_equal(factors[a], factors[b]) for b in range(k)] for a in range(k)])
        quad = np.empty_like(r)
        lin = np.empty_like(r)
        for j in np.unique(ref):  # the rows of one reference share its factor: no (n, d, d) copies
            sel = ref == j
            u = factors[j]
            cross = np.square(z[sel] @ u).sum(axis=2)
            quad[sel] = np.where(equal[j][None, :], 0.0, r[sel] - cross)  # 0 where P_j == P_ref exactly
            lin[sel] = ((mu_diff[sel] @ u) * (zsum[sel] @ u)).sum(axis=2)
    with np.errstate(over="ignore", invalid="ignore"):
        half_dq = np.ldexp(0.5 * (quad + lin), 2 * e[:, None])  # 0.5 (q_j - q_ref), may be +-inf
        odds = (K[None, :] - K[ref][:, None]) - half_dq
    odds[:, ~np.isfinite(K)] = -np.inf  # components of weight 0
    odds[rows, ref] = 0.0
    return np.where(np.isnan(odds), -np.inf, odds)


def _posteriors_of_group(x, means, factors, kind, log_w):
    """log p(x) (n,) and log posteriors (n, k) of complete rows x (n, d) under the components."""
    d = x.shape[1]
    if kind == "diag":
        log_det = np.log(factors).sum(axis=1)
    else:
        log_det = np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1)
    K = log_w + log_det - 0.5 * d * _LOG_2PI
    z, e, r = _scaled_distances(x, means, factors, kind)
    with np.errstate(over="ignore", invalid="ignore"):
        lp = K[None, :] - np.ldexp(0.5 * r, 2 * e[:, None])  # per component, -inf only beyond the range
    valid = np.isfinite(K)
    key = np.where(valid[None, :], lp, -np.inf)
    ref = np.argmax(key, axis=1)
    lost = ~np.isfinite(key.max(axis=1))  # every component beyond the range: the nearest one
    ref[lost] = np.argmin(np.where(valid[None, :], r, np.inf)[lost], axis=1)
    odds = _log_odds(z, e, r, means, factors, kind, K, ref)
    better = odds.max(axis=1) > 0  # ref was not the most probable component: once more from the best
    if better.any():
        ref = np.where(better, np.argmax(odds, axis=1), ref)
        odds = _log_odds(z, e, r, means, factors, kind, K, ref)
    rows = np.arange(len(ref))
    top = odds.max(axis=1, keepdims=True)
    inf_top = np.isposinf(top[:, 0])
    shift = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(invalid="ignore"):
        weights = np.exp(odds - shift)
    weights[inf_top] = np.isposinf(odds[inf_top])  # (never expected) share among the +inf ones
    total = weights.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # the log-odds themselves, not log(exp(...)): a log posterior of -1e40 stays finite
        log_resp = np.where(inf_top[:, None], np.log(weights), odds - shift) - np.log(total)[:, None]
        log_norm = np.log(total) + shift[:, 0]
    log_prob = lp[rows, ref] + np.where(inf_top, 0.0, log_norm)
    return log_prob, log_resp


def careful_posteriors(X, components, imputed=False):
    """Log-density (n,), log posteriors (n, k) and (imputed=True) the rows with every NaN
    replaced by its conditional expectation, for the rows X (n, d; NaN = missing) under
    the components from :func:`mixture_components` (or :func:`pool_components`), in float64."""
    log_w, means, factors, kind = components
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = len(log_w)
    log_prob = np.empty(n)
    log_resp = np.empty((n, k))
    filled = X.copy() if imputed else None
    observed_mask = ~np.isnan(X)
    patterns, inverse = np.unique(observed_mask, axis=0, return_inverse=True)
    inverse = np.ravel(inverse)
    for p, observed in enumerate(patterns):
        rows = np.flatnonzero(inverse == p)
        mu_o, u_o, regression = _marginal(means, factors, kind, observed)
        for start in range(0, len(rows), _ROW_CHUNK):
            chunk = rows[start:start + _ROW_CHUNK]
            x_o = X[np.ix_(chunk, observed)]
            lp, lr = _posteriors_of_group(x_o, mu_o, u_o, kind, log_w)
            log_prob[chunk] = lp
            log_resp[chunk] = lr
            if imputed and not observed.all():
                missing = ~observed
                cond = np.broadcast_to(means[None][:, :, missing], (len(chunk), k, int(missing.sum()))).copy()
                if regression is not None:  # mu_m + S_mo S_oo^-1 (x_o - mu_o)
                    cond += np.einsum("kmo,nko->nkm", regression, x_o[:, None, :] - mu_o[None])
                resp = np.exp(lr)
                # a component of posterior 0 contributes nothing, even with an infinite mean
                filled[np.ix_(chunk, missing)] = np.where(resp[:, :, None] > 0, resp[:, :, None] * cond, 0).sum(axis=1)
    return log_prob, log_resp, filled
