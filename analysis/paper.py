"""The paper's published numbers (analysis/paper_numbers.yaml) as DataFrames.

Tables 1-3 have counterparts in our sweeps (same factors, rows matched by config key) and are shown
as extra columns; Tables 4-5 are per model (MiniCPM-V-2.5, Phi-3.5-vision, InternVL2-2B), which our
runs do not use, so they are shown as the published table itself, below ours.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from analysis.settings import DECIMALS
from analysis.stats import gain

NUMBERS = Path(__file__).with_name("paper_numbers.yaml")


@lru_cache(maxsize=1)
def numbers() -> dict:
    return yaml.safe_load(NUMBERS.read_text())


def model() -> str:
    """The policy model of Tables 1-3."""
    return numbers()["model"]


def rows(table: str) -> pd.DataFrame:
    """One row per published row, with its key fields (those every row of the table shares included) and
    values (accuracy, %)."""
    t = numbers()[table]
    return pd.DataFrame([{**t.get("fixed", {}), **r} for r in t["rows"]])


def column_names(table: str) -> dict[str, str]:
    """Split -> the paper's benchmark name, for Tables 1-3 ('test_ood' -> 'MathVista')."""
    return numbers()[table]["columns"]


def published(table: str) -> pd.DataFrame:
    """Table 4 or 5 as printed: 'Model', 'Method', then values with the gain over '+warm-up'.

    >>> published("table4").iloc[6]["GPS"]
    '61.1 ↑14.0'
    """
    df, cols = rows(table), numbers()[table]["columns"]
    out = df[["model", "row"]].rename(columns={"model": "Model", "row": "Method"})
    for col in cols:
        out[col] = [_with_gain(r, col, df) for _, r in df.iterrows()]
    return out


def _with_gain(r: pd.Series, col: str, df: pd.DataFrame) -> str:
    text = f"{r[col]:.{DECIMALS}f}"
    if r["row"] in ("base", "+warm-up"):
        return text
    warm = df[(df.model == r["model"]) & (df.row == "+warm-up")][col].iloc[0]
    return f"{text} {gain(round(r[col] - warm, 6))}"
