"""Gaussian mixture models fitted by EM in the C++ core."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike

from . import _core
from ._base import draw_seed
from ._covariance import (
    COVARIANCE_TYPES,
    cov_shape,
    covariances_from_precisions_cholesky,
    n_covariance_parameters,
    precisions_cholesky_from_precisions,
    precisions_from_cholesky,
)
from ._far_rows import careful_posteriors, mixture_components, needs_careful_path
from ._gmm_init import _mean_imputed, kmeans_labels, random_rows_labels
from ._mixture_base import BaseMixture
from ._semi_supervised import SemiSupervisedMixin
from ._validation import (
    ArrayParam,
    Boolean,
    Interval,
    Options,
    as_float_array,
    as_probabilities,
    check_array,
    check_finite,
    check_missing,
    check_n_threads,
    check_sample_weight,
)

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
MISSING = ("error", "em")


def _explain_overflow(X, exc):
    """A fit that failed on data whose squares overflow the data type gets that reason."""
    scale = float(np.max(np.abs(X[np.isfinite(X)]), initial=0.0))
    limit = np.sqrt(np.finfo(X.dtype).max / max(X.shape[0], 1))
    if scale > limit:
        raise ValueError(f"Fitting the mixture failed: X's values reach {scale:.3g}, so their squares (the "
                         f"variances) overflow {X.dtype.name} (limit about {limit:.3g} for {X.shape[0]} rows). "
                         + ("Pass float64 data or rescale X." if X.dtype == np.float32 else "Rescale X.")) from exc


class GaussianMixture(SemiSupervisedMixin, BaseMixture):
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
        Maximum number of EM iterations per initialisation; 0 keeps the initial
        parameters (as scikit-learn).
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

    ``score_samples``, ``predict`` and ``predict_proba`` give every finite row its
    log-density (or -inf below the float64 range) and well-defined posteriors, never NaN:
    rows so far from every component that the core's squared distances overflow (about
    1e154 in float64, 1e19 in float32) or lose their differences are recomputed in float64
    from rescaled distances. Such a row goes to the component with the smallest
    Mahalanobis distance; components with equal covariances are decided by the linear term
    of their log-odds, equal components share by their weights. For float32 data the
    log-densities are float64 too.
    """

    _parameter_constraints: dict = {
        **BaseMixture._parameter_constraints,
        "covariance_type": [Options(*COVARIANCE_TYPES)],
        "reg_covar": [Interval(float, 0.0)],
        "init_params": [Options(*INIT_PARAMS)],
        "weights_init": [None, ArrayParam()],  # shapes and values: _check_initial_parameters
        "means_init": [None, ArrayParam()],
        "precisions_init": [None, ArrayParam()],
        "semi_supervised": [Boolean()],
        "missing": [Options(*MISSING)],
    }
    _fitted_attribute = "precisions_cholesky_"

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

    def _check_initial_parameters(self, n_features):
        """The user's weights_init / means_init / precisions_init, validated, as float64."""
        owner = type(self).__name__
        k, cov = self.n_components, self.covariance_type
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = as_probabilities(self.weights_init, "weights_init", (k,), owner)
        if self.means_init is not None:
            means = as_float_array(self.means_init, "means_init", (k, n_features), owner)
        if self.precisions_init is not None:
            precisions = as_float_array(self.precisions_init, "precisions_init", cov_shape(cov, k, n_features), owner)
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

    def fit(self, X: ArrayLike, y: ArrayLike | None = None, sample_weight: ArrayLike | None = None
            ) -> "GaussianMixture":
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

    def fit_predict(self, X: ArrayLike, y: ArrayLike | None = None, sample_weight: ArrayLike | None = None
                    ) -> np.ndarray:
        """Fit the model to X (as :meth:`fit`) and return the most probable component of each row.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component indices (see :meth:`predict_class` for classes).
        """
        return self._fit_predict(X, y, sample_weight=sample_weight)

    def _fit_data(self, X, y, sample_weight, n_threads, do_init):
        owner = type(self).__name__
        Xc = check_array(X, min_samples=2, n_threads=n_threads, allow_nan=self.missing == "em", finite=False)
        # non-finite column sums flag NaN or infinity in X for the exact check, so finite data
        # are read once instead of twice (the fit centres on column medians: see em_fit)
        if not np.isfinite(_core.gmm.column_mean(Xc, n_threads)).all():
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
        classes, row_class, component_class = self._check_labels(y, n, do_init)
        if positive is not None and row_class is not None:
            row_class = np.ascontiguousarray(row_class[positive])
        if do_init and classes is not None and any(v is None for v in user_init):
            self._check_labelled_rows(row_class, component_class, sw)
        return {
            "X": X_all, "Xc": Xc, "sw": sw, "n_threads": n_threads, "has_missing": has_missing,
            "user_init": user_init, "classes": classes, "row_class": row_class, "component_class": component_class,
            "X_init": _mean_imputed(Xc, sw) if has_missing and do_init else Xc,
        }

    def _initial_parameters(self, data, random_state):
        """Initial weights, means, covariances and precision factors (float64)."""
        weights_init, means_init, precisions_init = data["user_init"]
        X, sw, n_threads, row_class = data["X_init"], data["sw"], data["n_threads"], data["row_class"]
        k, cov = self.n_components, self.covariance_type
        if weights_init is None or means_init is None or precisions_init is None:
            labels = None
            seed = draw_seed(random_state)
            if row_class is not None:
                labels = self._initial_labels_semi_supervised(X, seed, n_threads, sw, row_class,
                                                              data["component_class"])
            elif self.init_params in ("kmeans", "k-means++"):
                labels = kmeans_labels(X, k, seed, n_threads, sw, self.init_params == "kmeans")
            elif self.init_params == "random_from_data":
                labels = random_rows_labels(X, k, random_state, n_threads, sw, type(self).__name__)
            params = _core.gmm.params_from_labels(X, labels, k, cov, float(self.reg_covar), seed, n_threads, sw)
        else:
            params = {}
        if weights_init is not None:
            params["weights"] = weights_init
        if means_init is not None:
            params["means"] = means_init
        if precisions_init is not None:
            prec_chol = precisions_cholesky_from_precisions(precisions_init, cov)
            params["precisions_cholesky"] = prec_chol
            params["covariances"] = covariances_from_precisions_cholesky(prec_chol, cov)
        return params

    def _get_parameters(self):
        return {"weights": self.weights_, "means": self.means_, "covariances": self.covariances_,
                "precisions_cholesky": self.precisions_cholesky_}

    def _run_em(self, data, start, prev_bound, printer):
        return _core.gmm.em_fit(
            data["Xc"], data["sw"], *(np.asarray(start[key], dtype=np.float64) for key in ("weights", "means")),
            np.asarray(start["covariances"], dtype=np.float64),
            np.asarray(start["precisions_cholesky"], dtype=np.float64),
            self.covariance_type, self.algorithm, float(self.tol), float(self.reg_covar),
            int(self.max_iter), data["n_threads"], float(prev_bound), printer,
            data["row_class"], data["component_class"], data["has_missing"],
        )

    def _explain_failure(self, data, exc):
        _explain_overflow(data["Xc"], exc)

    def _set_fitted(self, data, run, bound):
        """Stores all fitted attributes at once, after everything has succeeded."""
        cov, dtype = self.covariance_type, data["Xc"].dtype
        prec_chol = np.asarray(run["precisions_cholesky"], dtype=np.float64)
        covariances = run["covariances"]
        if covariances is None or np.size(covariances) == 0:
            covariances = covariances_from_precisions_cholesky(prec_chol, cov)
        with np.errstate(over="ignore"):
            fitted = {
                "weights_": np.asarray(run["weights"], dtype=dtype), "means_": np.asarray(run["means"], dtype=dtype),
                "covariances_": np.asarray(covariances, dtype=dtype), "precisions_cholesky_": prec_chol.astype(dtype),
                "precisions_": precisions_from_cholesky(prec_chol, cov).astype(dtype),
            }
        bad = [name for name, value in fitted.items() if not np.isfinite(value).all()]
        if bad:  # e.g. a warm start from a float64 fit whose far component does not fit in float32
            raise ValueError(f"Fitting the mixture failed: the fitted {', '.join(bad)} are beyond the range of "
                             f"{np.dtype(dtype).name}. Pass float64 data, or refit without warm_start.")
        if run.get("dropped"):
            warnings.warn(
                f"Hard EM: component(s) {sorted(set(run['dropped']))} received no samples and were dropped "
                "(weight set to 0, parameters frozen).",
                UserWarning,
                stacklevel=2,
            )
        for name, value in fitted.items():
            setattr(self, name, value)
        self.converged_ = bool(run["converged"])
        self.n_iter_ = int(run["n_iter"])
        self.lower_bound_ = float(bound)
        self.lower_bounds_ = [float(b) for b in run["lower_bounds"]]
        if data["classes"] is not None:
            self.classes_ = data["classes"]
            self.component_class_ = data["classes"][data["component_class"]]
        else:
            for name in ("classes_", "component_class_"):
                self.__dict__.pop(name, None)

    # ------------------------------------------------------------------ prediction

    def _check_input(self, X, allow_nan=None):
        if allow_nan is None:
            allow_nan = self.missing == "em"
        return check_array(X, n_threads=check_n_threads(self.n_threads, type(self).__name__), allow_nan=allow_nan)

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
        out = list(_core.gmm.evaluate(
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

    def impute(self, X: ArrayLike) -> np.ndarray:
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

    def _sample(self, n_samples, rng):
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

    def _n_parameters(self):
        d = self.means_.shape[1]
        k = self.n_components
        return int(n_covariance_parameters(self.covariance_type, k, d) + k * d + k - 1)
