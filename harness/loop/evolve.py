"""Self-evolving training: for each iteration, Generate -> Reward -> Select -> Improve -> Monitor -> checkpoint.

The loop in `evolve` reads like the paper's section 2; what differs between training methods is
only what carries over (harness.train.methods), and everything per step is one function here.
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import socket
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from harness import distributed
from harness.config import RunConfig
from harness.data.datasets import Record, short_answer
from harness.data.eval_sets import load_benchmark
from harness.data.splits import load_splits, seeded_sample
from harness.evaluation.evaluate import prompts_of, score
from harness.evaluation.run_eval import evaluate_run
from harness.io import atomic_write_json, read_json
from harness.loop.dynamics import ValSamples, measure, monitor_rows
from harness.loop.rundir import RunDir, run_path
from harness.loop.temperature import TEMPERATURE_POLICIES
from harness.model.adapters import Prompt
from harness.model.strategy import load_policy
from harness.reward.answers import exact_match_reward
from harness.reward.models import load_reward_model, response_scores
from harness.reward.selection import correct_responses, false_positives, select_query
from harness.reward.steps import answer_line
from harness.reward.unlabeled import mixin_slices
from harness.reward.unlabeled_modes import UNLABELED_MODES
from harness.rollout.engine import RolloutEngine, open_engine
from harness.rollout.settings import SamplingSettings, evaluation, sampling
from harness.rollout.sharded import greedy, sample
from harness.seeds import derive_seed
from harness.stages.graph import Inputs, prepare
from harness.train import checkpoint
from harness.train.methods import GOLD, METHODS, Method
from harness.train.sft import Example, make_optimizer, train_epoch
from harness.world.oracle import reasoning_correct

console = logging.getLogger("harness")
ROLLOUTS = "rollouts"  # the run folder's record of an unfinished iteration: rollout batches, its selection


@dataclass
class Plan:
    """Which labeled queries each iteration traverses: `passes` x N queries in total, whatever the interval."""

    n: int              # labeled queries
    per_iteration: int  # queries per iteration (interval x N)
    total: int          # queries over the whole run (passes x N)
    seed: int

    @classmethod
    def make(cls, n: int, interval: float, passes: float, seed: int) -> "Plan":
        return cls(n, max(1, round(interval * n)), max(1, round(passes * n)), seed)

    @property
    def iterations(self) -> int:
        return math.ceil(self.total / self.per_iteration)

    def queries(self, t: int) -> list[int]:
        """Indices of iteration t's queries: a fresh seeded permutation of the data each pass."""
        start, stop = t * self.per_iteration, min((t + 1) * self.per_iteration, self.total)
        perms: dict[int, list[int]] = {}
        out = []
        for pos in range(start, stop):
            p = pos // self.n
            if p not in perms:
                perms[p] = list(range(self.n))
                random.Random(derive_seed(self.seed, "pass", p)).shuffle(perms[p])
            out.append(perms[p][pos % self.n])
        return out


def generate(engine: RolloutEngine, settings: SamplingSettings, queries: list[Record], store: Path | None = None,
             every: int = 1) -> list[list[str]]:
    """K responses per query with the chain-of-thought prompt (every rank samples its share; finished batches
    go to `store` every `every` batches, so a restarted Generate step goes on from them)."""
    return sample(engine, prompts_of(queries), settings, "rollouts", store, every)


def gold_answer(rec: Record, responses: list[str], scores: dict[str, float] | None, mode: str) -> str | None:
    """The answer a query's responses are checked against: its label, or the unlabeled mode's (harness.reward.
    unlabeled_modes: the withheld one, a pseudo label)."""
    if rec.answer is not None:
        return rec.answer
    return UNLABELED_MODES.get(mode).gold(rec, responses, scores)


def reward(responses: list[list[str]], queries: list[Record], golds: list[str | None]) -> list[list[float | None]]:
    """Binary exact-match reward against each query's gold (or pseudo) answer."""
    return [exact_match_reward(resps, **rec.reward_fields(answer=g)) if g is not None else [None] * len(resps)
            for resps, rec, g in zip(responses, queries, golds)]


def reward_model_scores(rm, cfg: RunConfig, queries: list[Record], responses: list[list[str]],
                        rewards: list[list[float | None]]) -> list[dict[str, float] | None]:
    """Reward-model scores of the distinct responses that can matter: all of an unlabeled query's (they
    weight its vote), the correct ones of a labeled query."""
    if rm is None:
        return [None] * len(queries)
    wanted = [resps if rec.answer is None else correct_responses(resps, rews, dedup=True)  # scored once per string
              for rec, resps, rews in zip(queries, responses, rewards)]
    return response_scores(rm, cfg.reward_model.aggregate, queries, wanted)


