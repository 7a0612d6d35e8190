"""Type stub for genmix._core.nn: multilayer perceptrons. Private: use genmix.nn.MLP."""

from __future__ import annotations

from typing import Optional

import numpy as np
import numpy.typing as npt

class Workspace:
    """Scratch memory reused across MLP calls; holds no state."""

    def __init__(self) -> None: ...

def n_params(sizes: list[int]) -> int: ...
def init(
    sizes: list[int], hidden: str, output: str, slope: float, init: str, seed: int, float32: bool
) -> npt.NDArray[np.floating]: ...
def forward(
    sizes: list[int],
    hidden: str,
    output: str,
    slope: float,
    params: npt.NDArray[np.floating],
    X: npt.NDArray[np.floating],
    n_threads: int,
    workspace: Optional[Workspace] = None,
) -> npt.NDArray[np.floating]: ...
def backward(
    sizes: list[int],
    hidden: str,
    output: str,
    slope: float,
    params: npt.NDArray[np.floating],
    X: npt.NDArray[np.floating],
    grad_output: npt.NDArray[np.floating],
    input_grad: bool,
    n_threads: int,
    workspace: Optional[Workspace] = None,
) -> tuple: ...
def input_gradient_penalty(
    sizes: list[int],
    hidden: str,
    output: str,
    slope: float,
    params: npt.NDArray[np.floating],
    X: npt.NDArray[np.floating],
    center: float,
    grad_output: Optional[npt.NDArray[np.floating]],
    n_threads: int,
    workspace: Optional[Workspace] = None,
) -> tuple: ...
