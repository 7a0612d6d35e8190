"""Tests for genmix.datasets."""

import numpy as np
import pytest

from genmix import datasets
from genmix.datasets import load_faithful, make_grid, make_ring


def _nearest_mode(X, modes):
    d = np.linalg.norm(X[:, None, :] - modes[None, :, :], axis=2)
    return d.argmin(axis=1), d.min(axis=1)


# ---------------------------------------------------------------------------
# Old Faithful
# ---------------------------------------------------------------------------
def test_faithful_shape_dtype_values():
    X = load_faithful()
    assert isinstance(X, np.ndarray)
    assert X.shape == (272, 2)
    assert X.dtype == np.float64
    assert np.all(np.isfinite(X))
    # first rows of the classic R data set
    np.testing.assert_array_equal(X[0], [3.6, 79.0])
    np.testing.assert_array_equal(X[1], [1.8, 54.0])
    # well-known summary statistics
    np.testing.assert_allclose(X.mean(axis=0), [3.487783, 70.897059], atol=1e-6)
    np.testing.assert_array_equal(X.min(axis=0), [1.6, 43.0])
    np.testing.assert_array_equal(X.max(axis=0), [5.1, 96.0])


def test_faithful_feature_names_and_fresh_copy():
    X, names = load_faithful(return_feature_names=True)
    assert names == ["eruptions", "waiting"]
    X[:] = 0.0
    X2 = load_faithful()
    assert X2[0, 0] == 3.6  # modifying a returned array does not leak


def test_faithful_is_bimodal_in_eruptions():
    X = load_faithful()
    short = X[:, 0] < 3.0
    # the two clusters: about 97 short and 175 long eruptions
    assert 90 <= short.sum() <= 105
    assert X[short, 1].mean() < 60 < X[~short, 1].mean()


def test_faithful_bad_argument():
    with pytest.raises(TypeError, match="return_feature_names"):
        load_faithful(return_feature_names="yes")


# ---------------------------------------------------------------------------
# ring
# ---------------------------------------------------------------------------
def test_ring_defaults_follow_pacgan_protocol():
    X, modes = make_ring(random_state=0)
    assert X.shape == (2500, 2) and X.dtype == np.float64
    assert modes.shape == (8, 2) and modes.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(modes, axis=1), 1.0, rtol=1e-12)
    angles = np.mod(np.arctan2(modes[:, 1], modes[:, 0]), 2 * np.pi)
    np.testing.assert_allclose(angles, 2 * np.pi * np.arange(8) / 8, atol=1e-12)
    np.testing.assert_allclose(modes[0], [1.0, 0.0], atol=1e-15)


def test_ring_samples_near_modes_with_right_spread():
    std = 0.01
    X, modes = make_ring(n_samples=8000, std=std, random_state=1)
    labels, dist = _nearest_mode(X, modes)
    # 6 sigma in 2-D: P(exceed) = exp(-18) per sample
    assert dist.max() < 6 * std
    # per-coordinate spread about the mode centre equals std
    resid = X - modes[labels]
    np.testing.assert_allclose(resid.std(axis=0), std, rtol=0.05)
    np.testing.assert_allclose(resid.mean(axis=0), 0.0, atol=5 * std / np.sqrt(8000))
    # modes equally likely: 1000 expected per mode, binomial sd ~ 30
    counts = np.bincount(labels, minlength=8)
    assert counts.min() > 850 and counts.max() < 1150


def test_ring_custom_parameters():
    X, modes = make_ring(n_samples=300, n_modes=3, radius=5.0, std=0.1, random_state=2)
    assert X.shape == (300, 2) and modes.shape == (3, 2)
    np.testing.assert_allclose(np.linalg.norm(modes, axis=1), 5.0)
    _, dist = _nearest_mode(X, modes)
    assert dist.max() < 0.6
    np.testing.assert_allclose(datasets.ring_modes(3, 5.0), modes)


def test_ring_zero_std_returns_mode_centres():
    X, modes = make_ring(n_samples=50, std=0.0, random_state=3)
    assert all(any(np.array_equal(x, m) for m in modes) for x in X)


