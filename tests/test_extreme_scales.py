"""Values near the ends of the floating-point range (siblings of issue #12's item 12):
the GAN's standardisation and the conversion to a narrower dtype."""
import warnings

import numpy as np
import pytest

from genmix import GAN, GaussianMixture


def tiny_gan(dtype):
    return GAN(generator_hidden=(8,), discriminator_hidden=(8,), n_steps=40, batch_size=16, calibration_steps=5,
               random_state=0, dtype=dtype)


@pytest.mark.parametrize("scale,dtype", [(1e300, np.float64), (1e-300, np.float64), (1e-40, np.float32),
                                         (1e30, np.float32)])
def test_gan_standardises_data_at_any_representable_scale(scale, dtype):
    # the standard deviation's sum of squares overflows (1e300) or underflows (1e-300, and
    # float32 denormals) although the data are plain; it used to fall back to scale 1, so
    # samples of 1e-300 data came out at about 1, and 1e300 data made the networks overflow
    X = np.random.default_rng(0).normal(size=(300, 2)) * scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gan = tiny_gan(dtype).fit(X.astype(dtype))
    np.testing.assert_allclose(gan._state["x_scale"] / scale, (X / scale).std(axis=0), rtol=1e-3)
    samples = gan.sample(200, rejection=False)
    assert np.isfinite(samples).all()
    assert 0.1 < float(np.std(samples / scale)) < 10


def test_values_beyond_the_compute_dtype_get_their_own_error():
    X = np.random.default_rng(0).normal(size=(100, 2)) * 1e300  # finite in float64, infinite in float32
    with pytest.raises(ValueError, match=r"beyond the range of float32 \(largest .*e\+300"):
        tiny_gan(np.float32).fit(X)
    g = GaussianMixture(2, random_state=0).fit(np.random.default_rng(1).normal(size=(100, 2)).astype(np.float32))
    # a float32 model evaluates float64 input in float64 (no narrowing); real infinities keep their message
    with pytest.raises(ValueError, match="NaN or infinity"):
        g.score_samples(np.array([[np.inf, 0.0]]))
