"""Nearest-neighbour metrics: precision, recall, density and coverage, and memorisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .._validation import as_int
from ._common import (
    _as_samples,
    _check_same_features,
    _kth_neighbour_sq_dist,
    _nearest,
    _row_blocks,
    _row_norms_sq,
    _sq_dists,
    _standardise,
)


@dataclass(frozen=True)
class PRDCResult:
    """Result of :func:`precision_recall_density_coverage`.

    Attributes
    ----------
    precision : float
        Fraction of fake samples inside the k-NN ball of some real sample.
    recall : float
        Fraction of real samples inside the k-NN ball of some fake sample.
    density : float
        Average number of real k-NN balls containing a fake sample, divided
        by ``k`` (can exceed 1).
    coverage : float
        Fraction of real samples whose k-NN ball contains a fake sample.
    k : int
        Number of neighbours used.
    """

    precision: float
    recall: float
    density: float
    coverage: float
    k: int


@dataclass(frozen=True)
class MemorizationResult:
    """Result of :func:`memorization`.

    Attributes
    ----------
    distance_to_train : ndarray of shape (n_samples,)
        Euclidean distance of each sample to its nearest training point.
    distance_to_heldout : ndarray of shape (n_samples,)
        Euclidean distance of each sample to its nearest held-out point.
    fraction_closer_to_train : float
        Fraction of samples strictly closer to the training set than to the
        held-out set; exact ties count one half.
    null_fraction : float
        ``n_train / (n_train + n_heldout)``: the expected value of
        ``fraction_closer_to_train`` for a generator that does not memorise
        (0.5 for equal-size sets).
    median_distance_ratio : float
        Median over samples of ``distance_to_train / distance_to_heldout``
        (with ``0/0 := 1`` and ``x/0 := inf``); about 1 without memorisation
        for equal-size sets, 0 when more than half the samples are copies of
        training points.
    """

    distance_to_train: np.ndarray
    distance_to_heldout: np.ndarray
    fraction_closer_to_train: float
    null_fraction: float
    median_distance_ratio: float


# ---------------------------------------------------------------------------
# precision / recall / density / coverage
# ---------------------------------------------------------------------------
def precision_recall_density_coverage(real: ArrayLike, fake: ArrayLike, k: int = 5) -> PRDCResult:
    """k-NN precision, recall, density and coverage of generated samples.

    Let ``r_i`` be the distance from real point ``x_i`` to its k-th nearest
    other real point, ``s_j`` the distance from fake point ``y_j`` to its
    k-th nearest other fake point, and ``B(c, r)`` the closed ball of radius
    ``r`` around ``c``.  With N real and M fake points:

    * precision = (1/M) sum_j 1[exists i: y_j in B(x_i, r_i)]
      (Kynkäänniemi et al., 2019);
    * recall = (1/N) sum_i 1[exists j: x_i in B(y_j, s_j)]
      (Kynkäänniemi et al., 2019);
    * density = 1/(kM) sum_j sum_i 1[y_j in B(x_i, r_i)]
      (Naeem et al., 2020);
    * coverage = (1/N) sum_i 1[exists j: y_j in B(x_i, r_i)]
      (Naeem et al., 2020).

    Parameters
    ----------
    real : array-like of shape (N, n_features)
        Samples from the data distribution (more than ``k`` rows).
    fake : array-like of shape (M, n_features)
        Generated samples (more than ``k`` rows).
    k : int, default=5
        Number of nearest neighbours defining the radii (>= 1).

    Returns
    -------
    PRDCResult
        ``precision``, ``recall``, ``coverage`` in [0, 1]; ``density`` in
        [0, N / k]; and ``k``.

    Raises
    ------
    TypeError, ValueError
        On non-real input, wrong shapes, non-finite values, different
        numbers of features, or ``k`` not an integer in ``[1, min(N, M) - 1]``.

    Notes
    -----
    Nearest neighbours are exact (brute force, in blocks of bounded memory).
    A point is never its own neighbour, but exact duplicates of it count.
    Balls are closed (``<=``), as in Kynkäänniemi et al.; the reference code
    of Naeem et al. uses strict inequalities, which only differs on ties.
    """
    real = _as_samples(real, "real", min_rows=2)
    fake = _as_samples(fake, "fake", min_rows=2)
    _check_same_features(real, fake, "real", "fake")
    k = as_int(k, "k", 1)
    n_real, n_fake = real.shape[0], fake.shape[0]
    if k >= n_real or k >= n_fake:
        raise ValueError(
            f"k must be smaller than the number of real ({n_real}) and fake "
            f"({n_fake}) samples, got k={k}"
        )
    (real, fake), _ = _standardise(real, fake)  # the balls only compare distances
    real_r2 = _kth_neighbour_sq_dist(real, k)
    fake_r2 = _kth_neighbour_sq_dist(fake, k)

    real_sq = _row_norms_sq(real)
    fake_sq = _row_norms_sq(fake)
    fake_in_balls = np.zeros(n_fake, dtype=np.int64)  # real balls containing y_j
    recall_hit = np.zeros(n_real, dtype=bool)
    coverage_hit = np.zeros(n_real, dtype=bool)
    for sl in _row_blocks(n_real, n_fake):
        D = _sq_dists(real[sl], fake, real_sq[sl], fake_sq)
        inside_real = D <= real_r2[sl, None]
        fake_in_balls += inside_real.sum(axis=0)
        coverage_hit[sl] = inside_real.any(axis=1)
        recall_hit[sl] = (D <= fake_r2[None, :]).any(axis=1)

    return PRDCResult(
        precision=float(np.mean(fake_in_balls > 0)),
        recall=float(np.mean(recall_hit)),
        density=float(fake_in_balls.sum()) / (k * n_fake),
        coverage=float(np.mean(coverage_hit)),
        k=k,
    )


# ---------------------------------------------------------------------------
# memorisation
# ---------------------------------------------------------------------------
def memorization(samples: ArrayLike, train: ArrayLike, heldout: ArrayLike) -> MemorizationResult:
    """Compare distances of generated samples to training and held-out data.

    For each generated sample, computes the Euclidean distance to its
    nearest training point, ``d_train``, and to its nearest held-out point,
    ``d_heldout``.  If train and held-out sets are independent samples from
    the same (continuous) distribution and the generator's output does not
    depend on the training set, then by exchangeability the nearest point of
    the pooled set ``train + heldout`` is equally likely to be any of its
    points, so ``P(d_train < d_heldout) = n_train / (n_train + n_heldout)``
    (``null_fraction``; 0.5 for equal sizes).  A generator that copies
    training points gives ``d_train = 0`` and a fraction close to 1.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
        Generated samples.
    train : array-like of shape (n_train, n_features)
        The training data of the generator.
    heldout : array-like of shape (n_heldout, n_features)
        Data from the same distribution not used for training; use the same
        size as ``train`` for the most readable result.

    Returns
    -------
    MemorizationResult
        Per-sample ``distance_to_train`` and ``distance_to_heldout``, and the
        summaries ``fraction_closer_to_train`` (ties count 1/2),
        ``null_fraction`` and ``median_distance_ratio`` (median of
        ``d_train / d_heldout``; the median, unlike the mean, is not ruined
        by the infinite ratios of samples that copy held-out points).

    Raises
    ------
    TypeError, ValueError
        On non-real input, wrong shapes, non-finite values or different
        numbers of features.

    Notes
    -----
    ``fraction_closer_to_train`` well above ``null_fraction`` indicates
    memorisation (or overfitting to the training set); its sampling spread
    is at least of order ``0.5 / sqrt(n_samples)``.  Nearest neighbours are
    exact and the reported distances are computed directly from the
    coordinates, so a copied point has distance exactly 0.
    """
    samples = _as_samples(samples, "samples")
    train = _as_samples(train, "train")
    heldout = _as_samples(heldout, "heldout")
    _check_same_features(samples, train, "samples", "train")
    _check_same_features(samples, heldout, "samples", "heldout")
    (_, samples_c, train_c, heldout_c), scale = _standardise(np.concatenate([train, heldout]), samples, train,
                                                            heldout)
    idx_tr, _ = _nearest(samples_c, train_c)
    idx_ho, _ = _nearest(samples_c, heldout_c)
    # Distances from the original coordinates (divided by the power of two `scale`, which is
    # exact, against overflow), so that exact copies give 0.
    d_tr = scale * np.sqrt(np.sum(((samples - train[idx_tr]) / scale) ** 2, axis=1))
    d_ho = scale * np.sqrt(np.sum(((samples - heldout[idx_ho]) / scale) ** 2, axis=1))

    closer = (d_tr < d_ho).astype(np.float64) + 0.5 * (d_tr == d_ho)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = d_tr / d_ho
    ratio[(d_tr == 0.0) & (d_ho == 0.0)] = 1.0
    return MemorizationResult(
        distance_to_train=d_tr,
        distance_to_heldout=d_ho,
        fraction_closer_to_train=float(np.mean(closer)),
        null_fraction=train.shape[0] / (train.shape[0] + heldout.shape[0]),
        median_distance_ratio=float(np.median(ratio)),
    )
