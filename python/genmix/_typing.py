"""Type aliases shared by the annotations of the public API."""

from __future__ import annotations

from typing import Union

import numpy as np

# what a random_state parameter accepts (see _base.check_random_state)
RandomStateLike = Union[None, int, np.integer, np.random.RandomState, np.random.Generator]
