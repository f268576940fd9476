"""The `harness` command line: the parser of every command, each handled by a function of the command layer named
"module:function" and imported only when its command runs (so `harness status` does not load torch or matplotlib).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from harness.config import RunConfig
from harness.configio import ConfigError, describe
from harness.data.convert import SPLIT_SIZES
from harness.data.datasets import DatasetError
from harness.registry import lazy


def list_config(args) -> int:
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
    r.set_defaults(func="harness.app.run:command")
    pl = sub.add_parser("plan", help="per-GPU memory of a run config's training (arithmetic); exit 2 if it does not fit")
    pl.add_argument("config", help="run config YAML, e.g. ablations/base.yaml")
    pl.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. slurm.gpus_per_node=8")
    pl.add_argument("--params", type=float, help="parameter count (e.g. 8.5e9) instead of model.path's config.json")
    pl.add_argument("--gpu-memory-gb", type=float, default=80.0, help="memory of one GPU in GiB (default 80)")
    pl.add_argument("--prompt-tokens", type=int, default=256, help="prompt length assumed (image + question tokens)")
    pl.set_defaults(func="harness.app.plan:command")
    s = sub.add_parser("sweep", help="expand an ablation grid and run it (resumes; skips finished runs)")
    s.add_argument("grid", help="grid YAML, e.g. ablations/training_method.yaml")
    s.add_argument("overrides", nargs="*", help="key=value for every run (executor=slurm, model.path=...) or "
                                                "for the grid (seeds=[0,1,2], name=...)")
    s.add_argument("--dry-run", action="store_true", help="print the expanded runs and the stage plan; start nothing")
    s.add_argument("--wait", action="store_true", help="with executor=slurm: block until the jobs end, with progress")
    s.add_argument("--match", metavar="REGEX", help="only the runs whose label matches, e.g. --match 'medium'")
    s.set_defaults(func="harness.app.sweep:command")
    t = sub.add_parser("tune", help="optuna search over config keys (resumable: run again to continue; parallel workers)")
    t.add_argument("spec", help="tuning spec YAML, e.g. ablations/prm_threshold.yaml")
    t.add_argument("overrides", nargs="*", help="key=value for the spec (trials=, sampler.kind=, storage=, name=) or "
                                                "for every trial (model.path=..., executor=slurm)")
    t.add_argument("--workers", type=int, default=1, help="worker processes here, or worker jobs with executor=slurm")
    t.set_defaults(func="harness.app.tune.launch:command")
    st = sub.add_parser("status", help="one line per run of a sweep, of a `harness run` name or of one run folder: "
                                       "state, iteration, last metric, log")
    st.add_argument("folder", type=Path, help="results/<sweep>, results/<name> or results/<name>/<run>")
    st.set_defaults(func="harness.app.status:command")
    rp = sub.add_parser("report", help="the paper's tables and figures from sweep folders, with 95%% CIs over seeds")
    rp.add_argument("sweeps", nargs="+", type=Path, help="results/<sweep> folders (partial sweeps are fine)")
    rp.add_argument("--out", type=Path, help="output folder (default: <first sweep>/report)")
    rp.set_defaults(func="harness.app.report:command")
    rs = sub.add_parser("rescore", help="score finished runs' saved responses again (rules, and the judge of "
                                        "eval.judge.*), without the model; rewrites their eval.json")
    rs.add_argument("folder", type=Path, help="a run folder, or results/<sweep> for all its finished runs")
    rs.add_argument("overrides", nargs="*", help="eval.judge.* settings, e.g. eval.judge.base_url=http://node:8000/v1 "
                                                 "eval.judge.model=Qwen2.5-7B-Instruct")
    rs.set_defaults(func="harness.app.rescore:command")
    c = sub.add_parser("config", help="list every config key with its default and doc")
    c.set_defaults(func=list_config)
    d = sub.add_parser("data", help="prepare real datasets for data.path and check them (split, mathvista, check)")
    add_data_commands(d.add_subparsers(dest="data_command", required=True))
    return p


def add_data_commands(sub) -> None:
    """The `split`, `mathvista` and `check` subcommands of `harness data` (handled in harness/app/data.py)."""
    s = sub.add_parser("split", help="the paper's split of MathV360K -> OUT/mathv360k/{labeled,unlabeled,val,test_id}.json")
    s.add_argument("source", type=Path, help="MathV360K's train_samples_all_tuning.json")
    s.add_argument("out", type=Path, help="the data folder (data.path); the splits go to OUT/mathv360k/")
    s.add_argument("--test-id", type=int, default=SPLIT_SIZES["test_id"], help="test-ID records (paper: 750)")
    s.add_argument("--val", type=int, default=SPLIT_SIZES["val"], help="validation records (paper: 250)")
    s.add_argument("--seed", type=int, default=0, help="seed of the split")
    s.add_argument("--image-root", type=Path, help="folder record image paths start in "
                                                   "(default: data_images/ beside SOURCE, else SOURCE's folder)")
    s.set_defaults(func="harness.app.data:split")
    m = sub.add_parser("mathvista", help="MathVista testmini (hub parquet or JSON) -> OUT/mathvista/testmini.json + images")
    m.add_argument("source", type=Path, help="the MathVista download (a folder or one file)")
    m.add_argument("out", type=Path, help="the data folder (data.path)")
    m.set_defaults(func="harness.app.data:mathvista")
    c = sub.add_parser("check", help="the pre-flight: per split, records kept / skipped, types, images, and the "
                                     "share of gold answers that earn reward 1 (exit 2 unless every split is usable)")
    c.add_argument("folder", type=Path, help="the data folder (data.path)")
    c.add_argument("--list", type=int, default=50, help="failing records listed per split (0 = all)")
    c.add_argument("--no-decode", action="store_true", help="do not decode every image (faster; headers only)")
    c.set_defaults(func="harness.app.data:check")



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
    # Per-file load/save bars would bury the per-iteration summaries. The variable turns them off when transformers
    # is imported, so commands that load no model (status, a dry run's planning) need not import it.
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    try:
        return (lazy(args.func) if isinstance(args.func, str) else args.func)(args)
    except (ConfigError, DatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
