"""The `harness` command line."""
from __future__ import annotations

import argparse
import logging
import sys

from harness.configio import ConfigError, describe


def _cmd_run(args) -> int:
    from harness.config import load_config
    from harness.evolve import run

    cfg = load_config(args.config, args.overrides)
    path = run(cfg, args.label)
    print(f"results: {path}")
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
    c = sub.add_parser("config", help="list every config key with its default and doc")
    c.set_defaults(func=_cmd_config)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-file load/save bars would bury the per-iteration summaries
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
