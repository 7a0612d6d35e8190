"""Mixtures of independent categorical distributions (latent class models) fitted by EM."""

from __future__ import annotations

import numpy as np

from . import _core
from ._mixture_base import BaseMixture
from ._validation import ArrayParam, Interval, Options, check_codes, check_n_threads

INIT_PARAMS = ("random", "random_from_data")
# Bound on n_components * sum(n_categories): the size of each probability and count table
# (2**25 doubles = 256 MiB). One stray large code would otherwise size the tables by itself.
MAX_TABLE_CELLS = 2**25


class CategoricalMixture(BaseMixture):
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
        Maximum EM iterations per initialisation; 0 keeps the initial parameters (as in
        :class:`GaussianMixture` and scikit-learn).
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
    warm_start : bool, default=False
        If True, each further ``fit`` continues EM from the previous solution (one run,
        ``n_init`` ignored): the fitted ``n_categories_`` are kept, so X's codes must lie
        within them, and ``n_components`` must not change.
    verbose : int, default=0
        0: silent; 1: each initialisation and every ``verbose_interval`` iterations;
        2: also timings and the change of the objective.
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

    _parameter_constraints: dict = {
        **BaseMixture._parameter_constraints,
        "alpha": [Interval(float, 0.0)],
        # one int for every feature, or one per feature (checked against X in fit)
        "n_categories": [None, Interval(int, 1), ArrayParam()],
        "init_params": [Options(*INIT_PARAMS)],
    }
    _fitted_attribute = "category_probabilities_"

    def __init__(self, n_components=1, *, alpha=1.0, n_categories=None, algorithm="soft", tol=1e-3,
                 max_iter=100, n_init=1, init_params="random", random_state=None, warm_start=False,
                 n_threads=None, verbose=0, verbose_interval=10):
        self.n_components = n_components
        self.alpha = alpha
        self.n_categories = n_categories
        self.algorithm = algorithm
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.n_threads = n_threads
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def _resolve_n_categories(self, X):
        d = X.shape[1]
        seen = X.max(axis=0) + 1
        if self.n_categories is None:
            cats = seen.astype(np.int64)
        elif np.ndim(self.n_categories) == 0:
            if self.n_categories > MAX_TABLE_CELLS:
                raise ValueError(f"n_categories may not exceed MAX_TABLE_CELLS = {MAX_TABLE_CELLS}; "
                                 f"got {self.n_categories}.")
            cats = np.full(d, int(self.n_categories), dtype=np.int64)
        else:
            cats = np.asarray(self.n_categories)
            if cats.shape != (d,) or cats.dtype.kind not in "iu" or np.any(cats < 1):
                raise ValueError(
                    f"n_categories must be a positive int or {d} positive ints; got {self.n_categories!r}.")
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

    def _fit_data(self, X, y, sample_weight, n_threads, do_init):
        if do_init:
            Xc = check_codes(X, MAX_TABLE_CELLS, why=f" (at most MAX_TABLE_CELLS = {MAX_TABLE_CELLS} categories)")
        else:  # a warm start continues with the fitted tables
            Xc = self._check_input(X)
        n, k = Xc.shape[0], self.n_components
        if n < k:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = {k}, n_samples = {n}.")
        cats = self._resolve_n_categories(Xc) if do_init else self.n_categories_
        return {"X": Xc, "n_threads": n_threads, "cats": cats, "offsets": _offsets(cats)}

    def _initial_parameters(self, data, random_state):
        X, cats, offsets = data["X"], data["cats"], data["offsets"]
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
        return {"weights": np.full(k, 1.0 / k), "theta": theta}

    def _get_parameters(self):
        return {"weights": self.weights_, "theta": self._theta()}

    def _theta(self):
        """The fitted probabilities in the core's layout: a row of k per (feature, category)."""
        return np.ascontiguousarray(np.concatenate([p.T for p in self.category_probabilities_]))

    def _run_em(self, data, start, prev_bound, printer):
        # the core starts each run's objective afresh, so prev_bound (warm start) is not passed
        return _core.categorical.em(data["X"], data["offsets"].tolist(), start["weights"], start["theta"],
                                    float(self.alpha), self.algorithm, float(self.tol), int(self.max_iter),
                                    data["n_threads"], printer)

    def _set_fitted(self, data, run, bound):
        theta, offsets = run["theta"], data["offsets"]
        probabilities = [theta[offsets[j]:offsets[j + 1]].T.copy() for j in range(len(data["cats"]))]
        self.weights_ = np.asarray(run["weights"], dtype=np.float64)
        self.category_probabilities_ = probabilities
        self.n_categories_ = data["cats"]
        self.lower_bounds_ = [float(b) for b in run["lower_bounds"]]
        self.lower_bound_ = float(bound)
        self.converged_ = bool(run["converged"])
        self.n_iter_ = int(run["n_iter"])

    # ------------------------------------------------------------------ prediction

    def _check_input(self, X):
        return check_codes(X, self.n_categories_, why=" known to the fitted model")

    def _evaluate(self, Xc, log_prob=False, resp=False, labels=False):
        return _core.categorical.evaluate(Xc, _offsets(self.n_categories_).tolist(), self.weights_, self._theta(),
                                          log_prob, resp, labels, check_n_threads(self.n_threads, type(self).__name__))

    def _sample(self, n_samples, rng):
        y = rng.choice(self.n_components, size=n_samples, p=self.weights_ / self.weights_.sum())
        X = np.empty((n_samples, len(self.category_probabilities_)), dtype=np.int64)
        for j, probs in enumerate(self.category_probabilities_):
            cum = np.cumsum(probs[y], axis=1)
            u = rng.random_sample(n_samples)[:, None] * cum[:, -1:]
            X[:, j] = np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1)
        return X, y

    # ------------------------------------------------------------------ model size (score, bic, aic: BaseMixture)

    def _n_parameters(self):
        return int(self.n_components - 1 + self.n_components * np.sum(self.n_categories_ - 1))


def _offsets(cats):
    """Where each feature's rows start in the core's (feature, category) layout, and the end."""
    return np.concatenate([[0], np.cumsum(cats)]).astype(np.int64)
