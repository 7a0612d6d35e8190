"""The life cycle every mixture shares: parameter checks, the n_init loop with warm start,
the choice of the best run, warnings, progress messages, and the predict/score wrappers.

A mixture subclasses :class:`BaseMixture`, declares its parameters in
``_parameter_constraints`` and supplies the hooks (see the class docstring); the EM of one
run is a single call into the C++ core, made by the subclass's ``_run_em``.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
from numpy.typing import ArrayLike

from ._base import BaseEstimator, ConvergenceWarning, DensityMixin, check_is_fitted, check_random_state
from ._validation import (
    N_THREADS,
    Boolean,
    Interval,
    Options,
    RandomStateLike,
    check_int,
    check_n_features,
    check_n_threads,
    check_parameters,
)


class BaseMixture(DensityMixin, BaseEstimator):
    """Base class of the mixtures fitted by EM in the C++ core.

    Hooks of a subclass:

    - ``_fit_data(X, y, sample_weight, n_threads, do_init)``: every check of the data
      (raising before any work), returning a dict with at least ``"X"`` (the checked X
      that ``fit_predict`` labels) and whatever the other hooks need;
    - ``_initial_parameters(data, random_state)`` and ``_get_parameters()`` (the fitted
      ones, for ``warm_start``): the start of a run, as a dict;
    - ``_run_em(data, start, prev_bound, printer)``: one EM run in the core, a dict with
      the parameters and ``lower_bounds``, ``converged``, ``n_iter``;
    - ``_set_fitted(data, run, bound)``: store the best run's fitted attributes (all at once);
    - ``_check_input(X, **kwargs)`` and ``_evaluate(Xc, log_prob, resp, labels)`` for
      prediction, ``_sample(n_samples, random_state)``, ``_n_parameters()``;
    - optionally ``_explain_failure(data, exc)``: re-raise a core's ValueError with its cause.
    """

    # the parameters every mixture has; a subclass adds its own
    _parameter_constraints: dict = {
        "n_components": [Interval(int, 1)],
        "tol": [Interval(float, 0.0)],
        # 0 fits the initial parameters only, as scikit-learn's mixtures allow
        "max_iter": [Interval(int, 0)],
        "n_init": [Interval(int, 1)],
        "algorithm": [Options("soft", "hard")],
        "random_state": [RandomStateLike()],
        "warm_start": [Boolean()],
        "verbose": [Boolean(), Interval(int, 0)],
        "verbose_interval": [Interval(int, 1)],
        "n_threads": N_THREADS,
    }
    _fitted_attribute = "weights_"  # set last-but-not-least by _set_fitted: "fitted" when present

    def _check_parameters(self) -> int:
        """Checks every constructor parameter; returns the core's thread count."""
        check_parameters(self)
        return check_n_threads(self.n_threads, type(self).__name__)

    # ------------------------------------------------------------------ fitting

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> "BaseMixture":
        """Estimate the mixture's parameters by EM.

        Runs ``n_init`` initialisations (one with ``warm_start`` after the first fit) and
        keeps the run with the highest final objective; a ``ConvergenceWarning`` says
        when that run did not converge within ``max_iter``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self
        """
        self._fit(X, y)
        return self

    def fit_predict(self, X: ArrayLike, y: ArrayLike | None = None) -> np.ndarray:
        """Fit the model to X (as :meth:`fit`) and return the most probable component of
        each row: an array of shape (n_samples,)."""
        return self._fit_predict(X, y)

    def _fit_predict(self, X, y=None, **fit_params):
        data = self._fit(X, y, **fit_params)
        return self._evaluate(data["X"], labels=True)[2]

    def _fit(self, X, y=None, sample_weight=None):
        """Fits and returns the data dict; nothing is changed unless everything succeeds."""
        owner = type(self).__name__
        n_threads = self._check_parameters()
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init:
            if len(self.weights_) != self.n_components:
                raise ValueError(f"{owner}: warm_start continues the previous fit of {len(self.weights_)} "
                                 f"components, but n_components is now {self.n_components}; refit without "
                                 "warm_start.")
            check_n_features(self, X, reset=False)
        data = self._fit_data(X, y, sample_weight, n_threads, do_init)
        random_state = check_random_state(self.random_state)
        verbose = int(self.verbose)
        best = None
        try:
            for init in range(self.n_init if do_init else 1):
                if verbose:
                    print(f"Initialization {init}")
                t_init = time.time()
                if do_init:
                    start, prev_bound = self._initial_parameters(data, random_state), -np.inf
                else:
                    start, prev_bound = self._get_parameters(), self.lower_bound_
                if self.max_iter == 0:
                    run, bound = dict(start, lower_bounds=[], converged=False, n_iter=0), -np.inf
                else:
                    run = self._run_em(data, start, prev_bound, self._progress_printer(verbose))
                    bound = run["lower_bounds"][-1]
                    if verbose:
                        state = "converged" if run["converged"] else "did not converge"
                        extra = (f". time lapse {time.time() - t_init:.5f}s\t lower bound {bound:.5f}."
                                 if verbose >= 2 else ".")
                        print(f"Initialization {state}{extra}")
                # as scikit-learn: the first best run, or the last one when max_iter == 0
                if best is None or bound > best[0] or self.max_iter == 0:
                    best = (bound, run)
        except ValueError as exc:
            self._explain_failure(data, exc)
            raise
        bound, run = best
        if not run["converged"] and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init parameters, "
                "or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._set_fitted(data, run, bound)
        check_n_features(self, X, reset=True, n_features=data["X"].shape[1])
        return data

    def _explain_failure(self, data, exc):
        """A subclass may raise a clearer error for a core's ValueError (from exc)."""

    def _progress_printer(self, verbose):
        """The core's per-iteration callback for verbose output, or None."""
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

    # ------------------------------------------------------------------ prediction

    def _validate_for_predict(self, X, **check_kwargs):
        check_is_fitted(self, self._fitted_attribute)
        check_n_features(self, X, reset=False)
        Xc = self._check_input(X, **check_kwargs)
        if Xc.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {Xc.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input.")
        return Xc

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Log-density of the mixture at each row of X: an array of shape (n_samples,)."""
        return self._evaluate(self._validate_for_predict(X), log_prob=True)[0]

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Most probable component of each row of X: an array of shape (n_samples,)."""
        return self._evaluate(self._validate_for_predict(X), labels=True)[2]

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Posterior probability of each component for each row of X (the responsibilities):
        an array of shape (n_samples, n_components) whose rows sum to 1."""
        return self._evaluate(self._validate_for_predict(X), resp=True)[1]

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw rows from the fitted mixture (seeded by ``random_state``).

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component of each row.
        """
        check_is_fitted(self, self._fitted_attribute)
        check_int(n_samples, "n_samples", "sample", low=1)
        return self._sample(n_samples, check_random_state(self.random_state))

    # ------------------------------------------------------------------ model size

    def score(self, X: ArrayLike, y: ArrayLike | None = None) -> float:
        """Mean log-likelihood of the rows of X under the model (y is ignored)."""
        return float(np.mean(self.score_samples(X)))

    def bic(self, X: ArrayLike) -> float:
        """Bayesian information criterion of the model on X (lower is better)."""
        log_prob = self.score_samples(X)  # validates X first
        n = len(log_prob)
        return -2 * float(np.mean(log_prob)) * n + self._n_parameters() * math.log(n)

    def aic(self, X: ArrayLike) -> float:
        """Akaike information criterion of the model on X (lower is better)."""
        log_prob = self.score_samples(X)  # validates X first
        n = len(log_prob)
        return -2 * float(np.mean(log_prob)) * n + 2 * self._n_parameters()