def select(responses, rewards, scores, queries: list[Record], cfg: RunConfig, seed: int,
           gold: bool = False) -> tuple[list[Example], dict]:
    """The correct responses of each query (de-duplicated with select.dedup), chosen by the H operator and
    capped at select.max_per_query; with selection statistics. With `gold`, each chosen response is replaced
    by the query's gold solution (the gold_sft control: the same examples per query, perfect reasoning)."""
    rng = random.Random(seed)
    examples, kept_per_query, verdicts = [], [], []
    for resps, rews, sc, rec in zip(responses, rewards, scores, queries):
        kept, correct = select_query(resps, rews, sc, cfg.select, rng)
        kept_per_query.append((len(kept), correct))
        for resp in kept:
            resp = gold_solution(rec) if gold else resp
            examples.append(Example(Prompt(rec.question, rec.image, cot=True), resp))
            verdicts.append(reasoning_correct(resp, rec))
    labeled = [rews for rews, rec in zip(rewards, queries) if rec.answer is not None]  # pseudo rewards aside
    flat = [x or 0.0 for rews in labeled for x in rews]
    with_correct = [(k, c) for k, c in kept_per_query if c]
    judged, wrong = false_positives(verdicts)
    stats = {"reward_mean": _mean(flat), "pass_at_k": _mean([float(any(x == 1.0 for x in r)) for r in labeled]),
             "ungradable": sum(x is None for rews in labeled for x in rews),  # judging failed: counted, never fatal
             "selected": len(examples), "selected_false_positive_rate": wrong / judged if judged else None,
             # the paper's diagnosis of the threshold operator: it keeps all or none of a query's responses
             "all_or_none_share": _mean([float(k in (0, c)) for k, c in with_correct])}
    return examples, stats


def gold_solution(rec: Record) -> str:
    if not rec.solution:
        raise ValueError(f"record {rec.id} has no gold solution: method.kind=gold_sft needs the embedded world")
    return "\n".join(rec.solution)


def pseudo_label_stats(queries: list[Record], golds: list[str | None]) -> dict:
    """How often pseudo labels of unlabeled queries match the withheld answers (when known)."""
    pairs = [(rec, g) for rec, g in zip(queries, golds) if rec.answer is None and rec.oracle_answer is not None]
    if not pairs:
        return {}
    right = [g is not None and exact_match_reward([answer_line(g)], **rec.reward_fields(answer=rec.oracle_answer))[0] == 1.0
             for rec, g in pairs]
    return {"unlabeled_queries": len(pairs), "pseudo_label_accuracy": _mean(map(float, right))}


def judge(rm, cfg: RunConfig, queries: list[Record], responses: list[list[str]]) -> list[tuple]:
    """(rewards, reward-model scores, gold answer) of each query's responses."""
    rewards = reward(responses, queries, [rec.answer for rec in queries])  # unlabeled rows wait for their gold
    scores = reward_model_scores(rm, cfg, queries, responses, rewards)
    golds = [gold_answer(rec, resps, sc, cfg.unlabeled.mode) for rec, resps, sc in zip(queries, responses, scores)]
    rewards = [rews if rec.answer is not None else reward([resps], [rec], [g])[0]
               for rews, resps, rec, g in zip(rewards, responses, queries, golds)]
    return list(zip(rewards, scores, golds))


def generate_reward_select(engine: RolloutEngine, cfg: RunConfig, settings: SamplingSettings, rm, queries: list[Record],
                           t: int, store: Path | None = None, gold: bool = False) -> tuple[list[Example], dict]:
    """Iteration t's training examples from the policy's own samples (drawn with `settings`), with selection
    statistics. Every rank samples and judges its share of the queries; with the shares gathered, every rank
    selects the same examples."""
    responses = generate(engine, replace(settings, seed=derive_seed(cfg.seed, t, "generate")), queries, store,
                         cfg.checkpoint.rollout_batches)
    judged = distributed.map_shards(lambda idx: judge(rm, cfg, [queries[i] for i in idx], [responses[i] for i in idx]),
                                    list(range(len(queries))))
    rewards, scores, golds = (list(x) for x in zip(*judged)) if judged else ([], [], [])
    examples, sel = select(responses, rewards, scores, queries, cfg, derive_seed(cfg.seed, t, "select"), gold)
    return examples, {**sel, **pseudo_label_stats(queries, golds)}


