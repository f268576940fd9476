"""The `vllm` rollout backend (GPU; `pip install 'mstar-harness[vllm]'`, imported only when used).

Same contract as `hf`: K responses per prompt. vLLM cannot take the trainer's in-memory weights, so
the current policy is saved to a temporary folder and loaded by a fresh engine for each call (the
iteration's checkpoint); the engine is torn down and GPU memory released before training resumes.
"""
from __future__ import annotations

import copy
import gc
import tempfile

from harness.model.adapters import Adapter, Prompt, image_of
from harness.rollout.backends import BACKENDS
from harness.rollout.settings import SamplingSettings

# Sequences per generate call: enough to keep the engine's batch full (max_num_seqs is far below it), few
# enough that the decoded images of one call's requests stay small (180K prompts would be tens of GiB).
REQUEST_CHUNK_SEQUENCES = 16384


def import_vllm():
    try:
        import vllm
    except ImportError:
        raise ImportError("rollout.backend=vllm needs vLLM on a CUDA machine: pip install 'mstar-harness[vllm]'") from None
    return vllm


def requests(adapter: Adapter, prompts: list[Prompt]) -> list[dict]:
    """vLLM multimodal prompts: the family's rendered chat prompt (with its image placeholder) plus the image."""
    return [{"prompt": adapter.render(p) + p.prefix, "multi_modal_data": {"image": image_of(p)}} for p in prompts]


def sampling_params(vllm, settings: SamplingSettings, stop_id: int):
    """The sampling settings as vLLM SamplingParams (temperature 0 = greedy, one response)."""
    return vllm.SamplingParams(n=settings.k, temperature=settings.temperature, top_p=settings.top_p,
                               max_tokens=settings.max_new_tokens, seed=settings.seed, stop_token_ids=[stop_id],
                               skip_special_tokens=True)


def vllm_sample(model, adapter: Adapter, prompts: list[Prompt], settings: SamplingSettings,
                desc: str = "sampling") -> list[list[str]]:
    """K responses per prompt from a vLLM engine loaded with the current weights."""
    vllm = import_vllm()
    with tempfile.TemporaryDirectory(prefix="harness-vllm-") as folder:
        # a LoRA policy is saved merged: vLLM loads plain checkpoints (the trainer keeps its adapters)
        (copy.deepcopy(model).merge_and_unload() if hasattr(model, "peft_config") else model).save_pretrained(folder)
        adapter.processor.save_pretrained(folder)
        # the saved weights are the float32 master weights: the engine computes in the policy's compute dtype
        dtype = str(getattr(model, "compute_dtype", "auto")).removeprefix("torch.")
        llm = vllm.LLM(model=folder, seed=settings.seed, dtype=dtype, max_num_seqs=settings.batch_sequences,
                       gpu_memory_utilization=BACKENDS.get("vllm").gpu_memory_share, limit_mm_per_prompt={"image": 1})
        params = sampling_params(vllm, settings, adapter.eos_token_id)
        chunk = max(1, REQUEST_CHUNK_SEQUENCES // settings.k)
        outputs = []
        try:  # requests are built (their images decoded) a chunk at a time, not for every prompt at once
            for i in range(0, len(prompts), chunk):
                outputs += llm.generate(requests(adapter, prompts[i:i + chunk]), params, use_tqdm=True)
        finally:
            release(llm)
    return [[o.text.strip() for o in out.outputs] for out in outputs]


def release(llm) -> None:
    """Free the engine's GPU memory so the Improve step can use it."""
    import torch

    del llm
    gc.collect()
    try:
        from vllm.distributed.parallel_state import destroy_model_parallel

        destroy_model_parallel()
    except ImportError:  # older or newer layouts: the engine's own teardown is enough
        pass
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
