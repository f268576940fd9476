"""The run config schema: the single source of truth for every default, one doc line per field.

A YAML file plus `key=value` overrides is loaded strictly into `RunConfig` (harness.configio):
unknown keys, wrong types, out-of-range values and conflicting fields are all reported at once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.configio import ConfigError, deep_merge, from_dict, load_yaml, parse_overrides, spec, to_dict
from harness.data.eval_sets import BENCHMARKS
from harness.loop.metrics import METRICS
from harness.loop.temperature import TEMPERATURE_POLICIES
from harness.model.families import checkpoint_problem
from harness.reward.models import AGGREGATIONS, REWARD_MODELS
from harness.reward.operators import OPERATORS
from harness.reward.unlabeled_modes import UNLABELED_MODES
from harness.rollout.backends import BACKENDS
from harness.train.methods import METHODS

FAMILIES = ["chart", "geometry", "word_problem", "arrow_diagram", "counting"]
ANSWER_SPACES = ["narrow", "wide"]  # world.answers: harness/world/problems.py draws them
# The longest gold solution of world.answers=wide with a note step and EOS, in characters (229 measured: a walk over
# five "magenta triangle"-style options), what model.tokenizer=char needs of model.max_new_tokens.
WIDE_CHAR_TOKENS = 240


@dataclass
class WorldSizes:
    """Number of generated records per split of the embedded world."""

    labeled: int = spec(800, "labeled training queries (MathV360K-style, answers given)", ge=1)
    unlabeled: int = spec(800, "unlabeled queries (answers withheld; kept only as oracle skyline)", ge=0)
    val: int = spec(250, "validation queries, for monitoring during training", ge=1)
    test_id: int = spec(750, "in-distribution test queries (MathV360K-style)", ge=1)
    test_ood: int = spec(500, "out-of-distribution test (MathVista-style testmini)", ge=1)


@dataclass
class WorldConfig:
    """The embedded synthetic visual-math world (used when data.path is not set)."""

    seed: int = spec(0, "seed of the generated data; fixed across run seeds so runs share it", ge=0)
    families: list[str] = spec(list(FAMILIES), "problem families, one per MathVista task type")
    # Wide is the default since issue 20: on narrow a blind guesser's Pass@16 on val is 0.87, on wide 0.50.
    answers: str = spec("wide", "answer spaces: wide (a tenth multi-choice with 2-5 options, objects named from 8 "
                                "colours x 3 shapes, products and three-term sums) | narrow (the world before issue "
                                "20: half multi-choice with 4 options, 4 colours, small integers)",
                        choices=ANSWER_SPACES)
    sizes: WorldSizes = spec(WorldSizes(), "records per split")
    base_corpus: int = spec(30000, "size of the base model's pre-training corpus, generated apart from the splits", ge=1)
    # A run's budget, not the data: outside the data and base stages' keys (harness/stages/graph.py), so the released
    # base and the warm-up stay. Not cut by default: at 400 a default run took 83 s instead of ~130 s, and the
    # controls went blind (3 seeds: positive control +0.8 +- 4.6 test_id points, against +7.2 +- 4.4 at 800).
    train_queries: int = spec(0, "labeled queries a run trains on: a sample of the labeled split fixed by world.seed, "
                                 "the same for every run seed and method; 0 = the whole split. A quicker, weaker run: "
                                 "the warm-up and PRM stages still use the whole split", ge=0)

    def check(self):
        bad = [f for f in self.families if f not in FAMILIES]
        if bad:
            return [("families", f"unknown families {bad}; choose from {FAMILIES}")]
        return [] if self.families else [("families", "at least one family is needed")]


@dataclass
class DataConfig:
    """Where the datasets come from."""

    path: str | None = spec(None, "folder with mathv360k/{labeled,unlabeled,val,test_id}.json and "
                                  "mathvista/testmini.json; null = the embedded world")
    benchmarks: dict[str, str] = spec({}, "more test sets evaluated for pi_0 and the final model: name -> local path "
                                          "(mathvista, m3cot, mmstar, mmstar_r, mmbench, mmbench_r, ai2d)")
    # Images are decoded a batch at a time; the cache keeps recently used ones (a training pass revisits them).
    image_cache_mb: int = spec(1024, "decoded images kept in memory per process (least recently used dropped "
                                     "first), in MiB", ge=0)

    def check(self):
        return [(f"benchmarks.{name}", BENCHMARKS.unknown_message(name))
                for name in self.benchmarks if name not in BENCHMARKS]


# Embedded model sizes (hidden size, layers, heads) for the paper's three policy models (Tables 4-5).
MODEL_PRESETS = {"small": (96, 4, 4), "medium": (128, 4, 4), "large": (192, 6, 6)}
# A preset's own base recipe where the shared one (BaseConfig) leaves it under-trained, chosen by the base corpus's
# training loss in its last pass (issue 20; world seed 0, 10,000 steps): at base.optim.lr=2e-3 small 0.122,
# medium 0.169, large 0.587 (its pi_0 reasoned no val query right in 16 samples); large at 1e-3: 0.103.
# Keys set in a config or on the command line win.
PRESET_BASE = {"large": {"optim": {"lr": 1e-3}}}


@dataclass
class ModelConfig:
    """The policy model."""

    path: str | None = spec(None, "local HF image-text-to-text checkpoint; null = the embedded tiny VLM")
    preset: str | None = spec(None, "embedded model size standing in for the paper's three models: small (~0.5M "
                                    "params), medium (~0.9M), large (~2.8M); sets the three fields below, and large "
                                    "its own base learning rate unless base.optim.lr is set",
                              choices=[None, *MODEL_PRESETS])
    hidden_size: int = spec(128, "embedded model width", ge=16)
    num_hidden_layers: int = spec(4, "embedded model depth", ge=1)
    num_attention_heads: int = spec(4, "embedded model attention heads", ge=1)
    # 96 cut a third of the textbook multi-choice gold solutions (half of them out of distribution) before
    # their answer line; the longest gold solution with a 'note:' step and EOS is 161 characters.
    max_new_tokens: int = spec(168, "longest response sampled, in tokens", ge=1)
    tokenizer: Literal["char", "subword"] = spec(
        "subword", "embedded model's tokenizer: subword (BPE pieces learned from the base corpus, digits kept single: "
                   "~2.4x fewer tokens per gold solution than char) | char (one token per character)")
    threads: int = spec(2, "torch CPU threads", ge=1)
    dtype: Literal["float32", "bfloat16", "float16"] = spec(
        "float32", "compute dtype of the policy (bfloat16 on GPUs); weights, gradients and optimizer states stay "
                   "float32 (master weights)")
    gradient_checkpointing: bool = spec(False, "recompute activations in the backward pass: less memory, slower steps")
    freeze_vision: bool = spec(False, "freeze the vision tower; train the projector and the language model")
    lora_rank: int = spec(0, "LoRA rank on the language model's linear layers; 0 = full fine-tuning (needs the "
                             "[lora] extra)", ge=0)
    lora_alpha: float = spec(16.0, "LoRA alpha: adapter updates are scaled by alpha / rank", gt=0)
    trust_remote_code: bool = spec(False, "run a checkpoint's own modelling code (families not in transformers)")
    device: str = spec("auto", "where the policy runs: auto (this process's GPU if any, else cpu), cpu, cuda, cuda:1")

    def __post_init__(self):
        if self.preset in MODEL_PRESETS:
            self.hidden_size, self.num_hidden_layers, self.num_attention_heads = MODEL_PRESETS[self.preset]

    def check(self):
        problems = []
        if self.hidden_size % self.num_attention_heads:
            problems.append(("num_attention_heads", f"must divide hidden_size={self.hidden_size}"))
        if self.path and (problem := checkpoint_problem(self.path)):
            problems.append(("path", problem))  # a remote-code family no adapter can drive: refused before any work
        return problems


@dataclass
class OptimConfig:
    """AdamW fine-tuning of the policy."""

    lr: float = spec(3e-4, "peak learning rate", gt=0)
    batch_size: int = spec(32, "global batch: sequences per optimizer step over all ranks (the paper: 128)", ge=1)
    warmup_steps: int = spec(10, "linear LR warm-up steps of each new scheduler", ge=0)
    schedule: Literal["constant", "cosine"] = spec(
        "constant", "after warm-up: constant (the paper's self-evolution) or cosine decay to 0 over the stage")
    weight_decay: float = spec(0.0, "AdamW weight decay", ge=0)
    grad_clip: float = spec(1.0, "max gradient norm", gt=0)


@dataclass
class BaseConfig:
    """Brief pre-training of the embedded tiny VLM (embedded world only)."""

    # 3,600 steps of batch 8 left the image unread (CoT val 0.21); 10,000 read it but left multi-choice
    # at chance; 10,000 of batch 16 (~5 passes over the corpus, 26 min on 2 cores with char tokens, ~9 with
    # subword) reaches CoT val 0.76, and half of it only 0.43 (issue 2's notes; benchmarks/mc_format.py
    # --steps 5000). On the wide world 5,000 steps leave pi_0's 16 samples with fewer correctly reasoned
    # queries than its greedy answers (val 0.15 vs 0.17; benchmarks/README.md, headroom).
    steps: int = spec(10000, "optimizer steps on the base corpus", ge=1)
    # 2 cores are compute-bound (~90 examples/s at batch 8 or 32), so minutes scale with steps x batch.
    # Cosine decay at a higher peak rate raised the base model's CoT validation accuracy 0.164 -> 0.212.
    optim: OptimConfig = spec(OptimConfig(lr=2e-3, batch_size=16, warmup_steps=100, schedule="cosine"), "optimizer")
    caption_fraction: float = spec(0.2, "share of corpus examples that describe the image (perception, like an LMM's alignment data)", ge=0, le=1)
    # Headroom like the paper's starting point (issue 20): every CoT example shows its answer, so the base learns
    # to rationalise a given answer and to answer directly, not to solve in CoT on its own. On the wide world with
    # subword tokens (benchmarks/headroom.py, test_id) greedy CoT is 0.13 and the warm-up lifts it to 0.22; the
    # previous recipe (0.7, 0.3) starts at 0.62 and the warm-up lowers it (0.57).
    cot_fraction: float = spec(0.5, "share of the other examples with the CoT instruction and a gold solution (the rest answer directly)", ge=0, le=1)
    hint_fraction: float = spec(1.0, "share of CoT examples that also show the answer in the prompt", ge=0, le=1)
    distractor_rate: float = spec(0.3, "chance a gold solution carries an answer-irrelevant 'note:' step", ge=0, le=1)
    # Not part of the stage's key when true (HASH_NEUTRAL): a released base is the stage of its key, copied.
    released: bool = spec(True, "start from the pre-trained base shipped with the harness when one has this config's base "
                                "stage key (the default recipe's and each preset's do: harness/stages/released/); false "
                                "= pre-train it here, into a stage folder of its own key")


# Correct rationales a warm-up query yields, planned low: a real model may solve few queries, and
# sampling K for all 180K labeled queries to keep 2,400 rationales would waste ~97% of the warm-up's generation.
WARMUP_EXPECTED_YIELD = 0.5


@dataclass
class WarmupConfig:
    """Rationalisation warm-up: sample CoT given (question, image, answer), keep correct, SFT -> pi_0."""

    samples_per_query: int = spec(16, "K responses per labeled query", ge=1)
    temperature: float = spec(1.0, "sampling temperature", gt=0)
    max_examples: int = spec(2400, "N correct rationales kept for SFT (sampled)", ge=1)
    dedup: bool = spec(False, "drop identical correct rationales of a query before sampling N (the paper keeps "
                              "every correct one, then samples N)")
    max_per_query: int | None = spec(None, "at most this many correct rationales per query; null = no cap "
                                           "(the paper's)", ge=1)
    queries: int = spec(0, "labeled queries sampled for rationales (a seeded sample); 0 = enough for max_examples at "
                           f"{WARMUP_EXPECTED_YIELD} rationales per query, capped by the labeled split", ge=0)
    epochs: int = spec(2, "SFT epochs over the kept rationales", ge=1)
    optim: OptimConfig = spec(OptimConfig(lr=5e-4, batch_size=8), "optimizer")

    def query_count(self, labeled: int) -> int:
        """How many labeled queries the warm-up samples from (all of a small split: the embedded world's)."""
        wanted = self.queries or math.ceil(self.max_examples / WARMUP_EXPECTED_YIELD)
        return min(wanted, labeled)


@dataclass
class VLLMConfig:
    """The vLLM rollout engine (rollout.backend=vllm): created once per run and rank, colocated with the trainer,
    asleep during each Improve step and updated in place after it (harness/rollout/vllm.py). How it executes, not
    what a run computes: these keys leave run folders where they are."""

    gpu_memory_utilization: float = spec(0.5, "share of one GPU the engine reserves for its weights and KV cache while "
                                              "awake (the trainer's weights and optimizer stay resident beside it)",
                                         gt=0, le=1)
    max_model_len: int | None = spec(None, "longest prompt + response in tokens the engine plans its KV cache for; "
                                           "null = the model's own limit", ge=1)
    tensor_parallel_size: int = spec(1, "GPUs one engine spans: that many torchrun ranks share one engine (it must "
                                        "divide the ranks; one process: 1)", ge=1)
    trust_remote_code: bool = spec(False, "let vLLM run a checkpoint's own modelling code (the trainer never does: "
                                          "harness/model/families.py)")
    enforce_eager: bool = spec(False, "no CUDA graphs: less memory and a quicker start, slower decoding")
    sleep_level: int = spec(1, "during the Improve step: 1 = weights offloaded to host RAM and KV cache freed, "
                               "2 = both discarded (weights are pushed again after the step anyway)", choices=[1, 2])


@dataclass
class RolloutConfig:
    """Sampling responses during self-evolution."""

    backend: str = spec("hf", "rollout backend: hf (everywhere) or vllm (GPU)", choices=BACKENDS)
    samples_per_query: int = spec(16, "K responses per query", ge=1)
    temperature: float = spec(1.0, "sampling temperature", gt=0)
    batch_sequences: int = spec(512, "sequences decoded together in one forward", ge=1)
    vllm: VLLMConfig = spec(VLLMConfig(), "the vLLM engine (rollout.backend=vllm)")


@dataclass
class SelectConfig:
    """The paper's H operator: which distinct correct responses of a query are trained on."""

    operator: str = spec("all", "all | random (k) | top_k (k best by reward model) | threshold (score > alpha) | "
                                "below_threshold (score <= alpha: the negative control, not a method)",
                         choices=OPERATORS)
    k: int = spec(2, "responses kept per query by random and top_k", ge=1)
    alpha: float = spec(0.2, "threshold: keep responses whose reward-model score is above it (paper: 0.2)")
    dedup: bool = spec(False, "drop identical correct responses of a query before H chooses; the paper's Improve "
                              "step keeps every correct one (it de-duplicates only PRM training data)")
    max_per_query: int | None = spec(None, "at most this many responses of a query are trained on, after H; "
                                           "null = no cap (the paper's)", ge=1)


@dataclass
class RewardModelConfig:
    """The process reward model scoring each response (step scores aggregated to one number)."""

    kind: str = spec("none", "none | prm (learned from Monte-Carlo rollouts, a shared stage) | oracle (the embedded "
                             "world's exact step checker: the upper bound)", choices=REWARD_MODELS)
    aggregate: str = spec("min", "step scores -> response score (the paper: min)", choices=AGGREGATIONS)


@dataclass
class PRMConfig:
    """Training the process reward model: pi_hat_0 -> Monte-Carlo step labels -> backbone + linear head."""

    policy_epochs: int = spec(2, "pi_hat_0 = pi_0 trained this many more epochs on the warm-up rationales", ge=0)
    questions: int = spec(800, "labeled questions sampled for PRM data (at most the labeled split)", ge=1)
    samples_per_query: int = spec(16, "K responses per question", ge=1)
    max_per_query: int = spec(4, "distinct responses kept per question", ge=1)
    responses: int = spec(400, "responses labeled after balancing correct:wrong 1:1 and multi-choice:free-form 1:1", ge=4)
    completions: int = spec(8, "N completions from each step prefix; step label = share reaching the gold answer", ge=1)
    temperature: float = spec(1.0, "temperature of responses and completions", gt=0)
    epochs: int = spec(3, "PRM training epochs (MSE on every response token)", ge=1)
    holdout: float = spec(0.1, "share of labeled responses held out to measure the PRM's MSE", ge=0, lt=1)
    freeze_vision: bool = spec(True, "freeze the vision encoder while training the PRM (the paper's choice)")
    optim: OptimConfig = spec(OptimConfig(lr=5e-4, batch_size=8), "optimizer")
    verifier_samples: int = spec(16, "responses of pi_0 per validation question for the verifier analysis (Fig. 2)", ge=1)
    controls: bool = spec(True, "also train PRMs on the oracle's exact step labels and on shuffled labels, and score the "
                                "verifier samples by their own Monte-Carlo labels (the ceiling): verifier/ compares all")
    ceiling_completions: int = spec(4, "completions per step prefix when Monte-Carlo labelling the verifier samples "
                                       "(the ceiling scorer; its cost grows with it)", ge=1)


@dataclass
class UnlabeledConfig:
    """Unlabeled prompts mixed into self-evolution (the paper's section 3.4)."""

    mode: str = spec("none", "none | pseudo (weighted-vote pseudo label, weights = reward-model scores) | oracle (the "
                             "withheld true answers: the skyline)", choices=UNLABELED_MODES)
    mixin: float = spec(0.0, "fraction of training after which unlabeled prompts join", ge=0, lt=1)


@dataclass
class MethodConfig:
    """How self-evolution carries state across iterations."""

    kind: str = spec("continuous", "sft | iterative_rft (keep model) | restem (restart from pi_0) | continuous "
                                   "(keep model + optimizer + LR schedule) | gold_sft (a control: continuous on gold "
                                   "solutions)", choices=METHODS)
    interval: float = spec(0.25, "fraction of the labeled queries per iteration", gt=0, le=1)
    # 2 passes: at interval 1.0 iterative RFT, ReST-EM and continuous then run two iterations and differ (with one
    # they are the same run three times); 1.0 halves the cost of every sweep.
    passes: float = spec(2.0, "training budget: passes over the labeled queries, equal for every interval", gt=0)
    optim: OptimConfig = spec(OptimConfig(lr=2e-4, batch_size=8), "optimizer of the Improve step")


PROMPT_FORMS = ["cot", "official"]


@dataclass
class JudgeConfig:
    """An LLM that extracts the final answer from a response, through any OpenAI-compatible chat-completions
    server (vLLM, `transformers serve`, a hosted API); its answer is normalised and checked like a rule answer."""

    base_url: str | None = spec(None, "server root up to /v1, e.g. http://gpu-node:8000/v1; null = no judge (rules only)")
    model: str = spec("", "model name the server serves (its GET <base_url>/models lists them); needed with base_url")
    api_key_env: str = spec("OPENAI_API_KEY", "environment variable holding the API key; unset or empty: no key is sent")
    mode: str = spec("fallback", "fallback: ask only for responses where the rules find no answer | always: ask for "
                                 "every response (the rule answer stays where the judge fails)",
                     choices=["fallback", "always"])
    timeout_s: float = spec(60.0, "seconds one request may take before it is retried", gt=0)
    retries: int = spec(3, "retries of a request after a timeout, a refused connection or a 5xx / 429 answer", ge=0)
    backoff_s: float = spec(1.0, "wait before the first retry, doubled for each further one", ge=0)
    concurrency: int = spec(8, "requests in flight at once", ge=1)
    max_tokens: int = spec(48, "longest extracted answer the judge may write", ge=1)
    cache: bool = spec(True, "keep every judged answer in <results_dir>/_judge_cache, keyed by (model, prompt hash, "
                             "response hash), so re-scoring asks the server only for what it has not answered")

    def check(self):
        if self.base_url is None:
            return []
        problems = [] if self.model else [("model", "is needed with base_url: the name the server serves "
                                                    "(GET <base_url>/models lists them)")]
        if not self.base_url.startswith(("http://", "https://")):
            problems.append(("base_url", f"{self.base_url!r} is no http(s) URL; e.g. http://gpu-node:8000/v1"))
        return problems


@dataclass
class EvalConfig:
    """Greedy evaluation."""

    batch_sequences: int = spec(512, "prompts decoded together", ge=1)
    prompt: str = spec("cot", "cot: the question plus the recipe's CoT instruction (SFT: the plain question it was "
                              "trained on) | official: the benchmark's own query alone (MathVista: Hint, Question, "
                              "Choices), for numbers comparable with published ones", choices=PROMPT_FORMS)
    prompt_by_split: dict[str, str] = spec({}, "prompt form per evaluated split or benchmark, overriding prompt, "
                                               "e.g. {mathvista: official}", choices=PROMPT_FORMS)
    circular: bool = spec(False, "CircularEval on every evaluated multi-choice question (asked once per rotation of "
                                 "its options, correct only if all are); MMBench always uses it, as published")
    judge: JudgeConfig = spec(JudgeConfig(), "LLM answer extraction beside the rules (off by default)")

    def prompt_for(self, split: str) -> str:
        return self.prompt_by_split.get(split, self.prompt)


@dataclass
class MonitorConfig:
    """Training dynamics on the validation split after each iteration (and for pi_0, as iteration 0)."""

    greedy: bool = spec(True, "greedy accuracy on the whole validation split (cheap); the temperature grid's rows "
                              "carry their own greedy on its monitored queries, so Pass@K - greedy compares like with like")
    temperatures: list[float] = spec([], "Pass@K, Pass@K - greedy and Reward-Pass@2 at each temperature; the paper's "
                                         "grid: [0.5, 0.7, 1.0, 1.2, 1.5, 1.7, 2.0]; empty = off")
    queries: int = spec(100, "validation queries used by the temperature grid and the adaptive policy (0 = all)", ge=0)
    samples: int = spec(16, "K samples per query per temperature", ge=1)


@dataclass
class TemperatureConfig:
    """How the sampling temperature of the Generate step is chosen (rollout.temperature is the start)."""

    policy: str = spec("fixed", "fixed | adaptive (M-STAR: the grid temperature maximising metric, re-decided "
                                "every few iterations)", choices=TEMPERATURE_POLICIES)
    every: int = spec(2, "adaptive: decide at iterations 0, every, 2*every, ...", ge=1)
    lo: float = spec(0.3, "adaptive: lowest temperature of the grid", gt=0)
    hi: float = spec(1.6, "adaptive: highest temperature of the grid", gt=0)
    step: float = spec(0.1, "adaptive: grid step", gt=0)
    metric: str = spec("reward_pass_at_2", "adaptive: validation metric maximised", choices=METRICS)

    def check(self):
        problems = [("hi", f"must be at least lo={self.lo}")] if self.hi < self.lo else []
        if not METRICS.get(self.metric).per_temperature:
            varying = [name for name, m in METRICS.items() if m.per_temperature]
            problems.append(("metric", f"{self.metric} does not depend on the temperature; choose one that does: "
                                       f"{', '.join(varying)}"))
        return problems


@dataclass
class SlurmConfig:
    """SLURM resources of each job (executor=slurm), passed to submitit."""

    partition: str | None = spec(None, "partition; null = the cluster's default")
    cpus_per_task: int = spec(2, "CPU cores per job", ge=1)
    gpus_per_node: int = spec(0, "GPUs per job", ge=0)
    nodes: int = spec(1, "nodes per job", ge=1)
    mem_gb: float = spec(8.0, "memory per job in GB", gt=0)
    timeout_min: int = spec(240, "time limit per job in minutes; a job that hits it is requeued and resumes", ge=1)
    array_parallelism: int = spec(16, "at most this many runs of a sweep at once", ge=1)
    max_requeues: int = spec(3, "how often a timed-out or preempted job is requeued", ge=0)
    signal_delay_s: int = spec(120, "seconds before the time limit at which a job checkpoints and requeues", ge=1)
    additional_parameters: dict[str, str] = spec({}, "extra sbatch flags, e.g. {account: abc, qos: high}")
    setup: list[str] = spec([], "shell lines run before each job, e.g. module load cuda")


@dataclass
class LocalConfig:
    """The local executor (executor=local): the runs of a sweep in processes on this machine."""

    # Small models are bound by per-operation overhead more than by arithmetic, so two one-thread processes do
    # more work than one with two threads: on 2 cores two runs at local.jobs=2 model.threads=1 took 182 s against
    # 251 s one after the other at 2 threads (1.38x, benchmarks/local_jobs.py). model.threads is part of a run's key
    # (the thread count changes float rounding), so such runs get folders of their own.
    jobs: int = spec(1, "runs executed at once, each in a process of its own with model.threads torch threads "
                        "(keep jobs x threads <= cores: on 2 cores, jobs=2 with model.threads=1 finishes a sweep "
                        "~1.38x sooner)", ge=1)


@dataclass
class TrainConfig:
    """How the policy trains over the processes of a run (harness/model/strategy.py)."""

    strategy: str = spec("auto", "auto (fsdp under torchrun with more than one rank, else single) | single (one "
                                 "process) | ddp (every rank holds the whole model) | fsdp (FSDP2: weights, gradients "
                                 "and optimizer states sharded per block)", choices=["auto", "single", "ddp", "fsdp"])
    # Here rather than in each optim section: it is set by GPU memory, not by the recipe, and it changes results
    # only by float rounding (the loss is averaged over the global batch's tokens whatever the split).
    micro_batch_size: int | None = spec(None, "sequences per forward/backward on each rank of the Improve step, "
                                              "gradients accumulated up to the global batch (optim.batch_size); "
                                              "null = a rank's whole share at once", ge=1)
    cpu_offload: bool = spec(False, "fsdp: keep the sharded weights, gradients and optimizer states in host RAM "
                                    "(less GPU memory, slower steps)")


@dataclass
class CheckpointConfig:
    """Checkpoints inside an iteration, so a job stopped by its time limit loses minutes, not the iteration."""

    every_steps: int = spec(0, "also checkpoint every N optimizer steps of an Improve step (0 = only after each "
                               "iteration)", ge=0)
    rollout_batches: int = spec(1, "Generate writes its finished rollout batches to the run folder every N batches, "
                                   "so a restarted job samples at most N again (0 = never)", ge=0)


# Fields that say where and how a run executes, not what it computes: excluded from run and stage keys. The
# training strategy and the checkpoint frequency change results only by float rounding, so a run moved to
# another number of GPUs keeps its folder and resumes.
EXECUTION_KEYS = ("name", "results_dir", "executor", "local", "slurm", "train", "checkpoint")
# Keys added after runs existed, left out of every hash (run folders, shared stages) while they hold the value all
# those runs had: adding them moved no folder, and a run that sets another value gets folders of its own.
HASH_NEUTRAL = {("world", "answers"): "narrow", ("model", "tokenizer"): "char", ("base", "released"): True,
                ("world", "train_queries"): 0}


def hashed(plain: dict) -> dict:
    """The config as plain data (to_dict) less the HASH_NEUTRAL keys that hold their neutral value."""
    out = dict(plain)
    for (section, key), neutral in HASH_NEUTRAL.items():
        if section in out and out[section].get(key, neutral) == neutral:
            out[section] = {k: v for k, v in out[section].items() if k != key}
    return out


@dataclass
class RunConfig:
    """One self-evolving training run, end to end."""

    name: str = spec("base", "run name: the folder under results_dir")
    seed: int = spec(0, "training seed (sampling, shuffling, init of the Improve step)", ge=0)
    results_dir: str = spec("results", "where run folders and the shared stage cache live")
    world: WorldConfig = spec(WorldConfig(), "embedded world")
    data: DataConfig = spec(DataConfig(), "datasets")
    model: ModelConfig = spec(ModelConfig(), "policy model")
    base: BaseConfig = spec(BaseConfig(), "embedded model pre-training")
    warmup: WarmupConfig = spec(WarmupConfig(), "warm-up stage")
    rollout: RolloutConfig = spec(RolloutConfig(), "rollouts")
    select: SelectConfig = spec(SelectConfig(), "selection of responses to train on")
    reward_model: RewardModelConfig = spec(RewardModelConfig(), "process reward model")
    prm: PRMConfig = spec(PRMConfig(), "training the learned PRM (used when reward_model.kind=prm)")
    unlabeled: UnlabeledConfig = spec(UnlabeledConfig(), "unlabeled prompts")
    method: MethodConfig = spec(MethodConfig(), "training method")
    eval: EvalConfig = spec(EvalConfig(), "evaluation")
    monitor: MonitorConfig = spec(MonitorConfig(), "training dynamics on the validation split")
    temperature: TemperatureConfig = spec(TemperatureConfig(), "sampling-temperature policy")
    train: TrainConfig = spec(TrainConfig(), "training over several processes")
    checkpoint: CheckpointConfig = spec(CheckpointConfig(), "checkpoints inside an iteration")
    executor: Literal["local", "slurm"] = spec("local", "where runs execute: here, or as SLURM jobs through submitit")
    local: LocalConfig = spec(LocalConfig(), "the local executor (executor=local)")
    slurm: SlurmConfig = spec(SlurmConfig(), "SLURM resources (executor=slurm)")

    @staticmethod
    def layered_defaults(data: dict) -> dict:
        """Defaults under `data` that depend on its other keys: model.preset brings its base recipe (PRESET_BASE)."""
        model = data.get("model")
        preset = model.get("preset") if isinstance(model, dict) else None
        return {"base": PRESET_BASE[preset]} if isinstance(preset, str) and preset in PRESET_BASE else {}

    def check(self):
        problems = []
        if (self.select.max_per_query or 0) > self.rollout.samples_per_query:
            problems.append(("select.max_per_query", f"keeps more responses than are sampled "
                             f"(rollout.samples_per_query={self.rollout.samples_per_query}); lower it"))
        if (self.warmup.max_per_query or 0) > self.warmup.samples_per_query:
            problems.append(("warmup.max_per_query", f"keeps more rationales than are sampled "
                             f"(warmup.samples_per_query={self.warmup.samples_per_query}); lower it"))
        operator, reward = OPERATORS.get(self.select.operator), REWARD_MODELS.get(self.reward_model.kind)
        if operator.ranks and not reward.scores:
            problems.append(("select.operator", f"{self.select.operator} ranks by a reward model; "
                             "set reward_model.kind to prm or oracle"))
        if operator.uses_k and self.select.k > self.rollout.samples_per_query:
            problems.append(("select.k", f"keeps more responses than are sampled "
                             f"(rollout.samples_per_query={self.rollout.samples_per_query}); lower it"))
        if self.method.optim.schedule == "cosine":
            problems.append(("method.optim.schedule", "the Improve step's length in steps is known only after selection "
                             "(and continuous keeps one schedule across iterations), so cosine has no horizon; use "
                             "constant, the paper's (warmup.optim and base.optim take cosine)"))
        if UNLABELED_MODES.get(self.unlabeled.mode).mixes_in and not METHODS.get(self.method.kind).learns_from_samples:
            problems.append(("unlabeled.mode", f"{self.method.kind} does not learn from its own samples' answers; "
                             "unlabeled prompts only make sense for self-evolving methods"))
        if TEMPERATURE_POLICIES.get(self.temperature.policy).probes and not reward.scores \
                and METRICS.get(self.temperature.metric).needs_reward_model:
            problems.append(("temperature.metric", f"{self.temperature.metric} needs a reward model; set "
                             "reward_model.kind"))
        if self.train.cpu_offload and self.train.strategy in ("single", "ddp"):
            problems.append(("train.cpu_offload", f"offloads FSDP shards; train.strategy={self.train.strategy} has "
                             "none: set train.strategy=fsdp (or auto) or cpu_offload=false"))
        if (self.train.micro_batch_size or 0) > self.method.optim.batch_size:
            problems.append(("train.micro_batch_size", f"is larger than the global batch "
                             f"(method.optim.batch_size={self.method.optim.batch_size}); lower it"))
        if self.rollout.backend == "vllm" and self.rollout.vllm.sleep_level == 2 and self.model.lora_rank:
            problems.append(("rollout.vllm.sleep_level", "2 discards the engine's weights while it sleeps, and a LoRA "
                             "policy pushes only its adapters afterwards: use 1 with model.lora_rank > 0"))
        evaluated = {"test_id", "test_ood", "val", *self.data.benchmarks}
        problems += [(f"eval.prompt_by_split.{name}", f"is no evaluated split; choose from {sorted(evaluated)}")
                     for name in self.eval.prompt_by_split if name not in evaluated]
        if (self.world.answers == "wide" and self.model.tokenizer == "char" and not self.model.path
                and not self.data.path and self.model.max_new_tokens < WIDE_CHAR_TOKENS):
            problems.append(("model.max_new_tokens", f"world.answers=wide writes gold solutions of up to "
                             f"{WIDE_CHAR_TOKENS} characters, one token each with model.tokenizer=char: set "
                             f"model.max_new_tokens={WIDE_CHAR_TOKENS} or model.tokenizer=subword"))
        if self.prm.max_per_query > self.prm.samples_per_query:
            problems.append(("prm.max_per_query", f"keeps more responses than are sampled "
                             f"(prm.samples_per_query={self.prm.samples_per_query}); lower it"))
        return problems


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> RunConfig:
    """Load a run config from YAML (or defaults when path is None) plus `key=value` overrides."""
    data = load_yaml(path) if path else {}
    source = str(path) if path else "<defaults>"
    if overrides:
        data = deep_merge(data, parse_overrides(overrides))
        source += " + command line"
    return from_dict(RunConfig, data, source=source)


__all__ = ["RunConfig", "ConfigError", "hashed", "load_config", "to_dict"]