def given_answers(queries: list[Record]) -> list[Example]:
    """The labeled conversations as given (the paper's SFT baseline): plain question -> short answer."""
    return [Example(Prompt(rec.question, rec.image, cot=False), short_answer(rec.answer, rec.choices)) for rec in queries]


def val_greedy(engine: RolloutEngine, cfg: RunConfig, settings: SamplingSettings, val: list[Record], cot: bool) -> dict:
    """Greedy accuracy on the whole validation split."""
    if not cfg.monitor.greedy:
        return {}
    resp = greedy(engine, prompts_of(val, cot), evaluation(settings, cfg), desc="val")
    return {"val_greedy_accuracy": _mean(score(resp, val))}


def val_samples(engine: RolloutEngine, cfg: RunConfig, settings: SamplingSettings, val: list[Record],
                version: int) -> ValSamples | None:
    """Samples of the policy after `version` Improve steps, shared by the monitor and the temperature policy."""
    if not cfg.monitor.temperatures and not TEMPERATURE_POLICIES.get(cfg.temperature.policy).probes:
        return None
    m = cfg.monitor
    return ValSamples(engine, val[: m.queries or None], replace(settings, k=m.samples),
                      lambda temp: derive_seed(cfg.seed, "val", version, temp))


def dynamics(vs: ValSamples | None, rm, cfg: RunConfig, iteration: int, seen: int) -> list[dict]:
    """Monitor rows (greedy, Pass@K, gap, Reward-Pass@2 per temperature) for metrics.jsonl."""
    if vs is None or not cfg.monitor.temperatures:
        return []
    return monitor_rows(vs, cfg.monitor.temperatures, rm, cfg.reward_model.aggregate,
                        {"iteration": iteration, "queries_seen": seen})


def choose_temperature(t: int, current: float, vs: ValSamples | None, rm, cfg: RunConfig) -> tuple[float, dict]:
    probe = lambda temp: measure(vs, cfg.temperature.metric, temp, rm, cfg.reward_model.aggregate)  # noqa: E731
    return TEMPERATURE_POLICIES.get(cfg.temperature.policy).decide(t, current, cfg.temperature, probe)


def _mean(xs) -> float | None:
    xs = list(xs)
    return round(sum(xs) / len(xs), 4) if xs else None


def carry_over(method: Method, model, adapter, opt, sched, cfg: RunConfig, pi0: Path):
    """What iteration t+1 starts from: pi_t or pi_0; the running optimizer + LR schedule or fresh ones."""
    if not method.keeps_model:
        model, adapter = load_policy(pi0, cfg)
    if not method.keeps_optimizer:
        opt, sched = make_optimizer(model, cfg.method.optim)
    return model, adapter, opt, sched


