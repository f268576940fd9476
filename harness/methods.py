"""Training methods: what carries over from one self-evolving iteration to the next (paper section 3.2)."""
from __future__ import annotations

from dataclasses import dataclass

from harness.registry import Registry

METHODS = Registry("training method")


@dataclass(frozen=True)
class Method:
    """One row of the paper's Table 1 design space."""

    name: str
    keeps_model: bool       # start iteration t from pi_t (else restart from pi_0)
    keeps_optimizer: bool   # carry optimizer state and LR schedule position (continuous optimisation)
    samples: bool           # learn from the policy's own filtered samples (else from the data as given)


for _m in (
    Method("sft", keeps_model=True, keeps_optimizer=True, samples=False),
    Method("iterative_rft", keeps_model=True, keeps_optimizer=False, samples=True),
    Method("restem", keeps_model=False, keeps_optimizer=False, samples=True),
    Method("continuous", keeps_model=True, keeps_optimizer=True, samples=True),
):
    METHODS.register(_m.name)(_m)
