"""Choosing the number of mixture components: cross-validated log-likelihood, BIC or AIC.

Only NumPy is needed: the cross-validation folds are made here. For a search over more
than the number of components (covariance type, ``reg_covar``, ...) scikit-learn's
``GridSearchCV`` works directly on :class:`genmix.GaussianMixture`, whose ``score`` is the
mean held-out log-likelihood per sample.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
from numpy.typing import ArrayLike

from ._base import check_random_state
from ._typing import RandomStateLike
from ._validation import as_int, check_array, check_option
from .mixture import GaussianMixture

CRITERIA = ("cv", "bic", "aic")


@dataclass(eq=False)  # arrays inside: compare fields explicitly
class ComponentSelection:
    """Result of :func:`select_n_components`.

    Attributes
    ----------
    criterion : str
        'cv', 'bic' or 'aic'.
    n_components : ndarray of int, shape (n_candidates,)
        The candidate numbers of components, ascending.
    scores : ndarray of float, shape (n_candidates,)
        For 'cv': the mean over folds of the held-out mean log-likelihood per sample
        (higher is better). For 'bic'/'aic': the criterion on all of X (lower is better).
    std_errors : ndarray of float or None
        For 'cv': the standard error of each mean, ``std(fold scores, ddof=1) / sqrt(cv)``;
        None otherwise.
    fold_scores : ndarray of float or None
        For 'cv': shape (n_candidates, cv), the held-out mean log-likelihood of each fold.
    best_n_components : int
        The chosen number of components (see :func:`select_n_components` for the rule).
    best_estimator : GaussianMixture
        A GaussianMixture with ``best_n_components`` components fitted on all of X.
    cv : int or None
        Number of folds ('cv' only).
    """

    criterion: str
    n_components: np.ndarray
    scores: np.ndarray
    std_errors: np.ndarray | None
    fold_scores: np.ndarray | None
    best_n_components: int
    best_estimator: GaussianMixture = field(repr=False)
    cv: int | None = None

    @property
    def best_score_n_components(self) -> int:
        """The k with the best score (before the one-standard-error rule for 'cv')."""
        if self.criterion == "cv":
            return int(self.n_components[int(np.argmax(self.scores))])
        return int(self.n_components[int(np.argmin(self.scores))])

    def to_string(self) -> str:
        """The table as text: one row per k, the chosen k marked with '*'.

        Returns
        -------
        table : str
        """
        lines = []
        if self.criterion == "cv":
            lines.append(f"{self.cv}-fold cross-validation: mean held-out log-likelihood per sample "
                         "(higher is better)")
            lines.append(f"{'k':>4}  {'mean loglik':>12}  {'std error':>10}")
            for k, s, se in zip(self.n_components, self.scores, self.std_errors):
                mark = " *" if k == self.best_n_components else ""
                lines.append(f"{k:>4}  {s:>12.5f}  {se:>10.5f}{mark}")
            lines.append(
                f"chosen k = {self.best_n_components}: the smallest k whose mean is within one standard "
                f"error of the best mean (k = {self.best_score_n_components})"
            )
        else:
            name = self.criterion.upper()
            lines.append(f"{name} on all samples (lower is better)")
            lines.append(f"{'k':>4}  {name:>12}")
            for k, s in zip(self.n_components, self.scores):
                mark = " *" if k == self.best_n_components else ""
                lines.append(f"{k:>4}  {s:>12.3f}{mark}")
            lines.append(f"chosen k = {self.best_n_components}: the minimum {name}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_string()


def _check_candidates(n_components):
    if isinstance(n_components, (numbers.Integral, np.integer)) and not isinstance(n_components, bool):
        n_components = [n_components]
    if isinstance(n_components, (str, bytes)) or not hasattr(n_components, "__iter__"):
        raise TypeError(
            f"n_components must be an iterable of ints (e.g. range(1, 11)); got {n_components!r}."
        )
    values = list(n_components)
    if not values:
        raise ValueError("n_components is empty: give at least one candidate number of components.")
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Integral, np.integer)):
            raise TypeError(f"n_components must contain ints; got {v!r}.")
        if v < 1:
            raise ValueError(f"n_components must contain ints >= 1; got {int(v)}.")
    return np.array(sorted(set(int(v) for v in values)), dtype=np.int64)


def kfold_indices(n_samples: int, n_splits: int, random_state: RandomStateLike = None
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled K-fold splits of ``range(n_samples)``, as scikit-learn's ``KFold(shuffle=True)``.

    The first ``n_samples % n_splits`` folds have one row more than the others.

    Parameters
    ----------
    n_samples : int
    n_splits : int
        2 <= n_splits <= n_samples.
    random_state : int, RandomState instance or None

    Returns
    -------
    folds : list of (train_index, test_index) pairs of int ndarrays
    """
    n_samples = as_int(n_samples, "n_samples", 2)
    n_splits = as_int(n_splits, "n_splits", 2)
    if n_splits > n_samples:
        raise ValueError(f"n_splits = {n_splits} is larger than n_samples = {n_samples}.")
    perm = check_random_state(random_state).permutation(n_samples)
    sizes = np.full(n_splits, n_samples // n_splits, dtype=np.int64)
    sizes[: n_samples % n_splits] += 1
    folds, start = [], 0
    for size in sizes:
        test = np.sort(perm[start:start + size])
        train = np.sort(np.concatenate([perm[:start], perm[start + size:]]))
        folds.append((train, test))
        start += size
    return folds


def select_n_components(X: ArrayLike, n_components: Iterable[int] = range(1, 11), criterion: str = "cv", cv: int = 5,
                        random_state: RandomStateLike = None, **gmm_params) -> ComponentSelection:
    """Choose the number of components of a :class:`GaussianMixture`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_components : iterable of int, default=range(1, 11)
        Candidate numbers of components (each >= 1; duplicates are dropped, sorted).
    criterion : {'cv', 'bic', 'aic'}, default='cv'
        'cv': K-fold cross-validation of the mean held-out log-likelihood per sample.
        The chosen k is the **smallest k whose mean is within one standard error of the
        best mean** (the one-standard-error rule: ``mean_k >= best_mean - se_best`` where
        ``se_best`` is the standard error of the best k), which prefers the simpler model
        when the extra components do not improve the held-out fit by more than the
        fold-to-fold noise. 'bic' / 'aic': each k is fitted on all of X and the k with the
        minimum criterion is chosen.
    cv : int, default=5
        Number of folds for 'cv' (2 <= cv <= n_samples); ignored otherwise. The folds are
        shuffled with ``random_state`` (NumPy only; scikit-learn is not needed).
    random_state : int, RandomState instance or None, default=None
        Seeds the fold shuffle and is passed to every GaussianMixture as its
        ``random_state``. Use an int for reproducible results.
    **gmm_params
        Further GaussianMixture parameters (``covariance_type``, ``reg_covar``,
        ``n_init``, ``max_iter``, ``tol``, ``algorithm``, ...), used for every fit.

    Returns
    -------
    result : ComponentSelection
        The table (``n_components``, ``scores``, ``std_errors``; ``print(result)`` shows
        it), ``best_n_components`` and ``best_estimator`` (refitted on all of X).

    Raises
    ------
    ValueError
        NaN or infinity in X (NaN is allowed with ``missing="em"`` in ``gmm_params``); an
        invalid criterion; an empty ``n_components`` or one with a value < 1; cv < 2 or
        cv > n_samples; a candidate k larger than the number of (training) rows; an invalid
        GaussianMixture parameter. All before any fit.
    TypeError
        A parameter of the wrong type, or an unknown GaussianMixture parameter.

    Examples
    --------
    >>> from genmix import select_n_components
    >>> from genmix.datasets import load_faithful
    >>> result = select_n_components(load_faithful(), range(1, 5), criterion="bic", random_state=0)
    >>> print(result)  # doctest: +SKIP
    """
    check_option(criterion, "criterion", "select_n_components", CRITERIA)
    ks = _check_candidates(n_components)
    if "n_components" in gmm_params:  # pragma: no cover - impossible through the signature
        raise TypeError("n_components is given twice.")
    # every GaussianMixture parameter checked once, with the largest k, before any work
    template = GaussianMixture(int(ks[-1]), random_state=random_state, **gmm_params)
    n_threads = template._check_parameters()
    Xc = check_array(X, min_samples=2, n_threads=n_threads, allow_nan=template.missing == "em")
    n = Xc.shape[0]
    if criterion == "cv":
        if isinstance(cv, (bool, np.bool_)) or not isinstance(cv, (numbers.Integral, np.integer)):
            raise TypeError(f"cv must be an int (the number of folds); got {cv!r}.")
        cv = int(cv)
        if cv < 2 or cv > n:
            raise ValueError(f"cv must be an int with 2 <= cv <= n_samples = {n}; got {cv}.")
        n_train_min = n - (n + cv - 1) // cv  # the largest test fold leaves the fewest training rows
        if ks[-1] > n_train_min:
            raise ValueError(
                f"n_components = {int(ks[-1])} is larger than the {n_train_min} training rows of the "
                f"smallest cross-validation training set (n_samples = {n}, cv = {cv})."
            )
    elif ks[-1] > n:
        raise ValueError(f"n_components = {int(ks[-1])} is larger than n_samples = {n}.")

    def make(k):
        return GaussianMixture(int(k), random_state=random_state, **gmm_params)

    if criterion == "cv":
        folds = kfold_indices(n, cv, random_state)
        fold_scores = np.empty((len(ks), cv))
        for i, k in enumerate(ks):
            for f, (train, test) in enumerate(folds):
                fold_scores[i, f] = make(k).fit(Xc[train]).score(Xc[test])
        scores = fold_scores.mean(axis=1)
        with np.errstate(invalid="ignore"):  # folds at -inf: NaN (see below)
            std_errors = fold_scores.std(axis=1, ddof=1) / np.sqrt(cv)
        best = int(np.argmax(scores))
        # the smallest k within one standard error of the best; a fold scoring -inf makes
        # the standard errors NaN (inf - inf): then the best mean score alone decides
        margin = std_errors[best] if np.isfinite(std_errors[best]) else 0.0
        chosen = int(np.flatnonzero(scores >= scores[best] - margin)[0]) if np.isfinite(scores[best]) else best
        best_k = int(ks[chosen])
        best_estimator = make(best_k).fit(Xc)
        return ComponentSelection("cv", ks, scores, std_errors, fold_scores, best_k, best_estimator, cv)

    fitted = [make(k).fit(Xc) for k in ks]
    scores = np.array([getattr(gm, criterion)(Xc) for gm in fitted])
    chosen = int(np.argmin(scores))
    return ComponentSelection(criterion, ks, scores, None, None, int(ks[chosen]), fitted[chosen], None)
