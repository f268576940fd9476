"""The `harness` command line."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from harness.configio import ConfigError, describe
from harness.data.convert import add_data_commands
from harness.data.datasets import DatasetError


def _cmd_run(args) -> int:
    from harness.config import load_config
    from harness.loop.evolve import run

    cfg = load_config(args.config, args.overrides)
    path = run(cfg, args.label)
    print(f"results: {path}")
    return 0


def _cmd_plan(args) -> int:
    from harness.config import load_config
    from harness.train.memory_plan import format_plan, plan_config

    p = plan_config(load_config(args.config, args.overrides), args.params, args.gpu_memory_gb, args.prompt_tokens)
    print(format_plan(p))
    return 0 if p.fits else 2


def _cmd_sweep(args) -> int:
    from harness.app.sweep import sweep

    unfinished = sweep(args.grid, args.overrides, dry_run=args.dry_run, wait=args.wait, match=args.match)
    return 1 if unfinished else 0


def _cmd_tune(args) -> int:
    from harness.app.tune.launch import tune

    return tune(args.spec, args.overrides, workers=args.workers)


def _cmd_status(args) -> int:
    from harness.app.status import format_rows, rows

    print(format_rows(rows(args.folder)))
    return 0


def _cmd_report(args) -> int:
    from analysis.report import write_report

    print(f"report: {write_report(args.sweeps, args.out)}")
    return 0


def _cmd_config(args) -> int:
    from harness.config import RunConfig

    for key, doc, default in describe(RunConfig):
        print(f"{key:40s} {default!r:>28}  {doc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="harness", description="Self-evolving training harness for VLMs (M-STAR).")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run one config end to end (resumes if interrupted)")
    r.add_argument("config", help="run config YAML, e.g. ablations/base.yaml")
    r.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. method.kind=continuous seed=1")
    r.add_argument("--label", help="run label (default: '<method> seed <seed>')")
    r.set_defaults(func=_cmd_run)
    pl = sub.add_parser("plan", help="per-GPU memory of a run config's training (arithmetic); exit 2 if it does not fit")
    pl.add_argument("config", help="run config YAML, e.g. ablations/base.yaml")
    pl.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. slurm.gpus_per_node=8")
    pl.add_argument("--params", type=float, help="parameter count (e.g. 8.5e9) instead of model.path's config.json")
    pl.add_argument("--gpu-memory-gb", type=float, default=80.0, help="memory of one GPU in GiB (default 80)")
    pl.add_argument("--prompt-tokens", type=int, default=256, help="prompt length assumed (image + question tokens)")
    pl.set_defaults(func=_cmd_plan)
    s = sub.add_parser("sweep", help="expand an ablation grid and run it (resumes; skips finished runs)")
    s.add_argument("grid", help="grid YAML, e.g. ablations/training_method.yaml")
    s.add_argument("overrides", nargs="*", help="key=value for every run (executor=slurm, model.path=...) or "
                                                "for the grid (seeds=[0,1,2], name=...)")
    s.add_argument("--dry-run", action="store_true", help="print the expanded runs and the stage plan; start nothing")
    s.add_argument("--wait", action="store_true", help="with executor=slurm: block until the jobs end, with progress")
    s.add_argument("--match", metavar="REGEX", help="only the runs whose label matches, e.g. --match 'medium'")
    s.set_defaults(func=_cmd_sweep)
    t = sub.add_parser("tune", help="optuna search over config keys (resumable: run again to continue; parallel workers)")
    t.add_argument("spec", help="tuning spec YAML, e.g. ablations/prm_threshold.yaml")
    t.add_argument("overrides", nargs="*", help="key=value for the spec (trials=, sampler.kind=, storage=, name=) or "
                                                "for every trial (model.path=..., executor=slurm)")
    t.add_argument("--workers", type=int, default=1, help="worker processes here, or worker jobs with executor=slurm")
    t.set_defaults(func=_cmd_tune)
    st = sub.add_parser("status", help="one line per run of a sweep: state, iteration, last metric, log")
    st.add_argument("folder", type=Path, help="results/<sweep>")
    st.set_defaults(func=_cmd_status)
    rp = sub.add_parser("report", help="the paper's tables and figures from sweep folders, with 95%% CIs over seeds")
    rp.add_argument("sweeps", nargs="+", type=Path, help="results/<sweep> folders (partial sweeps are fine)")
    rp.add_argument("--out", type=Path, help="output folder (default: <first sweep>/report)")
    rp.set_defaults(func=_cmd_report)
    c = sub.add_parser("config", help="list every config key with its default and doc")
    c.set_defaults(func=_cmd_config)
    d = sub.add_parser("data", help="prepare real datasets for data.path and check them (split, mathvista, check)")
    add_data_commands(d.add_subparsers(dest="data_command", required=True))
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # key=value overrides may come before or after options such as --dry-run
    args, extra = parser.parse_known_args(argv)
    unknown = [a for a in extra if a.startswith("-") or not hasattr(args, "overrides")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if extra:
        args.overrides = args.overrides + extra
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-file load/save bars would bury the per-iteration summaries
    try:
        return args.func(args)
    except (ConfigError, DatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
