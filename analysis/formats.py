"""Writing tables (Markdown, LaTeX, CSV) and figures (PNG, PDF) to the report folder.

CSV keeps numbers (mean, ci95, n per column) for further analysis; Markdown and LaTeX keep the
text cells ('43.1 ± 0.8'). LaTeX is written here rather than by pandas' Styler so the report needs
no jinja2, and so the symbols of the paper's tables (±, ✓, ×, π_t, ↑) come out as LaTeX math.
"""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from analysis.settings import DPI

LATEX = {
    "π_t": r"$\pi_t$", "π_0": r"$\pi_0$", "±": r"$\pm$", "✓": r"\checkmark", "×": r"$\times$", "—": "---",
    "α": r"$\alpha$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "−": "$-$", ">": r"$>$",
    "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in sorted(LATEX, key=len, reverse=True)))


def tex(text) -> str:
    r"""Escape one cell for LaTeX.

    >>> tex("43.1 ± 0.8"), tex("π_t"), tex("25% (200)")
    ('43.1 $\\pm$ 0.8', '$\\pi_t$', '25\\% (200)')
    """
    return _LATEX_RE.sub(lambda m: LATEX[m.group(0)], str(text))


def latex(df: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs table (needs \\usepackage{booktabs, amssymb})."""
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{tex(caption)}}}", rf"\label{{tab:{label}}}",
             rf"\begin{{tabular}}{{{'l' * len(df.columns)}}}", r"\toprule",
             " & ".join(tex(c) for c in df.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(tex(v) for v in row) + r" \\" for row in df.itertuples(index=False)]
    return "\n".join(lines + [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""])


def markdown(df: pd.DataFrame) -> str:
    """GitHub Markdown; cells are kept as written ('41.0' stays '41.0')."""
    return df.to_markdown(index=False, disable_numparse=True)


def write_table(table, out: Path) -> dict[str, Path]:
    """table.md, table.tex and table.csv; returns them by format."""
    paths = {fmt: out / f"{table.name}.{fmt}" for fmt in ("md", "tex", "csv")}
    paths["md"].write_text(markdown(table.shown) + "\n")
    paths["tex"].write_text(latex(table.shown, table.title, table.name))
    table.numbers.to_csv(paths["csv"], index=False)
    return paths


def write_figure(figure, out: Path) -> dict[str, Path]:
    """figure.png (for report.md) and figure.pdf (for a paper); closes the figure."""
    paths = {fmt: out / f"{figure.name}.{fmt}" for fmt in ("png", "pdf")}
    for path in paths.values():
        figure.fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(figure.fig)
    return paths
