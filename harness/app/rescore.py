"""`harness rescore RUN_OR_SWEEP [eval.judge.KEY=VALUE ...]`: score finished runs' saved responses again, without the
model (harness/evaluation/rescore.py); exit 1 when some responses could not be judged (run it again)."""
from __future__ import annotations

from harness.evaluation.rescore import rescore, summary


def command(args) -> int:
    results = rescore(args.folder, args.overrides)
    print(summary(results))
    return 1 if any(r.unjudged for r in results) else 0
