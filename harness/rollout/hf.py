"""The `hf` rollout backend (harness/rollout/backends.py): K responses per prompt from any transformers causal VLM,
everywhere. Its engine (HFEngine) samples with the trainer's own module, so it holds no second copy of the weights.

The hf sampler encodes each prompt once (left-padded batch, one prefill), repeats the KV cache K
times, decodes with sampling, drops finished sequences from the cache as they end, and stops when
all have ended. Batches hold up to `batch_sequences` sequences: per-step overhead dominates at
small batch on CPU (DESIGN.md section 5). Prompts are batched by length (less padding), and a model
that declares `_supports_shared_prefix_cache` gets a cache that keeps each prompt's keys once for
its K samples instead of K copies (harness/rollout/kvcache.py), which decode attention reads every step.
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from harness.model.adapters import Adapter, Prompt, accepts, on_device
from harness.model.strategy import inference
from harness.rollout.engine import RolloutEngine
from harness.rollout.kvcache import GrowingCache, SharedPrefixCache
from harness.rollout.settings import SamplingSettings


def _pick(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None) -> torch.Tensor:
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:  # nucleus: keep the most likely tokens up to top_p of the probability (always the first)
        sorted_probs, order = probs.sort(-1, descending=True)
        outside = sorted_probs.cumsum(-1) - sorted_probs >= top_p
        probs = probs.scatter(-1, order, sorted_probs.masked_fill(outside, 0.0))
    # Drawn on the CPU with the seeded CPU generator: the same samples on any device (a no-op on CPU).
    return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(logits.device)


@torch.inference_mode()
def _sample_chunk(model, adapter: Adapter, prompts: list[Prompt], settings: SamplingSettings,
                  generator) -> list[list[str]]:
    k, max_new_tokens = settings.k, settings.max_new_tokens
    inputs = on_device(adapter.encode_prompts(prompts), model)
    mask = inputs["attention_mask"]
    # The same rules as transformers' generate: positions as the adapter numbers them (from the padding mask
    # by default) if forward takes them, logits of the last position only if forward supports it.
    pos = adapter.position_ids(model, inputs)
    keep_last = {"logits_to_keep": 1} if accepts(model, "logits_to_keep") else {}
    cache_arg = "cache" if accepts(model, "cache") else "past_key_values"  # renamed in transformers 5
    if pos is not None:
        inputs["position_ids"] = pos
    shared = k > 1 and getattr(model, "_supports_shared_prefix_cache", False)
    cache = SharedPrefixCache(reserve=max_new_tokens) if shared else GrowingCache(max_new_tokens, model.config)
    extra = adapter.step_inputs(inputs)  # per-row inputs of every decode step (Mllama's cross-attention mask)
    logits = model(**inputs, **{cache_arg: cache}, use_cache=True, **keep_last).logits[:, -1]
    if k > 1:
        cache.batch_repeat_interleave(k)
        logits = logits.repeat_interleave(k, 0)
        mask = mask.repeat_interleave(k, 0)
        extra = {name: v.repeat_interleave(k, 0) for name, v in extra.items()}
    n = logits.shape[0]
    rows = torch.arange(n, device=mask.device)   # which output sequence each cache row belongs to
    ended = torch.zeros(n, dtype=torch.bool, device=mask.device)  # rows that produced EOS, not yet dropped
    tokens: list[list[int]] = [[] for _ in range(n)]
    next_pos = adapter.next_positions(pos, inputs["attention_mask"]).repeat_interleave(k, 0)
    for step_index in range(max_new_tokens):
        tok = _pick(logits, settings.temperature, settings.top_p, generator)
        ended |= tok == adapter.eos_token_id
        for row, t in zip(rows[~ended].tolist(), tok[~ended].tolist()):
            tokens[row].append(t)
        if bool(ended.all()) or step_index == max_new_tokens - 1:
            break  # all ended, or the budget is spent (a further forward's logits would go unused)
        if ended.sum() * 4 >= len(ended):  # drop ended rows in bulk: each drop copies the cache
            keep = (~ended).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            rows, tok, mask, next_pos, ended = rows[keep], tok[keep], mask[keep], next_pos[keep], ended[keep]
            extra = {name: v[keep] for name, v in extra.items()}
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], 1)
        step = {"input_ids": tok.unsqueeze(1), "attention_mask": mask, cache_arg: cache, "use_cache": True, **extra}
        if pos is not None:
            step["position_ids"] = adapter.step_position_ids(next_pos)
        next_pos = next_pos + 1
        logits = model(**step, **keep_last).logits[:, -1]
    texts = [adapter.decode(t) for t in tokens]
    return [texts[i * k:(i + 1) * k] for i in range(len(prompts))]


def hf_sample(model, adapter: Adapter, prompts: list[Prompt], settings: SamplingSettings,
              desc: str = "sampling") -> list[list[str]]:
    """K responses per prompt (temperature 0 = greedy, then k must be 1), one seeded generator over the call."""
    if settings.temperature <= 0 and settings.k != 1:
        raise ValueError("greedy decoding gives one response per prompt; use k=1")
    model.eval()
    generator = torch.Generator().manual_seed(settings.seed)
    per_chunk = max(1, settings.batch_sequences // settings.k)
    # Chunks of similar prompt length: less left padding for every decode step to attend over.
    order = sorted(range(len(prompts)), key=lambda i: len(adapter.user_text(prompts[i])))
    results: list[list[str]] = [[] for _ in prompts]
    with tqdm(total=len(prompts), desc=desc, unit="prompt", leave=False, mininterval=2) as bar:
        for i in range(0, len(order), per_chunk):
            chunk = order[i:i + per_chunk]
            out = _sample_chunk(model, adapter, [prompts[j] for j in chunk], settings, generator)
            for j, responses in zip(chunk, out):
                results[j] = responses
            bar.update(len(chunk))
    return results


class HFEngine(RolloutEngine):
    """The hf sampler as a run's engine. Colocated with no copy: it decodes with the trainer's module itself, so
    `update_weights` only points it at the policy to use (training changes that module in place) and `sleep`
    returns the sampler's freed cache blocks to the device (on a GPU; a no-op on CPU)."""

    name = "hf"

    def _gathered(self):
        return inference(self.model)

    def _generate(self, prompts: list[Prompt], settings: SamplingSettings, desc: str) -> list[list[str]]:
        with inference(self.model):
            return hf_sample(self.model, self.adapter, prompts, settings, desc)

    def _load(self, model, adapter: Adapter) -> None:
        pass  # the trainer's module is the engine's: nothing to copy

    def _sleep(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
