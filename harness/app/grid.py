"""Ablation grids: a YAML file of named run blocks, expanded into validated run configs.

    name: training_method
    base: base.yaml                 # run config, relative to this file (or to the working directory)
    seeds: [0]
    runs:
      - label: "Continuous {method.interval:.2%}"    # may format any config value
        recipe: static                                # optional named overrides to start from (harness.app.recipes)
        set: {method.kind: continuous}                # fixed overrides (dotted keys), on top of the recipe
        grid: {method.interval: [1.0, 0.5, 0.25]}      # cartesian product of dotted keys

Expansion is pure and deterministic. Every expanded run is validated before anything starts, and
all problems of the file are reported at once, each with the file, block and dotted key.
"""
from __future__ import annotations

import difflib
import gc
import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.app.recipes import RECIPES
from harness.config import RunConfig
from harness.configio import ConfigError, clone, deep_merge, from_dict, load_yaml, set_dotted, to_dict
from harness.loop.rundir import run_path

GRID_KEYS = {"name": "sweep name (folder under results_dir)", "base": "run config file the blocks modify",
             "seeds": "training seeds every block runs with", "runs": "list of run blocks",
             "description": "free text"}
BLOCK_KEYS = {"label": "row label, may format config values", "recipe": "named recipe the block starts from "
             "(harness.app.recipes: static, mstar)", "set": "fixed dotted-key overrides",
              "grid": "dotted key -> list of values (cartesian product)"}
SWEEP_LEVEL_OVERRIDES = ("seeds", "name")  # command-line keys that belong to the grid, not to runs


@dataclass
class RunSpec:
    """One expanded run of a sweep."""

    label: str              # the formatted label: a table row of the report
    seed: int
    block: int              # index of the run block it came from
    overrides: dict         # nested overrides on top of the base config (block, grid point, seed)
    config: RunConfig
    path: Path              # the run folder
    settings: dict | None = None  # every non-default value: base config + overrides + command line
    plain: dict | None = None     # the config as plain data, made once (its hash names the folder; the stage plan)

    def manifest(self) -> dict:
        """The run's entry in sweep.yaml; `settings` resolve to its config before it starts (harness report
        files a half-finished sweep by what its runs will be, not by the few that ran)."""
        return {"label": self.label, "seed": self.seed, "block": self.block, "path": str(self.path),
                "overrides": self.overrides, "settings": self.settings}


class _Fields:
    """Attribute access into plain config data, for labels that format config values ('{method.interval:.2%}')."""

    def __init__(self, data: dict) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        try:
            value = self._data[name]
        except KeyError:
            raise AttributeError(f"no config key {name!r} here; keys: {', '.join(self._data)}") from None
        return _Fields(value) if isinstance(value, dict) else value


def format_label(label: str, plain: dict) -> str:
    """The label with the config values it names filled in."""
    return label.format(**{k: _Fields(v) if isinstance(v, dict) else v for k, v in plain.items()})


def _nested(dotted: dict) -> dict:
    out: dict = {}
    for key, value in dotted.items():
        set_dotted(out, key, value)
    return out


def _check_keys(where: str, got: dict, allowed: dict, problems: list[str]) -> None:
    for key in got:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(allowed)}"
            problems.append(f"{where}{key}: unknown key{hint}")


def _resolve_base(grid_file: Path, base: str) -> Path:
    for candidate in (grid_file.parent / base, Path(base)):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(base)


