import os

import numpy as np
import pytest
from hypothesis import settings

import tichchap

# The property tests (hypothesis) explore fresh random cases on a developer's machine, where a
# new failure is a find; under CI they replay the same derandomised cases, so a red CI means a
# change broke something, not that the dice found an old bug. (test_crash_safety's zip-version
# case was such a find.) Set before the test modules build their settings objects.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


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
