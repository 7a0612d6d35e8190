"""genmix: Gaussian mixtures by EM and GANs, with a multithreaded C++ core.

The estimators follow scikit-learn's conventions (and are real scikit-learn estimators
when scikit-learn is installed); only NumPy is needed at run time.
"""

from . import datasets, metrics, nn, reference
from ._base import ConvergenceWarning, NotFittedError
from ._config import show_config
from .categorical import CategoricalMixture
from .classifier import GaussianMixtureClassifier
from .gan import GAN
from .mixture import GaussianMixture
from .model_selection import ComponentSelection, select_n_components

__version__ = "0.1.0"

__all__ = [
    "CategoricalMixture",
    "ComponentSelection",
    "ConvergenceWarning",
    "GAN",
    "GaussianMixture",
    "GaussianMixtureClassifier",
    "NotFittedError",
    "datasets",
    "metrics",
    "nn",
    "reference",
    "select_n_components",
    "show_config",
    "__version__",
]