def evolve(cfg: RunConfig, settings: SamplingSettings, inputs: Inputs, splits: dict[str, list[Record]], rd: RunDir,
           log: logging.Logger, engine: RolloutEngine):
    """Run (or resume) every iteration of the plan from pi_0, the policy `engine` holds; returns the final (model,
    adapter), which the engine then holds. The engine sleeps through each Improve step and gets the trained weights
    after it (harness/rollout/engine.py).

    Under torchrun every rank runs this loop and ends each step with the same weights: each samples and judges
    its share of the queries (gathered, so all select the same examples), trains its share of every global batch
    and monitors its share of the validation queries; rank 0 writes the files. A checkpoint comes after every
    iteration and, with checkpoint.every_steps, inside the Improve step (the iteration's selection is then kept
    in the run folder, so a resumed run goes on with the same examples)."""
    main = distributed.is_main()
    method: Method = METHODS.get(cfg.method.kind)
    labeled, val = splits["labeled"], splits["val"]
    plan = Plan.make(len(labeled), cfg.method.interval, cfg.method.passes, cfg.seed)
    unlabeled = splits["unlabeled"] if UNLABELED_MODES.get(cfg.unlabeled.mode).mixes_in else []
    mixin = mixin_slices(len(unlabeled), plan.iterations, cfg.unlabeled.mixin, derive_seed(cfg.seed, "unlabeled"))
    rm = load_reward_model(cfg.reward_model.kind, inputs.prm, cfg.model)
    pi0 = inputs.warmup / "model"
    model, adapter = engine.model, engine.adapter  # a checkpoint holds only the trainable weights: the rest are pi_0's
    opt, sched = make_optimizer(model, cfg.method.optim)
    start, seen, temperature, progress = 0, 0, cfg.rollout.temperature, None
    if ckpt := checkpoint.latest(rd.path):
        state = checkpoint.load(ckpt, model, opt, sched)
        engine.update_weights(model, adapter)
        start, seen, temperature = state["iteration"], state["queries_seen"], state.get("temperature", temperature)
        progress = state.get("improve")  # taken inside iteration start + 1's Improve step
        if main:
            rd.truncate_metrics(start)
        log.info("resuming after iteration %d/%d%s", start, plan.iterations,
                 f", Improve step {progress['step']}" if progress else "")
    vs = val_samples(engine, cfg, settings, val, start)
    if start == 0 and progress is None:
        rows = dynamics(vs, rm, cfg, 0, 0)  # pi_0, before self-evolution
        if main:
            rd.add_metrics(rows)
    for t in range(start, plan.iterations):
        t0 = time.time()
        folder = rd.path / ROLLOUTS / f"iteration-{t + 1}"
        if progress is None:
            if t > 0:  # iteration 1 starts from pi_0 and a fresh optimizer whatever the method
                model, adapter, opt, sched = carry_over(method, model, adapter, opt, sched, cfg, pi0)
            if model is not engine.model:  # ReST-EM restarted from pi_0
                engine.update_weights(model, adapter)
                vs = val_samples(engine, cfg, settings, val, 0)
            temperature, probe = choose_temperature(t, temperature, vs, rm, cfg)
            queries = [labeled[i] for i in plan.queries(t)] + [unlabeled[i] for i in mixin[t]]
            if method.samples:
                store = folder / f"generate-T{temperature:g}" if cfg.checkpoint.rollout_batches else None
                examples, sel = generate_reward_select(engine, cfg, replace(settings, temperature=temperature),
                                                       rm, queries, t, store, gold=method.responses == GOLD)
            else:
                examples, sel = given_answers(queries), {}
            if main and cfg.checkpoint.every_steps:
                save_selection(folder, examples, sel, probe, temperature)
        else:
            examples, sel, probe, temperature = load_selection(folder)

        def save_progress(p: dict) -> None:  # a checkpoint inside the Improve step
            if p["step"] % cfg.checkpoint.every_steps == 0:
                checkpoint.save(rd.path, model, adapter.processor, opt, sched, {
                    "iteration": t, "queries_seen": seen, "temperature": temperature, "improve": p}, export=False)

        engine.sleep()  # its device memory goes to training
        fit = train_epoch(model, adapter, opt, sched, examples, cfg.method.optim, derive_seed(cfg.seed, t, "sft"),
                          desc=f"improve {t + 1}/{plan.iterations}", micro_batch_size=cfg.train.micro_batch_size,
                          progress=progress, after_step=save_progress if cfg.checkpoint.every_steps else None)
        engine.update_weights(model, adapter)
        engine.wake()
        progress = None
        seen += len(plan.queries(t))
        vs = val_samples(engine, cfg, settings, val, t + 1)
        row = {"iteration": t + 1, "queries_seen": seen, "train_loss": fit["loss"], "sft_steps": fit["steps"],
               "accumulation_steps": fit.get("accumulation_steps"), "lr": sched.get_last_lr()[0],
               "temperature": temperature, **probe, **sel, **val_greedy(engine, cfg, settings, val, method.cot)}
        rows = [*dynamics(vs, rm, cfg, t + 1, seen), {**row, "seconds": round(time.time() - t0, 1)}]
        if main:
            rd.add_metrics(rows)
        checkpoint.save(rd.path, model, adapter.processor, opt, sched,
                        {"iteration": t + 1, "queries_seen": seen, "temperature": temperature})
        if main:
            shutil.rmtree(rd.path / ROLLOUTS, ignore_errors=True)  # the checkpoint covers them now
            rd.set_status("running", iteration=t + 1, iterations=plan.iterations)
            log.info(_summary(row, plan.iterations))
    return model, adapter


def save_selection(folder: Path, examples: list[Example], sel: dict, probe: dict, temperature: float) -> None:
    """An iteration's selected examples and statistics, for a resume inside its Improve step."""
    atomic_write_json(folder / "selection.json", {
        "examples": [{**asdict(e.prompt), "image": str(e.prompt.image), "response": e.response} for e in examples],
        "stats": sel, "probe": probe, "temperature": temperature})


def load_selection(folder: Path) -> tuple[list[Example], dict, dict, float]:
    saved = read_json(folder / "selection.json")
    examples = []
    for e in saved["examples"]:
        response = e.pop("response")
        examples.append(Example(Prompt(**{**e, "image": Path(e["image"])}), response))
    return examples, saved["stats"], saved["probe"], saved["temperature"]


