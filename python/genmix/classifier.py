"""The Gaussian-mixture Bayes classifier: one GaussianMixture per class."""

from __future__ import annotations

import math
import warnings

import numpy as np
from numpy.typing import ArrayLike

from ._base import BaseEstimator, ClassifierMixin, check_is_fitted
from ._far_rows import careful_posteriors, needs_careful_path, pool_components
from ._validation import ArrayParam, as_probabilities, check_array, check_n_features, check_n_threads, check_parameters
from .mixture import GaussianMixture

try:  # scikit-learn is optional at run time
    from sklearn.exceptions import DataConversionWarning
except ImportError:  # pragma: no cover - exercised only without scikit-learn

    class DataConversionWarning(UserWarning):
        """The input was converted (e.g. a column-vector y was ravelled)."""


# the parameters passed through, unchanged, to every per-class GaussianMixture
_GMM_PARAMS = (
    "n_components", "covariance_type", "tol", "reg_covar", "max_iter", "n_init", "init_params",
    "random_state", "algorithm", "n_threads", "missing",
)


def _logsumexp(a, axis):
    """log(sum(exp(a), axis)), stable, for rows with at least one finite entry."""
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis)


def _check_targets(y, n_samples, owner):
    """y as a 1-D array of labels of length n_samples; ValueError/TypeError otherwise."""
    if y is None:
        raise ValueError(f"{owner} requires y to be passed, but the target y is None.")
    if hasattr(y, "tocsr") or hasattr(y, "toarray") and hasattr(y, "nnz"):
        raise TypeError("Sparse y is not supported; pass a 1-D array of class labels.")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the shape of y "
            "to (n_samples,), for example using ravel().",
            DataConversionWarning,
            stacklevel=3,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y should be a 1d array of class labels; got an array of shape {y.shape}.")
    if y.shape[0] != n_samples:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: X has {n_samples} rows "
            f"but y has {y.shape[0]} labels."
        )
    if y.dtype.kind == "c":
        raise ValueError("Unknown label type: complex. Class labels must be integers, strings or booleans.")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity.")
        if np.any(y != np.round(y)):
            raise ValueError(
                "Unknown label type: continuous. GaussianMixtureClassifier is a classifier; y must "
                "hold class labels (integers, strings, ...), not continuous values."
            )
    if y.dtype.kind == "O":
        if any(v is None or isinstance(v, float) and math.isnan(v) for v in y):
            raise ValueError("Input y contains missing labels (None or NaN).")
        try:  # classes_ are the sorted labels: they must be comparable with each other
            np.unique(y)
        except TypeError:
            kinds = sorted({type(v).__name__ for v in y})
            raise TypeError(f"y mixes class labels of types {kinds} that cannot be sorted together; "
                            "use labels of one type (all numbers or all strings).") from None
    return y


