"""Small data sets used by the examples, tests and benchmarks.

Functions
---------
load_faithful
    The Old Faithful geyser data (272 eruptions; duration and waiting time),
    shipped with the package as ``genmix/data/faithful.csv``.
make_ring
    Synthetic "2D ring" mixture used to measure mode collapse of GANs.
make_grid
    Synthetic "2D grid" mixture used to measure mode collapse of GANs.

The two synthetic generators follow the protocol of PacGAN (Lin, Khetan,
Fanti and Oh, "PacGAN: The power of two samples in generative adversarial
networks", NeurIPS 2018), itself taken from VEEGAN (Srivastava et al., 2017):

* ring: 8 equally likely isotropic Gaussians with standard deviation 0.01
  whose means are equally spaced on a circle of radius 1;
* grid: 25 equally likely isotropic Gaussians with standard deviation 0.05
  whose means are the points of ``{-4, -2, 0, 2, 4}^2``.

Only numpy is imported.
"""

from __future__ import annotations

import io
import numbers
from importlib import resources

import numpy as np

from ._typing import RandomStateLike
from ._validation import as_int

__all__ = ["load_faithful", "make_ring", "make_grid", "ring_modes", "grid_modes"]

_FAITHFUL_FEATURES = ("eruptions", "waiting")
_FAITHFUL_N_ROWS = 272


# ---------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------
def _check_random_state(random_state):
    """Normalise ``random_state`` to a numpy random generator.

    Parameters
    ----------
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        ``None`` gives a freshly (OS-entropy) seeded ``Generator``; an int
        seeds a new ``Generator``; a ``Generator`` or ``RandomState`` is
        returned unchanged, so that its state is advanced by the caller.

    Returns
    -------
    numpy.random.Generator or numpy.random.RandomState

    Raises
    ------
    TypeError
        If ``random_state`` is of another type (``bool`` included).
    ValueError
        If ``random_state`` is a negative integer.
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, (np.random.Generator, np.random.RandomState)):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, (bool, np.bool_)
    ):
        if int(random_state) < 0:
            raise ValueError(
                f"random_state must be a non-negative integer, got {random_state}"
            )
        return np.random.default_rng(int(random_state))
    raise TypeError(
        "random_state must be None, an int, a numpy.random.Generator or a "
        f"numpy.random.RandomState, got {type(random_state).__name__}"
    )


def _integers(rng, high, size):
    """Uniform integers in ``[0, high)`` from a Generator or a RandomState."""
    if isinstance(rng, np.random.Generator):
        return rng.integers(0, high, size=size)
    return rng.randint(0, high, size=size)



def _check_float(value, name, *, strictly_positive):
    """Return ``value`` as a finite Python float (``> 0`` or ``>= 0``) or raise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if strictly_positive and value <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if not strictly_positive and value < 0.0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _sample_mixture(modes, n_samples, std, random_state):
    """Draw ``n_samples`` points from the equal-weight isotropic mixture."""
    rng = _check_random_state(random_state)
    labels = _integers(rng, modes.shape[0], n_samples)
    noise = rng.standard_normal((n_samples, modes.shape[1]))
    X = modes[labels] + std * noise
    return np.ascontiguousarray(X, dtype=np.float64)


