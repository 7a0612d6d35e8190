"""Tests for genmix.metrics."""

import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.distance import cdist

from genmix import datasets, metrics
from genmix.metrics import (
    frechet_distance,
    gaussian_frechet_distance,
    memorization,
    mmd_rbf,
    mode_statistics,
    precision_recall_density_coverage,
)


def _rng(seed):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------
# mode statistics
# ---------------------------------------------------------------------------
RING_MODES = datasets.ring_modes(8, 1.0)


def test_mode_statistics_all_on_one_mode():
    samples = np.tile(RING_MODES[3], (50, 1)) + 0.001
    res = mode_statistics(samples, RING_MODES, std=0.01)
    assert res.n_modes_captured == 1
    assert res.high_quality_fraction == 1.0
    assert res.reverse_kl == pytest.approx(math.log(8), rel=1e-12)
    expected = np.zeros(8, dtype=np.int64)
    expected[3] = 50
    np.testing.assert_array_equal(res.counts, expected)
    assert res.n_high_quality == 50 and res.n_samples == 50 and res.n_modes == 8


def test_mode_statistics_balanced_samples():
    samples = np.repeat(RING_MODES, 7, axis=0)  # exactly on the modes
    res = mode_statistics(samples, RING_MODES, std=0.01)
    assert res.n_modes_captured == 8
    assert res.high_quality_fraction == 1.0
    assert res.reverse_kl == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_array_equal(res.counts, np.full(8, 7))


def test_mode_statistics_hand_made_mixture():
    modes = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    std = 1.0
    samples = np.array(
        [
            [0.5, 0.5],  # mode 0, HQ (0.71 <= 3)
            [2.9, 0.0],  # mode 0, HQ (2.9)
            [0.0, 3.1],  # mode 0, not HQ (3.1 > 3)
            [10.0, 3.0],  # mode 1, HQ exactly at the threshold
            [11.0, 1.0],  # mode 1, HQ
            [10.0, 1.0],  # mode 1, HQ
            [5.0, 5.0],  # equidistant from all, distance 7.07: not HQ
            [100.0, 100.0],  # far: mode 3, not HQ
        ]
    )
    res = mode_statistics(samples, modes, std=std)
    np.testing.assert_array_equal(res.counts, [2, 3, 0, 0])
    assert res.n_modes_captured == 2
    assert res.high_quality_fraction == pytest.approx(5 / 8)
    q = np.array([2 / 5, 3 / 5])
    assert res.reverse_kl == pytest.approx(float(np.sum(q * np.log(q / 0.25))), rel=1e-12)
    # a wider threshold makes every sample except the far one high quality
    res2 = mode_statistics(samples, modes, std=std, n_std=8.0)
    assert res2.n_high_quality == 7
    np.testing.assert_array_equal(res2.counts, [4, 3, 0, 0])  # tie (5, 5) -> mode 0


def test_mode_statistics_no_high_quality_sample():
    samples = np.full((10, 2), 50.0)
    res = mode_statistics(samples, RING_MODES, std=0.01)
    assert res.n_modes_captured == 0
    assert res.high_quality_fraction == 0.0
    assert math.isnan(res.reverse_kl)
    assert res.counts.sum() == 0


def test_mode_statistics_on_true_data():
    X, modes = datasets.make_grid(n_samples=5000, random_state=0)
    res = mode_statistics(X, modes, std=0.05)
    assert res.n_modes_captured == 25
    # P(||N(0, s^2 I_2)|| <= 3 s) = 1 - exp(-4.5) = 0.9889
    assert res.high_quality_fraction == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert 0.0 <= res.reverse_kl < 0.02


