"""`harness sweep`: expand a grid, plan its shared stages, write the manifest, hand the runs to a runner."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.app.grid import RunSpec, collector_paused, expand
from harness.configio import ConfigError, parse_overrides
from harness.io import atomic_write_text
from harness.loop.rundir import RunDir
from harness.stages import released
from harness.stages.graph import Stage, stages
from harness.train.memory_plan import plan_config, summary
from runners import RUNNERS

log = logging.getLogger("harness")


@dataclass
class PlannedStage:
    """A shared stage and the runs that need it."""

    stage: Stage
    runs: list[str] = field(default_factory=list)


@dataclass
class Sweep:
    """An expanded, validated sweep."""

    name: str
    grid_file: Path
    runs: list[RunSpec]
    stages: list[PlannedStage]
    cli: list[str]

    @property
    def folder(self) -> Path:
        return Path(self.runs[0].config.results_dir) / self.name

    @property
    def executor(self) -> str:
        return self.runs[0].config.executor


def plan_stages(runs: list[RunSpec]) -> list[PlannedStage]:
    """Unique stages in dependency order (data, base, warm-up, prm), each with the runs that share it."""
    planned: dict[Path, PlannedStage] = {}
    with collector_paused():
        for spec in runs:
            for stage in stages(spec.config, spec.plain):
                planned.setdefault(stage.path, PlannedStage(stage)).runs.append(f"{spec.label} (seed {spec.seed})")
    order = {"data": 0, "base": 1, "warmup": 2, "prm": 3}
    return sorted(planned.values(), key=lambda p: order[p.stage.name])


def load_sweep(grid_file: str | Path, cli: list[str], match: str | None = None) -> Sweep:
    """Expand and validate everything (then keep the runs whose label matches the regular expression
    `match`, if given); raises ConfigError listing every problem."""
    name, runs = expand(grid_file, parse_overrides(cli))
    if match is not None:
        runs = [r for r in runs if re.search(match, r.label)]
        if not runs:
            raise ConfigError([f"{grid_file}: --match {match!r} selects no run"])
    once = {"executor": {r.config.executor for r in runs}, "local.jobs": {r.config.local.jobs for r in runs}}
    for key, values in once.items():
        if len(values) > 1:
            raise ConfigError([f"{grid_file}: {key}: runs disagree ({sorted(values)}); set it once for the sweep"])
    return Sweep(name, Path(grid_file), runs, plan_stages(runs), cli)


def write_manifest(sw: Sweep) -> None:
    """sweep.yaml: what was expanded, before anything runs (harness status and report read it).

    Runs of earlier invocations into the same folder stay listed if they started (a later `seeds=[1,2]`
    adds rows instead of hiding the seed-0 runs); a run expanded again replaces its old entry, and one
    that never started and is not expanded now (an abandoned plan) is dropped."""
    path = sw.folder / "sweep.yaml"
    old = yaml.safe_load(path.read_text())["runs"] if path.is_file() else []
    old = [r for r in old if Path(r["path"]).is_dir()]
    new = [r.manifest() for r in sw.runs]
    paths = {r["path"] for r in new}
    doc = {"name": sw.name, "grid": str(sw.grid_file), "overrides": sw.cli, "executor": sw.executor,
           "runs": [r for r in old if r["path"] not in paths] + new,
           "stages": [{"name": p.stage.name, "path": str(p.stage.path), "runs": len(p.runs)} for p in sw.stages]}
    atomic_write_text(path, yaml.safe_dump(doc, sort_keys=False))


def describe_plan(sw: Sweep) -> str:
    """The dry-run text: every run and every stage, with what is shared and what is done."""
    lines = [f"sweep {sw.name}: {len(sw.runs)} runs, executor {sw.executor}, folder {sw.folder}", "", "stages:"]
    for p in sw.stages:
        state = "done" if p.stage.done else ("external" if p.stage.build is None else
                                             "to copy" if p.stage.name == "base" and released.find(p.stage.path.name)
                                             else "to build")
        lines.append(f"  {p.stage.name:7s} {state:9s} shared by {len(p.runs):3d} runs  {p.stage.path}")
    lines += ["", "runs (memory per GPU: arithmetic, see `harness plan`):"]
    for r in sw.runs:
        lines.append(f"  {r.label:28s} seed {r.seed}  {RunDir(r.path).status()['state']:8s} {r.path}")
        lines.append(f"  {'':28s} {memory_line(r.config)}")
    return "\n".join(lines)


def memory_line(cfg) -> str:
    try:
        return summary(plan_config(cfg))
    except (OSError, ValueError) as e:  # e.g. model.path exists only on the cluster
        return f"memory plan unavailable: {e}"


def sweep(grid_file: str | Path, cli: list[str], dry_run: bool = False, wait: bool = False,
          match: str | None = None) -> int:
    """Run (or resume) a sweep; returns the number of runs that are not done (0 = all done or submitted)."""
    sw = load_sweep(grid_file, cli, match)
    if dry_run:
        print(describe_plan(sw))
        return 0
    write_manifest(sw)
    return RUNNERS.get(sw.executor)(sw, wait=wait)


def command(args) -> int:
    """`harness sweep`: exit 1 when runs are left unfinished."""
    return 1 if sweep(args.grid, args.overrides, dry_run=args.dry_run, wait=args.wait, match=args.match) else 0
