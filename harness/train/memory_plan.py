"""`harness plan`: the per-GPU memory of a run config's training, by arithmetic (nothing is run or measured).

A run holds on each GPU, one phase after the other:
  Improve   weights + gradients + AdamW states + the weights gathered for compute + activations
  Generate  weights + AdamW states (kept between iterations) + the rollout engine (weights gathered in the
            compute dtype and the KV cache of rollout.batch_sequences sequences; vLLM: its memory share)
and it fits when the larger phase fits. Float32 master weights cost 4 bytes per parameter, their gradients 4,
AdamW's two moments 8: 16 bytes per trainable parameter, divided by the number of GPUs under fsdp (1/W of each
tensor per rank) and not under ddp or single. Activations follow the usual transformer estimate (Korthikanti et
al. 2022, with fused attention): 17 values per token and hidden unit per layer, or only each layer's input with
model.gradient_checkpointing plus one layer being recomputed; the logits add a vocabulary-wide row per token in
the compute dtype, float32 and its gradient. The vision tower's activations and allocator slack are left out.

The parameter count and shape come from model.path's config.json (the model built on the meta device: exact,
with LoRA and frozen parameters counted), the embedded model's config, or --params N with a Llama-like shape
assumed (hidden = 128 x layers, 12 x layers x hidden^2 parameters, 4 query heads per KV head, 128k vocabulary).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from harness.config import ModelConfig, RunConfig
from harness.model.modeling import DTYPES, build_model, embedded_shape
from harness.rollout.backends import BACKENDS

GIB = 2 ** 30
MASTER_BYTES, ADAM_BYTES = 4, 8  # float32 weights (and gradients); AdamW's two float32 moments
PREFETCHED_BLOCKS = 2  # FSDP gathers the next block while computing one
ACTIVATION_VALUES = 17  # per token, hidden unit and layer, with fused attention (no score matrix)
DEFAULT_PROMPT_TOKENS = 256


@dataclass
class Shape:
    """What the arithmetic needs to know of the model."""

    params: float
    trainable: float
    layers: int
    hidden: int
    kv_dim: int      # width of the keys (and of the values) per layer
    vocab: int
    source: str      # where the figures come from (counted, or assumed)


@dataclass
class MemoryPlan:
    strategy: str
    gpus: int
    gpu_gib: float
    improve: dict[str, float] = field(default_factory=dict)   # term -> GiB per GPU
    generate: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def peak(self) -> float:
        return max(sum(self.improve.values()), sum(self.generate.values()))

    @property
    def fits(self) -> bool:
        return self.peak <= self.gpu_gib

    @property
    def largest(self) -> tuple[str, float]:
        phase = self.improve if sum(self.improve.values()) >= sum(self.generate.values()) else self.generate
        return max(phase.items(), key=lambda kv: kv[1])


def assumed_shape(params: float, lora_rank: int) -> Shape:
    """A Llama-like decoder of `params` parameters (hidden = 128 x layers; Llama-3-8B: 4096 = 128 x 32)."""
    layers = max(1, round((params / (12 * 128 ** 2)) ** (1 / 3)))
    hidden = 128 * layers
    kv_dim = hidden // 4
    # LoRA on q, k, v, o and a 3.5x-wide gated MLP: rank x (sum of in + out widths) = rank x 20 x hidden per layer
    trainable = lora_rank * 20 * hidden * layers if lora_rank else params
    return Shape(params, trainable, layers, hidden, kv_dim, 128_000, f"--params {params:.3g} with an assumed "
                 f"Llama-like shape ({layers} layers, hidden {hidden}, KV width {kv_dim}, vocabulary 128k)")


def counted_shape(cfg: RunConfig) -> Shape:
    """The configured model built on the meta device (no weights read): exact parameter counts. Counted once per
    model section: the runs of a sweep mostly share their model."""
    key = repr(cfg.model)  # ModelConfig is unhashable; its repr names every field
    if key not in _SHAPES:
        _SHAPES[key] = _count(cfg.model)
    return _SHAPES[key]


_SHAPES: dict[str, Shape] = {}


def _count(m: ModelConfig) -> Shape:
    if m.path:
        model, _ = build_model(m.path, m, meta=True)
        source = f"counted from {m.path}/config.json"
    else:  # subword pieces are learned from the base corpus when the base stage runs: count their upper bound
        from harness.tinyvlm import build_tiny_vlm
        from harness.tinyvlm.tokenization import SUBWORD_VOCAB

        vocab = {"vocab_size": SUBWORD_VOCAB} if m.tokenizer == "subword" else {}
        with torch.device("meta"):
            model, _ = build_tiny_vlm(**vocab, **embedded_shape(m))
        source = "counted from the embedded model's config (model.hidden_size, num_hidden_layers, ...)" + (
            f" with {SUBWORD_VOCAB} subword pieces, their upper bound" if vocab else "")
    text = model.config.get_text_config()
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    params = {id(p): p for p in model.parameters()}.values()  # tied weights once
    return Shape(sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad),
                 text.num_hidden_layers, text.hidden_size, text.hidden_size // heads * kv_heads, text.vocab_size, source)


def plan(cfg: RunConfig, shape: Shape, gpu_gib: float = 80.0, prompt_tokens: int = DEFAULT_PROMPT_TOKENS) -> MemoryPlan:
    """Per-GPU GiB of each term, for the config's strategy, GPUs, micro-batch, sequence length, LoRA and dtype."""
    gpus = max(1, cfg.slurm.gpus_per_node) * cfg.slurm.nodes
    strategy = cfg.train.strategy if cfg.train.strategy != "auto" else ("fsdp" if gpus > 1 else "single")
    shards = gpus if strategy == "fsdp" else 1
    compute = DTYPES[cfg.model.dtype].itemsize
    p = MemoryPlan(strategy, gpus, gpu_gib)
    on_gpu = 0.0 if cfg.train.cpu_offload else 1.0
    weights = shape.params * MASTER_BYTES / shards * on_gpu
    optimizer = shape.trainable * ADAM_BYTES / shards * on_gpu
    block = shape.params / shape.layers * compute
    if strategy == "single":  # autocast keeps a compute-dtype copy of the weights through forward and backward
        gathered = shape.params * compute if compute != MASTER_BYTES else 0.0
    else:
        gathered = PREFETCHED_BLOCKS * block
    micro = cfg.train.micro_batch_size or math.ceil(cfg.method.optim.batch_size / gpus)
    seq = prompt_tokens + cfg.model.max_new_tokens
    tokens = micro * seq
    layer = ACTIVATION_VALUES * tokens * shape.hidden * compute
    acts = (shape.layers * tokens * shape.hidden * compute + layer if cfg.model.gradient_checkpointing
            else shape.layers * layer)
    logits = tokens * shape.vocab * (compute + 2 * MASTER_BYTES)
    p.improve = {"weights (fp32 master)": weights, "gradients (fp32)": shape.trainable * MASTER_BYTES / shards * on_gpu,
                 "optimizer states (AdamW, fp32)": optimizer, "weights gathered for compute": gathered,
                 "activations": acts, "logits and loss": logits}
    if BACKENDS.get(cfg.rollout.backend).reserves_gpu_share:
        share = getattr(cfg.rollout, cfg.rollout.backend).gpu_memory_utilization
        engine = {f"rollout engine (rollout.{cfg.rollout.backend}.gpu_memory_utilization {share:g})": share * gpu_gib * GIB}
    else:
        kv = cfg.rollout.batch_sequences * seq * 2 * shape.layers * shape.kv_dim * compute
        engine = {"rollout weights (gathered, compute dtype)": 0.0 if strategy == "single" else shape.params * compute,
                  "rollout KV cache": kv}
    p.generate = {"weights (fp32 master)": weights, "optimizer states (AdamW, fp32)": optimizer, **engine}
    p.improve = {k: v / GIB for k, v in p.improve.items()}
    p.generate = {k: v / GIB for k, v in p.generate.items()}
    p.notes = [shape.source,
               f"{strategy} over {gpus} GPU(s); trainable {shape.trainable:.3g} of {shape.params:.3g} parameters; "
               f"compute in {cfg.model.dtype}; micro-batch {micro} x {seq} tokens (--prompt-tokens {prompt_tokens} "
               f"assumed + model.max_new_tokens {cfg.model.max_new_tokens}); rollout.batch_sequences "
               f"{cfg.rollout.batch_sequences}" + ("; train.cpu_offload: shards in host RAM" if on_gpu == 0 else "")]
    return p


