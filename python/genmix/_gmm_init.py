"""Initial labels of a Gaussian mixture's rows, from which its first parameters are
computed: k-means (or its k-means++ seeds) and random rows, all in the C++ core.

The initialisations depend on the rows' values and weights, never on their positions:
rows are drawn by value (k-means++ in the core, random rows by their hash) and every
copy of a drawn row gets its label. So a row of integer weight w gives exactly the
initialisation of w copies of it (up to rounding), in any row order.
"""

from __future__ import annotations

import numpy as np

from . import _core

# scikit-learn's KMeans defaults, used by init_params="kmeans"
_KMEANS_MAX_ITER = 300
_KMEANS_TOL = 1e-4


def _mean_imputed(X, sample_weight):
    """A copy of X with each NaN replaced by its column's (weighted) observed mean."""
    observed = ~np.isnan(X)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    wo = observed * w[:, np.newaxis]
    total = wo.sum(axis=0)
    means = np.where(observed, X, 0).astype(np.float64).T @ w / np.where(total > 0, total, 1)
    # a column observed only in rows of weight 0 still needs a finite value
    fallback = np.nanmean(X, axis=0, dtype=np.float64)
    means = np.where(total > 0, means, fallback)
    return np.ascontiguousarray(np.where(observed, X, means.astype(X.dtype)))


def _label_rows(row_hashes, chosen):
    """j for every row whose hash is chosen[j] (each copy of the j-th chosen row), else -1."""
    labels = np.full(len(row_hashes), -1, dtype=np.int64)
    for j, h in enumerate(chosen):
        labels[row_hashes == h] = j
    return labels


def kmeans_labels(X, k, seed, n_threads, sw, lloyd):
    """Lloyd's labels from k-means++ seeds, or (lloyd=False) the seeds' rows labelled 0..k-1."""
    seeds = _core.gmm.kmeans_plusplus(X, k, seed, n_threads, sw)
    if lloyd:
        return _core.gmm.kmeans_lloyd(X, X[seeds].astype(np.float64), _KMEANS_MAX_ITER, _KMEANS_TOL, n_threads,
                                  sw)[0]
    h = _core.gmm.row_hash(X, n_threads)
    return _label_rows(h, h[seeds])


def random_rows_labels(X, k, random_state, n_threads, sw, owner):
    """k distinct rows (by value) of positive weight, each drawn in turn with probability
    proportional to its total weight among those left, labelled 0..k-1."""
    h = _core.gmm.row_hash(X, n_threads)
    positive = slice(None) if sw is None else sw > 0
    values, inverse = np.unique(h[positive], return_inverse=True)  # sorted: no dependence on row order
    if len(values) < k:
        raise ValueError(f"{owner}: init_params='random_from_data' needs at least "
                         f"n_components={k} distinct rows of positive weight; got {len(values)}.")
    mass = np.bincount(inverse, weights=None if sw is None else sw[positive])
    return _label_rows(h, values[random_state.choice(len(values), size=k, replace=False, p=mass / mass.sum())])