def test_mode_statistics_matches_naive():
    rng = _rng(11)
    modes = rng.normal(size=(6, 3))
    samples = modes[rng.integers(0, 6, 400)] + rng.normal(scale=0.4, size=(400, 3))
    std = 0.3
    res = mode_statistics(samples, modes, std=std)
    d = cdist(samples, modes)
    nearest = d.argmin(axis=1)
    hq = d.min(axis=1) <= 3 * std
    counts = np.bincount(nearest[hq], minlength=6)
    np.testing.assert_array_equal(res.counts, counts)
    q = counts[counts > 0] / counts.sum()
    assert res.reverse_kl == pytest.approx(float(np.sum(q * np.log(q * 6))), rel=1e-12)
    assert res.high_quality_fraction == pytest.approx(hq.mean())
    assert res.n_modes_captured == np.count_nonzero(counts)


@pytest.mark.parametrize(
    "args, exc, match",
    [
        ((np.zeros((5, 3)), RING_MODES, 0.1), ValueError, "features"),
        ((np.zeros(5), RING_MODES, 0.1), ValueError, "samples"),
        ((np.zeros((0, 2)), RING_MODES, 0.1), ValueError, "samples"),
        ((np.zeros((5, 2)), np.zeros((0, 2)), 0.1), ValueError, "modes"),
        ((np.zeros((5, 2)), RING_MODES, 0.0), ValueError, "std"),
        ((np.zeros((5, 2)), RING_MODES, -1.0), ValueError, "std"),
        ((np.zeros((5, 2)), RING_MODES, "0.1"), TypeError, "std"),
        ((np.full((5, 2), np.nan), RING_MODES, 0.1), ValueError, "samples"),
        ((np.array([["a", "b"]]), RING_MODES, 0.1), TypeError, "samples"),
        ((np.zeros((5, 2), dtype=complex), RING_MODES, 0.1), TypeError, "samples"),
    ],
)
def test_mode_statistics_bad_input(args, exc, match):
    with pytest.raises(exc, match=match):
        mode_statistics(*args)


def test_mode_statistics_bad_n_std():
    with pytest.raises(ValueError, match="n_std"):
        mode_statistics(np.zeros((5, 2)), RING_MODES, 0.1, n_std=0)


# ---------------------------------------------------------------------------
# Fréchet distance
# ---------------------------------------------------------------------------
def _fd_scipy(X, Y):
    mu1, mu2 = X.mean(0), Y.mean(0)
    S1 = np.atleast_2d(np.cov(X, rowvar=False))
    S2 = np.atleast_2d(np.cov(Y, rowvar=False))
    covmean = scipy.linalg.sqrtm(S1 @ S2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(S1 + S2 - 2 * np.real(covmean)))


def test_gaussian_frechet_closed_form_diagonal():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    s1, s2 = np.array([1.0, 0.25, 4.0]), np.array([2.0, 1.0, 0.5])  # std devs
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    got = gaussian_frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2))
    assert got == pytest.approx(expected, rel=1e-12)


def test_gaussian_frechet_closed_form_commuting_and_singular():
    # S1, S2 share eigenvectors: closed form is sum (sqrt(l1) - sqrt(l2))^2
    Q, _ = np.linalg.qr(_rng(0).normal(size=(4, 4)))
    l1, l2 = np.array([3.0, 1.0, 0.0, 0.5]), np.array([1.0, 0.0, 2.0, 0.5])
    S1, S2 = (Q * l1) @ Q.T, (Q * l2) @ Q.T
    mu = np.array([1.0, 2.0, 3.0, 4.0])
    expected = np.sum((np.sqrt(l1) - np.sqrt(l2)) ** 2)
    assert gaussian_frechet_distance(mu, S1, mu, S2) == pytest.approx(expected, rel=1e-7)
    assert gaussian_frechet_distance(mu, S1, mu, S1) == pytest.approx(0.0, abs=1e-7)


def test_gaussian_frechet_one_dimensional():
    assert gaussian_frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9 + 1)


def test_frechet_samples_converge_to_closed_form():
    rng = _rng(1)
    n = 200_000
    mu1, mu2 = np.array([0.0, 0.0]), np.array([1.0, -1.0])
    s1, s2 = np.array([1.0, 2.0]), np.array([0.5, 1.0])
    X = mu1 + s1 * rng.standard_normal((n, 2))
    Y = mu2 + s2 * rng.standard_normal((n, 2))
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)  # 2 + 1.25
    assert frechet_distance(X, Y) == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("d", [1, 2, 5, 20])
