import numpy as np
import pytest

import tichchap


@pytest.fixture(autouse=True)
def _fresh_session():
    """Each test starts with Keras-style names from scratch, float32 and a fixed seed."""
    tichchap.utils.clear_session()
    tichchap.config.set_floatx("float32")
    tichchap.utils.set_random_seed(1234)
    yield
    tichchap.config.set_floatx("float32")


def spaced_values(rng, shape, spacing=0.05):
    """Distinct values at least ``spacing`` apart, shuffled, centred on zero and away from it:
    no max-pool ties and no ReLU kinks for a finite difference to cross."""
    n = int(np.prod(shape))
    values = (np.arange(n) - n / 2 + 0.5) * spacing
    return rng.permutation(values).reshape(shape)
