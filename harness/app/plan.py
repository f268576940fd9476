"""`harness plan`: the per-GPU memory of a run config's training, by arithmetic; exit 2 if it does not fit."""
from __future__ import annotations

from harness.config import load_config
from harness.train.memory_plan import format_plan, plan_config


def command(args) -> int:
    p = plan_config(load_config(args.config, args.overrides), args.params, args.gpu_memory_gb, args.prompt_tokens)
    print(format_plan(p))
    return 0 if p.fits else 2