def test_frechet_matches_scipy_sqrtm(d):
    rng = _rng(d)
    A = rng.normal(size=(d, d))
    X = rng.normal(size=(500, d)) @ A + 1.0
    Y = rng.normal(size=(300, d)) * np.linspace(0.5, 2.0, d)
    got = frechet_distance(X, Y)
    assert isinstance(got, float)
    assert got == pytest.approx(_fd_scipy(X, Y), rel=1e-8, abs=1e-8)


def test_frechet_identical_samples_zero():
    X = _rng(2).normal(size=(1000, 4)) @ _rng(3).normal(size=(4, 4))
    assert frechet_distance(X, X) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(X, X) >= 0.0


def test_frechet_rank_deficient_is_real_and_finite():
    # fewer samples than dimensions: singular covariances
    rng = _rng(4)
    X, Y = rng.normal(size=(5, 10)), rng.normal(size=(6, 10))
    got = frechet_distance(X, Y)
    assert isinstance(got, float) and np.isfinite(got) and got >= 0.0
    assert got == pytest.approx(_fd_scipy(X, Y), rel=1e-6)


@settings(max_examples=40, deadline=None, database=None)
@given(
    X=hnp.arrays(np.float64, (12, 3), elements=st.floats(-10, 10)),
    Y=hnp.arrays(np.float64, (9, 3), elements=st.floats(-10, 10)),
    shift=hnp.arrays(np.float64, (3,), elements=st.floats(-100, 100)),
)
def test_frechet_properties(X, Y, shift):
    fxy = frechet_distance(X, Y)
    scale = 1.0 + np.trace(np.cov(X, rowvar=False)) + np.trace(np.cov(Y, rowvar=False))
    assert fxy >= 0.0
    assert fxy == pytest.approx(frechet_distance(Y, X), abs=1e-6 * scale, rel=1e-6)
    assert fxy == pytest.approx(frechet_distance(X + shift, Y + shift), abs=1e-6 * scale, rel=1e-6)


@pytest.mark.parametrize(
    "X, Y, exc, match",
    [
        (np.zeros((1, 2)), np.zeros((5, 2)), ValueError, "X"),
        (np.zeros((5, 2)), np.zeros((5, 3)), ValueError, "features"),
        (np.zeros((5, 2, 1)), np.zeros((5, 2)), ValueError, "X"),
        (np.zeros((5, 2)), [[1, 2], [3]], ValueError, "Y"),
        (np.zeros((5, 2)), np.full((5, 2), np.inf), ValueError, "Y"),
        ("abc", np.zeros((5, 2)), TypeError, "X"),
    ],
)
def test_frechet_bad_input(X, Y, exc, match):
    with pytest.raises(exc, match=match):
        frechet_distance(X, Y)


def test_gaussian_frechet_bad_input():
    I2 = np.eye(2)
    with pytest.raises(ValueError, match="symmetric"):
        gaussian_frechet_distance(np.zeros(2), [[1.0, 0.5], [0.0, 1.0]], np.zeros(2), I2)
    with pytest.raises(ValueError, match="semi-definite"):
        gaussian_frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), I2)
    with pytest.raises(ValueError, match="shape"):
        gaussian_frechet_distance(np.zeros(3), I2, np.zeros(2), I2)
    with pytest.raises(ValueError, match="dimension"):
        gaussian_frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), I2)


# ---------------------------------------------------------------------------
# MMD
# ---------------------------------------------------------------------------
def _mmd_naive(X, Y, h):
    def k(a, b):
        return math.exp(-float(np.sum((a - b) ** 2)) / (2 * h * h))

    m, n = len(X), len(Y)
    kxx = sum(k(X[i], X[j]) for i in range(m) for j in range(m) if i != j)
    kyy = sum(k(Y[i], Y[j]) for i in range(n) for j in range(n) if i != j)
    kxy = sum(k(X[i], Y[j]) for i in range(m) for j in range(n))
    return kxx / (m * (m - 1)) + kyy / (n * (n - 1)) - 2 * kxy / (m * n)


