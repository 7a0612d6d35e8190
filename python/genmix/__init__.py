"""genmix: Gaussian mixtures by EM and GANs, with a multithreaded C++ core.

The estimators follow scikit-learn's conventions (and are real scikit-learn estimators
when scikit-learn is installed); only NumPy is needed at run time.
"""

from . import datasets, metrics, nn, reference
from ._base import ConvergenceWarning, NotFittedError
from .mixture import GaussianMixture

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "GaussianMixture",
    "NotFittedError",
    "datasets",
    "metrics",
    "nn",
    "reference",
    "__version__",
]