# ---------------------------------------------------------------------------
# Old Faithful
# ---------------------------------------------------------------------------
def load_faithful(return_feature_names: bool = False) -> np.ndarray | tuple[np.ndarray, list[str]]:
    """Load the Old Faithful geyser data set.

    272 observations of the Old Faithful geyser (Yellowstone National Park):
    the eruption duration and the waiting time until the next eruption.  The
    data are bimodal and are a classic test case for two-component Gaussian
    mixtures (Azzalini and Bowman, 1990; Härdle, 1991).

    Parameters
    ----------
    return_feature_names : bool, default=False
        If True, also return the column names.

    Returns
    -------
    X : ndarray of shape (272, 2), dtype float64
        Column 0 is the eruption duration in minutes, column 1 is the
        waiting time to the next eruption in minutes.  A fresh array is
        returned on every call, so it may be modified freely.
    feature_names : list of str
        ``["eruptions", "waiting"]``; only returned when
        ``return_feature_names`` is True.

    Raises
    ------
    TypeError
        If ``return_feature_names`` is not a bool.
    RuntimeError
        If the packaged data file is missing or malformed (a broken install).

    Examples
    --------
    >>> from genmix.datasets import load_faithful
    >>> X = load_faithful()
    >>> X.shape
    (272, 2)
    """
    if not isinstance(return_feature_names, (bool, np.bool_)):
        raise TypeError(
            "return_feature_names must be a bool, got "
            f"{type(return_feature_names).__name__}"
        )
    resource = resources.files("genmix") / "data" / "faithful.csv"
    try:
        text = resource.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:  # pragma: no cover - broken install
        raise RuntimeError(f"cannot read packaged data file {resource}: {exc}") from exc

    lines = text.splitlines()
    if not lines:
        raise RuntimeError("packaged faithful.csv is empty")
    header = tuple(field.strip().strip('"') for field in lines[0].split(","))
    if header != _FAITHFUL_FEATURES:
        raise RuntimeError(
            f"packaged faithful.csv has header {header}, expected {_FAITHFUL_FEATURES}"
        )
    X = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    if X.shape != (_FAITHFUL_N_ROWS, len(_FAITHFUL_FEATURES)) or not np.all(np.isfinite(X)):
        raise RuntimeError(
            f"packaged faithful.csv is malformed: parsed shape {X.shape}, expected "
            f"({_FAITHFUL_N_ROWS}, {len(_FAITHFUL_FEATURES)}) finite values"
        )
    X = np.ascontiguousarray(X)
    if return_feature_names:
        return X, list(_FAITHFUL_FEATURES)
    return X


# ---------------------------------------------------------------------------
# synthetic mode-collapse benchmarks
# ---------------------------------------------------------------------------
def ring_modes(n_modes: int = 8, radius: float = 1.0) -> np.ndarray:
    """Mode centres of :func:`make_ring`.

    Parameters
    ----------
    n_modes : int, default=8
        Number of modes (>= 1).
    radius : float, default=1.0
        Radius of the circle (> 0).

    Returns
    -------
    modes : ndarray of shape (n_modes, 2), dtype float64
        ``modes[k] = radius * (cos(2 pi k / n_modes), sin(2 pi k / n_modes))``.
    """
    n_modes = as_int(n_modes, "n_modes", 1)
    radius = _check_float(radius, "radius", strictly_positive=True)
    angles = 2.0 * np.pi * np.arange(n_modes) / n_modes
    return radius * np.column_stack([np.cos(angles), np.sin(angles)])


def grid_modes(grid_size: int = 5, spacing: float = 2.0) -> np.ndarray:
    """Mode centres of :func:`make_grid`.

    Parameters
    ----------
    grid_size : int, default=5
        Number of modes along each axis (>= 1).
    spacing : float, default=2.0
        Distance between neighbouring modes along an axis (> 0).

    Returns
    -------
    modes : ndarray of shape (grid_size**2, 2), dtype float64
        The points ``(a_i, a_j)`` with
        ``a = spacing * (arange(grid_size) - (grid_size - 1) / 2)``, in
        row-major order (``modes[i * grid_size + j] = (a_i, a_j)``).  The grid
        is centred at the origin; the defaults give ``{-4, -2, 0, 2, 4}^2``.
    """
    grid_size = as_int(grid_size, "grid_size", 1)
    spacing = _check_float(spacing, "spacing", strictly_positive=True)
    axis = spacing * (np.arange(grid_size, dtype=np.float64) - (grid_size - 1) / 2.0)
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    return np.column_stack([xx.ravel(), yy.ravel()])


