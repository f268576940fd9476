"""Model adapters: prompt template and input plumbing per model family, chosen by config.model_type.

The trainer only talks to an adapter, so nothing in the core knows which VLM it drives. An adapter
turns (question, image, mode) into model inputs for sampling and (prompt, response) pairs into
labelled training batches.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from harness.data.images import load_image
from harness.registry import Registry

ADAPTERS = Registry("model adapter")

# The paper's extra instruction to elicit chain of thought (its Appendix B).
PAPER_COT_INSTRUCTION = ("Offer a comprehensive breakdown of your analytical process, detailing each step, the "
                         "reasoning behind your decisions, and how you integrated various pieces of information, "
                         "and put your answer at the end.")


def accepts(model, name: str) -> bool:
    """Whether the model's forward takes this argument (generate's rule for optional inputs).

    A PEFT wrapper's forward takes *args/**kwargs and passes them through: ask the model it wraps."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return name in inspect.signature(base.forward).parameters


def on_device(inputs: dict, model) -> dict:
    """The batch on the model's device (processors return CPU tensors; a no-op on CPU)."""
    device = next(model.parameters()).device
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids from a left-padded mask: the count of real tokens before each one."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def response_start(prompt_ids: list[int], full_ids: list[int]) -> int:
    """Where the response starts in prompt+response tokens: after their longest common prefix.

    The prompt's tokens are normally a prefix of prompt+response's; where a tokenizer merges across the
    boundary (e.g. a template ending in a space, then BPE's " The"), the merged token carries response
    text, so it is trained on rather than silently mislabelled.

    >>> response_start([5, 6, 7], [5, 6, 7, 8]), response_start([5, 6, 9], [5, 6, 10, 8])
    (3, 2)
    """
    n = 0
    for a, b in zip(prompt_ids, full_ids):
        if a != b:
            break
        n += 1
    return n


def image_of(p: "Prompt") -> Image.Image:
    return p.image if isinstance(p.image, Image.Image) else load_image(p.image)


@dataclass
class Prompt:
    """What the model is asked: question text (with choices), image, and how to answer."""

    question: str
    image: Path | Image.Image   # a file, or an in-memory image (the embedded base corpus)
    cot: bool = True            # add the chain-of-thought instruction
    hint: str | None = None     # the gold answer shown in the prompt (warm-up rationalisation)
    prefix: str = ""            # the start of the response, to be continued (Monte-Carlo completions)


