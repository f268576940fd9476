"""A finished run's eval.json: the final model, pi_0 (+warm-up) and the base model, with every response kept.

Sections `final`, `warmup` and `base` hold one accuracy table per split (harness.evaluation.scoring); `prompts` says
what the cot form meant per section, `judge` which judge scored it (null: rules only). Every table comes from the rows saved under the run folder's
`responses/<section>/<split>.jsonl`: generated here for the final model (and for pi_0 on the benchmarks,
or wherever the run asks pi_0 differently from how its warm-up stage did), copied from the shared stages'
responses otherwise, and scored with the run's judge. A stage cached before responses were kept has only
its eval.json: its tables are copied as they are (and `harness rescore` leaves them so).
"""
from __future__ import annotations

from pathlib import Path

from harness import distributed
from harness.config import EvalConfig, RunConfig
from harness.data.datasets import Record
from harness.evaluation import circular
from harness.evaluation.evaluate import RESPONSES, evaluate, prompt_label
from harness.evaluation.judge import JudgeClient, make_judge, provenance
from harness.evaluation.scoring import score_file
from harness.io import read_json
from harness.model.strategy import load_policy
from harness.rollout.engine import RolloutEngine
from harness.rollout.settings import SamplingSettings
from harness.train.methods import METHODS

SECTIONS = ("final", "warmup", "base")
STAGE_FORM = ("cot", False)  # how a warm-up stage evaluates pi_0: the cot prompt, no CircularEval


def stage_section(stage: Path, out: Path, judge: JudgeClient | None, mode: str,
                  skip: frozenset[str] = frozenset()) -> dict | None:
    """A stage's evaluation as this run scores it, less the `skip` splits: its saved responses re-scored (and
    copied to `out`), or its eval.json tables where it kept no responses; None when the stage has no
    evaluation (an external model path)."""
    ev = read_json(Path(stage) / "eval.json")
    if ev is None:
        return None
    ev = {split: t for split, t in ev.items() if split not in skip}
    for split in ev:
        saved = Path(stage) / RESPONSES / f"{split}.jsonl"
        if saved.is_file():
            ev[split] = score_file(saved, out / f"{split}.jsonl", judge, mode)
    return ev


def asked_like_stage(split: str, eval_cfg: EvalConfig) -> bool:
    return (prompt_label(eval_cfg.prompt_for(split), True), circular.applies(split, eval_cfg.circular)) == STAGE_FORM


def evaluate_run(cfg: RunConfig, settings: SamplingSettings, warmup: Path, base: Path,
                 splits: dict[str, list[Record]], benchmarks: dict[str, list[Record]], engine: RolloutEngine,
                 run: Path) -> dict:
    """The eval.json of a run whose rollout engine holds its final model, decoded with the greedy `settings`
    (harness.rollout.settings.evaluation); `warmup` and `base` are the stage folders. pi_0, where it is asked
    again, is loaded into the same engine (which then holds it). Collective under torchrun (every rank decodes its
    share); the tables are returned on rank 0, {} elsewhere."""
    e, responses = cfg.eval, Path(run) / RESPONSES
    judge = make_judge(e.judge, cfg.results_dir)

    def generate(todo: dict[str, list[Record]], section: str, cot: bool) -> dict:
        return evaluate(engine, todo, settings, cot=cot, eval_cfg=e, out=responses / section, judge=judge)

    cot = METHODS.get(cfg.method.kind).cot  # SFT is evaluated on the plain prompts it was trained on
    tests = {k: splits[k] for k in ("test_id", "test_ood", "val")}
    ev = {"final": generate({**tests, **benchmarks}, "final", cot)}
    # pi_0 on the benchmarks (Table 5's +warm-up row), and wherever this run asks differently from the stage
    again = {**{k: v for k, v in tests.items() if not asked_like_stage(k, e)}, **benchmarks}
    asked_again = {}
    if again:
        engine.update_weights(*load_policy(warmup / "model", cfg))
        asked_again = generate(again, "warmup", True)
    if not distributed.is_main():
        return {}
    warm = stage_section(warmup, responses / "warmup", judge, e.judge.mode, skip=frozenset(again))
    warm.update(asked_again)
    ev["warmup"] = warm
    ev["base"] = stage_section(base, responses / "base", judge, e.judge.mode)
    ev["prompts"] = {"final": "cot" if cot else "plain", "warmup": "cot", "base": "plain"}
    ev["judge"] = provenance(e.judge)
    return ev