def _summary(row: dict, iterations: int) -> str:
    parts = [f"iter {row['iteration']}/{iterations}", f"queries {row['queries_seen']}"]
    for key, name in [("temperature", "T"), ("pass_at_k", "pass@K"), ("selected", "selected"), ("train_loss", "loss"),
                      ("val_greedy_accuracy", "val greedy"), ("selected_false_positive_rate", "fp rate"),
                      ("seconds", "s")]:
        if row.get(key) is not None:
            parts.append(f"{name} {row[key]:.3f}" if isinstance(row[key], float) else f"{name} {row[key]}")
    return " | ".join(parts)


def run(cfg: RunConfig, label: str | None = None) -> Path:
    """Run (or resume, or skip if finished) one configured run; returns its folder. Under torchrun every rank
    calls this: rank 0 builds the shared stages while the others wait, then all run the loop and the evaluation
    together (see `evolve`); rank 0 alone writes the run folder."""
    with distributed.process_group():
        label = label or f"{cfg.method.kind} seed {cfg.seed}"
        rd = RunDir(run_path(cfg, label))
        if rd.status()["state"] == "done":
            console.info("%s: already done (%s)", label, rd.path)
            return rd.path
        main = distributed.is_main()
        log = _start(cfg, label, rd) if main else console
        try:
            inputs = _shared_stages(cfg)
            if main:
                atomic_write_json(rd.path / "inputs.json", {k: str(v) if v else None for k, v in vars(inputs).items()})
            splits = run_splits(cfg, load_splits(inputs.data))  # read once: the loaders verify every image
            settings = sampling(cfg)  # how this run samples; its steps take it with their own values replaced
            # one rollout engine on this rank for the whole run: Generate, monitor, probe and evaluation
            created = RolloutEngine.created
            with open_engine(cfg.rollout, *load_policy(inputs.warmup / "model", cfg)) as engine:
                evolve(cfg, settings, inputs, splits, rd, log, engine)
                result = final_evaluation(cfg, settings, inputs, splits, engine, rd.path)
            engines = distributed.gather(RolloutEngine.created - created)
            if main:
                rd.write_eval(result)
                log.info("rollout engines created per rank: %s (%s)", engines, cfg.rollout.backend)
                rd.set_status("done")
                ev, warm = result["final"], result["warmup"]
                log.info("done: test_id %.3f, test_ood %.3f (warm-up %.3f, %.3f)", ev["test_id"]["accuracy"],
                         ev["test_ood"]["accuracy"], warm["test_id"]["accuracy"], warm["test_ood"]["accuracy"])
        except BaseException as exc:
            if main:
                rd.fail(exc)
            raise
        return rd.path


def run_splits(cfg: RunConfig, splits: dict[str, list[Record]]) -> dict[str, list[Record]]:
    """The splits as a run sees them: on the embedded world, the labeled split cut to world.train_queries."""
    if cfg.data.path:
        return splits
    return {**splits, "labeled": seeded_sample(splits["labeled"], cfg.world.train_queries,
                                               f"train-queries/{cfg.world.seed}")}


def _start(cfg: RunConfig, label: str, rd: RunDir) -> logging.Logger:
    rd.init(cfg, label)
    rd.set_status("running", pid=os.getpid(), host=socket.gethostname(), error=None, traceback=None)
    return rd.logger()


def _shared_stages(cfg: RunConfig) -> Inputs:
    """Rank 0 builds the shared stages as a single process while any other ranks wait; then they read them."""
    if distributed.is_main():
        with distributed.alone():
            inputs = prepare(cfg)
    distributed.barrier()
    return inputs if distributed.is_main() else prepare(cfg)


def final_evaluation(cfg: RunConfig, settings: SamplingSettings, inputs: Inputs, splits: dict, engine: RolloutEngine,
                     run: Path) -> dict:
    """eval.json (on rank 0; collective): the final model (the one `engine` holds), pi_0 and the base model on the
    test splits and benchmarks, decoded greedily at the evaluation's batch size, every response kept under the run
    folder."""
    images = Path(cfg.results_dir) / "_stages" / "images"  # decoded benchmark images (datasets are only read)
    benchmarks = {name: load_benchmark(name, path, images) for name, path in cfg.data.benchmarks.items()}
    return evaluate_run(cfg, evaluation(settings, cfg), inputs.warmup, Path(inputs.base), splits, benchmarks,
                        engine, run)
