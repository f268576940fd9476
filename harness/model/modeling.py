"""Loading a policy checkpoint with the options a real model needs (config.model).

Device, compute dtype, gradient checkpointing, a frozen vision tower, LoRA adapters (peft, imported lazily) and a
family's own modelling code all apply at load time, so every stage that loads a policy (warm-up, each iteration,
ReST-EM's restart from pi_0, the final evaluation) trains the same parameters the same way. A LoRA policy is saved
by peft as adapter weights plus the path of its base checkpoint; loading such a folder rebuilds base + adapters.

Weights are always float32 (the master weights AdamW updates): `model.dtype` is the compute dtype. In one
process forward runs under torch.autocast to it; sharded training (harness/model/strategy.py) gets the same from
FSDP2's MixedPrecisionPolicy. Pure bfloat16 weights would not train at the paper's lr of 1e-6: most updates
are below half a bfloat16 ulp and round away (tests/test_fsdp.py measures it).
"""
from __future__ import annotations

import contextlib
import json
import os
import types
from pathlib import Path

import torch

from harness.config import ModelConfig
from harness.configio import ConfigError
from harness.model.adapters import ADAPTERS, Adapter, adapter_for
from harness.model.families import checkpoint_problem

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MASTER_DTYPE = torch.float32  # of weights, gradients and optimizer states, whatever model.dtype computes in
PEFT_CONFIG = "adapter_config.json"  # written by peft's save_pretrained: the folder is a LoRA policy


def load_model(path: str | Path, cfg: ModelConfig):
    """(model in eval mode on cfg.device, adapter) from a local checkpoint for one process: float32 weights
    computing in cfg.dtype, with cfg's freezing, LoRA and activation checkpointing."""
    model, adapter = build_model(path, cfg)
    device = resolve_device(cfg.device)
    compute_in(model, cfg.dtype, device.type)
    return model.to(device).eval(), adapter


def build_model(path: str | Path, cfg: ModelConfig, meta: bool = False):
    """(model, adapter) with float32 weights on the CPU, or with `meta` its structure only (no storage, nothing
    read but configs: a sharded copy is filled in later), with cfg's freezing, LoRA and activation checkpointing."""
    from transformers import AutoProcessor

    import harness.tinyvlm  # noqa: F401  registers the embedded model with the Auto classes (transformers: slow)

    torch.set_num_threads(cfg.threads)
    path = Path(path).resolve()  # absolute: a LoRA checkpoint records its base by this path
    if problem := checkpoint_problem(path):  # also for paths the config check could not see (a policy's base)
        raise ConfigError(problem, header="unsupported checkpoint")
    kwargs = {"dtype": MASTER_DTYPE, "trust_remote_code": cfg.trust_remote_code}
    if (path / PEFT_CONFIG).is_file():
        model = _load_lora_policy(path, kwargs, meta)
    else:
        model = _load_plain(path, kwargs, meta)
    adapter = adapter_for(model, AutoProcessor.from_pretrained(path, trust_remote_code=cfg.trust_remote_code))
    if cfg.freeze_vision:
        freeze_vision(model, adapter)
    if cfg.gradient_checkpointing:
        enable_checkpointing(model)
    if cfg.lora_rank and not hasattr(model, "peft_config"):
        with torch.device("meta") if meta else contextlib.nullcontext():  # adapters without storage too
            model = add_lora(model, adapter, cfg.lora_rank, cfg.lora_alpha)
    return model, adapter


def _load_plain(path: Path, kwargs: dict, meta: bool):
    from transformers import AutoConfig, AutoModelForImageTextToText

    if not meta:
        return AutoModelForImageTextToText.from_pretrained(path, **kwargs)
    config = AutoConfig.from_pretrained(path, trust_remote_code=kwargs["trust_remote_code"])
    with torch.device("meta"):
        return AutoModelForImageTextToText.from_config(config, **kwargs)


def compute_in(model, dtype: str, device_type: str) -> None:
    """Run the model's forward under torch.autocast to `dtype` (nothing for float32): one process's mixed
    precision, float32 weights with low-precision matmuls. Bound to the instance like accelerate does, so every
    caller (training, sampling, scoring) computes the same way."""
    if DTYPES[dtype] == MASTER_DTYPE:
        return
    model.compute_dtype = DTYPES[dtype]  # what an export is written in (harness/train/checkpoint.py)
    forward = torch.autocast(device_type, dtype=DTYPES[dtype])(type(model).forward)
    model.forward = types.MethodType(forward, model)


