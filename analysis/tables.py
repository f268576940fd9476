"""Tables 1-5 laid out like the paper's, each cell the mean over seeds with a 95% t interval.

Every table is built the same way: `collect` turns runs into table rows (base and +warm-up rows
from eval.json, then one row per run label in sweep order) and long values (row, column,
replicate, value in %); `assemble` aggregates them into numbers (for CSV) and text (for Markdown
and LaTeX). The per-table code only says which rows, which columns, and how a row is described.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis import paper
from analysis.load import Results, model_order
from analysis.settings import (FINAL_STATES, INIT, K_OPERATORS, METHODS, MISSING, NOT_BENCHMARKS, OPTIMIZER,
                               ORACLE_MARK, PERCENT, PRM_MARK, SPLITS, TASKS)
from analysis.stats import cell, gain, mean_ci


@dataclass
class Table:
    """One output table: `numbers` is written as CSV, `shown` as Markdown and LaTeX."""

    name: str          # file stem, e.g. 'table1'
    title: str
    context: str       # the one sentence report.md puts above it
    numbers: pd.DataFrame
    shown: pd.DataFrame


# ---------------------------------------------------------------- rows and values

def collect(res: Results, columns: dict, stages: bool, by_model: bool = False):
    """(rows, values) of a table from its runs. `columns` maps (split, task) -> column name; `by_model`
    gives each model its own block of rows (group), in `model_order`.

    rows: one per table row: row id, group, label, state counts and the first run's config fields.
    values: row, column, replicate, value (%), from done runs only (final scores), and for the
    base / warm-up rows from each distinct stage (see load.scores)."""
    runs = res.runs.assign(group=res.runs.model if by_model else "")
    rows, values = [], []
    for grs in (runs[runs.group == g] for g in model_order(runs.group)):
        parts = [(_stage_row(grs, st), _stage_values(res, grs, st, columns))
                 for st in ("base", "warmup") if stages]
        parts += [(_run_row(lrs), _final_values(res, lrs, columns))
                  for _, lrs in grs.groupby("label", sort=False)]
        for row, vals in parts:
            row["row"] = len(rows)
            rows.append(row)
            values.append(vals.assign(row=row["row"]))
    return pd.DataFrame(rows), pd.concat(values, ignore_index=True) if values else _no_values()


def _no_values() -> pd.DataFrame:
    return pd.DataFrame(columns=["row", "column", "replicate", "value"])


def _run_row(lrs: pd.DataFrame) -> dict:
    first = lrs.iloc[0].to_dict()
    return {**first, "listed": len(lrs), "done": int(lrs.state.isin(FINAL_STATES).sum())}


def _stage_row(grs: pd.DataFrame, stage: str) -> dict:
    first = grs.iloc[0].to_dict()
    return {**first, "label": METHODS[stage], "short_label": METHODS[stage], "method": stage, "listed": None,
            "done": None}


def _pick(scores: pd.DataFrame, columns: dict) -> pd.DataFrame:
    """Scores of the wanted (split, task) pairs, renamed to table columns, in %."""
    wanted = pd.Series([k in columns for k in zip(scores.split, scores.task)], index=scores.index, dtype=bool)
    picked = scores[wanted]
    return pd.DataFrame({"column": [columns[(s, t)] for s, t in zip(picked.split, picked.task)],
                         "replicate": picked.replicate.values, "value": picked.accuracy.values * PERCENT})


def _final_values(res: Results, lrs: pd.DataFrame, columns: dict) -> pd.DataFrame:
    done = lrs[lrs.state.isin(FINAL_STATES)].path
    s = res.scores
    return _pick(s[(s.stage == "final") & s.path.isin(done)], columns)


def _stage_values(res: Results, grs: pd.DataFrame, stage: str, columns: dict) -> pd.DataFrame:
    s = res.scores
    s = s[(s.stage == stage) & s.path.isin(grs.path)]
    return _pick(s.drop_duplicates(["replicate", "split", "task"]), columns)


def with_average(values: pd.DataFrame, columns: list[str], name: str = "Average") -> pd.DataFrame:
    """Adds each replicate's mean over `columns` (only where it has all of them), as Table 5 does."""
    wide = values.pivot_table(index=["row", "replicate"], columns="column", values="value").reindex(columns=columns)
    avg = wide.dropna().mean(axis=1).rename("value").reset_index().assign(column=name)
    return pd.concat([values, avg], ignore_index=True)


# ---------------------------------------------------------------- aggregation and text

