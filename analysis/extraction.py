"""The answer-extraction table: accuracy with rule-extracted answers beside accuracy after the judge step.

Published MathVista numbers come from an LLM extracting the answer; the harness's `accuracy` comes from
rules. Where a run was scored with a judge (eval.judge, or `harness rescore`), this table shows both per
row (base, +warm-up, each run label) and split, the share of responses whose verdict the judge changed,
and how many responses it failed on (their rule answers were kept, so a judge that was down shows as
rules = judge with unjudged > 0).
"""
from __future__ import annotations

import pandas as pd

from analysis.load import Results
from analysis.settings import FINAL_STATES, METHODS, PERCENT
from analysis.stats import cell, mean_ci
from analysis.tables import Table

COLUMNS = {"rule": "rules", "judge": "judge", "differ": "verdict changed"}


def extraction_table(res: Results) -> Table | None:
    """None when no run was scored by a judge."""
    x = res.extraction
    runs = res.runs.set_index("path")
    x = x[(x.stage != "final") | x.path.map(lambda p: runs.state.get(p) in FINAL_STATES)]
    if x.empty:
        return None
    x = x.drop_duplicates(["replicate", "stage", "split"])  # a stage shared by several runs is one measurement
    x = x.assign(row=[runs.label[p] if s == "final" else METHODS[s] for p, s in zip(x.path, x.stage)])
    numbers, shown = [], []
    for (row, split, prompt), g in x.groupby(["row", "split", "prompt"], sort=False):
        num = {"Row": row, "split": split, "prompt": prompt + (" circular" if g.circular.any() else "")}
        text = dict(num)
        for col, name in COLUMNS.items():
            mean, half, n = mean_ci(g[col].astype(float) * PERCENT)
            num.update({f"{name} mean": mean, f"{name} ci95": half, f"{name} n": n})
            text[name] = cell(mean, half, n)
        num["unjudged"] = text["unjudged"] = int(g.unjudged.sum())
        numbers.append(num)
        shown.append(text)
    return Table("extraction", "Answer extraction: rules and judge",
                 "Greedy accuracy (%) with the answer found by rules, and after the judge step (an LLM extracts "
                 "the answer where the rules find none, or everywhere with eval.judge.mode=always; the same "
                 "normalisation follows), mean ± 95% CI over seeds; 'verdict changed' = share of responses "
                 "(%) whose verdict the judge step changed; unjudged = responses the judge failed on (their "
                 "rule answers were kept).", pd.DataFrame(numbers).round(6), pd.DataFrame(shown))
