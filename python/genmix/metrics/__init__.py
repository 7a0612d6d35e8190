"""Sample-based evaluation metrics for generative models.

A GAN has no tractable likelihood, so its samples are judged with heuristics
instead.  This module implements the usual ones in plain numpy (no scipy or
scikit-learn at import time or at run time):

mode_statistics
    Modes captured, fraction of high-quality samples and reverse KL of the
    mode histogram, for synthetic mixtures with known mode centres (the
    PacGAN / VEEGAN protocol; see :mod:`genmix.datasets`).
frechet_distance, gaussian_frechet_distance
    Fréchet (2-Wasserstein) distance between Gaussian fits of two samples,
    i.e. the formula behind FID, computed without complex arithmetic.
mmd_rbf, median_heuristic_bandwidth
    Unbiased estimate of the squared maximum mean discrepancy with a
    Gaussian (RBF) kernel.
precision_recall_density_coverage
    k-nearest-neighbour precision/recall (Kynkäänniemi et al., 2019) and
    density/coverage (Naeem et al., 2020).
memorization
    Whether generated samples are closer to the training set than to a
    held-out set from the same distribution.

All pairwise-distance computations are done in blocks of bounded size
(a few tens of MiB), so sample sizes of tens of thousands are fine; the
work is still quadratic in the number of points.

Each family lives in its own submodule (:mod:`.modes`, :mod:`.frechet`, :mod:`.mmd`,
:mod:`.neighbours`: precision/recall/density/coverage and memorisation), with the shared
validation and blocked-distance helpers in ``_common``; everything is importable from here.
"""

from .frechet import frechet_distance, gaussian_frechet_distance
from .mmd import median_heuristic_bandwidth, mmd_rbf
from .modes import ModeStatistics, mode_statistics
from .neighbours import MemorizationResult, PRDCResult, memorization, precision_recall_density_coverage

__all__ = [
    "ModeStatistics",
    "PRDCResult",
    "MemorizationResult",
    "mode_statistics",
    "frechet_distance",
    "gaussian_frechet_distance",
    "mmd_rbf",
    "median_heuristic_bandwidth",
    "precision_recall_density_coverage",
    "memorization",
]
