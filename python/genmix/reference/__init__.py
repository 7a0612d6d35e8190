"""Plain NumPy reference implementation of EM for Gaussian mixtures.

This module is the test oracle and the NumPy benchmark baseline for the C++
kernels.  It favours clarity over speed: every step is written out with
ordinary NumPy operations, looping over the (few) components.

Conventions follow ``sklearn.mixture.GaussianMixture``:

* ``covariance_type`` is one of ``'full'``, ``'tied'``, ``'diag'``,
  ``'spherical'``.  With ``k`` components and ``d`` features the covariances
  have shape ``(k, d, d)``, ``(d, d)``, ``(k, d)`` and ``(k,)`` respectively.
* ``precisions_chol`` has the same shape as the covariances.  For ``'full'``
  and ``'tied'`` it is the upper-triangular ``U`` with ``precision = U @ U.T``
  (``U = inv(L).T`` where ``L`` is the lower Cholesky factor of the
  covariance); for ``'diag'`` and ``'spherical'`` it is ``1 / sqrt(cov)``.
* ``log N(x | k) = -0.5 * (d * log(2 pi) + ||(x - mu_k) @ U_k||^2)
  + sum(log(diag(U_k)))``.

Two flavours of EM are provided: ``'soft'`` (ordinary EM, identical to
scikit-learn) and ``'hard'`` (classification EM: one-hot responsibilities on
the most probable component; components that receive no sample are dropped,
i.e. get weight exactly 0 and keep their previous mean and covariance).

Missing features (``GaussianMixture(missing="em")``): the ``*_missing`` functions and
:func:`impute` accept NaN entries in ``X``, treated as missing at random.  A row's
density is the marginal over its observed features and the M-step uses the
conditional expectations of the missing entries (with the conditional-covariance
correction of the second moments); rows are grouped by their pattern of missing
features and each pattern is handled with the complete-data functions applied
to the marginal Gaussians.

All computations happen in the floating dtype of ``X`` (float32 in, float32
out).  Nothing here keeps global state or prints.

The functions live in submodules by idea and are all importable from here:
:mod:`.precisions` (the parametrisation), :mod:`.complete` (densities, E-step, M-step and EM
on complete data), :mod:`.missing` (the same with NaN entries), :mod:`.categorical`
(categorical mixtures); ``ReferenceMLP`` is the plain-NumPy MLP of
:mod:`genmix.reference_nn`.
"""

from ..reference_nn import MLP as ReferenceMLP
from ._common import ALGORITHMS, COVARIANCE_TYPES
from .categorical import categorical_em_step, categorical_log_prob
from .complete import e_step, em, log_gaussian_prob, m_step, score_samples
from .missing import (
    conditional_moments,
    e_step_missing,
    em_missing,
    em_step_missing,
    impute,
    log_gaussian_prob_missing,
    m_step_missing,
    score_samples_missing,
)
from .precisions import precisions_cholesky, precisions_cholesky_from_precisions

__all__ = [
    "COVARIANCE_TYPES",
    "precisions_cholesky",
    "precisions_cholesky_from_precisions",
    "log_gaussian_prob",
    "e_step",
    "m_step",
    "em",
    "score_samples",
    "log_gaussian_prob_missing",
    "e_step_missing",
    "score_samples_missing",
    "conditional_moments",
    "m_step_missing",
    "em_step_missing",
    "em_missing",
    "impute",
    "ALGORITHMS",
    "ReferenceMLP",
    "categorical_log_prob",
    "categorical_em_step",
]
