"""`harness report`: the paper's tables and figures from sweep folders (the analysis package)."""
from __future__ import annotations

from analysis.report import write_report


def command(args) -> int:
    print(f"report: {write_report(args.sweeps, args.out)}")
    return 0