class Adapter:
    """Chat-template adapter for Hugging Face image-text-to-text models (LLaVA, Idefics3, Qwen2-VL...)."""

    cot_instruction = PAPER_COT_INSTRUCTION
    end_of_turn: str | None = None  # token closing an assistant turn, when it is not the tokenizer's EOS
    vision_tower_names = ("vision_tower", "vision_model", "visual")  # submodules freeze_vision freezes
    images_per_prompt = False  # pass the processor a list of images per prompt, not one flat list

    def __init__(self, processor):
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.eos_token_id = self._stop_token_id()

    def _stop_token_id(self) -> int:
        """The family's end-of-turn token if the vocabulary has it, else the tokenizer's EOS."""
        if self.end_of_turn and self.end_of_turn in self.tokenizer.get_vocab():
            return self.tokenizer.convert_tokens_to_ids(self.end_of_turn)
        return self.tokenizer.eos_token_id

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
        if self.images_per_prompt:  # one list per text: processors that read a flat list as one prompt's images
            images = [[image] for image in images]
        return dict(self.processor(text=texts, images=images, padding=True, return_tensors="pt"))

    def encode_prompts(self, prompts: list[Prompt]) -> dict[str, torch.Tensor]:
        return self.encode([self.render(p) + p.prefix for p in prompts], [image_of(p) for p in prompts])

    def encode_train(self, prompts: list[Prompt], responses: list[str]) -> dict[str, torch.Tensor]:
        """Prompt + response + EOS, with labels only on the response (and EOS) tokens."""
        rendered = [self.render(p) for p in prompts]
        images = [image_of(p) for p in prompts]
        eos = self.tokenizer.decode([self.eos_token_id])
        full = self.encode([r + resp + eos for r, resp in zip(rendered, responses)], images)
        prompt = self.encode(rendered, images)
        ids, labels = full["input_ids"], torch.full_like(full["input_ids"], -100)
        for row, (fmask, pmask) in enumerate(zip(full["attention_mask"].bool(), prompt["attention_mask"].bool())):
            pad = int((~fmask).sum())  # left padding: the real tokens are the last ones
            start = pad + response_start(prompt["input_ids"][row][pmask].tolist(), ids[row][fmask].tolist())
            labels[row, start:] = ids[row, start:]
        return {**full, "labels": labels}

    # Position hooks: how a left-padded batch is numbered. The default is 1-D positions counted from each
    # row's first real token, passed only if forward takes them; a family with another scheme overrides.
    def position_ids(self, model, inputs: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Position ids of a whole left-padded batch (prefill or training); None lets the model number it."""
        return positions(inputs["attention_mask"]) if accepts(model, "position_ids") else None

    def next_positions(self, position_ids: torch.Tensor | None, attention_mask: torch.Tensor) -> torch.Tensor:
        """Position of each row's first generated token."""
        return attention_mask.sum(1)

    def step_position_ids(self, next_pos: torch.Tensor) -> torch.Tensor:
        """Position ids of one new token per row, from each row's scalar position."""
        return next_pos.unsqueeze(1)

    def step_inputs(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-row inputs every decode step needs besides the token, mask, cache and positions (batch first; the
        sampler repeats them with the cache and drops the rows it drops). None by default."""
        return {}

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


@ADAPTERS.register("idefics3")
@ADAPTERS.register("smolvlm")
class Idefics3Adapter(Adapter):
    """Idefics3 / SmolVLM: an assistant turn ends with <end_of_utterance>, not the tokenizer's EOS."""

    end_of_turn = "<end_of_utterance>"


@ADAPTERS.register("gemma3")
class Gemma3Adapter(Adapter):
    """Gemma 3: a turn ends with <end_of_turn>; <eos> ends the document, which a chat model rarely emits.

    The processor's token_type_ids (image tokens attend to each other both ways) go to the prefill with the
    rest of the batch; decode steps pass none, as transformers' generate does."""

    end_of_turn = "<end_of_turn>"
    images_per_prompt = True


@ADAPTERS.register("internvl")
@ADAPTERS.register("llava_onevision")
class ChatMLAdapter(Adapter):
    """ChatML turns on a Qwen2 decoder, so a turn ends with <|im_end|>: InternVL (transformers' native port,
    InternVL3-*-hf) and LLaVA-OneVision. Their processors expand each image into its tiles' tokens (InternVL
    between <img> and </img>; LLaVA-OneVision anyres tiles with image-newline features, as many as the image's
    shape asks for)."""

    end_of_turn = "<|im_end|>"


@ADAPTERS.register("mllama")
class MllamaAdapter(Adapter):
    """Mllama (Llama 3.2 Vision): a turn ends with <|eot_id|>. Text reads the image through cross-attention layers
    whose keys the prefill caches; every decode step passes the cross-attention mask of its new token (which images
    and tiles it may read: the last prompt token's, as generate extends it)."""

    end_of_turn = "<|eot_id|>"
    images_per_prompt = True

    def step_inputs(self, inputs):
        return {"cross_attention_mask": inputs["cross_attention_mask"][:, -1:]}


def _rope_index(model):
    """The get_rope_index of a multimodal-RoPE model, wherever it sits (under a PEFT wrapper too)."""
    for module in model.modules():
        if hasattr(module, "get_rope_index"):
            return module.get_rope_index
    raise TypeError(f"{type(model).__name__} has no get_rope_index: not a multimodal-RoPE (Qwen2-VL-style) model")


@ADAPTERS.register("qwen2_vl")
@ADAPTERS.register("qwen2_5_vl")
@ADAPTERS.register("qwen3_vl")
@ADAPTERS.register("qwen3_vl_moe")
@ADAPTERS.register("qwen3_5")
@ADAPTERS.register("qwen3_5_moe")
class MRopeAdapter(Adapter):
    """Multimodal RoPE (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Qwen3.5 and their MoE variants; GLM-4V below): three
    position rows (time, height, width).

    Image tokens are numbered by their grid cell, so text after an image sits at fewer positions than
    tokens before it; the per-row shift is carried into decoding. The sampler drops finished rows, so the
    positions are passed explicitly rather than left to the model's cached `rope_deltas`. The numbering is
    the model's own `get_rope_index` (one signature across these families in transformers 5: it reads
    the merge size from the model's vision config and splits video grids per frame where the family
    does), so only its inputs are gathered here. A MoE variant inherits its dense sibling's `get_rope_index`
    and processor, and keeps its stop token.
    """

    end_of_turn = "<|im_end|>"

    def position_ids(self, model, inputs):
        grids = {k: inputs[k] for k in ("image_grid_thw", "video_grid_thw") if inputs.get(k) is not None}
        pos, _ = _rope_index(model)(inputs["input_ids"], mm_token_type_ids=inputs["mm_token_type_ids"],
                                    attention_mask=inputs["attention_mask"], **grids)
        return pos

    def next_positions(self, position_ids, attention_mask):
        return position_ids.amax(dim=(0, 2)) + 1

    def step_position_ids(self, next_pos):
        return next_pos.view(1, -1, 1).expand(3, -1, 1)


@ADAPTERS.register("glm4v")
@ADAPTERS.register("glm4v_moe")
class Glm4vAdapter(MRopeAdapter):
    """GLM-4V / GLM-4.1V and GLM-4.5V (glm4v_moe): Qwen2-VL's multimodal RoPE; the model ends its turn by opening
    the next user turn."""

    end_of_turn = "<|user|>"


def adapter_for(model, processor) -> Adapter:
    """The registered adapter for the model's config.model_type, else the generic chat one."""
    kind = getattr(model.config, "model_type", "")
    return ADAPTERS.get(kind if kind in ADAPTERS else "chat")(processor)
