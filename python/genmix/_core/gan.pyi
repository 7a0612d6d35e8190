"""Type stub for genmix._core.gan: the GAN trainer. Private: use genmix.GAN."""

from __future__ import annotations

from typing import Callable, List, Optional, TypedDict

import numpy as np
import numpy.typing as npt

class Config(TypedDict):
    """The trainer's settings, as genmix.GAN builds them (GAN._config)."""

    g_sizes: List[int]
    d_sizes: List[int]
    activation: str
    negative_slope: float
    loss: str
    penalty: str
    penalty_weight: float
    update: str
    d_steps: int
    optimizer: str
    lr_g: float
    lr_d: float
    lr_schedule: str
    lr_end_factor: float
    lr_decay_steps: int
    beta1: float
    beta2: float
    batch_size: int
    ema: float  # -1: no moving average of the generator
    latent_distribution: str
    n_threads: int

class State(TypedDict):
    """Parameters and optimiser state, updated in place by train."""

    g: npt.NDArray[np.floating]
    d: npt.NDArray[np.floating]
    g_ema: npt.NDArray[np.floating]
    g_m: npt.NDArray[np.floating]
    g_v: npt.NDArray[np.floating]
    d_m: npt.NDArray[np.floating]
    d_v: npt.NDArray[np.floating]
    counters: npt.NDArray[np.int64]

def train(
    config: Config,
    X: npt.NDArray[np.floating],
    state: State,
    seed: int,
    n_steps: int,
    log_every: int,
    log_fn: Optional[Callable[[int, npt.NDArray[np.float64]], bool]],
    log_record: Optional[npt.NDArray[np.float64]] = None,
) -> tuple[str, npt.NDArray[np.float64]]: ...
def calibrate(
    config: Config,
    X: npt.NDArray[np.floating],
    g: npt.NDArray[np.floating],
    d: npt.NDArray[np.floating],
    n_steps: int,
    seed: int,
) -> str: ...
def gradients(
    config: Config,
    g: npt.NDArray[np.floating],
    d: npt.NDArray[np.floating],
    real: npt.NDArray[np.floating],
    z: npt.NDArray[np.floating],
    eps: npt.NDArray[np.floating],
) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating], npt.NDArray[np.float64]]: ...
def draws(
    config: Config, seed: int, step: int, sub: int, n_rows: int, float32: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.floating], npt.NDArray[np.floating]]: ...