def resolve_device(name: str) -> torch.device:
    """auto: the GPU of this process (LOCAL_RANK under torchrun) when CUDA is available, else the CPU."""
    if name != "auto":
        return torch.device(name)
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))


def enable_checkpointing(model) -> None:
    """Recompute activations in backward, non-reentrant (correct when inputs need no grad: frozen embeddings,
    LoRA). transformers renamed the method (gradient_ -> activation_checkpointing_enable, old name until v6)."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def import_peft():
    """peft, or an error that says how to install it (it is an optional extra)."""
    try:
        import peft
    except ImportError:
        raise ImportError("model.lora_rank > 0 needs peft: pip install 'mstar-harness[lora]' "
                          "(or pip install 'peft>=0.10')") from None
    return peft


def _load_lora_policy(path: Path, kwargs: dict, meta: bool = False):
    """Base checkpoint + the saved LoRA adapters, which stay trainable (self-evolution continues from them)."""
    peft = import_peft()

    base = json.loads((path / PEFT_CONFIG).read_text()).get("base_model_name_or_path")
    if not base or not Path(base).is_dir():
        raise FileNotFoundError(f"{path / PEFT_CONFIG}: base checkpoint {base!r} of this LoRA policy not found")
    model = _load_plain(Path(base), kwargs, meta)
    if not meta:
        return peft.PeftModel.from_pretrained(model, path, is_trainable=True)
    config = peft.PeftConfig.from_pretrained(path)
    config.inference_mode = False  # trainable, as from_pretrained(is_trainable=True) makes it
    with torch.device("meta"):
        return peft.get_peft_model(model, config)


def vision_towers(model, adapter: Adapter) -> list[str]:
    """Names of the outermost submodules called like a vision tower (adapter.vision_tower_names)."""
    found: list[str] = []
    for name, _ in model.named_modules():
        if name.rsplit(".", 1)[-1] in adapter.vision_tower_names and not any(name.startswith(f + ".") for f in found):
            found.append(name)
    return found


def freeze_vision(model, adapter: Adapter) -> list[str]:
    """Stop gradients into the vision tower(s); returns their names. An unknown layout is an error, not a no-op."""
    towers = vision_towers(model, adapter)
    if not towers:
        raise ValueError(f"model.freeze_vision: no vision tower in {type(model).__name__} (looked for submodules "
                         f"named {list(adapter.vision_tower_names)}); set vision_tower_names on its adapter")
    modules = dict(model.named_modules())
    for name in towers:
        modules[name].requires_grad_(False)
    return towers


def lora_targets(model, adapter: Adapter) -> list[str]:
    """Every linear layer outside the vision tower(s) and the output head: the language model and projector."""
    towers = vision_towers(model, adapter)
    head = model.get_output_embeddings()
    return [name for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and m is not head
            and not any(name == t or name.startswith(t + ".") for t in towers)]


def add_lora(model, adapter: Adapter, rank: int, alpha: float):
    """Wrap the model with trainable LoRA adapters; every original weight is frozen."""
    peft = import_peft()
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=lora_targets(model, adapter))
    return peft.get_peft_model(model, config)


def save_policy(model, adapter: Adapter, path: Path) -> None:
    """The policy and its processor as a `from_pretrained` folder."""
    model.save_pretrained(path)
    adapter.processor.save_pretrained(path)


def new_base_model(m: ModelConfig, corpus: list | None = None):
    """A randomly initialised embedded tiny VLM of the configured size, and its adapter. With model.tokenizer=subword
    its tokenizer is learned from `corpus` (training examples), read as the model reads them."""
    # transformers' model and processor classes: slow to import
    from harness.tinyvlm import build_processor, build_subword_tokenizer, build_tiny_vlm
    from harness.tinyvlm.tokenization import IMAGE_TOKEN

    tokenizer = None
    if m.tokenizer == "subword":
        if corpus is None:
            raise ValueError("model.tokenizer=subword learns its pieces from the base corpus; pass it")
        reader = ADAPTERS.get("tinyvlm")(build_processor())  # renders prompts as the model will read them
        tokenizer = build_subword_tokenizer(reader.render(e.prompt).replace(IMAGE_TOKEN, "") + e.response
                                            for e in corpus)
    model, processor = build_tiny_vlm(tokenizer=tokenizer, **embedded_shape(m))
    return model, adapter_for(model, processor)


def embedded_shape(m: ModelConfig) -> dict:
    """The embedded tiny VLM's TinyVLMConfig fields that model.* sets."""
    return dict(hidden_size=m.hidden_size, num_hidden_layers=m.num_hidden_layers,
                num_attention_heads=m.num_attention_heads, intermediate_size=4 * m.hidden_size)
