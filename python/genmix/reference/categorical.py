"""Categorical mixtures (the oracle of genmix.CategoricalMixture)."""

import numpy as np


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
