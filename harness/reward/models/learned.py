"""The `prm` reward model: the process reward model trained in the shared `prm` stage (harness/stages/prm.py).
Its implementation (harness/reward/prm.py) needs torch: named here, imported when a run loads it."""
from harness.registry import lazy
from harness.reward.models import REWARD_MODELS, RewardModelKind

REWARD_MODELS.register("prm")(RewardModelKind(lazy("harness.reward.prm:LearnedPRM"), trained=True))