@pytest.mark.parametrize("d", [2, 12])  # both distance code paths
def test_mmd_matches_naive_loop(d):
    rng = _rng(5)
    X = rng.normal(size=(30, d))
    Y = rng.normal(loc=0.3, size=(25, d))
    for h in (0.5, 2.0):
        assert mmd_rbf(X, Y, bandwidth=h) == pytest.approx(_mmd_naive(X, Y, h), rel=1e-10, abs=1e-12)


def test_mmd_median_heuristic_default():
    rng = _rng(6)
    X, Y = rng.normal(size=(40, 3)), rng.normal(size=(35, 3)) + 1.0
    Z = np.concatenate([X, Y])
    d = cdist(Z, Z)[np.triu_indices(len(Z), k=1)]
    h = float(np.median(d))
    assert metrics.median_heuristic_bandwidth(X, Y) == pytest.approx(h, rel=1e-12)
    assert mmd_rbf(X, Y) == pytest.approx(_mmd_naive(X, Y, h), rel=1e-10)


def test_mmd_median_heuristic_degenerate():
    X = np.zeros((10, 2))
    assert metrics.median_heuristic_bandwidth(X, X) == 1.0
    assert mmd_rbf(X, X) == pytest.approx(0.0, abs=1e-12)
    # more than half of the pairs identical: mean of non-zero distances
    Y = np.zeros((10, 2))
    Y[0] = [3.0, 4.0]
    assert metrics.median_heuristic_bandwidth(X, Y) == pytest.approx(5.0)


def test_mmd_same_distribution_near_zero_shifted_large():
    rng = _rng(7)
    X = rng.normal(size=(2000, 2))
    Y = rng.normal(size=(2000, 2))
    Z = rng.normal(size=(2000, 2)) + np.array([1.5, 0.0])
    same = mmd_rbf(X, Y)
    shifted = mmd_rbf(X, Z)
    assert abs(same) < 0.003
    assert shifted > 0.1
    assert shifted > 30 * abs(same)


def test_mmd_blocked_equals_unblocked(monkeypatch):
    rng = _rng(8)
    X = rng.normal(size=(150, 3))
    Y = rng.normal(size=(130, 3)) * 1.2
    full = mmd_rbf(X, Y, bandwidth=1.0)
    monkeypatch.setattr(metrics.mmd, "_KERNEL_BLOCK", 7)
    assert mmd_rbf(X, Y, bandwidth=1.0) == pytest.approx(full, rel=1e-10, abs=1e-14)
    assert full == pytest.approx(_mmd_naive(X, Y, 1.0), rel=1e-10)


@settings(max_examples=30, deadline=None, database=None)
@given(
    X=hnp.arrays(np.float64, (6, 2), elements=st.floats(-5, 5)),
    Y=hnp.arrays(np.float64, (7, 2), elements=st.floats(-5, 5)),
    h=st.floats(0.1, 10.0),
)
def test_mmd_symmetric_property(X, Y, h):
    assert mmd_rbf(X, Y, bandwidth=h) == pytest.approx(mmd_rbf(Y, X, bandwidth=h), abs=1e-12)