class GaussianMixtureClassifier(ClassifierMixin, BaseEstimator):
    """Gaussian-mixture Bayes classifier: one :class:`GaussianMixture` per class.

    Each class ``c`` gets its own Gaussian mixture ``p(x | c)`` fitted by EM on the
    training rows of that class; a row is classified by Bayes' rule in log space,

        log p(c | x) = log prior_c + log p(x | c) - logsumexp_c'(log prior_c' + log p(x | c')),

    with ``log p(x | c)`` from :meth:`GaussianMixture.score_samples`. For a row so far
    from every component that these overflow or lose their differences, the posterior is
    computed exactly from rescaled distances over all classes' components, pooled with
    the class priors: probabilities are never NaN, every row
    sums to 1 and :meth:`predict` is the argmax of :meth:`predict_proba`. With
    ``n_components=1`` and ``covariance_type='full'`` this is quadratic discriminant
    analysis with a ridge ``reg_covar`` on every class covariance.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components of each class's mixture.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance structure inside each class's mixture ('tied' ties the components of
        one class, not across classes).
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance. On high-dimensional data with few
        rows per class (e.g. images) this is the important hyperparameter: choose it by
        cross-validation.
    priors : array-like of shape (n_classes,), default=None
        Class prior probabilities, in the order of ``classes_`` (the sorted unique labels);
        non-negative and summing to 1. None: the class frequencies of the training data.
    tol, max_iter, n_init, init_params, random_state, algorithm, n_threads
        Passed unchanged to every per-class :class:`GaussianMixture`; see there.
    missing : {'error', 'em'}, default='error'
        Passed to every per-class mixture. 'em': NaN entries of X are missing values,
        in ``fit`` (each class's mixture is fitted by EM with missing features) and in
        prediction (``log p(x | c)`` is the density of the row's observed features).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (sorted unique values of y; strings work).
    class_prior_ : ndarray of shape (n_classes,)
        The priors used (given or estimated).
    class_count_ : ndarray of shape (n_classes,)
        Training rows per class.
    estimators_ : list of GaussianMixture
        The fitted mixture of each class, in the order of ``classes_``.
    n_iter_ : ndarray of shape (n_classes,)
        EM iterations of each class's mixture.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.

    Notes
    -----
    Every class needs at least ``max(2, n_components)`` training rows (a mixture cannot
    be fitted to fewer); ``fit`` raises a ``ValueError`` naming the class otherwise —
    the number of components is never reduced silently. Labels are checked, the priors
    validated and X checked for NaN/infinity before any mixture is fitted; a failed
    ``fit`` leaves a previously fitted classifier unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from genmix import GaussianMixtureClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (50, 2)), rng.normal(4, 1, (50, 2))])
    >>> y = np.repeat(["a", "b"], 50)
    >>> clf = GaussianMixtureClassifier(random_state=0).fit(X, y)
    >>> clf.predict([[0.0, 0.0], [4.0, 4.0]]).tolist()
    ['a', 'b']
    """

    _parameter_constraints: dict = {
        **{name: GaussianMixture._parameter_constraints[name] for name in _GMM_PARAMS},
        "priors": [None, ArrayParam()],  # one per class: checked in fit
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        reg_covar=1e-6,
        priors=None,
        tol=1e-3,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        random_state=None,
        algorithm="soft",
        n_threads=None,
        missing="error",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.priors = priors
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.algorithm = algorithm
        self.n_threads = n_threads
        self.missing = missing

    # ------------------------------------------------------------------ fitting

    def _make_mixture(self):
        return GaussianMixture(**{name: getattr(self, name) for name in _GMM_PARAMS})

    def _check_priors(self, n_classes):
        if self.priors is None:
            return None
        return as_probabilities(self.priors, "priors", (n_classes,), type(self).__name__)

    def fit(self, X: ArrayLike, y: ArrayLike) -> "GaussianMixtureClassifier":
        """Fit one Gaussian mixture per class and set the class priors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels (integers, strings, ...); at least two classes.

        Returns
        -------
        self : GaussianMixtureClassifier

        Raises
        ------
        ValueError
            y of the wrong length or shape, continuous or missing labels, a single
            class, a class with fewer than ``max(2, n_components)`` rows, invalid
            ``priors``, NaN or infinity in X, or an invalid mixture parameter.
        TypeError
            A parameter of the wrong type.
        """
        owner = type(self).__name__
        check_parameters(self)
        n_threads = check_n_threads(self.n_threads, owner)
        Xc = check_array(X, n_threads=n_threads, allow_nan=self.missing == "em")
        y = _check_targets(y, Xc.shape[0], owner)
        classes, y_idx, counts = np.unique(y, return_inverse=True, return_counts=True)
        if len(classes) < 2:
            raise ValueError(
                f"{owner} needs samples of at least 2 classes; y has only one class ({classes[0]!r})."
            )
        need = max(2, int(self.n_components))
        small = [(c, int(m)) for c, m in zip(classes, counts) if m < need]
        if small:
            listed = ", ".join(f"{c!r}: {m}" for c, m in small[:5])
            raise ValueError(
                f"{owner}: every class needs at least max(2, n_components) = {need} training samples; "
                f"class(es) with too few: {listed}. Lower n_components or merge/drop these classes."
            )
        priors = self._check_priors(len(classes))
        if priors is None:
            priors = counts / counts.sum()

        estimators = []
        for j in range(len(classes)):
            gm = self._make_mixture()
            gm.fit(Xc[y_idx == j])
            estimators.append(gm)

        # everything succeeded: set all fitted attributes at once
        self.classes_ = classes
        self.class_count_ = counts.astype(np.int64)
        self.class_prior_ = priors
        self.estimators_ = estimators
        self.n_iter_ = np.array([gm.n_iter_ for gm in estimators], dtype=np.int64)
        check_n_features(self, X, reset=True, n_features=Xc.shape[1])
        return self

    # ------------------------------------------------------------------ prediction

    def _joint_log_likelihood(self, X):
        """log prior_c + log p(x | c), shape (n_samples, n_classes)."""
        check_is_fitted(self, "estimators_")
        owner = type(self).__name__
        Xc = check_array(X, n_threads=check_n_threads(self.n_threads, owner), allow_nan=self.missing == "em")
        check_n_features(self, X, reset=False, n_features=Xc.shape[1])
        with np.errstate(divide="ignore"):
            log_prior = np.log(self.class_prior_)
        jll = np.empty((Xc.shape[0], len(self.classes_)), dtype=np.float64)
        for j, gm in enumerate(self.estimators_):
            jll[:, j] = gm.score_samples(Xc)
        jll += log_prior
        return jll, Xc

    def _log_posterior(self, X):
        """log p(c | x), shape (n_samples, n_classes), every row normalised.

        Bayes' rule on the joint log-likelihoods, except for the rare rows where those
        overflow (-inf for every class) or are too large for their differences to mean
        anything (far from every component): there the components of all classes are
        pooled, weighted by the priors, on the careful path of ``_far_rows`` (exact
        posteriors of the row from rescaled distances)."""
        jll, Xc = self._joint_log_likelihood(X)
        # normalise the differences to the largest (exact where they matter), not jll - norm:
        # at jll ~ -5e10 the rounding of norm alone put the row sums at 1 + 2e-6
        top = np.max(jll, axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            shifted = jll - top
            log_sum = np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
            log_proba = shifted - log_sum
        norm = (top + log_sum)[:, 0]
        far = np.flatnonzero(needs_careful_path(norm, Xc.dtype))
        if len(far):
            with np.errstate(divide="ignore"):
                log_prior = np.log(self.class_prior_)
            parts = []
            for prior, gm in zip(log_prior, self.estimators_):
                log_w, means, factors, kind = gm._components()
                parts.append((log_w + prior, means, factors, kind))
            components, owner = pool_components(parts)
            _, log_resp, _ = careful_posteriors(Xc[far], components)
            for c in range(len(self.classes_)):
                log_proba[far, c] = _logsumexp(log_resp[:, owner == c], axis=1)
        return log_proba

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """Log of the posterior class probabilities: an array of shape (n_samples, n_classes),
        columns in the order of ``classes_``."""
        return self._log_posterior(X)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Posterior class probabilities: an array of shape (n_samples, n_classes) whose rows
        sum to 1, columns in the order of ``classes_``."""
        return np.exp(self._log_posterior(X))

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Most probable class of each row of X (Bayes' rule; the argmax of
        :meth:`predict_proba`): labels from ``classes_``, shape (n_samples,)."""
        log_proba = self._log_posterior(X)
        return self.classes_[np.argmax(log_proba, axis=1)]
