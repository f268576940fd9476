"""The `prm` reward model: the process reward model trained in the shared `prm` stage (harness/stages/prm.py)."""
from __future__ import annotations

from pathlib import Path

from harness.data.datasets import Record
from harness.model.adapters import Prompt
from harness.reward.models import REWARD_MODELS, RewardModelKind
from harness.reward.prm import ProcessRewardModel


class LearnedPRM:
    """The process reward model trained in the `prm` stage."""

    def __init__(self, path: Path, model_cfg):
        self.prm = ProcessRewardModel.load(path, model_cfg)

    def step_scores(self, records: list[Record], responses: list[str]) -> list[list[float]]:
        prompts = [Prompt(r.question, r.image, cot=True) for r in records]
        return self.prm.step_scores(prompts, responses)


REWARD_MODELS.register("prm")(RewardModelKind(LearnedPRM, trained=True))