def format_plan(p: MemoryPlan) -> str:
    """The table `harness plan` prints: every figure is arithmetic from the formulas above, none measured."""
    lines = [f"per-GPU memory, arithmetic (not measured): {p.notes[1]}", f"  model: {p.notes[0]}"]
    for name, phase in (("Improve (training step)", p.improve), ("Generate (rollouts)", p.generate)):
        lines.append(f"  {name}: {sum(phase.values()):8.1f} GiB")
        lines += [f"    {term:42s} {gib:8.1f} GiB" for term, gib in phase.items()]
    term, gib = p.largest
    verdict = (f"fits: {p.peak:.1f} GiB per GPU <= {p.gpu_gib:g} GiB" if p.fits else
               f"does not fit: {p.peak:.1f} GiB per GPU > {p.gpu_gib:g} GiB; largest term: {term} ({gib:.1f} GiB)")
    return "\n".join(lines + [verdict])


def summary(p: MemoryPlan) -> str:
    """One line for `harness sweep --dry-run`."""
    word = "fits" if p.fits else f"does not fit (largest: {p.largest[0]})"
    return f"~{p.peak:.1f} GiB/GPU of {p.gpu_gib:g} ({p.strategy} x {p.gpus}) {word}"


def plan_config(cfg: RunConfig, params: float | None = None, gpu_gib: float = 80.0,
                prompt_tokens: int = DEFAULT_PROMPT_TOKENS) -> MemoryPlan:
    shape = assumed_shape(params, cfg.model.lora_rank) if params else counted_shape(cfg)
    return plan(cfg, shape, gpu_gib, prompt_tokens)