@pytest.mark.parametrize(
    "X, Y, kwargs, exc, match",
    [
        (np.zeros((1, 2)), np.zeros((5, 2)), {}, ValueError, "X"),
        (np.zeros((5, 2)), np.zeros((5, 3)), {}, ValueError, "features"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"bandwidth": 0.0}, ValueError, "bandwidth"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"bandwidth": -1.0}, ValueError, "bandwidth"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"bandwidth": "1"}, TypeError, "bandwidth"),
        (np.zeros((5, 2)), np.full((5, 2), np.nan), {}, ValueError, "Y"),
    ],
)
def test_mmd_bad_input(X, Y, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        mmd_rbf(X, Y, **kwargs)


# ---------------------------------------------------------------------------
# precision / recall / density / coverage
# ---------------------------------------------------------------------------
def _prdc_naive(real, fake, k):
    def kth_radius(A):
        D = cdist(A, A)
        np.fill_diagonal(D, np.inf)
        return np.sort(D, axis=1)[:, k - 1]

    r, s = kth_radius(real), kth_radius(fake)
    D = cdist(real, fake)  # (N, M)
    precision = np.mean([any(D[i, j] <= r[i] for i in range(len(real))) for j in range(len(fake))])
    recall = np.mean([any(D[i, j] <= s[j] for j in range(len(fake))) for i in range(len(real))])
    density = sum(D[i, j] <= r[i] for i in range(len(real)) for j in range(len(fake))) / (k * len(fake))
    coverage = np.mean([D[i].min() <= r[i] for i in range(len(real))])
    return precision, recall, density, coverage


def test_prdc_identical_sets():
    X = _rng(9).normal(size=(300, 2))
    res = precision_recall_density_coverage(X, X.copy(), k=5)
    assert res.precision == 1.0 and res.recall == 1.0 and res.coverage == 1.0
    assert res.k == 5
    # each real ball holds its centre and its k neighbours, all of which are
    # also fake points (no ties in continuous data): density = (k + 1) / k
    assert res.density == pytest.approx(6 / 5)


def test_prdc_disjoint_far_sets():
    rng = _rng(10)
    real = rng.normal(size=(200, 3))
    fake = rng.normal(size=(150, 3)) + 100.0
    res = precision_recall_density_coverage(real, fake, k=3)
    assert (res.precision, res.recall, res.density, res.coverage) == (0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize("d", [2, 10])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_prdc_matches_naive(d, k):
    rng = _rng(20 + d + k)
    real = rng.normal(size=(60, d))
    fake = rng.normal(size=(45, d)) * 1.3 + 0.4
    res = precision_recall_density_coverage(real, fake, k=k)
    p, r, dens, c = _prdc_naive(real, fake, k)
    assert res.precision == pytest.approx(p)
    assert res.recall == pytest.approx(r)
    assert res.density == pytest.approx(dens)
    assert res.coverage == pytest.approx(c)


def test_prdc_blocked_equals_unblocked(monkeypatch):
    rng = _rng(12)
    real = rng.normal(size=(120, 2))
    fake = rng.normal(size=(90, 2)) + 0.5
    full = precision_recall_density_coverage(real, fake, k=4)
    monkeypatch.setattr(metrics._common, "_BLOCK_ELEMENTS", 500)
    assert precision_recall_density_coverage(real, fake, k=4) == full


def test_prdc_mode_collapse_high_precision_low_recall():
    real, _ = datasets.make_ring(n_samples=800, random_state=0)
    fake = real[np.abs(real[:, 0] - 1.0) < 0.1]  # only the mode at (1, 0)
    res = precision_recall_density_coverage(real, fake, k=5)
    assert res.precision == 1.0
    assert res.recall < 0.3 and res.coverage < 0.3


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"k": 0}, ValueError, "k"),
        ({"k": 10}, ValueError, "k"),
        ({"k": 2.0}, TypeError, "k"),
        ({"k": True}, TypeError, "k"),
    ],
)
def test_prdc_bad_k(kwargs, exc, match):
    X = np.arange(20.0).reshape(10, 2)
    with pytest.raises(exc, match=match):
        precision_recall_density_coverage(X, X, **kwargs)


def test_prdc_bad_arrays():
    X = np.arange(20.0).reshape(10, 2)
    with pytest.raises(ValueError, match="features"):
        precision_recall_density_coverage(X, np.zeros((10, 3)), k=2)
    with pytest.raises(ValueError, match="real"):
        precision_recall_density_coverage(X[:, 0], X, k=2)
    with pytest.raises(TypeError, match="fake"):
        precision_recall_density_coverage(X, X.astype(object), k=2)


