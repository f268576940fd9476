"""Mean and confidence interval over seeds, and how a cell prints.

A handful of seeds is the norm, so the interval uses Student's t, not the normal approximation
(with 3 seeds the 95% factor is 4.30, not 1.96). The t quantile is computed with numpy, so the
package needs no scipy.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from analysis.settings import CONFIDENCE, DECIMALS, MISSING, PERCENT


@lru_cache(maxsize=None)
def t_quantile(df: int, confidence: float = CONFIDENCE) -> float:
    """Half-width factor of a two-sided t interval: P(|T_df| <= q) = confidence.

    Integrates the t density from 0 (the tails never need to be reached), then inverts.

    >>> round(t_quantile(2), 3), round(t_quantile(4), 3), round(t_quantile(30), 3)
    (4.303, 2.776, 2.042)
    """
    x = np.linspace(0.0, 100.0, 400_001)  # enough for df=1 up to 99% confidence
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    pdf = np.exp(log_c - (df + 1) / 2 * np.log1p(x * x / df))
    cdf = np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(x))])
    return float(np.interp(confidence / 2, cdf, x))


def mean_ci(values) -> tuple[float, float, int]:
    """(mean, half-width of the confidence interval, n); half-width is NaN for n < 2.

    >>> [round(x, 3) for x in mean_ci([1.0, 2.0, 3.0])]
    [2.0, 2.484, 3]
    >>> mean_ci([0.5])
    (0.5, nan, 1)
    """
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=float)
    n = len(v)
    if n == 0:
        return math.nan, math.nan, 0
    mean = float(v.mean())
    if n < 2:
        return mean, math.nan, n
    return mean, t_quantile(n - 1) * float(v.std(ddof=1)) / math.sqrt(n), n


def band(values) -> tuple[float, float]:
    """(low, high) of the interval; seaborn's `errorbar=` callable, so figure bands match the tables."""
    mean, half, _ = mean_ci(values)
    half = 0.0 if math.isnan(half) else half
    return mean - half, mean + half


def percent_band(values) -> tuple[float, float]:
    """`band` of a percentage, cut to [0, 100]: a t-interval over two seeds easily reaches past both ends.

    >>> [round(x, 1) for x in percent_band([90.0, 100.0])]
    [31.5, 100.0]
    """
    low, high = band(values)
    return max(low, 0.0), min(high, PERCENT)


def cell(mean: float, half: float, n: int) -> str:
    """'43.1 ± 0.8'; a single seed shows its value marked '(n=1)'; no value shows the missing mark.

    >>> cell(43.1, 0.84, 3), cell(43.1, float('nan'), 1), cell(float('nan'), float('nan'), 0)
    ('43.1 ± 0.8', '43.1 (n=1)', '—')
    """
    if n == 0 or math.isnan(mean):
        return MISSING
    if n == 1:
        return f"{mean:.{DECIMALS}f} (n=1)"
    return f"{mean:.{DECIMALS}f} ± {half:.{DECIMALS}f}"


def gain(delta: float) -> str:
    """The paper's change marker relative to +warm-up: '↑6.4', '↓1.7', '' when unknown.

    >>> gain(6.4), gain(-1.7), gain(float('nan'))
    ('↑6.4', '↓1.7', '')
    """
    if math.isnan(delta):
        return ""
    return f"{'↓' if delta < 0 else '↑'}{abs(delta):.{DECIMALS}f}"