def assemble(rows: pd.DataFrame, values: pd.DataFrame, columns: list[str], describe: list[str],
             gains: bool = False, paper_cols: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(numbers, shown): describing columns, then per value column mean / ci95 / n (and the gain
    over the group's +warm-up row), 'seeds', then the paper's columns if given."""
    stats = {(r, c): mean_ci(v.value) for (r, c), v in values.groupby(["row", "column"])}
    get = lambda r, c: stats.get((r, c), (math.nan, math.nan, 0))   # noqa: E731
    warm = _warmup_rows(rows) if gains else {}
    numbers, shown = rows[describe].copy(), rows[describe].copy()
    for c in columns:
        mean, half, n = zip(*(get(r, c) for r in rows.row))
        delta = [m - get(warm[r], c)[0] if r in warm else math.nan for r, m in zip(rows.row, mean)]
        numbers[f"{c} mean"], numbers[f"{c} ci95"], numbers[f"{c} n"] = mean, half, n
        shown[c] = [f"{cell(*x)} {gain(d)}".strip() for x, d in zip(zip(mean, half, n), delta)]
        if gains:
            numbers[f"{c} gain"] = delta
    n_max = [max([get(r, c)[2] for c in columns] or [0]) for r in rows.row]
    numbers["seeds"] = n_max
    shown["seeds"] = [_seeds(n, listed) for n, listed in zip(n_max, rows.listed)]
    for name, values_ in (paper_cols or {}).items():
        numbers[name] = values_
        shown[name] = [MISSING if pd.isna(v) else f"{v:.1f}" for v in values_]
    return numbers.round(6), shown


def _warmup_rows(rows: pd.DataFrame) -> dict[int, int]:
    """Row id -> the +warm-up row of its group, for every trained row."""
    warm = {g: r for g, r, m in zip(rows.group, rows.row, rows.method) if m == "warmup"}
    return {r: warm[g] for g, r, m in zip(rows.group, rows.row, rows.method)
            if g in warm and m not in ("base", "warmup")}


def _seeds(n: int, listed) -> str:
    """'3'; '2/3' when some listed runs have not finished."""
    return f"{n}/{int(listed)}" if pd.notna(listed) and listed and n < listed else str(n)


def join_paper(rows: pd.DataFrame, table: str, key) -> dict[str, list]:
    """The paper's value for each of our rows with the same key, as columns 'paper <benchmark>'."""
    published = {key(r): r for _, r in paper.rows(table).iterrows()}
    return {f"paper {name}": [published[key(r)][split] if key(r) in published else math.nan
                              for _, r in rows.iterrows()]
            for split, name in paper.column_names(table).items()}


def _norm(*values) -> tuple:
    """A join key: floats rounded, missing values as None.

    >>> _norm("continuous", 0.25000001, float("nan"))
    ('continuous', 0.25, None)
    """
    return tuple(None if v is None or (isinstance(v, float) and math.isnan(v))
                 else round(float(v), 4) if isinstance(v, (int, float)) else v for v in values)


# Row keys shared by our rows and the paper's (analysis/paper_numbers.yaml uses the same field names);
# a field that does not apply to a row (the interval of SFT, k of a threshold) is None.
def key_table1(r) -> tuple:
    return _norm(r["method"], r.get("interval") if r["method"] in INIT else None)


def key_table2(r) -> tuple:
    return _norm(r["method"], r.get("interval"), r["reward"], r["operator"],
                 r.get("k") if r["operator"] in K_OPERATORS else None)


def key_table3(r) -> tuple:
    return _norm(r["method"], r.get("interval"), r["unlabeled"], r["reward"],
                 r.get("mixin") if r["unlabeled"] != "none" else None)


# ---------------------------------------------------------------- the five tables

ACCURACY = {(split, "ALL"): name for split, name in SPLITS.items()}
CONTEXT = ("accuracy (%) as mean ± 95% CI over seeds (t-distribution; '(n=1)' marks a single seed, "
           "'—' a row with no finished run)")


def _context(what: str, res: Results, published: bool) -> str:
    done = int(res.runs.state.isin(FINAL_STATES).sum())
    sweeps = ", ".join(res.runs.sweep.unique())
    ref = f"; 'paper' columns are the published {paper.model()} numbers" if published else ""
    return f"{what}; cells are {CONTEXT}; {done} of {len(res.runs)} runs of {sweeps} finished{ref}."


def table1(res: Results) -> Table:
    """Training method x iteration interval (paper Table 1)."""
    rows, values = collect(res, ACCURACY, stages=True)
    rows["M"] = [INIT.get(m, "-") for m in rows.method]
    rows["O"] = [OPTIMIZER.get(m, "-") for m in rows.method]
    rows["Interval (#queries)"] = [_interval(r, res) for _, r in rows.iterrows()]
    numbers, shown = assemble(rows.rename(columns={"label": "Method"}), values, list(SPLITS.values()),
                              ["Method", "M", "O", "Interval (#queries)"],
                              paper_cols=join_paper(rows, "table1", key_table1))
    return Table("table1", "Table 1: training methods and iteration intervals",
                 _context("Training method × iteration interval (M = model each iteration starts from, "
                          "O = optimizer and LR schedule carried over, Interval = share of the labeled "
                          "queries per iteration)", res, True), numbers, shown)


def _interval(r: pd.Series, res: Results) -> str:
    """'25% (200)': share of the labeled queries per iteration and how many queries that was."""
    if r["method"] not in INIT or pd.isna(r.get("interval")):
        return "-"
    it = res.iterations
    first = it[(it.iteration == 1) & it.path.isin(res.runs[res.runs.label == r["label"]].path)].queries_seen
    return f"{r['interval'] * 100:g}%" + (f" ({int(first.iloc[0])})" if len(first) else "")


def table2(res: Results) -> Table:
    """Selection operator H x reward model (paper Table 2)."""
    rows, values = collect(res, ACCURACY, stages=False)
    rows["H"] = [_operator(r) for _, r in rows.iterrows()]
    rows["PRM"] = [PRM_MARK.get(r, r) for r in rows.reward]
    numbers, shown = assemble(rows.rename(columns={"label": "Method"}), values, list(SPLITS.values()),
                              ["Method", "H", "PRM"], paper_cols=join_paper(rows, "table2", key_table2))
    return Table("table2", "Table 2: selecting responses with a process reward model",
                 _context("Selection operator H (among answer-correct responses) × reward model", res, True),
                 numbers, shown)


def _operator(r: pd.Series) -> str:
    """The paper's H column: '-', 'Random-2', 'Top-2', '> α=0.2'."""
    op, k = r["operator"], r.get("k")
    k = "?" if pd.isna(k) else int(k)
    return {"all": "-", "random": f"Random-{k}", "top_k": f"Top-{k}",
            "threshold": f"> α={r.get('alpha')}"}.get(op, str(op))


def table3(res: Results) -> Table:
    """Unlabeled prompts: oracle answers x PRM x mix-in time (paper Table 3)."""
    rows, values = collect(res, ACCURACY, stages=False)
    rows["Oracle"] = [ORACLE_MARK.get(u, u) for u in rows.unlabeled]
    rows["PRM"] = [PRM_MARK.get(r, r) for r in rows.reward]
    rows["T_mixin"] = ["-" if u == "none" or pd.isna(m) else f"{m:.0%}"
                       for u, m in zip(rows.unlabeled, rows.mixin)]
    numbers, shown = assemble(rows.rename(columns={"label": "Method"}), values, list(SPLITS.values()),
                              ["Method", "Oracle", "PRM", "T_mixin"],
                              paper_cols=join_paper(rows, "table3", key_table3))
    return Table("table3", "Table 3: unlabeled prompts",
                 _context("Unlabeled prompts (Oracle ✓ = their gold answers, × = weighted-vote pseudo labels) "
                          "× PRM × T_mixin (share of training before they join)", res, True), numbers, shown)


def table4(res: Results) -> Table:
    """The OOD test by task for each model and method, with the gain over +warm-up (paper Table 4)."""
    tasks = sorted(set(res.scores[res.scores.split == "test_ood"].task) - {"ALL"}, key=lambda t: TASKS.get(t, t))
    columns = {("test_ood", "ALL"): "ALL", **{("test_ood", t): TASKS.get(t, t) for t in tasks}}
    rows, values = collect(res, columns, stages=True, by_model=True)
    rows = rows.assign(Model=rows.group, Method=rows.short_label)
    numbers, shown = assemble(rows, values, list(columns.values()), ["Model", "Method"], gains=True)
    return Table("table4", "Table 4: OOD test by task",
                 _context("OOD test (MathVista-style) by task for each model and method, ↑/↓ = change over "
                          "that model's +warm-up", res, False), numbers, shown)


def table5(res: Results) -> Table:
    """Every benchmark split (all but test_id and val) per model, and their average (paper Table 5)."""
    splits = [s for s in dict.fromkeys(res.scores.split) if s not in NOT_BENCHMARKS]
    names = [SPLITS.get(s, s) for s in splits]
    rows, values = collect(res, {(s, "ALL"): n for s, n in zip(splits, names)}, stages=True, by_model=True)
    values = with_average(values, names)
    rows = rows.assign(Model=rows.group, Method=rows.short_label)
    numbers, shown = assemble(rows, values, names + ["Average"], ["Model", "Method"], gains=True)
    return Table("table5", "Table 5: all benchmarks",
                 _context("Every benchmark per model and method, Average = mean over the benchmarks of each "
                          "seed, ↑/↓ = change over that model's +warm-up", res, False), numbers, shown)


def published(name: str) -> Table:
    """The paper's Table 4 or 5 as printed (its models are not ours, so it stands on its own)."""
    df = paper.published(name)
    number = name.replace("table", "Table ")
    return Table(f"{name}_paper", f"Paper {number} (published)",
                 f"The published {number} for comparison (accuracy %, one run each; ↑/↓ = change over that "
                 "model's +warm-up, computed here for every trained row).", df, df)


TABLES = {"table1": table1, "table2": table2, "table3": table3, "table4": table4, "table5": table5}
