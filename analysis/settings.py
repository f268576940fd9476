"""Every default of `harness report` in one place: statistics, formatting, names and figure style."""
from __future__ import annotations

from harness.reward.operators import OPERATORS
from harness.train.methods import METHODS as TRAINING_METHODS

CONFIDENCE = 0.95          # two-sided confidence of the intervals around seed means (t-distribution)
PERCENT = 100.0            # results store fractions; tables and figures show percent
DECIMALS = 1               # decimals of a percent cell, as in the paper
MISSING = "—"              # a cell with no finished run behind it
REPORT_DIR = "report"      # default output: <first sweep folder>/report

FINAL_STATES = ("done",)   # only these runs count for tables; others may still feed dynamics figures
SPLITS = {"test_id": "ID test", "test_ood": "OOD test"}   # split -> column name in Tables 1-3
NOT_BENCHMARKS = ("test_id", "val")                       # splits that are not a Table 5 column

# MathVista task names (metadata.task) -> the paper's abbreviations in Table 4.
TASKS = {
    "figure question answering": "FQA",
    "geometry problem solving": "GPS",
    "math word problem": "MWP",
    "textbook question answering": "TQA",
    "visual question answering": "VQA",
}

# Display names of config values.
METHODS = {"base": "base", "warmup": "+warm-up", "sft": "SFT", "iterative_rft": "Iterative RFT",
           "restem": "ReST-EM", "continuous": "Continuous", "gold_sft": "SFT on gold solutions"}
# Table 1's columns M (the model each iteration starts from) and O (optimizer and LR schedule carried over), for the
# self-evolving methods: read from what each method declares it carries over (harness/train/methods/).
INIT = {name: "π_t" if m.keeps_model else "π_0" for name, m in TRAINING_METHODS.items() if m.learns_from_samples}
OPTIMIZER = {name: "✓" if m.keeps_optimizer else "×" for name, m in TRAINING_METHODS.items() if m.learns_from_samples}
K_OPERATORS = {name for name, op in OPERATORS.items() if op.uses_k}   # H operators whose k is a Table 2 key
PRM_MARK = {"none": "×", "prm": "✓", "oracle": "oracle"}
ORACLE_MARK = {"none": "-", "oracle": "✓", "pseudo": "×"}

# Dynamics metrics (metrics.jsonl rows with a "metric" key) -> axis label.
METRIC_LABELS = {
    "greedy_accuracy": "greedy accuracy (%)",
    "pass_at_k": "Pass@K (%)",
    "pass_minus_greedy": "Pass@K − greedy (% points)",
    "reward_pass_at_2": "Reward-Pass@2 (%)",
}
METRIC_NAMES = {"greedy_accuracy": "greedy accuracy", "pass_at_k": "Pass@K",
                "pass_minus_greedy": "Pass@K − greedy", "reward_pass_at_2": "Reward-Pass@2"}
VOTING_LABELS = {"best_of_n": "best-of-N", "weighted_vote": "weighted voting", "majority_vote": "majority voting"}
SCORERS = {"prm": "PRM", "oracle": "oracle steps"}   # verifier/*.csv reward_model -> name in Figure 2
VERIFIER_AGGREGATE = "min"  # step scores -> response score shown in Figure 2 (the paper's choice)
STEP_GROUPS = {"top2": "top 2 by score", "rest": "other correct"}
X_TRAINING = ("queries_seen", "training queries seen")   # x axis of every curve over training

# Figure style.
DPI = 150
PANEL = (4.2, 3.3)         # inches per subplot
STYLE = "whitegrid"
TEMPERATURE_PALETTE = "viridis"
BAND_ALPHA = 0.15          # seed bands; lower than seaborn's 0.2 so overlapping bands stay readable
