"""The `vllm` rollout engine (GPU; `pip install 'mstar-harness[vllm]'`, imported only when used).

One engine per run and rank, colocated with the trainer on its GPU (the design of TRL's colocate mode and verl's
hybrid engine), never rebuilt for new weights:
- created once from the policy's files (config, processor and weights in the compute dtype, written once per node
  to a temporary folder), in the trainer's process (VLLM_ENABLE_V1_MULTIPROCESSING=0), with vLLM's sleep mode on;
  under torchrun every rank builds its engine together (`distributed_executor_backend="external_launcher"`: the
  ranks of a tensor-parallel group share one engine, each group samples its own batches);
- `sleep()` before an Improve step: vLLM's sleep(level) offloads (1) or drops (2) its weights and frees its KV
  cache, so the trainer has the GPU;
- `update_weights(model)`: the trainer's weights streamed into the engine's model one tensor at a time through its
  own `load_weights` (HF checkpoint names; FSDP shards gathered a tensor at a time on every rank) and its
  post-load processing, then the prefix and encoder caches are reset; a LoRA policy (one process) pushes only its
  adapters, saved small and served through a new `LoRARequest` (no merged copy of the model);
- `wake()` before the next Generate step; `close()` at the end of the run.

Requests are seeded one prompt at a time (prompt i of a call: seed + i*k, vLLM seeds its k children from there), so
a prompt's samples do not depend on which other prompts share its batch.

Verified here only against a recording stand-in for the vllm module (tests/test_vllm_engine.py: what the engine asks
of vLLM, and when), because these machines have no GPU; the API calls follow vLLM 0.33's source and TRL's and
verl's colocated engines, and have not been run on a GPU by this project (benchmarks/rollout_engine.py is the check).
"""
from __future__ import annotations

import gc
import logging
import os
import shutil
import tempfile
from pathlib import Path

from harness import distributed
from harness.model.adapters import Adapter, Prompt, image_of
from harness.rollout.engine import RolloutEngine
from harness.rollout.settings import SamplingSettings

# Sequences per generate call: enough to keep the engine's batch full (max_num_seqs is far below it), few
# enough that the decoded images of one call's requests stay small (180K prompts would be tens of GiB).
REQUEST_CHUNK_SEQUENCES = 16384
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the ranks vLLM's max_lora_rank accepts
# families whose vLLM model serves LoRA on the projector (`supports_tower_connector_lora`, vLLM 0.33): the
# harness's LoRA reaches it (harness/model/modeling.py lora_targets)
CONNECTOR_LORA = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5", "glm4v", "llava", "gemma3", "internvl", "idefics3")
log = logging.getLogger(__name__)
# what wrappers add to a parameter's name (activation checkpointing, FSDP1, torch.compile, peft), not in checkpoints
WRAPPER_PREFIXES = ("_checkpoint_wrapped_module.", "_fsdp_wrapped_module.", "_orig_mod.")


def import_vllm():
    try:
        import vllm
    except ImportError:
        raise ImportError("rollout.backend=vllm needs vLLM on a CUDA machine: pip install 'mstar-harness[vllm]'") from None
    return vllm


def requests(adapter: Adapter, prompts: list[Prompt]) -> list[dict]:
    """vLLM multimodal prompts: the family's rendered chat prompt (with its image placeholder) plus the image."""
    return [{"prompt": adapter.render(p) + p.prefix, "multi_modal_data": {"image": image_of(p)}} for p in prompts]


def sampling_params(vllm, settings: SamplingSettings, stop_id: int, seed: int):
    """The sampling settings as vLLM SamplingParams of one prompt (temperature 0 = greedy, one response)."""
    return vllm.SamplingParams(n=settings.k, temperature=settings.temperature, top_p=settings.top_p,
                               max_tokens=settings.max_new_tokens, seed=seed, stop_token_ids=[stop_id],
                               skip_special_tokens=True)


def is_lora(model) -> bool:
    return hasattr(model, "peft_config")


def checkpoint_name(name: str) -> str:
    for prefix in WRAPPER_PREFIXES:
        name = name.replace(prefix, "")
    return name


def full_weights(model, dtype):
    """(checkpoint name, tensor in `dtype`) of every weight, one at a time: a sharded weight is gathered (a
    collective: every rank walks the same names in the same order), an offloaded one brought to the GPU."""
    import torch
    from torch.distributed.tensor import DTensor

    device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else None
    for name, tensor in model.state_dict().items():
        if device is not None and tensor.device.type == "cpu":
            tensor = tensor.to(device)
        tensor = tensor.to(dtype)  # before the gather: half the bytes in flight
        if isinstance(tensor, DTensor):
            tensor = tensor.full_tensor()
        yield checkpoint_name(name), tensor