def _block_points(src: str, i: int, block: Any, problems: list[str]) -> list[dict]:
    """The dotted-override dicts of one block (set merged with each grid point)."""
    where = f"{src}: runs[{i}]."
    if not isinstance(block, dict):
        problems.append(f"{where[:-1]}: expected a mapping with label/set/grid, got {type(block).__name__}")
        return []
    _check_keys(where, block, BLOCK_KEYS, problems)
    if not isinstance(block.get("label"), str) or not block.get("label"):
        problems.append(f"{where}label: required, a non-empty string")
        return []
    fixed, grid = block.get("set") or {}, block.get("grid") or {}
    for key, value in (("set", fixed), ("grid", grid)):
        if not isinstance(value, dict):
            problems.append(f"{where}{key}: expected a mapping of dotted keys, got {type(value).__name__}")
            return []
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            problems.append(f"{where}grid.{key}: expected a non-empty list of values, got {values!r}")
            return []
    recipe = block.get("recipe")
    if recipe is not None and recipe not in RECIPES:
        close = difflib.get_close_matches(str(recipe), RECIPES, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        problems.append(f"{where}recipe: unknown recipe {recipe!r}; {hint}available: {', '.join(RECIPES)}")
        return []
    fixed = {**RECIPES.get(recipe, {}), **fixed}
    keys = list(grid)
    return [{**fixed, **dict(zip(keys, combo))} for combo in itertools.product(*(grid[k] for k in keys))]


def _problem_key(problem: str) -> str:
    """The dotted key a from_dict problem names ('<source>: <key>: <message>')."""
    parts = problem.split(": ")
    return parts[-2] if len(parts) >= 3 else ""


def _cli_problem_keys(src: str, base: dict, cli: dict, problems: list[str]) -> set[str]:
    """Validate the command-line overrides once (not once per run); the keys they break."""
    if not cli:
        return set()
    try:
        from_dict(RunConfig, deep_merge(base, cli), source=f"{src} + command line")
    except ConfigError as e:
        problems += e.problems
        return {_problem_key(p) for p in e.problems}
    return set()


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector off for the block: expanding a grid allocates many small objects and no
    reference cycles, and the collector's passes over the growing heap took a quarter of a 10,000-run expansion."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def expand(grid_file: str | Path, cli_overrides: dict | None = None, results_dir: str | None = None) -> tuple[str, list[RunSpec]]:
    """(sweep name, runs) of a grid file plus command-line overrides; raises ConfigError with every problem."""
    with collector_paused():
        return _expand(Path(grid_file), dict(cli_overrides or {}), results_dir)


def _expand(grid_file: Path, cli: dict, results_dir: str | None) -> tuple[str, list[RunSpec]]:
    src = str(grid_file)
    doc = load_yaml(grid_file)
    sweep_level = {k: cli.pop(k) for k in SWEEP_LEVEL_OVERRIDES if k in cli}
    doc = {**doc, **sweep_level}
    problems: list[str] = []
    _check_keys(f"{src}: ", doc, GRID_KEYS, problems)
    name = doc.get("name") or grid_file.stem
    seeds = doc.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        problems.append(f"{src}: seeds: expected a non-empty list of non-negative integers, got {seeds!r}")
        seeds = [0]  # still validate the runs, so every problem is reported at once
    base: dict = {}
    if doc.get("base") is not None:
        try:
            base = load_yaml(_resolve_base(grid_file, str(doc["base"])))
        except FileNotFoundError:
            problems.append(f"{src}: base: file not found: {doc['base']} (looked beside the grid file and in "
                            f"the working directory)")
        except ConfigError as e:
            problems += e.problems
    cli_keys = _cli_problem_keys(src, base, cli, problems)
    blocks = doc.get("runs")
    if not isinstance(blocks, list) or not blocks:
        problems.append(f"{src}: runs: expected a non-empty list of run blocks")
        blocks = []
    runs: list[RunSpec] = []
    labels: dict[tuple[str, int], int] = {}
    for i, block in enumerate(blocks):
        for point in _block_points(src, i, block, problems):
            first, nested = None, _nested(point)  # the point's config, validated once: its seeds differ in `seed`
            for seed in seeds:
                overrides = deep_merge(nested, {"seed": seed, "name": name})
                if results_dir:
                    overrides["results_dir"] = results_dir
                settings = deep_merge(deep_merge(base, overrides), cli)
                if first is None:
                    try:
                        cfg = from_dict(RunConfig, settings, source=f"{src}: runs[{i}] ({block.get('label')!r})")
                    except ConfigError as e:
                        problems += [p for p in e.problems if p not in problems and _problem_key(p) not in cli_keys]
                        break  # every seed of the point has the same problems
                    first, plain0 = cfg, to_dict(cfg)
                else:  # seeds are validated above (a seed enters no cross-field rule)
                    cfg = clone(first)
                    cfg.seed = settings["seed"]
                plain = {**plain0, "seed": cfg.seed}  # made once: the label, the folder's hash and the stage plan
                try:
                    label = format_label(block["label"], plain)
                except (KeyError, AttributeError, ValueError, IndexError) as e:
                    problems.append(f"{src}: runs[{i}].label: cannot format {block['label']!r}: {e!r}")
                    continue
                if (label, seed) in labels:
                    problems.append(f"{src}: runs[{i}].label: duplicate label {label!r} (also in "
                                    f"runs[{labels[(label, seed)]}]); make labels distinct, e.g. format the swept value")
                    continue
                labels[(label, seed)] = i
                runs.append(RunSpec(label, seed, i, overrides, cfg, run_path(cfg, label, plain), settings, plain))
    if problems:
        raise ConfigError(problems, header=f"invalid sweep {src}")
    return name, runs
