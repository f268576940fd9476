"""Which checkpoints the trainer can drive, read from `model.path`'s config.json before any work starts.

A checkpoint loads through `AutoModelForImageTextToText` and gets the adapter registered for its `model_type`
(harness/model/adapters.py). A remote-code checkpoint whose `auto_map` names no image-text-to-text class (the
paper's MiniCPM-V-2.5, Phi-3.5-vision, InternVL2: custom `chat()` methods, their own image plumbing) cannot load
that way at all, so `harness run` refuses it at config validation, with what a new family needs, rather than
after building the world, in a traceback. This module reads JSON only (no torch, no transformers): the config
check imports it.
"""
from __future__ import annotations

import json
from pathlib import Path

# model_type -> the family's name, for every model_type with its own adapter. tests/test_real_families.py keeps
# this equal to the adapter registry (less its generic entries) and builds a tiny model of each.
SUPPORTED = {
    "llava": "LLaVA",
    "idefics3": "Idefics3", "smolvlm": "SmolVLM",
    "qwen2_vl": "Qwen2-VL", "qwen2_5_vl": "Qwen2.5-VL", "qwen3_vl": "Qwen3-VL", "qwen3_vl_moe": "Qwen3-VL-MoE",
    "qwen3_5": "Qwen3.5", "qwen3_5_moe": "Qwen3.5-MoE",
    "glm4v": "GLM-4V", "glm4v_moe": "GLM-4.5V", "gemma3": "Gemma 3",
    "internvl": "InternVL (transformers' port, *-hf checkpoints)", "llava_onevision": "LLaVA-OneVision",
    "mllama": "Mllama (Llama 3.2 Vision)",
}
IMAGE_TEXT_CLASS = "AutoModelForImageTextToText"  # the Auto class harness/model/modeling.py loads with

NEW_FAMILY = (f"A new family needs (1) a model class that {IMAGE_TEXT_CLASS} loads: in transformers, or in the "
              f"checkpoint's auto_map under \"{IMAGE_TEXT_CLASS}\" with model.trust_remote_code=true, whose forward "
              "takes input_ids, attention_mask, the processor's image tensors and a transformers Cache; (2) an "
              "AutoProcessor with a chat template that places images; (3) if its stop token or positions "
              "differ from the chat default (the tokenizer's EOS, 1-D positions), an Adapter registered for its "
              "model_type in harness/model/adapters.py (end_of_turn, position hooks)")


def supported_families() -> str:
    """The family names with their model_type; LLaVA has no adapter of its own (the generic chat one fits it)."""
    return ", ".join(f"{name} ({kind})" for kind, name in SUPPORTED.items())


def checkpoint_problem(path: str | Path) -> str | None:
    """Why the checkpoint at `path` cannot be trained here, or None (also when there is no config.json to read:
    a path on another machine, a LoRA folder; loading reports those)."""
    config_file = Path(path) / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError):
        return None
    auto_map = config.get("auto_map") if isinstance(config, dict) else None
    if not isinstance(auto_map, dict) or IMAGE_TEXT_CLASS in auto_map:
        return None
    return (f"{config_file} is a remote-code checkpoint (model_type {config.get('model_type')!r}, auto_map "
            f"{sorted(auto_map)}) with no {IMAGE_TEXT_CLASS} class, so it cannot be loaded or trained here "
            f"(model.trust_remote_code does not change that). Supported families: {supported_families()}; "
            f"other image-text-to-text models in transformers run with the generic chat adapter. {NEW_FAMILY}.")
