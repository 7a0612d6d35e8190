"""Gaussian mixture models fitted by EM in the C++ core."""

from __future__ import annotations

import math
import time
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
    draw_seed,
)
from ._far_rows import careful_posteriors, mixture_components, needs_careful_path
from ._validation import (
    as_float_array,
    check_array,
    check_finite,
    check_int,
    check_missing,
    check_n_features,
    check_n_threads,
    check_option,
    check_partial_labels,
    check_real,
    check_sample_weight,
)

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
ALGORITHMS = ("soft", "hard")
MISSING = ("error", "em")

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


def _explain_overflow(X, exc):
    """A fit that failed on data whose squares overflow the data type gets that reason."""
    scale = float(np.max(np.abs(X[np.isfinite(X)]), initial=0.0))
    limit = np.sqrt(np.finfo(X.dtype).max / max(X.shape[0], 1))
    if scale > limit:
        raise ValueError(f"Fitting the mixture failed: X's values reach {scale:.3g}, so their squares (the "
                         f"variances) overflow {X.dtype.name} (limit about {limit:.3g} for {X.shape[0]} rows). "
                         + ("Pass float64 data or rescale X." if X.dtype == np.float32 else "Rescale X.")) from exc


def _label_rows(row_hashes, chosen):
    """j for every row whose hash is chosen[j] (each copy of the j-th chosen row), else -1."""
    labels = np.full(len(row_hashes), -1, dtype=np.int64)
    for j, h in enumerate(chosen):
        labels[row_hashes == h] = j
    return labels


