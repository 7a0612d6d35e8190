"""Type stub for genmix._core.gmm: Gaussian mixtures (EM, its statistics primitives,
evaluation, k-means seeding). Private: use genmix.GaussianMixture."""

from __future__ import annotations

from typing import Callable, List, Optional, TypedDict

import numpy as np
import numpy.typing as npt

class Params(TypedDict):
    """Mixture parameters, NumPy layout per covariance type (see genmix.GaussianMixture)."""

    weights: npt.NDArray[np.float64]
    means: npt.NDArray[np.float64]
    covariances: npt.NDArray[np.float64]
    precisions_cholesky: npt.NDArray[np.float64]

class EMResult(Params):
    lower_bounds: List[float]  # one per iteration
    converged: bool
    n_iter: int
    dropped: List[int]  # hard EM: components that received no rows

class MStepResult(Params):
    dropped: List[int]

def column_mean(X: npt.NDArray[np.floating], n_threads: int = 0) -> npt.NDArray[np.float64]: ...
def em_fit(
    X: npt.NDArray[np.floating],
    sample_weight: Optional[npt.NDArray[np.floating]],
    weights: npt.NDArray[np.float64],
    means: npt.NDArray[np.float64],
    covariances: Optional[npt.NDArray[np.float64]],
    precisions_cholesky: npt.NDArray[np.float64],
    covariance_type: str,
    algorithm: str,
    tol: float,
    reg_covar: float,
    max_iter: int,
    n_threads: int,
    initial_lower_bound: float,
    callback: Optional[Callable[[int, float], None]],
    row_class: Optional[npt.NDArray[np.int64]] = None,
    component_class: Optional[npt.NDArray[np.int64]] = None,
    missing: bool = False,
) -> EMResult: ...
def params_from_labels(
    X: npt.NDArray[np.floating],
    labels: Optional[npt.NDArray[np.int64]],
    n_components: int,
    covariance_type: str,
    reg_covar: float,
    seed: int,
    n_threads: int,
    sample_weight: Optional[npt.NDArray[np.floating]] = None,
) -> Params: ...
def evaluate(
    X: npt.NDArray[np.floating],
    weights: npt.NDArray[np.float64],
    means: npt.NDArray[np.float64],
    precisions_cholesky: npt.NDArray[np.float64],
    covariance_type: str,
    algorithm: str,
    log_prob: bool,
    resp: bool,
    labels: bool,
    n_threads: int,
    missing: bool = False,
    imputed: bool = False,
    largest: bool = False,
) -> tuple: ...
def kmeans_plusplus(
    X: npt.NDArray[np.floating],
    n_clusters: int,
    seed: int,
    n_threads: int,
    sample_weight: Optional[npt.NDArray[np.floating]] = None,
) -> npt.NDArray[np.int64]: ...
def row_hash(X: npt.NDArray[np.floating], n_threads: int) -> npt.NDArray[np.uint64]: ...
def kmeans_lloyd(
    X: npt.NDArray[np.floating],
    centres: npt.NDArray[np.float64],
    max_iter: int,
    tol: float,
    n_threads: int,
    sample_weight: Optional[npt.NDArray[np.floating]] = None,
) -> tuple: ...

def column_centre(
    X: npt.NDArray[np.floating], sample_weight: Optional[npt.NDArray[np.floating]] = None, missing: bool = False
) -> npt.NDArray[np.float64]: ...

# EM as primitives on sufficient statistics (chunked and distributed EM): e_step_stats,
# Stats.merge, m_step; driven over stats_chunks they give em_fit's bits.
class Stats:
    """Sufficient statistics of some rows under fixed parameters, with the frame they were
    accumulated in (centre, anchors); picklable."""

    covariance_type: str
    float32: bool
    N: npt.NDArray[np.float64]
    S1: npt.NDArray[np.float64]
    S2: npt.NDArray[np.float64]
    obj: float
    wsum: float
    centre: npt.NDArray[np.float64]
    lower_bound: float
    def merge(self, other: Stats) -> None: ...

def e_step_stats(
    X: npt.NDArray[np.floating],
    sample_weight: Optional[npt.NDArray[np.floating]],
    weights: npt.NDArray[np.float64],
    means: npt.NDArray[np.float64],
    precisions_cholesky: npt.NDArray[np.float64],
    covariance_type: str,
    centre: npt.NDArray[np.float64],
    algorithm: str,
    n_threads: int,
    one_chunk: bool = False,
    row_class: Optional[npt.NDArray[np.int64]] = None,
    component_class: Optional[npt.NDArray[np.int64]] = None,
    missing: bool = False,
) -> Stats: ...
def m_step(
    stats: Stats,
    weights: npt.NDArray[np.float64],
    means: npt.NDArray[np.float64],
    covariances: Optional[npt.NDArray[np.float64]],
    precisions_cholesky: npt.NDArray[np.float64],
    algorithm: str,
    reg_covar: float,
) -> MStepResult: ...
def stats_chunks(n_samples: int, covariance_type: str, n_components: int, n_features: int) -> npt.NDArray[np.int64]: ...