# ---------------------------------------------------------------------------
# memorisation
# ---------------------------------------------------------------------------
def test_memorization_copies_vs_fresh():
    rng = _rng(13)
    train = rng.normal(size=(1000, 2))
    heldout = rng.normal(size=(1000, 2))
    copies = train[rng.integers(0, 1000, 500)]
    fresh = rng.normal(size=(2000, 2))

    mem = memorization(copies, train, heldout)
    assert mem.fraction_closer_to_train == 1.0
    assert mem.median_distance_ratio == 0.0
    np.testing.assert_array_equal(mem.distance_to_train, 0.0)
    assert np.all(mem.distance_to_heldout > 0)
    assert mem.null_fraction == 0.5

    ok = memorization(fresh, train, heldout)
    assert abs(ok.fraction_closer_to_train - 0.5) < 0.06
    assert 0.8 < ok.median_distance_ratio < 1.25
    assert ok.distance_to_train.shape == (2000,) and ok.distance_to_heldout.shape == (2000,)


def test_memorization_distances_match_naive():
    rng = _rng(14)
    samples, train, heldout = rng.normal(size=(40, 3)), rng.normal(size=(30, 3)), rng.normal(size=(20, 3))
    mem = memorization(samples, train, heldout)
    d_tr = cdist(samples, train).min(axis=1)
    d_ho = cdist(samples, heldout).min(axis=1)
    np.testing.assert_allclose(mem.distance_to_train, d_tr, rtol=1e-12)
    np.testing.assert_allclose(mem.distance_to_heldout, d_ho, rtol=1e-12)
    assert mem.fraction_closer_to_train == pytest.approx(np.mean(d_tr < d_ho))
    assert mem.null_fraction == pytest.approx(30 / 50)
    assert mem.median_distance_ratio == pytest.approx(np.median(d_tr / d_ho))


def test_memorization_unequal_sizes_null_fraction():
    # fraction closer to train matches n_train / (n_train + n_heldout) when no memorisation
    rng = _rng(15)
    train, heldout = rng.normal(size=(3000, 2)), rng.normal(size=(1000, 2))
    res = memorization(rng.normal(size=(3000, 2)), train, heldout)
    assert res.null_fraction == 0.75
    assert abs(res.fraction_closer_to_train - 0.75) < 0.05


def test_memorization_ties_count_half():
    train = np.array([[0.0, 0.0], [5.0, 5.0]])
    heldout = np.array([[0.0, 0.0], [9.0, 9.0]])
    samples = np.array([[0.0, 0.0], [5.0, 5.0]])  # tie at 0; then closer to train
    res = memorization(samples, train, heldout)
    assert res.fraction_closer_to_train == pytest.approx((0.5 + 1.0) / 2)
    # ratios: 0/0 := 1 and 0/positive = 0 -> median 0.5
    assert res.median_distance_ratio == pytest.approx(0.5)


def test_memorization_bad_input():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="heldout"):
        memorization(X, X, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="train"):
        memorization(X, np.zeros((0, 2)), X)
    with pytest.raises(TypeError, match="samples"):
        memorization(None, X, X)


# ---------------------------------------------------------------------------
# scale: every metric works in data units from 1e-200 to 1e200
# ---------------------------------------------------------------------------
SCALES = [1e200, 1e-200, 2.0**600, 1e150]


def _pair(seed=11, n=60, d=3):
    rng = _rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 0.5


@pytest.mark.parametrize("scale", SCALES)
def test_mmd_is_scale_free(scale):
    X, Y = _pair()
    assert mmd_rbf(X * scale, Y * scale) == pytest.approx(mmd_rbf(X, Y), rel=1e-9)
    assert mmd_rbf(X * scale, Y * scale, bandwidth=2.0 * scale) == pytest.approx(mmd_rbf(X, Y, bandwidth=2.0),
                                                                                  rel=1e-9)
    assert metrics.median_heuristic_bandwidth(X * scale, Y * scale) == pytest.approx(
        metrics.median_heuristic_bandwidth(X, Y) * scale, rel=1e-9)


