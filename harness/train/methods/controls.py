"""Training methods that are controls, not methods of the paper (ablations/controls.yaml)."""
from harness.train.methods import GOLD, Method, register

# Continuous, with each selected response swapped for the gold solution, so it takes as many steps as answer-only
# RFT on perfect data (embedded world only).
register(Method("gold_sft", keeps_model=True, keeps_optimizer=True, responses=GOLD))
