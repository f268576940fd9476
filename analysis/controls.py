"""The Controls table (ablations/controls.yaml): can the Improve step be seen to help and to hurt?

Rows: pi_0 (the warm-up, no Improve step), then each run label (answer-only RFT, the oracle-filtered
positive control, the wrong-reasoning-only negative control, SFT on gold solutions). Columns: greedy
accuracy on val, test_id and the OOD test; the false-positive rate of what was trained on; examples
and optimizer steps in all; and each accuracy's difference to pi_0, paired run by run (a run minus the
pi_0 it started from), so the interval of a difference is that of the paired differences over seeds.
"""
from __future__ import annotations

import pandas as pd

from analysis.load import Results
from analysis.settings import FINAL_STATES, PERCENT
from analysis.tables import Table, assemble, collect

ACCURACY = {("val", "ALL"): "val greedy", ("test_id", "ALL"): "ID test", ("test_ood", "ALL"): "OOD test"}
TRAINED = {"selected_false_positive_rate": "selected FP rate", "selected": "examples", "sft_steps": "steps"}
DELTA = "Δ "


def training_values(res: Results, runs: pd.DataFrame) -> pd.DataFrame:
    """Per done run: the FP rate of everything trained on (weighted by examples per iteration, %),
    examples and steps summed over iterations."""
    rows = []
    for path in runs[runs.state.isin(FINAL_STATES)].path:
        it = res.iterations[res.iterations.path == path]
        selected = it.get("selected", pd.Series(dtype=float)).fillna(0)
        fp = it.get("selected_false_positive_rate", pd.Series(dtype=float))
        judged = selected[fp.notna()]
        if judged.sum():
            rows.append((path, TRAINED["selected_false_positive_rate"],
                         float((fp[fp.notna()] * judged).sum() / judged.sum()) * PERCENT))
        rows.append((path, TRAINED["selected"], float(selected.sum())))
        rows.append((path, TRAINED["sft_steps"], float(it.get("sft_steps", pd.Series(dtype=float)).fillna(0).sum())))
    return pd.DataFrame(rows, columns=["replicate", "column", "value"])


def deltas(res: Results, runs: pd.DataFrame) -> pd.DataFrame:
    """Per done run and accuracy column: its final accuracy minus its own pi_0's (points)."""
    s = res.scores
    s = s[(s.task == "ALL") & s.split.isin([split for split, _ in ACCURACY])
          & s.path.isin(runs[runs.state.isin(FINAL_STATES)].path)]
    final, warm = (s[s.stage == stage].set_index(["path", "split"]).accuracy for stage in ("final", "warmup"))
    d = (final - warm).dropna().rename("value").reset_index()
    names = {split: DELTA + name for (split, _), name in ACCURACY.items()}
    return pd.DataFrame({"replicate": d.path, "column": d.split.map(names), "value": d.value * PERCENT})


def controls(res: Results) -> Table:
    """pi_0 and every control row, with differences to pi_0."""
    rows, values = collect(res, ACCURACY, stages=True)
    rows = rows[rows.method != "base"].reset_index(drop=True)
    values = values[values.row.isin(rows.row)]
    by_label = {label: r for r, label, m in zip(rows.row, rows.label, rows.method) if m != "warmup"}
    extra = []
    for label, runs in res.runs.groupby("label", sort=False):
        if label in by_label:
            for frame in (training_values(res, runs), deltas(res, runs)):
                extra.append(frame.assign(row=by_label[label]))
    values = pd.concat([values, *extra], ignore_index=True)
    rows["Row"] = ["π_0 (no Improve step)" if m == "warmup" else label for m, label in zip(rows.method, rows.label)]
    columns = list(ACCURACY.values()) + list(TRAINED.values()) + [DELTA + c for c in ACCURACY.values()]
    numbers, shown = assemble(rows, values, columns, ["Row"])
    done = int(res.runs.state.isin(FINAL_STATES).sum())
    return Table("controls", "Controls: what the Improve step can be seen to do",
                 "Greedy accuracy (%) as mean ± 95% CI over seeds (t-distribution; '(n=1)' a single seed); "
                 "selected FP rate = share of trained-on responses whose reasoning the world's oracle rejects; "
                 "examples and steps summed over iterations; Δ = a run's accuracy minus its own π_0's, in points, "
                 "mean ± 95% CI of the paired differences. A working instrument shows the oracle-filtered row "
                 f"above π_0 and the wrong-reasoning row below it. {done} of {len(res.runs)} runs finished.",
                 numbers, shown)