@pytest.mark.parametrize("scale", [1e150, 1e-150, 1e100, 1e-100])
def test_frechet_is_scale_free(scale):
    X, Y = _pair(d=2)
    assert frechet_distance(X * scale, Y * scale) == pytest.approx(frechet_distance(X, Y) * scale**2, rel=1e-9)


@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e200, 1e-200])
def test_gaussian_frechet_is_scale_free(scale):
    A = np.array([[2.0, 0.3], [0.3, 1.0]])
    B = np.array([[1.0, -0.2], [-0.2, 3.0]])
    m1, m2 = np.array([0.0, 1.0]), np.array([0.5, -1.0])
    ref = gaussian_frechet_distance(m1, A, m2, B)
    root = math.sqrt(scale)
    got = gaussian_frechet_distance(m1 * root, A * scale, m2 * root, B * scale)
    assert got == pytest.approx(ref * scale, rel=1e-9)
    # covariance 1e300 * I against 4e300 * I: tr(S1 + S2 - 2 (S1 S2)^1/2) = 2e300 (NaN before)
    eye = np.eye(2)
    assert gaussian_frechet_distance([0, 0], scale * eye, [0, 0], 4 * scale * eye) == pytest.approx(2 * scale,
                                                                                                      rel=1e-12)


@pytest.mark.parametrize("scale", SCALES)
def test_neighbour_metrics_are_scale_free(scale):
    X, Y = _pair()
    ref = precision_recall_density_coverage(X, Y, k=3)
    got = precision_recall_density_coverage(X * scale, Y * scale, k=3)
    assert (got.precision, got.recall, got.density, got.coverage) == pytest.approx(
        (ref.precision, ref.recall, ref.density, ref.coverage))
    ref_m = memorization(Y, X, X[::-1] + 0.1)
    got_m = memorization(Y * scale, X * scale, (X[::-1] + 0.1) * scale)
    assert got_m.fraction_closer_to_train == ref_m.fraction_closer_to_train
    assert got_m.median_distance_ratio == pytest.approx(ref_m.median_distance_ratio, rel=1e-9)
    assert_allclose = np.testing.assert_allclose
    assert_allclose(got_m.distance_to_train, ref_m.distance_to_train * scale, rtol=1e-9)
    modes = datasets.ring_modes(8, 1.0)
    samples = modes[_rng(3).integers(0, 8, 200)] + 0.05 * _rng(4).normal(size=(200, 2))
    ref_s = mode_statistics(samples, modes, 0.05)
    got_s = mode_statistics(samples * scale, modes * scale, 0.05 * scale)
    assert_allclose(got_s.counts, ref_s.counts)
    assert got_s.reverse_kl == pytest.approx(ref_s.reverse_kl)


@pytest.mark.parametrize("kind", ["datetime64[s]", "timedelta64[s]"])
def test_metrics_reject_time_values(kind):
    X = np.arange(20).reshape(10, 2).astype(kind)
    for call in (lambda: mmd_rbf(X, X), lambda: frechet_distance(X, X),
                 lambda: precision_recall_density_coverage(X, X), lambda: memorization(X, X, X),
                 lambda: gaussian_frechet_distance(np.zeros(2).astype(kind), np.eye(2), np.zeros(2), np.eye(2))):
        with pytest.raises(TypeError, match="real numbers"):
            call()


def test_mmd_rbf_with_a_bandwidth_whose_square_underflows():
    # 1 / (2 h^2) with h = 1e-170: h * h underflowed to 0 and raised ZeroDivisionError; such a
    # kernel is 0 between distinct points, so the estimate of distinct samples is 0
    rng = np.random.default_rng(0)
    X, Y = rng.normal(5, 2, size=(20, 2)), rng.normal(4, 2, size=(20, 2))
    assert metrics.mmd_rbf(X, Y, bandwidth=1e-170) == 0.0
    assert metrics.mmd_rbf(X, Y, bandwidth=1e-150) == 0.0
