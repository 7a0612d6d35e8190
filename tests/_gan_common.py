"""Helpers shared by the GAN tests: a medium-sized GAN with a fixed decay horizon, and
bit-for-bit comparison of training states."""

import numpy as np

from genmix import GAN


def _state_equal(a, b):
    for k in a._state:
        np.testing.assert_array_equal(a._state[k], b._state[k], err_msg=k)


def _medium(**kw):
    # a fixed decay horizon (not n_steps), so runs of different lengths share one schedule
    params = dict(latent_dim=4, generator_hidden=(32, 32), discriminator_hidden=(32, 32), batch_size=300,
                  n_steps=6, log_every=2, random_state=7, penalty="r1", lr_schedule="cosine", lr_decay_steps=8,
                  lr_end_factor=0.1, calibration_steps=(3, 2))
    params.update(kw)
    return GAN(**params)
