"""Mixtures of independent categorical distributions (latent class models) fitted by EM."""

from __future__ import annotations

import warnings

import numpy as np

from . import _core
from ._base import (
    BaseEstimator,
    ConvergenceWarning,
    DensityMixin,
    MixtureScoreMixin,
    check_is_fitted,
    check_random_state,
)
from ._validation import check_codes, check_int, check_n_features, check_n_threads, check_option, check_real

INIT_PARAMS = ("random", "random_from_data")
# Bound on n_components * sum(n_categories): the size of each probability and count table
# (2**25 doubles = 256 MiB). One stray large code would otherwise size the tables by itself.
MAX_TABLE_CELLS = 2**25
ALGORITHMS = ("soft", "hard")


class CategoricalMixture(MixtureScoreMixin, DensityMixin, BaseEstimator):
    """Mixture of independent categorical distributions per feature, fitted by EM.

    Each row's features are integer codes; column ``j`` takes values ``0 .. m_j - 1``.
    Given the component ``z``, the features are independent with
    ``P(x_j = c | z = k) = category_probabilities_[j][k, c]`` (a latent class model). The
    C++ core runs each EM iteration as one streaming pass over the rows that accumulates
    responsibility-weighted category counts.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components (latent classes).
    alpha : float, default=1.0
        Additive (Dirichlet) smoothing of the category probabilities: the M-step is
        ``(counts + alpha) / (N_k + alpha m_j)``, the MAP estimate under a symmetric
        Dirichlet(alpha + 1) prior. 0 gives maximum likelihood.
    n_categories : int, sequence of int or None, default=None
        Categories per feature. None infers ``max + 1`` of each column of the training
        data; an int applies to every feature. ``n_components * sum(n_categories)`` may
        not exceed ``MAX_TABLE_CELLS`` (2**25), the size of the per-category tables.
    algorithm : {'soft', 'hard'}, default='soft'
        Soft EM (responsibilities) or hard EM (each row to its most probable component).
    tol : float, default=1e-3
        Stop when the objective changes by less than ``tol``.
    max_iter : int, default=100
        Maximum EM iterations per initialisation.
    n_init : int, default=1
        Initialisations; the run with the highest final objective is kept.
    init_params : {'random', 'random_from_data'}, default='random'
        'random': equal weights and category probabilities drawn from a flat Dirichlet.
        'random_from_data': each component starts peaked (probability 1/2 plus an even
        share) on the categories of a distinct random row.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation and of :meth:`sample`.
    n_threads : int or None, default=None
        Threads of the C++ core, 1 .. 1024 (None: all cores); results do not depend on it.
    verbose : int, default=0
        Print the objective change every ``verbose_interval`` iterations when > 0.
    verbose_interval : int, default=10

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    category_probabilities_ : list of ndarray
        One array of shape (n_components, n_categories_[j]) per feature.
    n_categories_ : ndarray of shape (n_features,)
    lower_bounds_ : list of float
        The objective at every iteration of the best run: the mean log-likelihood (soft)
        or complete-data log-likelihood (hard) plus ``alpha * sum(log probabilities) / n``,
        the log of the smoothing prior — the quantity EM with smoothing never decreases.
    lower_bound_ : float
    converged_ : bool
    n_iter_ : int
    n_features_in_ : int
    """

    def __init__(self, n_components=1, *, alpha=1.0, n_categories=None, algorithm="soft", tol=1e-3,
                 max_iter=100, n_init=1, init_params="random", random_state=None, n_threads=None,
                 verbose=0, verbose_interval=10):
        self.n_components = n_components
        self.alpha = alpha
        self.n_categories = n_categories
        self.algorithm = algorithm
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.n_threads = n_threads
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    # ------------------------------------------------------------------ validation

    def _check_parameters(self):
        owner = type(self).__name__
        check_int(self.n_components, "n_components", owner, low=1)
        check_real(self.alpha, "alpha", owner, low=0.0)
        check_option(self.algorithm, "algorithm", owner, ALGORITHMS)
        check_real(self.tol, "tol", owner, low=0.0)
        check_int(self.max_iter, "max_iter", owner, low=1)
        check_int(self.n_init, "n_init", owner, low=1)
        check_option(self.init_params, "init_params", owner, INIT_PARAMS)
        check_int(int(self.verbose), "verbose", owner, low=0)
        check_int(self.verbose_interval, "verbose_interval", owner, low=1)
        check_random_state(self.random_state)
        return check_n_threads(self.n_threads, owner)

    def _resolve_n_categories(self, X):
        d = X.shape[1]
        seen = X.max(axis=0) + 1
        if self.n_categories is None:
            cats = seen.astype(np.int64)
        elif np.ndim(self.n_categories) == 0:
            check_int(self.n_categories, "n_categories", type(self).__name__, low=1)
            if self.n_categories > MAX_TABLE_CELLS:
                raise ValueError(f"n_categories may not exceed MAX_TABLE_CELLS = {MAX_TABLE_CELLS}; "
                                 f"got {self.n_categories}.")
            cats = np.full(d, int(self.n_categories), dtype=np.int64)
        else:
            cats = np.asarray(self.n_categories)
            if cats.shape != (d,) or cats.dtype.kind not in "iu" or np.any(cats < 1):
                raise ValueError(f"n_categories must be a positive int or {d} positive ints; got {self.n_categories!r}.")
            if max(cats.tolist()) > MAX_TABLE_CELLS:  # before the cast, so no wrap-around
                raise ValueError(f"n_categories may not exceed MAX_TABLE_CELLS = {MAX_TABLE_CELLS}; "
                                 f"got {max(cats.tolist())}.")
            cats = cats.astype(np.int64)
        bad = np.flatnonzero(seen > cats)
        if bad.size:
            j = int(bad[0])
            raise ValueError(f"Feature {j} has category {int(seen[j] - 1)}, outside 0 .. {int(cats[j] - 1)} "
                             "allowed by n_categories.")
        cells = self.n_components * sum(cats.tolist())
        if cells > MAX_TABLE_CELLS:
            raise ValueError(f"n_components * sum(n_categories) = {cells} exceeds MAX_TABLE_CELLS = "
                             f"{MAX_TABLE_CELLS}, the size of the per-category tables; recode rare "
                             "categories or use fewer components.")
        return cats

    # ------------------------------------------------------------------ fitting

    def fit(self, X, y=None):
        """Fit the mixture by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Integer category codes.
        y : Ignored

        Returns
        -------
        self : CategoricalMixture
        """
        n_threads = self._check_parameters()
        Xc = check_codes(X, MAX_TABLE_CELLS, why=f" (at most MAX_TABLE_CELLS = {MAX_TABLE_CELLS} categories)")
        n, d = Xc.shape
        k = self.n_components
        if n < k:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = {k}, n_samples = {n}.")
        cats = self._resolve_n_categories(Xc)
        offsets = np.concatenate([[0], np.cumsum(cats)]).astype(np.int64)
        random_state = check_random_state(self.random_state)
        best = None
        for _ in range(self.n_init):
            weights, theta = self._initial_parameters(Xc, cats, offsets, random_state)
            run = _core.categorical_em(Xc, offsets.tolist(), weights, theta, float(self.alpha), self.algorithm,
                                       float(self.tol), int(self.max_iter), n_threads, self._progress_printer())
            if best is None or run["lower_bounds"][-1] > best["lower_bounds"][-1]:
                best = run
        if not best["converged"]:
            warnings.warn("Best performing initialization did not converge. Try different init parameters, "
                          "or increase max_iter or tol.", ConvergenceWarning)
        theta = best["theta"]
        self.weights_ = best["weights"]
        self.category_probabilities_ = [theta[offsets[j]:offsets[j + 1]].T.copy() for j in range(d)]
        self.n_categories_ = cats
        self.lower_bounds_ = list(best["lower_bounds"])
        self.lower_bound_ = float(self.lower_bounds_[-1])
        self.converged_ = bool(best["converged"])
        self.n_iter_ = int(best["n_iter"])
        check_n_features(self, X, reset=True)
        return self

    def _initial_parameters(self, X, cats, offsets, random_state):
        k = self.n_components
        theta = np.empty((int(offsets[-1]), k))
        if self.init_params == "random":
            for j, m in enumerate(cats):
                theta[offsets[j]:offsets[j + 1]] = random_state.dirichlet(np.ones(m), size=k).T
        else:
            rows = X[random_state.choice(X.shape[0], size=k, replace=False)]
            for j, m in enumerate(cats):
                block = np.full((m, k), 0.5 / m)
                block[rows[:, j], np.arange(k)] += 0.5
                theta[offsets[j]:offsets[j + 1]] = block
        return np.full(k, 1.0 / k), theta

    def _progress_printer(self):
        if not self.verbose:
            return None

        def report(n_iter, change):
            if n_iter % self.verbose_interval == 0:
                print(f"  Iteration {n_iter}\t objective change {change:.5f}")

        return report

    # ------------------------------------------------------------------ prediction

    def _validate_for_predict(self, X):
        check_is_fitted(self, "category_probabilities_")
        check_n_features(self, X, reset=False)
        if np.ndim(X) == 2 and np.shape(X)[1] != self.n_features_in_:
            raise ValueError(f"X has {np.shape(X)[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input.")
        return check_codes(X, self.n_categories_, why=" known to the fitted model")

    def _evaluate(self, X, log_prob=False, resp=False, labels=False):
        Xc = self._validate_for_predict(X)
        # the core's layout: one row of k probabilities per (feature, category)
        offsets = np.concatenate([[0], np.cumsum(self.n_categories_)]).tolist()
        theta = np.ascontiguousarray(np.concatenate([p.T for p in self.category_probabilities_]))
        return _core.categorical_evaluate(Xc, offsets, self.weights_, theta, log_prob, resp, labels,
                                          check_n_threads(self.n_threads, type(self).__name__))

    def score_samples(self, X):
        """Log-likelihood of each row under the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self._evaluate(X, log_prob=True)[0]

    def predict(self, X):
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._evaluate(X, labels=True)[2]

    def predict_proba(self, X):
        """Posterior probability of each component for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        return self._evaluate(X, resp=True)[1]

    def sample(self, n_samples=1):
        """Draw rows from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), int64
        y : ndarray of shape (n_samples,)
            Component of each row.
        """
        check_is_fitted(self, "category_probabilities_")
        check_int(n_samples, "n_samples", "sample", low=1)
        rng = check_random_state(self.random_state)
        y = rng.choice(self.n_components, size=n_samples, p=self.weights_ / self.weights_.sum())
        X = np.empty((n_samples, len(self.category_probabilities_)), dtype=np.int64)
        for j, probs in enumerate(self.category_probabilities_):
            cum = np.cumsum(probs[y], axis=1)
            u = rng.random_sample(n_samples)[:, None] * cum[:, -1:]
            X[:, j] = np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1)
        return X, y

    # ------------------------------------------------------------------ model size (score, bic, aic: MixtureScoreMixin)

    def _n_parameters(self):
        return int(self.n_components - 1 + self.n_components * np.sum(self.n_categories_ - 1))
