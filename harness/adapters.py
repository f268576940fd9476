"""Model adapters: prompt template and input plumbing per model family, chosen by config.model_type.

The trainer only talks to an adapter, so nothing in the core knows which VLM it drives. An adapter
turns (question, image, mode) into model inputs for sampling and (prompt, response) pairs into
labelled training batches.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from PIL import Image

from harness.registry import Registry

ADAPTERS = Registry("model adapter")

# The paper's extra instruction to elicit chain of thought (its Appendix B).
PAPER_COT_INSTRUCTION = ("Offer a comprehensive breakdown of your analytical process, detailing each step, the "
                         "reasoning behind your decisions, and how you integrated various pieces of information, "
                         "and put your answer at the end.")


def accepts(model, name: str) -> bool:
    """Whether the model's forward takes this argument (generate's rule for optional inputs)."""
    return name in inspect.signature(model.forward).parameters


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids from a left-padded mask: the count of real tokens before each one."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


@lru_cache(maxsize=65536)
def load_image(path: Path) -> Image.Image:
    """An RGB image, decoded once per process (datasets are read many times per run)."""
    with Image.open(path) as im:
        return im.convert("RGB")


def image_of(p: "Prompt") -> Image.Image:
    return p.image if isinstance(p.image, Image.Image) else load_image(p.image)


@dataclass
class Prompt:
    """What the model is asked: question text (with choices), image, and how to answer."""

    question: str
    image: Path | Image.Image   # a file, or an in-memory image (the embedded base corpus)
    cot: bool = True            # add the chain-of-thought instruction
    hint: str | None = None     # the gold answer shown in the prompt (warm-up rationalisation)


class Adapter:
    """Chat-template adapter for Hugging Face image-text-to-text models (LLaVA, Idefics3, Qwen2-VL...)."""

    cot_instruction = PAPER_COT_INSTRUCTION

    def __init__(self, processor):
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.eos_token_id = self.tokenizer.eos_token_id

    def user_text(self, p: Prompt) -> str:
        text = p.question
        if p.cot:
            text += "\n" + self.cot_instruction
        if p.hint is not None:
            text += f"\nThe answer is {p.hint}."
        return text

    def render(self, p: Prompt) -> str:
        """The full prompt string, ending where the response starts."""
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.user_text(p)}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True)

    def encode(self, texts: list[str], images: list[Image.Image]) -> dict[str, torch.Tensor]:
        """Left-padded model inputs for a batch of rendered texts and their images."""
        self.tokenizer.padding_side = "left"
        return dict(self.processor(text=texts, images=images, padding=True, return_tensors="pt"))

    def encode_prompts(self, prompts: list[Prompt]) -> dict[str, torch.Tensor]:
        return self.encode([self.render(p) for p in prompts], [image_of(p) for p in prompts])

    def encode_train(self, prompts: list[Prompt], responses: list[str]) -> dict[str, torch.Tensor]:
        """Prompt + response + EOS, with labels only on the response (and EOS) tokens."""
        rendered = [self.render(p) for p in prompts]
        images = [image_of(p) for p in prompts]
        eos = self.tokenizer.decode([self.eos_token_id])
        full = self.encode([r + resp + eos for r, resp in zip(rendered, responses)], images)
        prompt_lens = self.encode(rendered, images)["attention_mask"].sum(1)
        mask = full["attention_mask"]
        pad = mask.shape[1] - mask.sum(1)
        pos = torch.arange(mask.shape[1]).unsqueeze(0)
        labels = full["input_ids"].masked_fill(pos < (pad + prompt_lens).unsqueeze(1), -100)
        return {**full, "labels": labels}

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()


@ADAPTERS.register("tinyvlm")
class TinyVLMAdapter(Adapter):
    """The embedded model: a plain template with a short CoT instruction (every character costs a token)."""

    cot_instruction = "Think step by step."

    def render(self, p: Prompt) -> str:
        return f"<image>\n{self.user_text(p)}\n>"


@ADAPTERS.register("chat")
class ChatAdapter(Adapter):
    """Any model whose processor has a chat template with image placeholders."""


def adapter_for(model, processor) -> Adapter:
    """The registered adapter for the model's config.model_type, else the generic chat one."""
    kind = getattr(model.config, "model_type", "")
    return ADAPTERS.get(kind if kind in ADAPTERS else "chat")(processor)
