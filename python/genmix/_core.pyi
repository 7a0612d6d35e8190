"""Type stub for the C++ extension genmix._core (private; use the classes in genmix)."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import numpy.typing as npt

from types import ModuleType
from typing import Any, Dict, List

# genmix._core re-exports the functions of the core variant chosen for this CPU
# (genmix._core_<variant>); these name and load the variants.
variant: str
def cpu_features() -> Dict[str, bool]: ...
def runs_here(variant: str) -> bool: ...
def built_variants() -> List[str]: ...
def load(variant: str) -> ModuleType: ...

# attributes of every core variant
has_openmp: bool
openmp_version: int
build_info: Dict[str, Any]  # variant, target_flags, vector_bytes, register_bytes, fma, compiler, eigen, eigen_simd
def default_threads() -> int: ...
def forked_child() -> bool: ...  # this process is a fork of one that ran a thread team

def column_mean(X: npt.NDArray[np.floating], n_threads: int = 0) -> npt.NDArray[np.float64]: ...

def all_finite(a: npt.NDArray[np.floating], n_threads: int = 0) -> bool: ...
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
) -> dict: ...
def params_from_labels(
    X: npt.NDArray[np.floating],
    labels: Optional[npt.NDArray[np.int64]],
    n_components: int,
    covariance_type: str,
    reg_covar: float,
    seed: int,
    n_threads: int,
    sample_weight: Optional[npt.NDArray[np.floating]] = None,
) -> dict: ...
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

# EM as primitives on sufficient statistics (chunked and distributed EM)
class GmmStats:
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
    def merge(self, other: GmmStats) -> None: ...

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
) -> GmmStats: ...
def m_step(
    stats: GmmStats,
    weights: npt.NDArray[np.float64],
    means: npt.NDArray[np.float64],
    covariances: Optional[npt.NDArray[np.float64]],
    precisions_cholesky: npt.NDArray[np.float64],
    algorithm: str,
    reg_covar: float,
) -> dict: ...
def stats_chunks(n_samples: int, covariance_type: str, n_components: int, n_features: int) -> npt.NDArray[np.int64]: ...
def column_centre(
    X: npt.NDArray[np.floating], sample_weight: Optional[npt.NDArray[np.floating]] = None, missing: bool = False
) -> npt.NDArray[np.float64]: ...

# --- MLP (genmix.nn) ---------------------------------------------------------------------

class NNWorkspace:
    """Scratch memory reused across MLP calls; holds no state."""

    def __init__(self) -> None: ...

def nn_n_params(sizes: list[int]) -> int: ...
def nn_init(
    sizes: list[int], hidden: str, output: str, slope: float, init: str, seed: int, float32: bool
) -> npt.NDArray[np.floating]: ...
def nn_forward(
    sizes: list[int],
    hidden: str,
    output: str,
    slope: float,
    params: npt.NDArray[np.floating],
    X: npt.NDArray[np.floating],
    n_threads: int,
    workspace: Optional[NNWorkspace] = None,
) -> npt.NDArray[np.floating]: ...
def nn_backward(
    sizes: list[int],
    hidden: str,
    output: str,
    slope: float,
    params: npt.NDArray[np.floating],
    X: npt.NDArray[np.floating],
    grad_output: npt.NDArray[np.floating],
    input_grad: bool,
    n_threads: int,
    workspace: Optional[NNWorkspace] = None,
) -> tuple: ...
def nn_input_gradient_penalty(
    sizes: list[int],
    hidden: str,
    output: str,
    slope: float,
    params: npt.NDArray[np.floating],
    X: npt.NDArray[np.floating],
    center: float,
    grad_output: Optional[npt.NDArray[np.floating]],
    n_threads: int,
    workspace: Optional[NNWorkspace] = None,
) -> tuple: ...

# --- categorical mixtures (genmix.CategoricalMixture) -------------------------------------

def categorical_em(
    X: npt.NDArray[np.int64],
    offsets: list[int],
    weights: npt.NDArray[np.float64],
    theta: npt.NDArray[np.float64],
    alpha: float,
    algorithm: str,
    tol: float,
    max_iter: int,
    n_threads: int,
    callback: Optional[Callable[[int, float], None]],
) -> dict: ...
def categorical_evaluate(
    X: npt.NDArray[np.int64],
    offsets: list[int],
    weights: npt.NDArray[np.float64],
    theta: npt.NDArray[np.float64],
    log_prob: bool,
    resp: bool,
    labels: bool,
    n_threads: int,
) -> tuple: ...

# --- GAN trainer (genmix.gan) -----------------------------------------------------------

def gan_train(
    config: dict,
    X: npt.NDArray[np.floating],
    state: dict,
    seed: int,
    n_steps: int,
    log_every: int,
    log_fn: Optional[Callable[[int, npt.NDArray[np.float64]], bool]],
    log_record: Optional[npt.NDArray[np.float64]] = None,
) -> tuple[str, npt.NDArray[np.float64]]: ...
def gan_calibrate(
    config: dict,
    X: npt.NDArray[np.floating],
    g: npt.NDArray[np.floating],
    d: npt.NDArray[np.floating],
    n_steps: int,
    seed: int,
) -> str: ...
def gan_gradients(
    config: dict,
    g: npt.NDArray[np.floating],
    d: npt.NDArray[np.floating],
    real: npt.NDArray[np.floating],
    z: npt.NDArray[np.floating],
    eps: npt.NDArray[np.floating],
) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating], npt.NDArray[np.float64]]: ...
def gan_draws(
    config: dict, seed: int, step: int, sub: int, n_rows: int, float32: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.floating], npt.NDArray[np.floating]]: ...
