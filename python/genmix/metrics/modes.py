"""Mode coverage of samples from a mixture with known modes (the PacGAN / VEEGAN protocol)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._common import _as_samples, _check_positive_float, _check_same_features, _nearest, _standardise


@dataclass(frozen=True)
class ModeStatistics:
    """Result of :func:`mode_statistics`.

    Attributes
    ----------
    n_modes_captured : int
        Number of modes that are the nearest mode of at least one
        high-quality sample.
    high_quality_fraction : float
        Fraction of all samples that are high quality (within
        ``n_std * std`` of their nearest mode).
    reverse_kl : float
        ``KL(q || p)`` in nats, where ``q`` is the normalised histogram of
        the nearest modes of the high-quality samples and ``p`` is uniform
        over the modes.  ``nan`` when there is no high-quality sample.
    counts : ndarray of shape (n_modes,), dtype int64
        Number of high-quality samples whose nearest mode is each mode.
    n_high_quality : int
        Number of high-quality samples (``counts.sum()``).
    n_samples : int
        Number of samples evaluated.
    n_modes : int
        Number of modes.
    """

    n_modes_captured: int
    high_quality_fraction: float
    reverse_kl: float
    counts: np.ndarray
    n_high_quality: int
    n_samples: int
    n_modes: int


# ---------------------------------------------------------------------------
# mode statistics
# ---------------------------------------------------------------------------
def mode_statistics(samples: ArrayLike, modes: ArrayLike, std: float, n_std: float = 3.0) -> ModeStatistics:
    """Mode-collapse statistics of samples from a mixture with known modes.

    Each sample is assigned to its nearest mode (Euclidean distance).  A
    sample is *high quality* when this distance is at most ``n_std * std``.
    This is the evaluation protocol of VEEGAN (Srivastava et al., 2017) and
    PacGAN (Lin et al., 2018) for the 2D ring and grid data sets.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
        Generated samples (at least one).
    modes : array-like of shape (n_modes, n_features)
        Mode centres, e.g. the second output of
        :func:`genmix.datasets.make_ring` or :func:`genmix.datasets.make_grid`.
    std : float
        Standard deviation of each mode (> 0).
    n_std : float, default=3.0
        Quality threshold in units of ``std`` (> 0).

    Returns
    -------
    ModeStatistics
        With fields

        * ``n_modes_captured``: number of modes that are the nearest mode of
          at least one high-quality sample;
        * ``high_quality_fraction``: number of high-quality samples divided
          by ``n_samples``;
        * ``reverse_kl``: ``KL(q || p) = sum_k q_k log(q_k / p_k)`` in nats,
          where ``q_k = counts[k] / counts.sum()`` and ``p_k = 1 / n_modes``,
          with ``0 log 0 = 0``.  It lies in ``[0, log(n_modes)]``: 0 for a
          perfectly balanced histogram, ``log(n_modes)`` when all
          high-quality samples sit on one mode.  When there is no
          high-quality sample ``q`` is undefined and ``reverse_kl`` is
          ``nan`` (``n_modes_captured`` is then 0 and
          ``high_quality_fraction`` is 0, which already flag the failure);
        * ``counts``: per-mode number of high-quality samples;
        * ``n_high_quality``, ``n_samples``, ``n_modes``.

    Raises
    ------
    TypeError
        If an input has the wrong type.
    ValueError
        If an array has the wrong shape or non-finite values, if the numbers
        of features differ, or if ``std`` or ``n_std`` is not positive.

    Notes
    -----
    Ties between equidistant modes go to the mode with the lowest index.
    """
    samples = _as_samples(samples, "samples")
    modes = _as_samples(modes, "modes")
    _check_same_features(samples, modes, "samples", "modes")
    std = _check_positive_float(std, "std")
    n_std = _check_positive_float(n_std, "n_std")

    (modes_c, samples_c), scale = _standardise(modes, samples)
    nearest, sq_dist = _nearest(samples_c, modes_c)
    threshold = n_std * (std / scale)
    high_quality = sq_dist <= threshold * threshold

    n_samples = samples.shape[0]
    n_modes = modes.shape[0]
    counts = np.bincount(nearest[high_quality], minlength=n_modes).astype(np.int64)
    n_hq = int(counts.sum())
    if n_hq == 0:
        reverse_kl = float("nan")
    else:
        q = counts[counts > 0] / n_hq
        reverse_kl = float(np.sum(q * np.log(q * n_modes)))
        reverse_kl = max(reverse_kl, 0.0)  # remove tiny negative rounding
    return ModeStatistics(
        n_modes_captured=int(np.count_nonzero(counts)),
        high_quality_fraction=n_hq / n_samples,
        reverse_kl=reverse_kl,
        counts=counts,
        n_high_quality=n_hq,
        n_samples=n_samples,
        n_modes=n_modes,
    )
