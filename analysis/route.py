"""Which paper table or figure a sweep feeds, decided from what its runs' configs vary.

Names are not trusted (a sweep may be called anything, and `name=` renames it), but a sweep is
only taken for a comparison table if it compares something: two or more distinct rows.
"""
from __future__ import annotations

import pandas as pd

FEEDS = {   # kind -> what it produces
    "controls": ["controls"],
    "training_method": ["table1"],
    "selection": ["table2"],
    "unlabeled": ["table3"],
    "mstar": ["table4", "table5", "fig5", "fig6"],
    "dynamics": ["fig3", "fig4"],
}


def distinct(runs: pd.DataFrame, cols: list[str]) -> int:
    """Distinct configurations over the given fields (missing values count as one value; 2 and 2.0 as one).

    >>> distinct(pd.DataFrame({"k": [2, 2.0, None], "op": ["all", "all", "all"]}), ["k", "op"])
    2
    """
    as_float = lambda v: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v  # noqa: E731
    return len(runs[cols].map(as_float).astype(str).drop_duplicates())


def kind(runs: pd.DataFrame, dynamics: pd.DataFrame) -> str | None:
    """The kind of one sweep's runs, or None if it feeds no table or figure.

    controls: some run is a control (trains on gold solutions, or keeps only what the reward model rejects);
    mstar: some run adapts its temperature (the final recipe compared with static baselines);
    unlabeled: some run mixes in unlabeled prompts; selection: no unlabeled prompts and two or more
    selection/reward settings; training_method: plain exact-match runs over two or more methods or
    intervals; dynamics: what is left, if its runs log dynamics rows (Figures 3 and 4)."""
    if (runs.method == "gold_sft").any() or (runs.operator == "below_threshold").any():
        return "controls"
    if (runs.policy == "adaptive").any():
        return "mstar"
    if (runs.unlabeled != "none").any():
        return "unlabeled"
    if distinct(runs, ["reward", "operator", "k", "alpha"]) > 1:
        return "selection"
    plain = (runs.reward == "none").all() and (runs.operator == "all").all()
    if plain and distinct(runs, ["method", "interval"]) > 1:
        return "training_method"
    if dynamics.path.isin(runs.path).any():
        return "dynamics"
    return None


def route(runs: pd.DataFrame, dynamics: pd.DataFrame) -> dict[str, str | None]:
    """sweep name -> kind, in the order the sweeps were given."""
    return {name: kind(group, dynamics) for name, group in runs.groupby("sweep", sort=False)}
