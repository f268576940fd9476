"""Training methods: what carries over from one self-evolving iteration to the next (paper section 3.2),
and what the Improve step trains on."""
from __future__ import annotations

from dataclasses import dataclass

from harness.registry import Registry

METHODS = Registry("training method")
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
    def cot(self) -> bool:
        """Whether it trains, and so is evaluated, with the chain-of-thought prompt. SFT fits the plain
        question -> short answer pairs of the labeled data, so it is evaluated on plain prompts: the format
        it was trained on (a CoT prompt would ask it for reasoning it never learned to write)."""
        return self.responses != GIVEN


for _m in (
    Method("sft", keeps_model=True, keeps_optimizer=True, responses=GIVEN),
    Method("iterative_rft", keeps_model=True, keeps_optimizer=False),
    Method("restem", keeps_model=False, keeps_optimizer=False),
    Method("continuous", keeps_model=True, keeps_optimizer=True),
    # Not a method of the paper: continuous, with each selected response swapped for the gold solution, so it
    # takes as many steps as answer-only RFT on perfect data (ablations/controls.yaml; embedded world only).
    Method("gold_sft", keeps_model=True, keeps_optimizer=True, responses=GOLD),
):
    METHODS.register(_m.name)(_m)
