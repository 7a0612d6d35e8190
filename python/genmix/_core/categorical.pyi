"""Type stub for genmix._core.categorical: mixtures of categorical distributions.
Private: use genmix.CategoricalMixture."""

from __future__ import annotations

from typing import Callable, List, Optional, TypedDict

import numpy as np
import numpy.typing as npt

class EMResult(TypedDict):
    weights: npt.NDArray[np.float64]
    theta: npt.NDArray[np.float64]  # (sum of n_categories, n_components)
    lower_bounds: List[float]
    converged: bool
    n_iter: int

def em(
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
) -> EMResult: ...
def evaluate(
    X: npt.NDArray[np.int64],
    offsets: list[int],
    weights: npt.NDArray[np.float64],
    theta: npt.NDArray[np.float64],
    log_prob: bool,
    resp: bool,
    labels: bool,
    n_threads: int,
) -> tuple: ...
