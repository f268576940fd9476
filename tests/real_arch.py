"""A tiny random-init LLaVA (CLIP vision tower + Llama decoder) built offline, to run the trainer on a real
transformers architecture instead of the embedded model.

Nothing is downloaded: the model comes from configs, the processor from a PIL-backend CLIP image processor
and our character tokenizer, with a short Jinja chat template.
"""
from __future__ import annotations

from pathlib import Path

import torch

from harness.tinyvlm import build_char_tokenizer
from harness.tinyvlm.tokenization import IMAGE_TOKEN

IMAGE_SIZE = 32
PATCH_SIZE = 16

# Short role tags: every character is a token. Image parts become "<image>\n", text parts their text.
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{{ 'U: ' if m['role'] == 'user' else 'A: ' }}"
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if m['role'] != 'user' %}<eos>{% endif %}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}A: {% endif %}"
)


def build_tiny_llava(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random `LlavaForConditionalGeneration` and its `LlavaProcessor` into `path`; return it."""
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    path = Path(path)
    tokenizer = build_char_tokenizer()
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    special = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                   bos_token_id=tokenizer.bos_token_id)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, projection_dim=32)
    text = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=1024, **special)
    # "default" drops CLIP's CLS token: (32 / 16)^2 = 4 image tokens per image.
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_token_id,
                         vision_feature_select_strategy="default", vision_feature_layer=-2,
                         image_seq_length=(IMAGE_SIZE // PATCH_SIZE) ** 2, **special)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id

    image_processor = CLIPImageProcessorPil(size={"shortest_edge": IMAGE_SIZE},
                                            crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH_SIZE,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=CHAT_TEMPLATE, image_token=IMAGE_TOKEN)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
