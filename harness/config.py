"""The run config schema: the single source of truth for every default, one doc line per field.

A YAML file plus `key=value` overrides is loaded strictly into `RunConfig` (harness.configio):
unknown keys, wrong types, out-of-range values and conflicting fields are all reported at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.configio import ConfigError, deep_merge, from_dict, load_yaml, parse_overrides, spec, to_dict

FAMILIES = ["chart", "geometry", "word_problem", "arrow_diagram", "counting"]


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
    sizes: WorldSizes = spec(WorldSizes(), "records per split")
    base_corpus: int = spec(30000, "size of the base model's pre-training corpus, generated apart from the splits", ge=1)

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


@dataclass
class ModelConfig:
    """The policy model."""

    path: str | None = spec(None, "local HF image-text-to-text checkpoint; null = the embedded tiny VLM")
    hidden_size: int = spec(128, "embedded model width", ge=16)
    num_hidden_layers: int = spec(4, "embedded model depth", ge=1)
    num_attention_heads: int = spec(4, "embedded model attention heads", ge=1)
    max_new_tokens: int = spec(96, "longest response sampled, in tokens", ge=1)
    threads: int = spec(2, "torch CPU threads", ge=1)

    def check(self):
        if self.hidden_size % self.num_attention_heads:
            return [("num_attention_heads", f"must divide hidden_size={self.hidden_size}")]
        return []


@dataclass
class OptimConfig:
    """AdamW fine-tuning of the policy."""

    lr: float = spec(3e-4, "peak learning rate", gt=0)
    batch_size: int = spec(32, "sequences per optimizer step", ge=1)
    warmup_steps: int = spec(10, "linear LR warm-up steps of each new scheduler", ge=0)
    schedule: Literal["constant", "cosine"] = spec(
        "constant", "after warm-up: constant (the paper's self-evolution) or cosine decay to 0 over the stage")
    weight_decay: float = spec(0.0, "AdamW weight decay", ge=0)
    grad_clip: float = spec(1.0, "max gradient norm", gt=0)


@dataclass
class BaseConfig:
    """Brief pre-training of the embedded tiny VLM (embedded world only)."""

    steps: int = spec(3600, "optimizer steps on the base corpus", ge=1)
    # Small batches learned this world faster per example than large ones (held-out loss after 12.8k
    # examples: 0.33 at batch 8, 0.37 at 16, 0.62 at 32), at about the same cost per example.
    optim: OptimConfig = spec(OptimConfig(lr=1e-3, batch_size=8, warmup_steps=100), "optimizer")
    caption_fraction: float = spec(0.2, "share of corpus examples that describe the image (perception, like an LMM's alignment data)", ge=0, le=1)
    cot_fraction: float = spec(0.7, "share of the other examples with the CoT instruction and a gold solution (the rest answer directly)", ge=0, le=1)
    hint_fraction: float = spec(0.3, "share of CoT examples that also show the answer in the prompt", ge=0, le=1)
    distractor_rate: float = spec(0.3, "chance a gold solution carries an answer-irrelevant 'note:' step", ge=0, le=1)


@dataclass
class WarmupConfig:
    """Rationalisation warm-up: sample CoT given (question, image, answer), keep correct, SFT -> pi_0."""

    samples_per_query: int = spec(16, "K responses per labeled query", ge=1)
    temperature: float = spec(1.0, "sampling temperature", gt=0)
    max_examples: int = spec(2400, "N correct rationales kept for SFT (sampled)", ge=1)
    max_per_query: int = spec(4, "at most this many distinct correct rationales per query", ge=1)
    epochs: int = spec(2, "SFT epochs over the kept rationales", ge=1)
    optim: OptimConfig = spec(OptimConfig(lr=5e-4, batch_size=8), "optimizer")


@dataclass
class RolloutConfig:
    """Sampling responses during self-evolution."""

    backend: str = spec("hf", "rollout backend: hf (everywhere) or vllm (GPU)", choices=["hf", "vllm"])
    samples_per_query: int = spec(16, "K responses per query", ge=1)
    temperature: float = spec(1.0, "sampling temperature", gt=0)
    batch_sequences: int = spec(512, "sequences decoded together in one forward", ge=1)


@dataclass
class SelectConfig:
    """Which correct responses of a query are trained on."""

    max_per_query: int = spec(4, "at most this many distinct correct responses per query", ge=1)


@dataclass
class MethodConfig:
    """How self-evolution carries state across iterations."""

    kind: Literal["sft", "iterative_rft", "restem", "continuous"] = spec(
        "continuous", "sft | iterative_rft (keep model) | restem (restart from pi_0) | continuous "
                      "(keep model + optimizer + LR schedule)")
    interval: float = spec(0.25, "fraction of the labeled queries per iteration", gt=0, le=1)
    passes: float = spec(1.0, "training budget: passes over the labeled queries, equal for every interval", gt=0)
    optim: OptimConfig = spec(OptimConfig(lr=2e-4, batch_size=8), "optimizer of the Improve step")


@dataclass
class EvalConfig:
    """Greedy evaluation."""

    batch_sequences: int = spec(512, "prompts decoded together", ge=1)
    monitor_val: bool = spec(True, "greedy accuracy on the validation split after each iteration")


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


# Fields that say where and how a run executes, not what it computes: excluded from run and stage keys.
EXECUTION_KEYS = ("name", "results_dir", "executor", "slurm")


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
    method: MethodConfig = spec(MethodConfig(), "training method")
    eval: EvalConfig = spec(EvalConfig(), "evaluation")
    executor: Literal["local", "slurm"] = spec("local", "where runs execute: here, or as SLURM jobs through submitit")
    slurm: SlurmConfig = spec(SlurmConfig(), "SLURM resources (executor=slurm)")

    def check(self):
        problems = []
        if self.select.max_per_query > self.rollout.samples_per_query:
            problems.append(("select.max_per_query", f"keeps more responses than are sampled "
                             f"(rollout.samples_per_query={self.rollout.samples_per_query}); lower it"))
        if self.warmup.max_per_query > self.warmup.samples_per_query:
            problems.append(("warmup.max_per_query", f"keeps more rationales than are sampled "
                             f"(warmup.samples_per_query={self.warmup.samples_per_query}); lower it"))
        return problems


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> RunConfig:
    """Load a run config from YAML (or defaults when path is None) plus `key=value` overrides."""
    data = load_yaml(path) if path else {}
    source = str(path) if path else "<defaults>"
    if overrides:
        data = deep_merge(data, parse_overrides(overrides))
        source += " + command line"
    return from_dict(RunConfig, data, source=source)


__all__ = ["RunConfig", "ConfigError", "load_config", "to_dict"]
