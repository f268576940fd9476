"""Sweep folders -> tidy pandas DataFrames. The only module that knows the results format.

Reads what the harness writes (sweep.yaml, and per run config.yaml, status.json, eval.json,
metrics.jsonl, inputs.json, and the PRM stage's verifier/*.csv) and nothing else, so tables and
figures can be rebuilt from a copied results folder without the harness' model code. Older runs
lack some config keys; they get the values those runs actually used (see `run_fields`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from harness.config import MODEL_PRESETS, RunConfig
from harness.configio import ConfigError, from_dict, to_dict

# Config fields every table and figure can group by: column -> (dotted keys, value when absent).
# The first key present wins (the adaptive policy moved from rollout.* to temperature.*). Absent
# means an older run, made before the key existed, that ran with the behaviour given here.
FIELDS = {
    "method": (("method.kind",), None),
    "interval": (("method.interval",), None),
    "operator": (("select.operator",), "all"),
    "k": (("select.k",), None),
    "alpha": (("select.alpha",), None),
    "reward": (("reward_model.kind",), "none"),
    "unlabeled": (("unlabeled.mode",), "none"),
    "mixin": (("unlabeled.mixin",), None),
    "temperature": (("rollout.temperature",), None),
    "policy": (("temperature.policy", "rollout.temperature_policy"), "fixed"),
    "preset": (("model.preset",), None),
    "model_path": (("model.path",), None),
}
STAGES = ("final", "warmup", "base")   # eval.json sections
COLUMNS = {   # columns of each frame, so that an empty frame can still be filtered and grouped
    "scores": ["path", "stage", "split", "task", "accuracy", "replicate"],
    "dynamics": ["path", "iteration", "queries_seen", "metric", "temperature", "k", "value"],
    "iterations": ["path", "iteration", "queries_seen", "temperature"],
    "voting": ["prm", "reward_model", "aggregate", "method", "n", "accuracy"],
    "steps": ["prm", "reward_model", "aggregate", "group", "mean_steps", "irrelevant_share"],
    "extraction": ["path", "stage", "split", "prompt", "circular", "rule", "judge", "differ", "unjudged",
                   "replicate"],
}


@dataclass
class Results:
    """Everything the report needs, one tidy DataFrame per kind of record.

    runs:       one row per run (listed in sweep.yaml or found as a subfolder): sweep, order, path,
                label, seed, state, the FIELDS columns, model, short_label (label without
                ' [model]'), base/warmup/prm stage folders.
    scores:     eval.json flattened: path, stage (final|warmup|base), split, task ('ALL' = overall),
                accuracy (fraction), replicate (what makes two values independent, see `scores`).
    dynamics:   metrics.jsonl rows with a 'metric' key: path, iteration, queries_seen, metric,
                temperature, k, value.
    iterations: the other metrics.jsonl rows (one per iteration): path, iteration, temperature, ...
    voting:     verifier/voting.csv of each PRM stage: prm, reward_model, aggregate, method, n, accuracy.
    steps:      verifier/steps.csv of each PRM stage: prm, reward_model, aggregate, group, mean_steps,
                irrelevant_share.
    extraction: eval.json splits scored by a judge too: path, stage, split, prompt, circular, rule and
                judge accuracy, differ (share of responses whose verdict the judge changed), unjudged
                (responses the judge failed on), replicate (as in scores).
    """

    runs: pd.DataFrame
    scores: pd.DataFrame
    dynamics: pd.DataFrame
    iterations: pd.DataFrame
    voting: pd.DataFrame
    steps: pd.DataFrame
    extraction: pd.DataFrame

    def subset(self, paths) -> "Results":
        """The same records restricted to some runs (PRM stages follow the runs that used them)."""
        keep = set(paths)
        prms = set(self.runs.loc[self.runs.path.isin(keep), "prm"].dropna())
        return Results(self.runs[self.runs.path.isin(keep)],
                       *(df[df.path.isin(keep)] for df in (self.scores, self.dynamics, self.iterations)),
                       *(df[df.prm.isin(prms)] for df in (self.voting, self.steps)),
                       self.extraction[self.extraction.path.isin(keep)])


def load(folders) -> Results:
    """Read every run of the given sweep folders; raises ConfigError naming a folder that is no sweep."""
    rows, problems = [], []
    for f in folders:   # every bad folder in one error, not one per attempt
        try:
            rows += sweep_runs(Path(f))
        except ConfigError as e:
            problems += e.problems
    if problems:
        raise ConfigError(problems, header="cannot report")
    runs = pd.DataFrame(rows)
    runs = fill_from_siblings(runs)
    runs["model"] = [model_name(p, m) for p, m in zip(runs.preset, runs.model_path)]
    # per-model tables and figures name a row without its model: 'SFT [small]' -> 'SFT'
    runs["short_label"] = [str(lab).replace(f" [{m}]", "") for lab, m in zip(runs.label, runs.model)]
    found = runs[runs.state != "missing"]
    prms = found.prm.dropna().unique()
    return Results(runs=runs, scores=_concat("scores", (scores(p) for p in found.path)),
                   dynamics=_concat("dynamics", (metric_rows(p, dynamics=True) for p in found.path)),
                   iterations=_concat("iterations", (metric_rows(p, dynamics=False) for p in found.path)),
                   voting=_concat("voting", (verifier(p, "voting.csv") for p in prms)),
                   steps=_concat("steps", (verifier(p, "steps.csv") for p in prms)),
                   extraction=_concat("extraction", (extraction(p) for p in found.path)))


def _concat(kind: str, frames) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS[kind])
    df = pd.concat(frames, ignore_index=True)
    return df.reindex(columns=list(dict.fromkeys(COLUMNS[kind] + list(df.columns))))


def run_folders(folder: Path) -> list[tuple[Path, dict]]:
    """(run folder, manifest entry) in manifest order, then unlisted subfolders holding config.yaml.

    Manifest paths are relative to where the sweep ran; a moved results folder is still read by
    looking the run's folder name up next to sweep.yaml."""
    if not folder.is_dir():
        raise ConfigError([f"{folder}: no such folder; give a sweep folder such as results/<sweep>"],
                          header="cannot report")
    manifest = folder / "sweep.yaml"
    entries = []
    if manifest.is_file():
        entries = (yaml.safe_load(manifest.read_text()) or {}).get("runs") or []
    found = [(p if p.is_dir() else folder / p.name, e) for e in entries for p in [Path(e["path"])]]
    listed = {p.resolve() for p, _ in found}
    found += [(c.parent, {}) for c in sorted(folder.glob("*/config.yaml")) if c.parent.resolve() not in listed]
    if not found and not manifest.is_file():
        raise ConfigError([f"{folder}: not a sweep folder (no sweep.yaml and no run folders with config.yaml); "
                           "give results/<sweep>"], header="cannot report")
    if not found:
        raise ConfigError([f"{folder}: sweep.yaml lists no runs and no run folder exists yet; nothing to report"],
                          header="cannot report")
    return found


def sweep_runs(folder: Path) -> list[dict]:
    """One row per run of a sweep folder."""
    return [run_row(folder.name, i, path, entry) for i, (path, entry) in enumerate(run_folders(folder))]


def run_row(sweep: str, order: int, path: Path, entry: dict) -> dict:
    """A run's identity, state and config fields; a run not started yet takes them from the manifest."""
    config_file = path / "config.yaml"
    config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else None
    inputs = _json(path / "inputs.json") or {}
    row = {"sweep": sweep, "order": order, "path": str(path),
           "label": (config or entry).get("label") or path.name,
           "seed": (config or entry).get("seed", entry.get("seed")),
           "state": (_json(path / "status.json") or {}).get("state", "pending") if path.is_dir() else "missing",
           "base_stage": inputs.get("base"), "warmup_stage": inputs.get("warmup"), "prm": inputs.get("prm"),
           "has_config": config is not None}
    return {**row, **(run_fields(config) if config else {c: math.nan for c in FIELDS}),
            "_overrides": entry.get("overrides") or {}, "_settings": entry.get("settings")}


def run_fields(config: dict) -> dict:
    """The FIELDS columns of a (nested) config, with each absent key's historical value.

    >>> f = run_fields({"method": {"kind": "sft"}, "temperature": {"policy": "adaptive"}})
    >>> f["operator"], f["policy"], f["interval"]
    ('all', 'adaptive', None)
    """
    return {col: next((v for v in (_get(config, k) for k in keys) if v is not None), default)
            for col, (keys, default) in FIELDS.items()}


def model_name(preset, path) -> str:
    """What Tables 4-5 group by: the preset, else the checkpoint folder's name, else the embedded model.

    >>> model_name(None, "/ckpt/Qwen2-VL-2B/"), model_name(None, None)
    ('Qwen2-VL-2B', 'embedded')
    """
    return preset or (str(path).rstrip("/").split("/")[-1] if path else "embedded")


def model_order(models) -> list[str]:
    """The distinct models, presets smallest first whatever order their blocks ran in, then the others
    (checkpoints) in run order: Tables 4-5 and Figs. 5-6 list their model blocks in this order.

    >>> model_order(["medium", "Qwen2-VL-2B", "small", "medium"])
    ['small', 'medium', 'Qwen2-VL-2B']
    """
    rank = {name: i for i, name in enumerate(MODEL_PRESETS)}
    return sorted(dict.fromkeys(models), key=lambda m: rank.get(m, len(rank)))


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def fill_from_siblings(runs: pd.DataFrame) -> pd.DataFrame:
    """Give a run without config.yaml (not started) the fields of its resolved config (the manifest's
    settings, with every default), else those of a started run with the same label, else those its
    manifest overrides imply (manifests written before settings were), so it lands in the right table row."""
    runs = runs.copy()
    cols = list(FIELDS)
    runs[cols] = runs[cols].astype(object)
    started = runs[runs.has_config].groupby(["sweep", "label"])[cols].first()
    for i, r in runs[~runs.has_config].iterrows():
        key = (r.sweep, r.label)
        resolved = planned_config(r._settings)
        fields = (run_fields(resolved) if resolved is not None else
                  started.loc[key].to_dict() if key in started.index else run_fields(r._overrides))
        runs.loc[i, cols] = pd.Series(fields)[cols].values
    return runs.drop(columns=["_overrides", "_settings"]).where(runs.notna(), None)


def planned_config(settings: dict | None) -> dict | None:
    """The full config (defaults filled in) of a run from its manifest settings; None if there are none or
    they no longer validate (a sweep planned by an older harness)."""
    if not isinstance(settings, dict):
        return None
    try:
        return to_dict(from_dict(RunConfig, settings))
    except ConfigError:
        return None


def _json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def scores(path: str) -> pd.DataFrame:
    """eval.json as rows. `replicate` is the run for final scores, and for base / warm-up scores the
    stage folder they came from (or, for runs without inputs.json, the scores themselves): a warm-up
    shared by three seeds is one measurement, not three."""
    ev = _json(Path(path) / "eval.json") or {}
    inputs = _json(Path(path) / "inputs.json") or {}
    rows = []
    for stage in STAGES:
        section = ev.get(stage) or {}
        replicate = path if stage == "final" else inputs.get(stage) or json.dumps(section, sort_keys=True)
        for split, res in section.items():
            tasks = {"ALL": res.get("accuracy"), **(res.get("by_task") or {})}
            rows += [{"path": path, "stage": stage, "split": split, "task": t, "accuracy": a,
                      "replicate": replicate} for t, a in tasks.items() if a is not None]
    return pd.DataFrame(rows)


def extraction(path: str) -> pd.DataFrame:
    """eval.json's judge numbers beside the rule ones, one row per (stage, split) a judge scored."""
    ev = _json(Path(path) / "eval.json") or {}
    inputs = _json(Path(path) / "inputs.json") or {}
    rows = []
    for stage in STAGES:
        for split, res in (ev.get(stage) or {}).items():
            if judge := res.get("judge"):
                rows.append({"path": path, "stage": stage, "split": split, "prompt": res.get("prompt"),
                             "circular": bool(res.get("circular")), "rule": res.get("accuracy"),
                             "judge": judge.get("accuracy"), "differ": judge.get("differ"),
                             "unjudged": judge.get("unjudged", 0),
                             "replicate": path if stage == "final" else inputs.get(stage) or path})
    return pd.DataFrame(rows)


def metric_rows(path: str, dynamics: bool) -> pd.DataFrame:
    """metrics.jsonl rows of one kind: dynamics rows (with 'metric') or iteration summaries.
    A partial last line (a run killed while writing) is skipped."""
    file = Path(path) / "metrics.jsonl"
    rows = []
    for line in file.read_text().splitlines() if file.is_file() else []:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if ("metric" in row) == dynamics:
            rows.append({"path": path, **row})
    return pd.DataFrame(rows)


def verifier(prm: str, name: str) -> pd.DataFrame:
    """A PRM stage's verifier analysis table (Figure 2), tagged with the stage folder. Rows exist per
    scorer (reward_model: the learned prm, and the embedded world's oracle) and step aggregation;
    files without those columns hold the learned PRM with the paper's min aggregation."""
    file = Path(prm) / "verifier" / name
    if not file.is_file():
        return pd.DataFrame()
    df = pd.read_csv(file).assign(prm=prm)
    return df.assign(**{c: df[c] if c in df else v for c, v in (("reward_model", "prm"), ("aggregate", "min"))})