# ---------------------------------------------------------------------------
# grid
# ---------------------------------------------------------------------------
def test_grid_defaults_follow_pacgan_protocol():
    X, modes = make_grid(random_state=0)
    assert X.shape == (2500, 2) and X.dtype == np.float64
    assert modes.shape == (25, 2) and modes.dtype == np.float64
    expected = {(a, b) for a in (-4.0, -2.0, 0.0, 2.0, 4.0) for b in (-4.0, -2.0, 0.0, 2.0, 4.0)}
    assert {tuple(m) for m in modes} == expected
    np.testing.assert_array_equal(modes.mean(axis=0), [0.0, 0.0])
    # documented row-major order
    np.testing.assert_array_equal(modes[0], [-4.0, -4.0])
    np.testing.assert_array_equal(modes[1], [-4.0, -2.0])
    np.testing.assert_array_equal(modes[5], [-2.0, -4.0])


def test_grid_samples_near_modes_all_modes_used():
    std = 0.05
    X, modes = make_grid(n_samples=10000, std=std, random_state=4)
    labels, dist = _nearest_mode(X, modes)
    assert dist.max() < 6 * std
    resid = X - modes[labels]
    np.testing.assert_allclose(resid.std(axis=0), std, rtol=0.05)
    counts = np.bincount(labels, minlength=25)
    # 400 expected per mode, sd ~ 20
    assert counts.min() > 300 and counts.max() < 500


def test_grid_custom_parameters_centred():
    X, modes = make_grid(n_samples=100, grid_size=4, spacing=1.5, std=0.01, random_state=5)
    assert modes.shape == (16, 2) and X.shape == (100, 2)
    np.testing.assert_allclose(np.unique(modes[:, 0]), [-2.25, -0.75, 0.75, 2.25])
    np.testing.assert_allclose(modes.mean(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(datasets.grid_modes(4, 1.5), modes)


# ---------------------------------------------------------------------------
# randomness
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("maker", [make_ring, make_grid])
def test_reproducibility(maker):
    X1, m1 = maker(n_samples=200, random_state=42)
    X2, m2 = maker(n_samples=200, random_state=42)
    X3, _ = maker(n_samples=200, random_state=43)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(m1, m2)
    assert not np.array_equal(X1, X3)
    # an int seed is equivalent to a Generator seeded with it
    X4, _ = maker(n_samples=200, random_state=np.random.default_rng(42))
    np.testing.assert_array_equal(X1, X4)


@pytest.mark.parametrize("maker", [make_ring, make_grid])
def test_generator_is_advanced_in_place(maker):
    rng = np.random.default_rng(7)
    X1, _ = maker(n_samples=100, random_state=rng)
    X2, _ = maker(n_samples=100, random_state=rng)
    assert not np.array_equal(X1, X2)


@pytest.mark.parametrize("maker", [make_ring, make_grid])
def test_legacy_random_state(maker):
    X1, _ = maker(n_samples=100, random_state=np.random.RandomState(3))
    X2, _ = maker(n_samples=100, random_state=np.random.RandomState(3))
    np.testing.assert_array_equal(X1, X2)
    assert X1.shape == (100, 2) and X1.dtype == np.float64


def test_no_global_rng_use():
    state = np.random.get_state()[1].copy()
    make_ring(n_samples=10, random_state=0)
    make_grid(n_samples=10)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_none_random_state_gives_fresh_draws():
    X1, _ = make_ring(n_samples=100)
    X2, _ = make_ring(n_samples=100)
    assert not np.array_equal(X1, X2)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("maker", [make_ring, make_grid])
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n_samples": 0}, ValueError, "n_samples"),
        ({"n_samples": -5}, ValueError, "n_samples"),
        ({"n_samples": 2.5}, TypeError, "n_samples"),
        ({"n_samples": True}, TypeError, "n_samples"),
        ({"n_samples": "10"}, TypeError, "n_samples"),
        ({"std": -0.1}, ValueError, "std"),
        ({"std": float("nan")}, ValueError, "std"),
        ({"std": "0.1"}, TypeError, "std"),
        ({"random_state": "seed"}, TypeError, "random_state"),
        ({"random_state": 1.5}, TypeError, "random_state"),
        ({"random_state": -1}, ValueError, "random_state"),
    ],
)
def test_bad_common_arguments(maker, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        maker(**kwargs)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n_modes": 0}, ValueError, "n_modes"),
        ({"n_modes": 2.0}, TypeError, "n_modes"),
        ({"radius": 0.0}, ValueError, "radius"),
        ({"radius": float("inf")}, ValueError, "radius"),
    ],
)
def test_bad_ring_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_ring(n_samples=10, **kwargs)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"grid_size": 0}, ValueError, "grid_size"),
        ({"grid_size": None}, TypeError, "grid_size"),
        ({"spacing": -2.0}, ValueError, "spacing"),
    ],
)
def test_bad_grid_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_grid(n_samples=10, **kwargs)
