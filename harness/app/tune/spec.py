"""A tuning spec: which run config, which keys are searched, what is optimised and how.

    # harness tune ablations/prm_threshold.yaml
    name: prm_threshold                  # the study folder: results/<name>/ (trial run folders go there too)
    base: base.yaml                      # run config, relative to this file (or to the working directory)
    set: {reward_model.kind: prm, select.operator: threshold}      # fixed dotted-key overrides
    space:                               # dotted config key -> distribution
      select.alpha: {type: float, low: 0.0, high: 1.0, step: 0.1}
    objective: selection.f1              # harness.app.tune.objectives
    direction: maximize
    sampler: {kind: grid, seed: 0}       # grid: every point once (floats need a step) | tpe
    trials: null                         # complete trials wanted; null = the grid size (grid) or 20 (tpe)

Like a grid file, the spec is validated before anything starts and every problem is reported at once
with the file and the dotted key: the spec's own keys, the base config with `set` and the command
line, every grid point (or the bounds and choices) of every searched key, and the objective.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna

from harness.app.grid import _nested, _problem_key, _resolve_base
from harness.app.tune.objectives import check_objective
from harness.config import RunConfig
from harness.configio import REQUIRED, ConfigError, deep_merge, from_dict, load_yaml, parse_overrides, spec, to_dict

DEFAULT_TPE_TRIALS = 20
STORAGES = ("auto", "sqlite", "journal")


@dataclass
class Param:
    """One searched config key and the values it may take."""

    type: Literal["float", "int", "categorical"] = spec(REQUIRED, "float | int | categorical")
    low: int | float | None = spec(None, "lowest value (float, int)")
    high: int | float | None = spec(None, "highest value, included (float, int)")
    step: int | float | None = spec(None, "spacing of the values (float: needed by the grid sampler; int: default 1)",
                                    gt=0)
    log: bool = spec(False, "sample on a log scale (tpe only; not with step)")
    choices: list[Any] | None = spec(None, "the values (categorical)")

    def check(self):
        if self.type == "categorical":
            if not self.choices:
                return [("choices", "a categorical parameter needs a non-empty list of choices")]
            bad = [c for c in self.choices if not isinstance(c, (type(None), bool, int, float, str))]
            extra = [k for k in ("low", "high", "step") if getattr(self, k) is not None]
            return ([("choices", f"choices must be null, booleans, numbers or strings, got {bad!r}")] if bad else []) + \
                [(k, "only float and int parameters take it; drop it") for k in extra]
        problems = [(k, f"required for a {self.type} parameter") for k in ("low", "high") if getattr(self, k) is None]
        if self.choices is not None:
            problems.append(("choices", "only categorical parameters take it; drop it or set type: categorical"))
        if problems:
            return problems
        if self.type == "int":
            problems += [(k, f"must be an integer, got {getattr(self, k)!r}") for k in ("low", "high", "step")
                         if getattr(self, k) is not None and not isinstance(getattr(self, k), int)]
        if self.low >= self.high:
            problems.append(("high", f"must be above low={self.low}"))
        if self.log and self.step is not None:
            problems.append(("log", "a log scale takes no step; drop one"))
        if self.log and self.low <= 0:
            problems.append(("low", "must be above 0 on a log scale"))
        if self.step is not None and not problems and abs(self._steps() - round(self._steps())) > 1e-9:
            problems.append(("step", f"must divide high - low = {self.high - self.low!r}"))
        return problems

    def _steps(self) -> float:
        return (self.high - self.low) / (self.step or 1)

    def values(self) -> list:
        """Every value of a discrete parameter, in order (the grid sampler's axis).

        >>> Param("float", 0.0, 0.3, 0.1).values(), Param("int", 1, 5, 2).values()
        ([0.0, 0.1, 0.2, 0.3], [1, 3, 5])
        """
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "int":
            return list(range(self.low, self.high + 1, self.step or 1))
        if self.step is None:
            raise ValueError("a float parameter without a step has no finite list of values")
        return [float(round(self.low + i * self.step, 12)) for i in range(round(self._steps()) + 1)]

    def probes(self) -> list:
        """Values worth validating against the run config: every value when finite, else the bounds."""
        return self.values() if self.type != "float" or self.step is not None else [float(self.low), float(self.high)]

    def distribution(self) -> optuna.distributions.BaseDistribution:
        if self.type == "categorical":
            return optuna.distributions.CategoricalDistribution(self.choices)
        if self.type == "int":
            return optuna.distributions.IntDistribution(self.low, self.high, step=self.step or 1, log=self.log)
        return optuna.distributions.FloatDistribution(self.low, self.high, step=self.step, log=self.log)


@dataclass
class SamplerSpec:
    """How trial parameters are chosen."""

    kind: Literal["grid", "tpe"] = spec("tpe", "grid: every point of the space once (the paper's enumeration) | "
                                               "tpe: Bayesian optimisation")
    seed: int = spec(0, "sampler seed (the grid's order; the same for every worker)", ge=0)


@dataclass
class TuneSpec:
    """One optuna study over run-config keys."""

    space: dict[str, Param] = spec(REQUIRED, "dotted config key -> {type, low, high, step, log, choices}")
    objective: str = spec(REQUIRED, "what a trial measures: val_<metric> of a full run, eval.<path> of a run's "
                                    "eval.json (test: needs allow_test), or <evaluation>.<metric> (e.g. selection.f1)")
    name: str | None = spec(None, "study name: the folder under results_dir; null = the spec file's name")
    description: str = spec("", "free text")
    base: str | None = spec(None, "run config the trials modify, relative to the spec (or the working directory); "
                                  "null = the defaults")
    set: dict[str, Any] = spec({}, "fixed dotted-key overrides of every trial")
    direction: Literal["maximize", "minimize"] = spec("maximize", "maximize | minimize the objective")
    sampler: SamplerSpec = spec(SamplerSpec(), "sampler")
    trials: int | None = spec(None, "complete trials wanted in the study (all workers, all invocations); "
                                    f"null = the grid size (grid) or {DEFAULT_TPE_TRIALS} (tpe)", ge=1)
    storage: str = spec("auto", "auto (the study folder's study.db or journal.log if one exists, else journal "
                                "with executor=slurm and sqlite otherwise) | sqlite | journal | an optuna RDB URL")
    allow_test: bool = spec(False, "allow an objective measured on a test split (selecting on test makes the "
                                   "reported test score optimistic)")

    def check(self):
        problems = [] if self.space else [("space", "at least one searched key is needed")]
        if self.sampler.kind == "grid":
            problems += [(f"space.{k}.step", "the grid sampler needs a step for float parameters")
                         for k, p in self.space.items() if p.type == "float" and p.step is None]
        problems += [(f"space.{k}", f"also fixed in set ({self.set[k]!r}); drop one") for k in self.space if k in self.set]
        if self.storage not in STORAGES and "://" not in self.storage:
            problems.append(("storage", f"{self.storage!r} is not one of {', '.join(STORAGES)} nor an RDB URL "
                                        "such as postgresql://host/db"))
        return problems


@dataclass
class Tune:
    """A loaded, validated spec with the run config its trials start from."""

    spec: TuneSpec
    file: Path
    base_file: Path | None
    base: dict           # base config + set + command-line run overrides (nested), before the trial's parameters
    cli: list[str]       # the command-line overrides as given (workers re-load the spec with them)
    config: RunConfig    # `base` validated: results_dir, executor and slurm resources of the study

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def folder(self) -> Path:
        return Path(self.config.results_dir) / self.name

    @property
    def grid(self) -> dict[str, list] | None:
        """The grid sampler's search space (None for tpe)."""
        return {k: p.values() for k, p in self.spec.space.items()} if self.spec.sampler.kind == "grid" else None

    @property
    def budget(self) -> int:
        """Complete trials the study wants."""
        if self.spec.sampler.kind == "grid":
            size = 1
            for values in self.grid.values():
                size *= len(values)
            return min(self.spec.trials or size, size)
        return self.spec.trials or DEFAULT_TPE_TRIALS

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        return {k: p.distribution() for k, p in self.spec.space.items()}

    def trial_config(self, params: dict) -> RunConfig:
        return from_dict(RunConfig, deep_merge(self.base, _nested(params)), source=f"{self.file} trial {params}")


def spec_keys() -> list[str]:
    """Command-line keys that set the spec, not the trials' config: the spec's own keys, except `base`,
    which on the command line is the run config's base-model section (`base.steps=...`)."""
    return [k for k in TuneSpec.__dataclass_fields__ if k == "name" or k not in RunConfig.__dataclass_fields__]


def trial_label(params: dict) -> str:
    """A run label per parameter point (the run folder adds the config hash).

    >>> trial_label({"select.alpha": 0.2, "method.interval": 0.5})
    'method.interval=0.5 select.alpha=0.2'
    """
    return " ".join(f"{k}={v}" for k, v in sorted(params.items()))


def load_tune(path: str | Path, overrides: list[str] | None = None) -> Tune:
    """Load and validate a spec plus `key=value` overrides (spec keys go to the spec, the rest to every trial).

    Raises ConfigError listing every problem of the spec, its base config, its search space and objective."""

    path = Path(path)
    src = str(path)
    cli = parse_overrides(list(overrides or []))
    doc = deep_merge(load_yaml(path), {k: cli.pop(k) for k in list(cli) if k in spec_keys()})
    problems: list[str] = []
    try:
        ts = from_dict(TuneSpec, doc, source=src)
    except ConfigError as e:  # keep going on the raw values, so the run-config problems are reported too
        problems += e.problems
        ts = None
    name = (ts.name if ts else doc.get("name")) or path.stem
    base_file, base = None, {}
    if isinstance(doc.get("base"), str):
        try:
            base_file = _resolve_base(path, doc["base"])
            base = load_yaml(base_file)
        except FileNotFoundError:
            problems.append(f"{src}: base: file not found: {doc['base']} (looked beside the spec and in the working "
                            "directory)")
        except ConfigError as e:
            problems += e.problems
    fixed = doc.get("set") if isinstance(doc.get("set"), dict) else {}
    base = deep_merge(deep_merge(deep_merge(base, _nested(fixed)), cli), {"name": name})
    config, broken = None, set()
    try:
        config = from_dict(RunConfig, base, source=f"{src} (base + set + command line)")
    except ConfigError as e:
        problems += e.problems
        broken = {_problem_key(p) for p in e.problems}
    for key, param in _params(doc.get("space")).items():
        for value in param.probes():
            try:
                from_dict(RunConfig, deep_merge(base, _nested({key: value})), source=f"{src}: space.{key}")
            except ConfigError as e:
                problems += [p for p in e.problems if _problem_key(p) not in broken and p not in problems]
    if isinstance(doc.get("objective"), str):
        problems += [f"{src}: objective: {p}" for p in check_objective(doc["objective"], doc.get("allow_test") is True)]
    if problems:
        raise ConfigError(problems, header=f"invalid tuning spec {src}")
    ts.name = name
    return Tune(ts, path, base_file, base, list(overrides or []), config)


def _params(space) -> dict[str, Param]:
    """The searched keys whose distribution is valid (the others are reported by the spec's own check)."""
    out = {}
    for key, raw in (space.items() if isinstance(space, dict) else ()):
        try:
            out[key] = from_dict(Param, raw if isinstance(raw, dict) else {}, source="")
        except ConfigError:
            continue
    return out


def resolved(tune: Tune) -> dict:
    """What tune.yaml in the study folder records: the spec as loaded and the command line."""
    return {"spec": to_dict(tune.spec), "file": str(tune.file), "overrides": tune.cli, "budget": tune.budget,
            "base": copy.deepcopy(tune.base)}