def free_cache() -> None:
    """Hand the blocks PyTorch's allocator caches (training's activations and gradients) back to the driver: vLLM's
    own pools allocate outside that cache."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def push(weights):
    """What every vLLM worker runs to take new weights: the model's own load_weights (it maps HF checkpoint names
    and stacks q/k/v, gate/up), then vLLM's post-load processing where the installed vLLM has it."""
    def load(worker):
        model = worker.model_runner.model
        model.load_weights(weights)
        try:
            from vllm.model_executor.model_loader.utils import process_weights_after_loading
        except ImportError:
            return
        process_weights_after_loading(model, worker.model_runner.model_config, next(model.parameters()).device)
    return load


def base_weights(model) -> dict:
    """A LoRA policy's frozen weights under their checkpoint names (peft's prefix, `.base_layer` and the adapters
    left out): what the engine serves the adapters on."""
    prefix = "base_model.model."
    out = {}
    for name, tensor in model.state_dict().items():
        if "lora_" in name:
            continue
        name = checkpoint_name(name).removeprefix(prefix).replace(".base_layer", "")
        out[name] = tensor
    return out


class VLLMEngine(RolloutEngine):
    """A colocated vLLM engine holding the run's policy; see the module's docstring."""

    name = "vllm"

    def __init__(self, model, adapter: Adapter, rollout):
        super().__init__(model, adapter, rollout)
        vllm = import_vllm()
        import torch

        o = rollout.vllm
        ranks = distributed.world_size()
        if ranks % o.tensor_parallel_size:
            raise ValueError(f"rollout.vllm.tensor_parallel_size={o.tensor_parallel_size} must divide the {ranks} "
                             f"rank(s) of the run: with torchrun the ranks of a tensor-parallel group share one engine")
        self.tp = o.tensor_parallel_size
        self.lora = is_lora(model)
        kind = getattr(model.config, "model_type", "")
        if self.lora and ranks > 1:
            raise ValueError("rollout.backend=vllm with a LoRA policy is wired for one process only (its adapters are "
                             "saved from whole weights); under torchrun use rollout.backend=hf or a full fine-tune")
        if self.lora and kind not in CONNECTOR_LORA:
            raise ValueError(f"vLLM does not serve LoRA on the projector of {kind!r} models (the harness's LoRA "
                             f"reaches it); families it serves: {', '.join(CONNECTOR_LORA)}. Use rollout.backend=hf")
        if self.lora and max(c.r for c in model.peft_config.values()) > LORA_RANKS[-1]:
            raise ValueError(f"vLLM serves LoRA ranks up to {LORA_RANKS[-1]}; lower model.lora_rank")
        if os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "0") != "0":
            log.warning("VLLM_ENABLE_V1_MULTIPROCESSING set to 0: the engine runs in this process, so the trainer's "
                        "weights pass to it in memory")
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        # the engine computes in the policy's compute dtype (float32 when it has none: what the hf engine uses)
        self.dtype = getattr(model, "compute_dtype", None) or next(model.parameters()).dtype
        self.lora_request = None
        self._weights_awake = True   # vLLM's sleep state of the weights (wake_up takes them and the KV cache apart)
        self._weights_pushed = True  # since the last sleep (level 2 drops them: waking without a push is garbage)
        # one folder per node (its local rank 0 writes it), named by rank 0
        name = distributed.broadcast(Path(tempfile.mkdtemp(prefix="harness-vllm-")).name if distributed.is_main() else None)
        self._folder = Path(tempfile.gettempdir()) / name
        self._folder.mkdir(exist_ok=True)
        self._write_start(model, adapter)
        free_cache()  # vLLM checks its memory share is free when it starts
        kw = dict(model=str(self._folder), dtype=str(self.dtype).removeprefix("torch."), enable_sleep_mode=True,
                  seed=distributed.rank() // self.tp, gpu_memory_utilization=o.gpu_memory_utilization,
                  max_model_len=o.max_model_len, tensor_parallel_size=o.tensor_parallel_size,
                  trust_remote_code=o.trust_remote_code, enforce_eager=o.enforce_eager,
                  max_num_seqs=rollout.batch_sequences, limit_mm_per_prompt={"image": 1})
        if ranks > 1:
            kw["distributed_executor_backend"] = "external_launcher"
        if self.lora:
            rank = max(c.r for c in model.peft_config.values())
            kw.update(enable_lora=True, max_loras=1, max_lora_rank=next(r for r in LORA_RANKS if r >= rank),
                      enable_tower_connector_lora=True)  # harness LoRA reaches the projector (model.lora_targets)
        self.vllm = vllm
        self.llm = vllm.LLM(**kw)
        if self.lora:
            self._load(model, adapter)

    @property
    def replica(self) -> int:
        return distributed.rank() // self.tp

    @property
    def replicas(self) -> int:
        return distributed.world_size() // self.tp

    def _write_start(self, model, adapter: Adapter) -> None:
        """The files the engine starts from: the policy in its compute dtype (a LoRA policy: its frozen weights),
        written by each node's local rank 0 (every rank walks the weights: gathering them is collective)."""
        writer = int(os.environ.get("LOCAL_RANK", "0")) == 0
        weights = base_weights(model).items() if self.lora else full_weights(model, self.dtype)
        state = {name: t.to("cpu", self.dtype) for name, t in weights if writer}  # on host, one tensor at a time
        if writer:
            base = model.get_base_model() if self.lora else model
            base.save_pretrained(self._folder, state_dict=state)
            adapter.processor.save_pretrained(self._folder)
        del state
        distributed.barrier()

    def _generate(self, prompts: list[Prompt], settings: SamplingSettings, desc: str) -> list[list[str]]:
        chunk = max(1, REQUEST_CHUNK_SEQUENCES // settings.k)
        outputs = []
        for i in range(0, len(prompts), chunk):  # requests built (their images decoded) a chunk at a time
            part = prompts[i:i + chunk]
            stop = self.adapter.eos_token_id
            params = [sampling_params(self.vllm, settings, stop, settings.seed + (i + j) * settings.k)
                      for j in range(len(part))]
            outputs += self.llm.generate(requests(self.adapter, part), params, use_tqdm=True,
                                         lora_request=self.lora_request)
        return [[o.text.strip() for o in out.outputs] for out in outputs]

    def _load(self, model, adapter: Adapter) -> None:
        if is_lora(model) != self.lora:
            raise ValueError("the vllm engine was created for a " + ("LoRA" if self.lora else "full") +
                             " policy and cannot switch")
        if self.lora:  # the adapters alone, in a new folder under a new id (vLLM caches adapters by id)
            n = self.lora_request.lora_int_id + 1 if self.lora_request else 1
            folder = self._folder / f"lora-{n}"
            if distributed.is_main():
                model.save_pretrained(folder)
            distributed.barrier()
            self.lora_request = self._lora_request(f"policy-{n}", n, str(folder))
        else:
            if not self._weights_awake:
                free_cache()
                self.llm.wake_up(tags=["weights"])  # the weights' memory back first; the KV cache waits for wake()
                self._weights_awake = True
            self.llm.collective_rpc(push(full_weights(model, self.dtype)))
        self._weights_pushed = True
        self.llm.reset_prefix_cache()
        reset_encoder = getattr(self.llm.llm_engine, "reset_encoder_cache", None)
        if reset_encoder is not None:  # vision embeddings of the old weights
            reset_encoder()

    def _lora_request(self, name: str, n: int, path: str):
        from vllm.lora.request import LoRARequest

        return LoRARequest(name, n, path)

    def _sleep(self) -> None:
        self.llm.sleep(level=self.options.vllm.sleep_level)
        self._weights_awake = False
        self._weights_pushed = self.options.vllm.sleep_level == 1  # level 1 keeps them in host RAM

    def _wake(self) -> None:
        if not self._weights_pushed:
            raise RuntimeError("rollout.vllm.sleep_level=2 dropped the engine's weights: update_weights() before wake()")
        free_cache()
        self.llm.wake_up()  # whatever still sleeps (the KV cache; the weights too if none were pushed)
        self._weights_awake = True

    def _close(self) -> None:
        import torch

        shutil.rmtree(self._folder, ignore_errors=True)
        if distributed.world_size() > 1:
            # vLLM's teardown destroys the default process group, which the run still needs: the engine gives its
            # memory back and goes with the process (not run on GPUs yet)
            self.llm.sleep(level=2)
            _KEPT.append(self.llm)
            return
        engine_core = getattr(self.llm.llm_engine, "engine_core", None)
        if engine_core is not None:
            engine_core.shutdown()
        del self.llm
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


_KEPT: list = []  # engines of a torchrun run, alive until the process ends
