"""scikit-learn compatibility: real sklearn base classes when it is installed, a small
stand-in with the same behaviour (get_params/set_params/repr/score) when it is not."""

from __future__ import annotations

import inspect
import numbers

import numpy as np

try:  # scikit-learn is optional at run time
    from sklearn.base import BaseEstimator, ClassifierMixin, DensityMixin
    from sklearn.exceptions import ConvergenceWarning, NotFittedError

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    HAVE_SKLEARN = False

    class ConvergenceWarning(UserWarning):
        """EM (or another iterative fit) stopped before converging."""

    class NotFittedError(ValueError, AttributeError):
        """The estimator is used before `fit`."""

    class BaseEstimator:
        """Parameter handling as in scikit-learn: `__init__` stores its arguments."""

        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(
                p.name
                for p in sig.parameters.values()
                if p.name != "self" and p.kind != p.VAR_KEYWORD
            )

        def get_params(self, deep=True):
            out = {}
            for name in self._get_param_names():
                value = getattr(self, name)
                if deep and hasattr(value, "get_params") and not isinstance(value, type):
                    out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
                out[name] = value
            return out

        def set_params(self, **params):
            valid = self.get_params(deep=True)
            for key, value in params.items():
                name, _, sub = key.partition("__")
                if name not in valid:
                    raise ValueError(
                        f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                        f"Valid parameters are: {sorted(self._get_param_names())!r}."
                    )
                if sub:
                    getattr(self, name).set_params(**{sub: value})
                else:
                    setattr(self, name, value)
            return self

        def __repr__(self):
            defaults = {
                p.name: p.default
                for p in inspect.signature(type(self).__init__).parameters.values()
                if p.default is not inspect.Parameter.empty
            }
            changed = []
            for k, v in self.get_params(deep=False).items():
                d = defaults.get(k, inspect.Parameter.empty)
                if isinstance(v, np.ndarray) or isinstance(d, np.ndarray) or v is not d and v != d:
                    changed.append(f"{k}={v!r}")
            return f"{type(self).__name__}({', '.join(changed)})"

    class DensityMixin:
        """Mixin for density estimators: `score` is the mean log-likelihood."""

        _estimator_type = "DensityEstimator"

        def score(self, X, y=None):
            return 0.0

    class ClassifierMixin:
        """Mixin for classifiers: `score` is the accuracy."""

        _estimator_type = "classifier"

        def score(self, X, y, sample_weight=None):
            y = np.asarray(y)
            pred = self.predict(X)
            if sample_weight is None:
                return float(np.mean(pred == y))
            w = np.asarray(sample_weight, dtype=float)
            return float(np.sum(w * (pred == y)) / np.sum(w))


def check_random_state(seed):
    """A `numpy.random.RandomState` from None, an int, or a RandomState/Generator."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.RandomState(seed.integers(2**32, dtype=np.uint64))
    raise ValueError(f"random_state must be None, an int, a RandomState or a Generator; got {seed!r}")


def draw_seed(random_state) -> int:
    """A 64-bit seed for the C++ core's generators, drawn from a RandomState."""
    hi, lo = random_state.randint(0, 2**32, size=2, dtype=np.uint64)
    return int(hi) << 32 | int(lo)


def check_is_fitted(estimator, attribute):
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )
