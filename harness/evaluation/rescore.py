"""Score finished runs' saved responses again: the core of `harness rescore RUN_OR_SWEEP [eval.judge.KEY=VALUE ...]`
(the command: harness/app/rescore.py).

Greedy evaluation keeps every response (`responses/<section>/<split>.jsonl` in the run folder, see
harness.evaluation.run_eval). This command re-scores them with the current answer extraction (the rules, and the
judge of the run's `eval.judge` settings, or of the ones given on the command line) and rewrites the
run's eval.json tables and response files, without loading a model. Only `eval.judge.*` may be changed
here: anything else would need new responses. With the judge unchanged and off, the rule numbers come
out exactly as the run wrote them. Tables of a section without saved responses (a stage cached before
responses were kept) are left as they are and listed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.config import JudgeConfig
from harness.configio import ConfigError, deep_merge, from_dict, parse_overrides
from harness.evaluation.evaluate import RESPONSES
from harness.evaluation.judge import make_judge, provenance
from harness.evaluation.run_eval import SECTIONS
from harness.evaluation.scoring import score_file
from harness.io import atomic_write_json, read_json


@dataclass
class Rescored:
    """What re-scoring one run did."""

    run: Path
    tables: dict[str, dict] = field(default_factory=dict)  # "section/split" -> its new table
    kept: list[str] = field(default_factory=list)           # "section/split" tables without saved responses
    skipped: str | None = None                               # why the run was not re-scored at all

    @property
    def unjudged(self) -> int:
        return sum((t.get("judge") or {}).get("unjudged", 0) for t in self.tables.values())


def run_folders(folder: Path) -> list[Path]:
    """The run itself, or the run folders of a sweep (or study) folder."""
    folder = Path(folder)
    if (folder / "config.yaml").is_file():
        return [folder]
    runs = sorted(c.parent for c in folder.glob("*/config.yaml"))
    if not runs:
        raise ConfigError([f"{folder}: neither a run folder nor a sweep folder (no config.yaml in it or in its "
                           "subfolders); give results/<sweep> or one run folder in it"], header="cannot rescore")
    return runs


def judge_settings(run: Path, overrides: list[str]) -> JudgeConfig:
    """The run's eval.judge settings with the command line's eval.judge.* on top. Only this section is read,
    so runs written by older versions of the harness (other keys since renamed) are re-scored too."""
    extra = parse_overrides(overrides)
    bad = [k for k in extra if k != "eval"] + [f"eval.{k}" for k in extra.get("eval", {}) if k != "judge"]
    if bad:
        raise ConfigError([f"{k}: rescore only changes how saved responses are scored; give eval.judge.* keys "
                           "(`harness config` lists them)" for k in bad], header="cannot rescore")
    config = yaml.safe_load((run / "config.yaml").read_text()) or {}
    judge = deep_merge((config.get("eval") or {}).get("judge") or {}, (extra.get("eval") or {}).get("judge") or {})
    return from_dict(JudgeConfig, judge, source=f"{run / 'config.yaml'} eval.judge + command line")


def rescore_run(run: Path, cfg: JudgeConfig) -> Rescored:
    """Re-score one finished run in place (eval.json and its response files, each written atomically)."""
    out = Rescored(run)
    ev = read_json(run / "eval.json")
    if (read_json(run / "status.json") or {}).get("state") != "done" or ev is None:
        out.skipped = "not finished (no final eval.json yet)"
        return out
    # the judge cache of the results folder the run lies in (<results_dir>/<sweep>/<run>), as when it ran
    judge = make_judge(cfg, run.parent.parent)
    for section in SECTIONS:
        for split in list(ev.get(section) or {}):
            saved = run / RESPONSES / section / f"{split}.jsonl"
            if saved.is_file():
                ev[section][split] = out.tables[f"{section}/{split}"] = score_file(saved, saved, judge, cfg.mode)
            else:
                out.kept.append(f"{section}/{split}")
    if out.tables:
        atomic_write_json(run / "eval.json", {**ev, "judge": provenance(cfg)})
    else:
        out.skipped = "no saved responses (evaluated before responses were kept)"
    return out


def rescore(folder: Path, overrides: list[str] | None = None) -> list[Rescored]:
    """Re-score every finished run under folder; every run's settings are checked before any is touched."""
    runs = run_folders(folder)
    settings, problems = {}, []
    for run in runs:
        try:
            settings[run] = judge_settings(run, overrides or [])
        except ConfigError as e:
            problems += e.problems
    if problems:
        raise ConfigError(sorted(set(problems)), header="cannot rescore")
    return [rescore_run(run, settings[run]) for run in runs]


def summary(results: list[Rescored]) -> str:
    """One line per run and table: the rule accuracy, and the judge's beside it."""
    lines = []
    for r in results:
        lines.append(f"{r.run}: {r.skipped}" if r.skipped else f"{r.run}:")
        for name, t in r.tables.items():
            line = f"  {name:24s} rules {t['accuracy']:.4f}"
            if j := t.get("judge"):
                line += (f" | judge {j['accuracy']:.4f} (differ {j['differ']:.4f}, asked {j['asked']}, "
                         f"unjudged {j['unjudged']})")
            lines.append(line)
        lines += [f"  {name:24s} kept as it was (no saved responses)" for name in r.kept]
    unjudged = sum(r.unjudged for r in results)
    if unjudged:
        lines.append(f"{unjudged} responses could not be judged (their rule answers are kept): is the judge up? "
                     "Run the same command again; answers already judged come from the cache.")
    return "\n".join(lines)