def make_ring(n_samples: int = 2500, n_modes: int = 8, radius: float = 1.0, std: float = 0.01,
              random_state: RandomStateLike = None) -> tuple[np.ndarray, np.ndarray]:
    """Sample the "2D ring" mixture of Gaussians (PacGAN protocol).

    Each sample picks one of ``n_modes`` modes uniformly at random and adds
    isotropic Gaussian noise with standard deviation ``std`` to its centre.
    The centres are equally spaced on a circle of radius ``radius`` centred
    at the origin, the first one at angle 0.  The defaults (8 modes, radius
    1, std 0.01) are those of Lin et al. (2018).

    Parameters
    ----------
    n_samples : int, default=2500
        Number of samples (>= 1).
    n_modes : int, default=8
        Number of mixture components (>= 1).
    radius : float, default=1.0
        Radius of the circle carrying the mode centres (> 0).
    std : float, default=0.01
        Standard deviation of each coordinate within a mode (>= 0; 0 returns
        the mode centres themselves).
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        Source of randomness.  An int gives reproducible output; a generator
        is used (and advanced) in place.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.
    modes : ndarray of shape (n_modes, 2), dtype float64
        The mode centres, ``modes[k] = radius * (cos(2 pi k / n_modes),
        sin(2 pi k / n_modes))``.  Pass them, with ``std``, to
        :func:`genmix.metrics.mode_statistics`.

    Raises
    ------
    TypeError, ValueError
        On a parameter of the wrong type or out of range.

    See Also
    --------
    make_grid, genmix.metrics.mode_statistics
    """
    n_samples = as_int(n_samples, "n_samples", 1)
    std = _check_float(std, "std", strictly_positive=False)
    modes = ring_modes(n_modes, radius)
    X = _sample_mixture(modes, n_samples, std, random_state)
    return X, modes


def make_grid(n_samples: int = 2500, grid_size: int = 5, spacing: float = 2.0, std: float = 0.05,
              random_state: RandomStateLike = None) -> tuple[np.ndarray, np.ndarray]:
    """Sample the "2D grid" mixture of Gaussians (PacGAN protocol).

    Each sample picks one of ``grid_size**2`` modes uniformly at random and
    adds isotropic Gaussian noise with standard deviation ``std``.  The mode
    centres form a square grid centred at the origin with ``spacing`` between
    neighbours; the defaults (5 x 5 grid, spacing 2, std 0.05) give the 25
    modes ``{-4, -2, 0, 2, 4}^2`` of Lin et al. (2018).

    Parameters
    ----------
    n_samples : int, default=2500
        Number of samples (>= 1).
    grid_size : int, default=5
        Number of modes along each axis (>= 1).
    spacing : float, default=2.0
        Distance between neighbouring mode centres along an axis (> 0).
    std : float, default=0.05
        Standard deviation of each coordinate within a mode (>= 0).
    random_state : None, int, numpy.random.Generator or numpy.random.RandomState
        Source of randomness.  An int gives reproducible output; a generator
        is used (and advanced) in place.

    Returns
    -------
    X : ndarray of shape (n_samples, 2), dtype float64
        The samples.
    modes : ndarray of shape (grid_size**2, 2), dtype float64
        The mode centres in row-major order: with
        ``a = spacing * (arange(grid_size) - (grid_size - 1) / 2)``,
        ``modes[i * grid_size + j] = (a[i], a[j])``.

    Raises
    ------
    TypeError, ValueError
        On a parameter of the wrong type or out of range.

    See Also
    --------
    make_ring, genmix.metrics.mode_statistics
    """
    n_samples = as_int(n_samples, "n_samples", 1)
    std = _check_float(std, "std", strictly_positive=False)
    modes = grid_modes(grid_size, spacing)
    X = _sample_mixture(modes, n_samples, std, random_state)
    return X, modes
