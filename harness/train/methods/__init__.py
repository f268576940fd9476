"""Training methods: what carries over from one self-evolving iteration to the next (paper section 3.2),
and what the Improve step trains on.

Each module of this package registers its methods in METHODS (`paper.py`: the paper's Table 1 rows,
`controls.py`: the analysis controls); a new method is one more module. What a method declares here is all the
loop, the config checks and the report ask of it.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.registry import Registry

METHODS = Registry("training method", __name__)
# Where the Improve step's responses come from.
SAMPLED = "sampled"  # the policy's own samples that the H operator selected (self-evolution)
GIVEN = "given"      # the labeled data as given: plain prompt -> short answer (the paper's SFT baseline)
GOLD = "gold"        # each selected sample replaced by its query's gold solution: the controls' ceiling


@dataclass(frozen=True)
class Method:
    """One row of the paper's Table 1 design space (or an analysis control)."""

    name: str
    keeps_model: bool       # start iteration t from pi_t (else restart from pi_0)
    keeps_optimizer: bool   # carry optimizer state and LR schedule position (continuous optimisation)
    responses: str = SAMPLED

    @property
    def samples(self) -> bool:
        """Whether each iteration samples the policy (else it trains on the data as given)."""
        return self.responses != GIVEN

    @property
    def learns_from_samples(self) -> bool:
        """Whether it trains on its own samples' answers (self-evolution proper; unlabeled prompts need it)."""
        return self.responses == SAMPLED

    @property
    def cot(self) -> bool:
        """Whether it trains, and so is evaluated, with the chain-of-thought prompt. SFT fits the plain
        question -> short answer pairs of the labeled data, so it is evaluated on plain prompts: the format
        it was trained on (a CoT prompt would ask it for reasoning it never learned to write)."""
        return self.responses != GIVEN


def register(method: Method) -> Method:
    """Register a method under its own name."""
    return METHODS.register(method.name)(method)
