"""MKL's rounding is pinned before torch loads it (harness/__init__.py): the measured drift it prevents is a base
stage built by two code paths ending 5 points apart after the warm-up."""
import os
import subprocess
import sys

import pytest

PROBE = "import harness, os, torch; print(os.environ.get('MKL_CBWR'))"


@pytest.mark.parametrize("outside, expected", [(None, "AUTO,STRICT"), ("COMPATIBLE", "COMPATIBLE")])
def test_importing_the_harness_pins_mkl_rounding_unless_set_outside(outside, expected):
    env = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"}
    if outside:
        env["MKL_CBWR"] = outside
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