def _cov_shape(covariance_type, k, d):
    return {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[covariance_type]


def _precisions_cholesky_from_precisions(precisions, covariance_type):
    """Upper-triangular U with U U^T = precision (the unique one with a positive diagonal)."""
    if covariance_type in ("diag", "spherical"):
        return np.sqrt(precisions)
    flip = lambda a: a[..., ::-1, ::-1]  # noqa: E731 - chol of the flipped matrix, flipped back
    return flip(np.linalg.cholesky(flip(precisions)))


def _covariances_from_precisions_cholesky(prec_chol, covariance_type):
    if covariance_type in ("diag", "spherical"):
        return 1.0 / prec_chol**2
    inv_u = np.linalg.inv(prec_chol)  # covariance = (U U^T)^-1 = U^-T U^-1
    return np.swapaxes(inv_u, -1, -2) @ inv_u


def _precisions_from_cholesky(prec_chol, covariance_type):
    if covariance_type in ("diag", "spherical"):
        return prec_chol**2
    return prec_chol @ np.swapaxes(prec_chol, -1, -2)


class GaussianMixture(MixtureScoreMixin, DensityMixin, BaseEstimator):
    """Gaussian mixture model fitted by soft or hard EM in a multithreaded C++ core.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the same
    parameters, defaults, methods and fitted attributes, and from the same starting
    point the same iterates. Each EM iteration is one streaming pass over the rows that
    accumulates sufficient statistics, so fitting never allocates an
    ``(n_samples, n_components)`` array.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full': each component has its own covariance matrix; 'tied': all share one;
        'diag': each has a diagonal covariance; 'spherical': each has one variance.
    tol : float, default=1e-3
        EM stops when the objective (mean log-likelihood for soft EM, mean complete-data
        log-likelihood for hard EM) changes by less than ``tol`` between iterations.
    reg_covar : float, default=1e-6
        Non-negative value added to the diagonal of every covariance, keeping it
        positive definite. A covariance is computed from sums over the rows, so it is
        known only to within rounding (a few dozen units of the data type's epsilon
        times the size of those sums). One rule holds for every covariance type: a
        component whose scatter is at that level in some direction (collapsed onto a
        point or a subspace, e.g. one seed row of ``'k-means++'``) has variance exactly
        ``reg_covar`` there, the ridge being raised if needed to what the data type
        resolves beside the component's largest variance (so float32 fits store
        float32 covariances that are positive definite); with ``reg_covar=0`` such a
        component is an error. ``sample_weight`` is scaled by a power of two when its
        largest value is far from 1 (only ratios of weights matter), and rows of weight
        zero take no part in the fit.
    max_iter : int, default=100
        Maximum number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the run with the highest final objective is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the initial responsibilities are chosen: Lloyd's k-means (seeded by
        k-means++), k-means++ seeds alone, random responsibilities, or random rows.
        All run in the C++ core.
    weights_init : array-like of shape (n_components,), default=None
        Initial weights (non-negative, summing to 1).
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means.
    precisions_init : array-like, default=None
        Initial precisions (inverse covariances), shaped by ``covariance_type`` as
        ``precisions_``; symmetric positive definite (full, tied) or positive.
    random_state : int, RandomState instance or None, default=None
        Seed for the initialisation and for :meth:`sample`.
    warm_start : bool, default=False
        If True, each further ``fit`` starts from the previous solution (one run,
        ``n_init`` ignored).
    verbose : int, default=0
        0: silent; 1: each initialisation and every ``verbose_interval`` iterations;
        2: also timings and the change of the objective.
    verbose_interval : int, default=10
        Iterations between two progress messages.
    algorithm : {'soft', 'hard'}, default='soft'
        'soft': classic EM with responsibilities. 'hard': hard (classification) EM —
        each row is assigned to its most probable component and the parameters are
        fitted to those assignments; it maximises the complete-data likelihood. A
        component that receives no rows in hard EM is dropped: its weight becomes
        exactly 0, its mean and covariance stay at their last values, and a
        ``UserWarning`` says so.
    n_threads : int or None, default=None
        Threads of the C++ core, 1 .. 1024; None uses all cores (respecting
        ``OMP_NUM_THREADS``). Results are bit-for-bit the same for any value. A process
        forked after a parallel call (``multiprocessing``'s default ``fork`` on Linux) runs
        on one thread, with one ``RuntimeWarning``; use ``spawn`` / ``forkserver`` there for
        threads (README, "Threads and child processes").
    semi_supervised : bool, default=False
        False: ``y`` is ignored, as in scikit-learn. True: ``fit(X, y)`` learns from
        partially labelled data. ``y`` holds a class per row and ``-1`` for unlabelled
        rows (scikit-learn's semi-supervised convention; with string classes use an
        object array so that ``-1`` can mark the unlabelled rows). ``n_components`` must
        be a multiple ``m`` of the number of classes; component ``j`` belongs to class
        ``classes_[j // m]`` (``component_class_``). In every E-step a labelled row's
        responsibilities are restricted to its class's ``m`` components (soft or hard
        among them), an unlabelled row is assigned as usual; this is EM for the
        likelihood of the observed data, ``prod_labelled p(x_i, y_i) *
        prod_unlabelled p(x_i)``, which is what ``lower_bounds_`` reports (per row,
        weighted mean; hard EM: its complete-data version) and what never decreases
        without a ridge (see ``lower_bounds_`` for ``reg_covar > 0``).
        Initialisation (unless all of ``weights_init``, ``means_init`` and
        ``precisions_init`` are given; ``init_params`` is then not used): each class's
        components are fitted to its labelled rows only — one component per class
        directly, several by k-means (``init_params='kmeans'``, else k-means++ seeds) on
        that class's labelled rows, which must number at least ``m``. With
        ``warm_start``, later fits must use labels among ``classes_`` (``y=None`` or all
        ``-1`` is then allowed). ``predict`` still returns components; use
        :meth:`predict_class` and :meth:`predict_class_proba` for classes.
    missing : {'error', 'em'}, default='error'
        'error': NaN in X is rejected, as in scikit-learn. 'em': NaN entries are
        missing values (missing at random). Each E-step uses a row's marginal density
        over its observed features; each M-step uses the conditional expectations of
        the missing entries given the observed ones, second moments including the
        conditional covariance. ``lower_bounds_`` is then the observed-data mean
        log-likelihood, which never decreases without a ridge (see ``lower_bounds_``).
        ``score_samples``, ``score``, ``predict`` and ``predict_proba`` accept NaN too
        and marginalise over it, and
        :meth:`impute` fills it in. Rows (and, for ``fit``, features) without any
        observed value are rejected; infinity is always rejected. The initialisation
        (k-means etc.) runs on a copy of X with each NaN replaced by its column's
        observed mean. Without NaN in X the fit is exactly the one of 'error'.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray, shape depends on ``covariance_type``
    precisions_ : ndarray, same shape as ``covariances_``
    precisions_cholesky_ : ndarray, same shape as ``covariances_``
        Upper-triangular ``U`` with ``precision = U @ U.T`` (full, tied), or
        ``1/sqrt(covariance)`` (diag, spherical).
    converged_ : bool
        Whether the best run converged.
    n_iter_ : int
        Iterations of the best run.
    lower_bound_ : float
        Objective of the best run at its last iteration.
    lower_bounds_ : list of float
        The objective at every iteration of the best run: entry ``i`` is the objective
        (the weighted mean log-likelihood per row — observed-data with missing values,
        complete-data for hard EM) at the parameters after ``i`` M-steps, entry 0 at the
        initial ones (with ``warm_start``, the previous fit's); the fitted parameters are
        one M-step past the last entry. With ``reg_covar=0`` it never decreases (EM;
        up to floating-point rounding). With ``reg_covar > 0`` it can decrease: as in
        scikit-learn, the M-step adds the ridge ``reg_covar * I`` to each covariance, so it
        maximises the expected complete-data log-likelihood minus
        ``reg_covar / 2 * sum_j N_j tr(Sigma_j^-1)`` (``N_j`` that step's weighted
        responsibility sums), not the likelihood. One step then loses at most
        ``reg_covar / 2 * sum_j w_j tr(Sigma_j^-1)``, with ``w_j`` the weights after the
        step and ``Sigma_j`` the covariances before it: negligible while the variances
        are much larger than ``reg_covar``, large for a component whose scatter is
        (nearly) singular. Where a component's ridge is raised (see ``reg_covar``), that
        ridge replaces ``reg_covar`` in the bound. float32 fits add float32 rounding to
        both statements.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.
    classes_ : ndarray of shape (n_classes,)
        Only with ``semi_supervised=True``: the sorted distinct labels of ``y`` other
        than ``-1`` (any dtype, strings included).
    component_class_ : ndarray of shape (n_components,)
        Only with ``semi_supervised=True``: the class (a value of ``classes_``) of each
        component.

    Notes
    -----
    ``fit`` takes ``sample_weight``: a row of weight ``w`` counts as ``w`` copies of the
    row in every statistic and in the objective (``lower_bounds_`` is the weighted mean),
    so integer weights give the same fit as repeated rows. The initialisation uses the
    weights too, and depends on the rows' values and weights only, not on their order:
    k-means++ draws its first seed with probability proportional to ``w`` and the others
    to ``w * D^2`` (by cumulative weight over the rows ordered by a hash of their values,
    so that equal rows are adjacent), Lloyd's centroids are weighted means,
    ``'random_from_data'`` draws ``n_components`` distinct rows, each with probability
    proportional to its total weight among those left, ``'random'`` gives equal rows equal
    random responsibilities, every copy of a drawn row is labelled, and the initial means
    and covariances are weighted. So with the same ``random_state``, integer weights and
    the correspondingly repeated rows, in any order, give the same fit (up to
    floating-point rounding) with every ``init_params``.
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        algorithm="soft",
        n_threads=None,
        semi_supervised=False,
        missing="error",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.algorithm = algorithm
        self.n_threads = n_threads
        self.semi_supervised = semi_supervised
        self.missing = missing

    # ------------------------------------------------------------------ validation

    def _check_parameters(self):
        owner = type(self).__name__
        check_int(self.n_components, "n_components", owner, low=1)
        check_option(self.covariance_type, "covariance_type", owner, COVARIANCE_TYPES)
        check_real(self.tol, "tol", owner, low=0.0)
        check_real(self.reg_covar, "reg_covar", owner, low=0.0)
        check_int(self.max_iter, "max_iter", owner, low=0)
        check_int(self.n_init, "n_init", owner, low=1)
        check_option(self.init_params, "init_params", owner, INIT_PARAMS)
        check_option(self.algorithm, "algorithm", owner, ALGORITHMS)
        check_option(self.missing, "missing", owner, MISSING)
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise TypeError(f"The 'warm_start' parameter of {owner} must be a bool; got {self.warm_start!r}.")
        if not isinstance(self.semi_supervised, (bool, np.bool_)):
            raise TypeError(f"The 'semi_supervised' parameter of {owner} must be a bool; got {self.semi_supervised!r}.")
        check_int(int(self.verbose) if isinstance(self.verbose, (bool, np.bool_)) else self.verbose,
                  "verbose", owner, low=0)
        check_int(self.verbose_interval, "verbose_interval", owner, low=1)
        check_random_state(self.random_state)
        return check_n_threads(self.n_threads, owner)

    def _check_initial_parameters(self, n_features):
        """The user's weights_init / means_init / precisions_init, validated, as float64."""
        owner = type(self).__name__
        k, cov = self.n_components, self.covariance_type
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = as_float_array(self.weights_init, "weights_init", (k,), owner)
            if np.any(weights < 0) or np.any(weights > 1):
                raise ValueError(f"{owner}: 'weights_init' must lie in [0, 1]; got min {weights.min():.5g}, "
                                 f"max {weights.max():.5g}.")
            if not math.isclose(weights.sum(), 1.0, abs_tol=1e-8):
                raise ValueError(f"{owner}: 'weights_init' must sum to 1; got {weights.sum():.10g}.")
        if self.means_init is not None:
            means = as_float_array(self.means_init, "means_init", (k, n_features), owner)
        if self.precisions_init is not None:
            precisions = as_float_array(self.precisions_init, "precisions_init", _cov_shape(cov, k, n_features), owner)
            if cov in ("diag", "spherical"):
                if np.any(precisions <= 0):
                    raise ValueError(f"{owner}: 'precisions_init' ({cov}) must be positive.")
            else:
                mats = precisions.reshape(-1, n_features, n_features)
                for j, p in enumerate(mats):
                    what = "the tied precision" if cov == "tied" else f"precision {j}"
                    if not np.allclose(p, p.T, rtol=1e-5, atol=1e-8):
                        raise ValueError(f"{owner}: 'precisions_init': {what} is not symmetric.")
                    if np.linalg.eigvalsh(p).min() <= 0:
                        raise ValueError(f"{owner}: 'precisions_init': {what} is not positive definite.")
        return weights, means, precisions

    # ------------------------------------------------------------------ fitting

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the mixture's parameters by EM.

        Runs ``n_init`` initialisations (one with ``warm_start`` after the first fit) and
        keeps the parameters of the run with the highest final objective. Emits a
        ``ConvergenceWarning`` when that run did not converge within ``max_iter``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; float32 is computed in float32, anything else in float64.
        y : array-like of shape (n_samples,), default=None
            Ignored unless ``semi_supervised=True``; then a class label per row, ``-1``
            for unlabelled rows.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative, finite weights, not all zero; a row of weight ``w`` counts as
            ``w`` copies of it. Cast to X's dtype.

        Returns
        -------
        self : GaussianMixture
        """
        self._fit(X, y, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model to X and return the most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            As in :meth:`fit`.
        sample_weight : array-like of shape (n_samples,), default=None
            As in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component indices (see :meth:`predict_class` for classes).
        """
        Xc = self._fit(X, y, sample_weight)
        return self._evaluate(Xc, labels=True)[2]

    def _check_labels(self, y, n, do_init):
        """(classes, per-row class index int64 with -1 = free, component class index) or Nones."""
        owner = type(self).__name__
        if not self.semi_supervised:
            return None, None, None
        k = self.n_components
        if not do_init and not hasattr(self, "classes_"):
            raise ValueError(f"{owner}: warm_start with semi_supervised=True needs a previous semi-supervised fit "
                             "(the fitted model has no classes_).")
        if y is None:
            if do_init:
                raise ValueError(f"{owner}: semi_supervised=True needs y (a class per row, -1 = unlabelled).")
            return self.classes_, np.full(n, -1, dtype=np.int64), self._component_class_index
        y, labelled = check_partial_labels(y, n, owner)
        if do_init:
            if not labelled.any():
                raise ValueError(f"{owner}: semi_supervised=True needs at least one labelled row; every label "
                                 "in y is -1.")
            try:
                classes = np.unique(y[labelled])
            except TypeError as exc:
                raise ValueError(f"{owner}: the labels in y cannot be sorted ({exc}).") from None
            if k % len(classes):
                raise ValueError(f"{owner}: with semi_supervised=True n_components must be a multiple of the "
                                 f"number of classes; got n_components={k} for {len(classes)} classes "
                                 f"{list(classes)!r}.")
            component_class = np.arange(k, dtype=np.int64) // (k // len(classes))
        else:
            classes, component_class = self.classes_, self._component_class_index
        row_class = np.full(n, -1, dtype=np.int64)
        if labelled.any():
            try:
                yl = y[labelled]
                idx = np.searchsorted(classes, yl)
                idx_c = np.minimum(idx, len(classes) - 1)
                ok = classes[idx_c] == yl
            except (TypeError, ValueError):
                ok = np.zeros(int(labelled.sum()), dtype=bool)
            if not np.all(ok):
                unknown = np.unique(np.asarray(y[labelled], dtype=object)[~ok].astype(str))[:5]
                raise ValueError(f"{owner}: y contains labels not among the known classes {list(classes)!r}: "
                                 f"{list(unknown)!r}.")
            row_class[labelled] = idx_c
            if not do_init:  # hard EM may have dropped (weight 0) every component of a class
                alive = np.zeros(len(classes), dtype=bool)
                np.logical_or.at(alive, component_class, np.asarray(self.weights_) > 0)
                dead = np.setdiff1d(np.unique(idx_c), np.flatnonzero(alive))
                if len(dead):
                    raise ValueError(f"{owner}: every component of class(es) {list(classes[dead])!r} was dropped "
                                     "by hard EM (weight 0), so rows labelled with them cannot be fitted; refit "
                                     "without warm_start.")
        return classes, row_class, component_class

    def _fit(self, X, y=None, sample_weight=None):
        n_threads = self._check_parameters()
        owner = type(self).__name__
        Xc = check_array(X, min_samples=2, n_threads=n_threads, allow_nan=self.missing == "em", finite=False)
        # non-finite column sums flag NaN or infinity in X for the exact check, so finite data
        # are read once instead of twice (the fit centres on column medians: see em_fit)
        if not np.isfinite(_core.column_mean(Xc, n_threads)).all():
            check_finite(Xc, n_threads=n_threads, allow_nan=self.missing == "em")
        n, d = Xc.shape
        k = self.n_components
        if n < k and not self.semi_supervised:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = {k}, n_samples = {n}.")
        sw = check_sample_weight(sample_weight, n, Xc.dtype, owner)
        X_all, positive = Xc, None
        if sw is not None:
            if not sw.all():
                # rows of weight zero take no part in the fit at all (their values may be far
                # beyond the others' range); fit_predict still labels them
                positive = sw > 0
                Xc, sw = np.ascontiguousarray(Xc[positive]), np.ascontiguousarray(sw[positive])
        has_missing = self.missing == "em" and check_missing(Xc, owner, columns=True, n_threads=n_threads)
        user_init = self._check_initial_parameters(d)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init:
            check_n_features(self, X, reset=False, n_features=d)
        classes, row_class, component_class = self._check_labels(y, n, do_init)
        if positive is not None and row_class is not None:
            row_class = np.ascontiguousarray(row_class[positive])
        if do_init and classes is not None and any(v is None for v in user_init):
            self._check_labelled_rows(row_class, component_class, sw)
        random_state = check_random_state(self.random_state)
        verbose = int(self.verbose)
        X_init = _mean_imputed(Xc, sw) if has_missing and do_init else Xc

        try:
            best = None
            for init in range(self.n_init if do_init else 1):
                if verbose:
                    print(f"Initialization {init}")
                t_init = time.time()
                if do_init:
                    start = self._initial_parameters(X_init, user_init, random_state, n_threads, sw, row_class,
                                                     component_class)
                    prev_bound = -np.inf
                else:
                    start = {
                        "weights": self.weights_, "means": self.means_, "covariances": self.covariances_,
                        "precisions_cholesky": self.precisions_cholesky_,
                    }
                    prev_bound = self.lower_bound_
                if self.max_iter == 0:
                    run = dict(start, lower_bounds=[], converged=False, n_iter=0, dropped=[])
                    bound = -np.inf
                else:
                    run = _core.em_fit(
                        Xc, sw, *(np.asarray(start[key], dtype=np.float64) for key in ("weights", "means")),
                        np.asarray(start["covariances"], dtype=np.float64),
                        np.asarray(start["precisions_cholesky"], dtype=np.float64),
                        self.covariance_type, self.algorithm, float(self.tol), float(self.reg_covar),
                        int(self.max_iter), n_threads, float(prev_bound), self._progress_printer(verbose),
                        row_class, component_class, has_missing,
                    )
                    bound = run["lower_bounds"][-1]
                    if verbose:
                        state = "converged" if run["converged"] else "did not converge"
                        extra = f". time lapse {time.time() - t_init:.5f}s\t lower bound {bound:.5f}." if verbose >= 2 else "."
                        print(f"Initialization {state}{extra}")
                # as scikit-learn: the first best run, or the last one when max_iter == 0
                if best is None or bound > best[0] or self.max_iter == 0:
                    best = (bound, run)
        except ValueError as exc:
            _explain_overflow(Xc, exc)
            raise
        bound, run = best
        if not run["converged"] and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init parameters, "
                "or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
            )
        if run["dropped"]:
            warnings.warn(
                f"Hard EM: component(s) {sorted(set(run['dropped']))} received no samples and were dropped "
                "(weight set to 0, parameters frozen).",
                UserWarning,
            )
        self._set_fitted(run, bound, Xc.dtype)
        if classes is not None:
            self.classes_ = classes
            self.component_class_ = classes[component_class]
        else:
            for name in ("classes_", "component_class_"):
                self.__dict__.pop(name, None)
        check_n_features(self, X, reset=True, n_features=d)
        return X_all

    @property
    def _component_class_index(self):
        """Index into classes_ of each component: class-major, len(means_) // len(classes_) each."""
        k = len(self.means_)
        return np.arange(k, dtype=np.int64) // (k // len(self.classes_))

    def _check_labelled_rows(self, row_class, component_class, sw):
        """Every class needs enough labelled rows (of positive weight) for its initial components."""
        n_classes = int(component_class.max()) + 1
        m = self.n_components // n_classes
        lab = row_class >= 0
        if sw is not None:
            lab &= sw > 0
        counts = np.bincount(row_class[lab], minlength=n_classes)
        bad = np.flatnonzero(counts < m)
        if len(bad):
            raise ValueError(f"{type(self).__name__}: each class needs at least {m} labelled row(s) of positive "
                             f"weight to initialise its {m} component(s); class index(es) {bad.tolist()} have "
                             f"{counts[bad].tolist()}.")

    def _set_fitted(self, run, bound, dtype):
        """Stores all fitted attributes at once, after everything has succeeded."""
        cov = self.covariance_type
        prec_chol = np.asarray(run["precisions_cholesky"], dtype=np.float64)
        covariances = run["covariances"]
        if covariances is None or np.size(covariances) == 0:
            covariances = _covariances_from_precisions_cholesky(prec_chol, cov)
        with np.errstate(over="ignore"):
            fitted = {
                "weights_": np.asarray(run["weights"], dtype=dtype), "means_": np.asarray(run["means"], dtype=dtype),
                "covariances_": np.asarray(covariances, dtype=dtype), "precisions_cholesky_": prec_chol.astype(dtype),
                "precisions_": _precisions_from_cholesky(prec_chol, cov).astype(dtype),
            }
        bad = [name for name, value in fitted.items() if not np.isfinite(value).all()]
        if bad:  # e.g. a warm start from a float64 fit whose far component does not fit in float32
            raise ValueError(f"Fitting the mixture failed: the fitted {', '.join(bad)} are beyond the range of "
                             f"{np.dtype(dtype).name}. Pass float64 data, or refit without warm_start.")
        for name, value in fitted.items():
            setattr(self, name, value)
        self.converged_ = bool(run["converged"])
        self.n_iter_ = int(run["n_iter"])
        self.lower_bound_ = float(bound)
        self.lower_bounds_ = [float(b) for b in run["lower_bounds"]]

    def _progress_printer(self, verbose):
        if not verbose:
            return None
        last = [time.time()]

        def report(n_iter, change):
            if n_iter % self.verbose_interval:
                return
            if verbose >= 2:
                now = time.time()
                print(f"  Iteration {n_iter}\t time lapse {now - last[0]:.5f}s\t ll change {change:.5f}")
                last[0] = now
            else:
                print(f"  Iteration {n_iter}")

        return report

    def _initial_labels_semi_supervised(self, X, seed, n_threads, sw, row_class, component_class):
        """Initial hard labels from the labelled rows only: class c's components get its rows."""
        k = self.n_components
        n_classes = int(component_class.max()) + 1
        m = k // n_classes
        labels = np.full(X.shape[0], -1, dtype=np.int64)
        lab = row_class >= 0
        if sw is not None:
            lab &= sw > 0
        if m == 1:
            labels[lab] = row_class[lab]
            return labels
        for c in range(n_classes):
            rows = np.flatnonzero(lab & (row_class == c))
            Xs = np.ascontiguousarray(X[rows])
            ws = None if sw is None else np.ascontiguousarray(sw[rows])
            sub = self._kmeans_labels(Xs, m, seed + c, n_threads, ws, self.init_params == "kmeans")
            labels[rows] = np.where(sub >= 0, c * m + sub, -1)
        return labels

    # The initialisations depend on the rows' values and weights, never on their positions:
    # rows are drawn by value (k-means++ in the core, random rows by their hash) and every
    # copy of a drawn row gets its label. So a row of integer weight w gives exactly the
    # initialisation of w copies of it (up to rounding), in any row order.

    @staticmethod
    def _kmeans_labels(X, k, seed, n_threads, sw, lloyd):
        """Lloyd's labels from k-means++ seeds, or (lloyd=False) the seeds' rows labelled 0..k-1."""
        seeds = _core.kmeans_plusplus(X, k, seed, n_threads, sw)
        if lloyd:
            return _core.kmeans_lloyd(X, X[seeds].astype(np.float64), _KMEANS_MAX_ITER, _KMEANS_TOL, n_threads,
                                      sw)[0]
        h = _core.row_hash(X, n_threads)
        return _label_rows(h, h[seeds])

    def _random_rows_labels(self, X, k, random_state, n_threads, sw):
        """k distinct rows (by value) of positive weight, each drawn in turn with probability
        proportional to its total weight among those left, labelled 0..k-1."""
        h = _core.row_hash(X, n_threads)
        positive = slice(None) if sw is None else sw > 0
        values, inverse = np.unique(h[positive], return_inverse=True)  # sorted: no dependence on row order
        if len(values) < k:
            raise ValueError(f"{type(self).__name__}: init_params='random_from_data' needs at least "
                             f"n_components={k} distinct rows of positive weight; got {len(values)}.")
        mass = np.bincount(inverse, weights=None if sw is None else sw[positive])
        return _label_rows(h, values[random_state.choice(len(values), size=k, replace=False, p=mass / mass.sum())])

    def _initial_parameters(self, X, user_init, random_state, n_threads, sw=None, row_class=None,
                            component_class=None):
        """Initial weights, means, covariances and precision factors (float64)."""
        weights_init, means_init, precisions_init = user_init
        k, cov = self.n_components, self.covariance_type
        if weights_init is None or means_init is None or precisions_init is None:
            labels = None
            seed = draw_seed(random_state)
            if row_class is not None:
                labels = self._initial_labels_semi_supervised(X, seed, n_threads, sw, row_class, component_class)
            elif self.init_params in ("kmeans", "k-means++"):
                labels = self._kmeans_labels(X, k, seed, n_threads, sw, self.init_params == "kmeans")
            elif self.init_params == "random_from_data":
                labels = self._random_rows_labels(X, k, random_state, n_threads, sw)
            params = _core.params_from_labels(X, labels, k, cov, float(self.reg_covar), seed, n_threads, sw)
        else:
            params = {}
        if weights_init is not None:
            params["weights"] = weights_init
        if means_init is not None:
            params["means"] = means_init
        if precisions_init is not None:
            prec_chol = _precisions_cholesky_from_precisions(precisions_init, cov)
            params["precisions_cholesky"] = prec_chol
            params["covariances"] = _covariances_from_precisions_cholesky(prec_chol, cov)
        return params

    # ------------------------------------------------------------------ prediction

    def _validate_for_predict(self, X, allow_nan=None):
        check_is_fitted(self, "precisions_cholesky_")
        check_n_features(self, X, reset=False)
        if allow_nan is None:
            allow_nan = self.missing == "em"
        Xc = check_array(X, n_threads=check_n_threads(self.n_threads, type(self).__name__), allow_nan=allow_nan)
        if Xc.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {Xc.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return Xc

    def _components(self):
        """The fitted components in the form of the careful path (see ``_far_rows``)."""
        return mixture_components(self.weights_, self.means_, self.precisions_cholesky_, self.covariance_type)

    def _evaluate(self, Xc, log_prob=False, resp=False, labels=False, imputed=False):
        """(log_prob, resp, labels, imputed) as requested, None for the others.

        The core computes every row; the rare rows where its result overflows or has lost
        its precision (far from every component, see ``_far_rows``) are recomputed on the
        careful path, so every finite row gets its log-density (or -inf) and well-defined
        posteriors, with ``labels`` their argmax."""
        owner = type(self).__name__
        n_threads = check_n_threads(self.n_threads, owner)
        # labels alone: the row's largest log term flags the far rows as well as the
        # log-density does (they differ by at most log k), and it costs no exp per entry
        densities = log_prob or resp or imputed
        out = list(_core.evaluate(
            Xc, np.asarray(self.weights_, dtype=np.float64), np.asarray(self.means_, dtype=np.float64),
            np.asarray(self.precisions_cholesky_, dtype=np.float64), self.covariance_type, "soft",
            densities, resp, labels, n_threads, check_missing(Xc, owner, n_threads=n_threads), imputed,
            not densities,
        ))
        far = np.flatnonzero(needs_careful_path(out[0] if densities else out.pop(), Xc.dtype))
        if len(far):
            lp, log_resp, filled = careful_posteriors(Xc[far], self._components(), imputed=imputed)
            if densities:
                out[0][far] = lp
            if resp:
                out[1][far] = np.exp(log_resp)
            if labels:
                out[2][far] = np.argmax(log_resp, axis=1)
            if imputed:
                out[3][far] = filled
        if not log_prob:
            out[0] = None
        return tuple(out[:4])

    def score_samples(self, X):
        """Log-density of the mixture at each row.

        Every finite row gets its log-density, or -inf when that is below the float64
        range — never NaN: rows so far from every component that the core's squared
        distances overflow (about 1e154 in float64, 1e19 in float32) are recomputed in
        float64 with rescaled distances. For float32 data the result is float64 too, so
        a far float32 row can have a finite log-density beyond the float32 range.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self._evaluate(self._validate_for_predict(X), log_prob=True)[0]

    def predict(self, X):
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._evaluate(self._validate_for_predict(X), labels=True)[2]

    def predict_proba(self, X):
        """Posterior probability of each component for each row (responsibilities).

        Every row sums to 1 and :meth:`predict` is its argmax. For a row far from every
        component the exact posterior is computed from rescaled distances (never NaN):
        it goes to the component with the smallest Mahalanobis distance, components
        with equal covariances are decided by the linear term of their log-odds, equal
        components share by their weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        return self._evaluate(self._validate_for_predict(X), resp=True)[1]

    def impute(self, X):
        """X with every NaN replaced by its expectation given the row's observed values.

        For a row with observed part ``o`` and missing part ``m`` the value is
        ``E[x_m | x_o] = sum_k p(k | x_o) E[x_m | x_o, k]`` under the fitted mixture: the
        components' conditional means weighted by their posteriors given ``x_o``.
        Available on any fitted model, whatever its ``missing`` parameter.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing value; each row needs at least one observed value.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            A new array (X's dtype, float32 or float64); observed values are unchanged.
        """
        return self._evaluate(self._validate_for_predict(X, allow_nan=True), imputed=True)[3]

    def _check_classes(self):
        check_is_fitted(self, "precisions_cholesky_")
        if not hasattr(self, "classes_"):
            raise AttributeError(f"{type(self).__name__}: predict_class and predict_class_proba need a model "
                                 "fitted with semi_supervised=True and labels y.")

    def predict_class_proba(self, X):
        """Posterior probability of each class: the sum of its components' posteriors.

        Only for a model fitted with ``semi_supervised=True``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        self._check_classes()
        resp = self.predict_proba(X)
        idx = self._component_class_index
        out = np.zeros((resp.shape[0], len(self.classes_)), dtype=resp.dtype)
        for j in range(resp.shape[1]):
            out[:, idx[j]] += resp[:, j]
        return out

    def predict_class(self, X):
        """Most probable class of each row (``classes_[argmax predict_class_proba]``).

        Only for a model fitted with ``semi_supervised=True``; :meth:`predict` still
        returns component indices, as in scikit-learn.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        proba = self.predict_class_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component of each sample.
        """
        check_is_fitted(self, "precisions_cholesky_")
        check_int(n_samples, "n_samples", "sample", low=1)
        rng = check_random_state(self.random_state)
        weights = np.asarray(self.weights_, dtype=np.float64)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        d = self.means_.shape[1]
        covs = np.asarray(self.covariances_, dtype=np.float64)
        parts = []
        for j, m in enumerate(counts):
            z = rng.standard_normal(size=(m, d))
            if self.covariance_type in ("full", "tied"):
                c = covs[j] if self.covariance_type == "full" else covs
                z = z @ np.linalg.cholesky(c).T
            else:
                z = z * np.sqrt(covs[j])
            parts.append(self.means_[j] + z)
        X = np.vstack(parts).astype(np.result_type(self.means_.dtype, np.float64))
        y = np.repeat(np.arange(len(counts)), counts)
        return X, y

    # ------------------------------------------------------------------ model size (score, bic, aic: MixtureScoreMixin)

    def _n_parameters(self):
        d = self.means_.shape[1]
        k = self.n_components
        cov_params = {
            "full": k * d * (d + 1) / 2.0,
            "diag": k * d,
            "tied": d * (d + 1) / 2.0,
            "spherical": k,
        }[self.covariance_type]
        return int(cov_params + k * d + k - 1)
