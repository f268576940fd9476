"""A tiny random-init LLaVA (CLIP vision tower + Llama decoder) built offline, to run the trainer on a real
transformers architecture instead of the embedded model.

Nothing is downloaded: the model comes from configs, the processor from a PIL-backend CLIP image processor
and our character tokenizer, with a short Jinja chat template.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from PIL import Image

from harness.tinyvlm import build_char_tokenizer
from harness.tinyvlm.tokenization import IMAGE_TOKEN

IMAGE_SIZE = 32


def make_image(seed: int, size=(40, 30)) -> Image.Image:
    """A random RGB image (fixed by seed)."""
    g = torch.Generator().manual_seed(seed)
    return Image.fromarray(torch.randint(0, 256, (size[1], size[0], 3), generator=g, dtype=torch.uint8).numpy())


def greedy_generate_texts(model, adapter, prompts, max_new: int) -> list[str]:
    """Reference: transformers' own generate on the adapter's left-padded batch, cut at EOS like hf_sample."""
    batch = adapter.encode_prompts(prompts)
    assert batch["attention_mask"][0, 0] == 0  # the first prompt really is left-padded
    with torch.no_grad():
        out = model.generate(**batch, do_sample=False, max_new_tokens=max_new)
    texts = []
    for row in out[:, batch["input_ids"].shape[1]:].tolist():
        row = row[:row.index(adapter.eos_token_id)] if adapter.eos_token_id in row else row
        texts.append(adapter.decode(row))
    return texts
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


def _char_tokenizer_with(tokens: list[str]):
    """The character tokenizer plus a family's special tokens (each one token, as in the real vocabularies)."""
    tokenizer = build_char_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": tokens})
    return tokenizer


def _tiny_llama(tokenizer, **special):
    from transformers import LlamaConfig

    return LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=1024, **special)


# SmolVLM's template, shortened: "User:<image>question<end_of_utterance>\nAssistant:" then the answer.
IDEFICS3_TEMPLATE = (
    "{% for m in messages %}{{ 'User:' if m['role'] == 'user' else 'Assistant:' }}"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


def build_tiny_idefics3(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random `Idefics3ForConditionalGeneration` (SmolVLM's architecture) and its processor.

    No image splitting: each image is one 32x32 global tile, 16 patches of 8 px pixel-shuffled by 2 into
    4 image tokens between <fake_token_around_image><global-img> ... <fake_token_around_image>."""
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor, Idefics3VisionConfig
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    path = Path(path)
    tokenizer = _char_tokenizer_with(["<fake_token_around_image>", "<global-img>", "<end_of_utterance>"])
    special = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                   bos_token_id=tokenizer.bos_token_id)
    vision = Idefics3VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                  image_size=IMAGE_SIZE, patch_size=8)
    config = Idefics3Config(vision_config=vision, text_config=_tiny_llama(tokenizer, **special), scale_factor=2,
                            image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN), **special)
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<end_of_utterance>")  # as SmolVLM's
    image_processor = Idefics3ImageProcessorPil(do_image_splitting=False, size={"longest_edge": IMAGE_SIZE},
                                                max_image_size={"longest_edge": IMAGE_SIZE})
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=4,
                                  chat_template=IDEFICS3_TEMPLATE)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


# Qwen2-VL's template without the system turn; the image placeholder is the tokenizer's image token.
QWEN2_VL_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><image><|vision_end|>{% elif c['type'] == 'text' %}"
    "{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


QWEN_VISION_TOKENS = {"video_token": "<|video_pad|>", "vision_start_token": "<|vision_start|>",
                      "vision_end_token": "<|vision_end|>"}


def image_only_processor(processor_cls, config_cls, tokens: dict[str, str] = QWEN_VISION_TOKENS):
    """`processor_cls` (a Qwen-VL-style processor) without its video processor, registered with AutoProcessor
    for `config_cls`.

    transformers builds a processor only if every sub-processor class resolves, and these families' video
    processors need torchvision, of which this machine's package mirror has only CUDA builds that do not
    load with the CPU torch. Images go through the real processor code (placeholder expansion by
    image_grid_thw, mm_token_type_ids); only video is missing. On a cluster the real processor loads.
    `tokens` are the attributes the processor's own __init__ sets (`name` and `name_id`) besides the image token."""
    from transformers import AutoProcessor
    from transformers.processing_utils import ProcessorMixin

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        for name, token in tokens.items():
            setattr(self, name, token)
            setattr(self, f"{name}_id", tokenizer.convert_tokens_to_ids(token))
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    cls = type(f"ImageOnly{processor_cls.__name__}", (processor_cls,), {"__init__": __init__})
    AutoProcessor.register(config_cls, cls, exist_ok=True)
    return cls


def image_only_qwen2_vl_processor():
    from transformers import Qwen2VLConfig, Qwen2VLProcessor

    return image_only_processor(Qwen2VLProcessor, Qwen2VLConfig)


def build_tiny_qwen2_vl(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random `Qwen2VLForConditionalGeneration` and an (image-only) Qwen2-VL processor.

    Images are resized to multiples of 16 px (8-px patches merged 2x2) within 16x16..32x32 pixels, so a
    48x48 image gives a 4x4 patch grid = 4 image tokens and a 64x16 one a 2x8 grid: rows of one batch
    differ in their multimodal RoPE shift, which is what the position hooks must get right."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    path = Path(path)
    tokenizer = _char_tokenizer_with(["<|vision_start|>", "<|vision_end|>", "<|video_pad|>", "<|im_start|>",
                                      "<|im_end|>"])
    ids = tokenizer.convert_tokens_to_ids
    special = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=ids("<|im_end|>"),
                   bos_token_id=tokenizer.bos_token_id)
    head_dim = 64 // 4
    text = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                vocab_size=len(tokenizer), max_position_embeddings=1024,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, head_dim // 2 - 5]},
                **special)
    vision = dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=8, spatial_merge_size=2,
                  temporal_patch_size=2)
    config = Qwen2VLConfig(vision_config=vision, text_config=text, image_token_id=ids(IMAGE_TOKEN),
                           video_token_id=ids("<|video_pad|>"), vision_start_token_id=ids("<|vision_start|>"),
                           vision_end_token_id=ids("<|vision_end|>"), **special)
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).eval()
    image_processor = Qwen2VLImageProcessorPil(min_pixels=16 * 16, max_pixels=IMAGE_SIZE * IMAGE_SIZE, patch_size=8,
                                               merge_size=2, temporal_patch_size=2)
    processor = image_only_qwen2_vl_processor()(image_processor=image_processor, tokenizer=tokenizer,
                                                chat_template=QWEN2_VL_TEMPLATE)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


QWEN_SPECIAL = ("<|vision_start|>", "<|vision_end|>", "<|video_pad|>", "<|im_start|>", "<|im_end|>")


def _qwen_tokenizer():
    """The character tokenizer with Qwen's chat and vision tokens (the image token is ours, `<image>`)."""
    return _char_tokenizer_with(list(QWEN_SPECIAL))


def _save_qwen3_family(path: Path, model_cls, config, tokenizer, seed: int) -> Path:
    """Build a tiny random model of `model_cls` from `config`, stopping at <|im_end|>, and save it with an
    (image-only) Qwen3-VL processor of the tiny Qwen2-VL's image geometry (Qwen3-VL and Qwen3.5 share both)."""
    from transformers import Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    torch.manual_seed(seed)
    model = model_cls(config).eval()
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    image_processor = Qwen2VLImageProcessorPil(min_pixels=16 * 16, max_pixels=IMAGE_SIZE * IMAGE_SIZE, patch_size=8,
                                               merge_size=2, temporal_patch_size=2)
    processor = image_only_processor(Qwen3VLProcessor, type(config))(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=QWEN2_VL_TEMPLATE)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def build_tiny_qwen3_vl(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random `Qwen3VLForConditionalGeneration` (interleaved multimodal RoPE, deepstack features
    into the first decoder layer) and an (image-only) Qwen3-VL processor.

    The same image geometry as the tiny Qwen2-VL (8-px patches merged 2x2, 16x16..32x32 pixels), so rows of a
    batch differ in their RoPE shift; the vision tower has a learned position table (num_position_embeddings)
    interpolated to each grid."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    return _build_qwen3_vl(path, seed, Qwen3VLConfig, Qwen3VLForConditionalGeneration)


# Four experts of which each token takes two, every decoder layer sparse (Qwen3-VL-30B-A3B's layout, scaled down).
QWEN3_VL_MOE_TEXT = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, decoder_sparse_step=1)


def build_tiny_qwen3_vl_moe(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random `Qwen3VLMoeForConditionalGeneration` (Qwen3-VL-30B-A3B's architecture: the tiny Qwen3-VL
    with sparse mixture-of-experts MLPs in both decoder layers) and the same (image-only) Qwen3-VL processor."""
    from transformers import Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration

    return _build_qwen3_vl(path, seed, Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration, **QWEN3_VL_MOE_TEXT)


def _build_qwen3_vl(path: str | Path, seed: int, config_cls, model_cls, **text_kwargs) -> Path:
    """The tiny Qwen3-VL as `model_cls` from `config_cls`, its text config extended by `text_kwargs` (a MoE variant's
    expert settings)."""
    path = Path(path)
    tokenizer = _qwen_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    special = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=ids("<|im_end|>"),
                   bos_token_id=tokenizer.bos_token_id)
    head_dim = 16
    text = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, head_dim=head_dim, vocab_size=len(tokenizer), max_position_embeddings=1024,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_interleaved": True,
                                 "mrope_section": [2, 3, head_dim // 2 - 5]}, **special, **text_kwargs)
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, spatial_merge_size=2,
                  temporal_patch_size=2, out_hidden_size=64, num_position_embeddings=16, deepstack_visual_indexes=[0])
    config = config_cls(vision_config=vision, text_config=text, image_token_id=ids(IMAGE_TOKEN),
                        video_token_id=ids("<|video_pad|>"), vision_start_token_id=ids("<|vision_start|>"),
                        vision_end_token_id=ids("<|vision_end|>"), tie_word_embeddings=False)
    return _save_qwen3_family(path, model_cls, config, tokenizer, seed)


def _char_tokenizer_named(tokens: list[str], **named: str):
    """The character tokenizer plus special tokens, some exposed as tokenizer attributes (`boi_token`, ...), as
    the real tokenizers' extra_special_tokens do (processors read them); saved and reloaded to set them."""
    import tempfile

    from transformers import AutoTokenizer

    tokenizer = _char_tokenizer_with(tokens)
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_pretrained(folder)
        return AutoTokenizer.from_pretrained(folder, extra_special_tokens={"image_token": IMAGE_TOKEN, **named})


# Gemma 3's template, shortened (no system turn): <bos><start_of_turn>user\n ... <end_of_turn>\n<start_of_turn>model\n
GEMMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<start_of_image>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def build_tiny_gemma3(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random `Gemma3ForConditionalGeneration` (SigLIP tower, average-pooled to 4 soft tokens per image;
    one sliding-window and one global decoder layer) and its `Gemma3Processor`.

    The sliding window (16 tokens) is shorter than the prompts, so the sampler's cache (full layers) must give
    what generate's sliding-window cache gives. The tokenizer's EOS is <eos>; a turn ends with <end_of_turn>. The
    embeddings are untied: tied ones (scaled by sqrt(hidden)) made the random model repeat one token whatever the
    prompt, which would leave the sampler-vs-generate check vacuous."""
    from transformers import (Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor, Gemma3TextConfig,
                              SiglipVisionConfig)
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    path = Path(path)
    tokenizer = _char_tokenizer_named(["<start_of_image>", "<end_of_image>", "<start_of_turn>", "<end_of_turn>"],
                                      boi_token="<start_of_image>", eoi_token="<end_of_image>")
    ids = tokenizer.convert_tokens_to_ids
    special = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                   bos_token_id=tokenizer.bos_token_id)
    text = Gemma3TextConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16,
                            sliding_window=16, layer_types=["sliding_attention", "full_attention"],
                            max_position_embeddings=1024, **special)
    vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                image_size=IMAGE_SIZE, patch_size=8)
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4,
                          boi_token_index=ids("<start_of_image>"), eoi_token_index=ids("<end_of_image>"),
                          image_token_index=ids(IMAGE_TOKEN), tie_word_embeddings=False, **special)
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, ids("<end_of_turn>")]  # as Gemma 3's
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    image_processor = Gemma3ImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_length=4,
                                chat_template=GEMMA3_TEMPLATE)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


# GLM-4.1V's template, shortened: [gMASK]<sop><|user|>\n ... <|assistant|>\n; the model ends its turn with <|user|>.
GLM4V_TEMPLATE = (
    "[gMASK]<sop>{% for m in messages %}<|{{ m['role'] }}|>\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|begin_of_image|><image><|end_of_image|>{% elif c['type'] == 'text' %}"
    "{{ c['text'] }}{% endif %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def build_tiny_glm4v(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random `Glm4vForConditionalGeneration` (GLM-4.1V's architecture: Qwen2-VL's multimodal RoPE)
    and an (image-only) GLM-4V processor, with the tiny Qwen2-VL's image geometry (8-px patches merged 2x2)."""
    from transformers import Glm4vConfig, Glm4vForConditionalGeneration

    return _build_glm4v(path, seed, Glm4vConfig, Glm4vForConditionalGeneration)


# The first decoder layer dense, the second sparse: four routed experts of which each token takes two, plus one shared
# expert (GLM-4.5V's layout, first_k_dense_replace=1, scaled down).
GLM4V_MOE_TEXT = dict(n_routed_experts=4, n_shared_experts=1, num_experts_per_tok=2, moe_intermediate_size=32,
                      first_k_dense_replace=1, n_group=1, topk_group=1)


def build_tiny_glm4v_moe(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random `Glm4vMoeForConditionalGeneration` (GLM-4.5V's architecture: the tiny GLM-4V with a
    mixture-of-experts second decoder layer) and the same (image-only) GLM-4V processor."""
    from transformers import Glm4vMoeConfig, Glm4vMoeForConditionalGeneration

    return _build_glm4v(path, seed, Glm4vMoeConfig, Glm4vMoeForConditionalGeneration, **GLM4V_MOE_TEXT)


def _build_glm4v(path: str | Path, seed: int, config_cls, model_cls, **text_kwargs) -> Path:
    """The tiny GLM-4V as `model_cls` from `config_cls`, its text config extended by `text_kwargs` (a MoE variant's
    expert settings)."""
    from transformers import Glm4vProcessor
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    path = Path(path)
    extra = ["[gMASK]", "<sop>", "<|user|>", "<|assistant|>", "<|begin_of_image|>", "<|end_of_image|>",
             "<|begin_of_video|>", "<|end_of_video|>", "<|video|>"]
    tokenizer = _char_tokenizer_with(extra)
    ids = tokenizer.convert_tokens_to_ids
    special = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    head_dim = 16
    text = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=1024,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5,
                                 "mrope_section": [1, 1, head_dim // 4 - 2]}, **special, **text_kwargs)
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, image_size=IMAGE_SIZE, patch_size=8,
                  spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=64)
    config = config_cls(vision_config=vision, text_config=text, image_token_id=ids(IMAGE_TOKEN),
                        video_token_id=ids("<|video|>"), image_start_token_id=ids("<|begin_of_image|>"),
                        image_end_token_id=ids("<|end_of_image|>"), video_start_token_id=ids("<|begin_of_video|>"),
                        video_end_token_id=ids("<|end_of_video|>"))
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, ids("<|user|>")]  # as GLM-4.1V's
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    # GLM-4V's pixel bounds count the 2 temporal frames an image is repeated into: 16x16..32x32 pixels per frame.
    image_processor = Glm4vImageProcessorPil(size={"shortest_edge": 2 * 16 * 16, "longest_edge": 2 * IMAGE_SIZE ** 2},
                                             patch_size=8, merge_size=2, temporal_patch_size=2)
    processor = image_only_processor(Glm4vProcessor, config_cls, {
        "video_token": "<|video|>", "video_start": "<|begin_of_video|>", "video_end": "<|end_of_video|>"})(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=GLM4V_TEMPLATE)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def _byte_level_char_tokenizer(tokens: list[str]):
    """The character tokenizer spelled as a byte-level BPE with no merges (space = "Ġ", newline = "Ċ"), plus a
    family's special tokens. For Qwen3.5, whose tokenizer class transformers imposes whatever the checkpoint says
    (a byte-level BPE that rebuilds its own pre-tokenizer): our plain character vocabulary would lose its spaces."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    from harness.tinyvlm.tokenization import BOS_TOKEN, CHARACTERS, EOS_TOKEN, PAD_TOKEN, SPECIAL_TOKENS, UNK_TOKEN

    byte = bytes_to_unicode()
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS + [byte[ord(c)] for c in CHARACTERS])}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(SPECIAL_TOKENS)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=PAD_TOKEN, bos_token=BOS_TOKEN,
                                        eos_token=EOS_TOKEN, unk_token=UNK_TOKEN, padding_side="left",
                                        extra_special_tokens={"image_token": IMAGE_TOKEN},
                                        clean_up_tokenization_spaces=False)
    tokenizer.add_special_tokens({"additional_special_tokens": tokens})
    return tokenizer


def build_tiny_qwen3_5(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random `Qwen3_5ForConditionalGeneration` (Qwen3.5: one Gated-DeltaNet linear-attention and one
    full-attention decoder layer, Qwen3-VL's vision tower and multimodal RoPE) and an (image-only) Qwen3-VL processor,
    with the tiny Qwen3-VL's image geometry."""
    from transformers import Qwen3_5Config, Qwen3_5ForConditionalGeneration

    return _build_qwen3_5(path, seed, Qwen3_5Config, Qwen3_5ForConditionalGeneration, intermediate_size=128)


# Four routed experts of which each token takes two, plus the shared expert, in both decoder layers (Qwen3.5-35B-A3B's
# layout, scaled down). The MoE text config has no dense intermediate_size: every MLP is sparse.
QWEN3_5_MOE_TEXT = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                        shared_expert_intermediate_size=32)


def build_tiny_qwen3_5_moe(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random `Qwen3_5MoeForConditionalGeneration` (Qwen3.5-35B-A3B's architecture: the tiny Qwen3.5,
    linear- and full-attention layers, with sparse mixture-of-experts MLPs) and the same (image-only) processor."""
    from transformers import Qwen3_5MoeConfig, Qwen3_5MoeForConditionalGeneration

    return _build_qwen3_5(path, seed, Qwen3_5MoeConfig, Qwen3_5MoeForConditionalGeneration, **QWEN3_5_MOE_TEXT)


def _build_qwen3_5(path: str | Path, seed: int, config_cls, model_cls, **mlp_kwargs) -> Path:
    """The tiny Qwen3.5 as `model_cls` from `config_cls`; `mlp_kwargs` size its MLPs (dense, or experts)."""
    path = Path(path)
    tokenizer = _byte_level_char_tokenizer(list(QWEN_SPECIAL))
    ids = tokenizer.convert_tokens_to_ids
    special = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=ids("<|im_end|>"),
                   bos_token_id=tokenizer.bos_token_id)
    head_dim = 16
    text = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, head_dim=head_dim, vocab_size=len(tokenizer), max_position_embeddings=1024,
                layer_types=["linear_attention", "full_attention"], linear_conv_kernel_dim=4,
                linear_key_head_dim=16, linear_value_head_dim=16, linear_num_key_heads=2, linear_num_value_heads=4,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_interleaved": True,
                                 "mrope_section": [2, 3, head_dim // 2 - 5], "partial_rotary_factor": 1.0},
                **special, **mlp_kwargs)
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, spatial_merge_size=2,
                  temporal_patch_size=2, out_hidden_size=64, num_position_embeddings=16)
    config = config_cls(vision_config=vision, text_config=text, image_token_id=ids(IMAGE_TOKEN),
                        video_token_id=ids("<|video_pad|>"), vision_start_token_id=ids("<|vision_start|>"),
                        vision_end_token_id=ids("<|vision_end|>"))
    return _save_qwen3_family(path, model_cls, config, tokenizer, seed)


# InternVL3-hf's template, shortened (no system turn): Qwen2's chat turns, the image placeholder on its own line.
INTERNVL_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_internvl(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random `InternVLForConditionalGeneration` (transformers' native InternVL, as InternVL3-*-hf: an
    InternViT tower, pixel shuffle 0.5, MLP projector, Qwen2 decoder) and an (image-only) InternVL processor.

    One 32x32 tile per image (no cropping into patches): 16 patches of 8 px shuffled into 4 <image> context tokens
    between <img> and </img>."""
    from transformers import InternVLConfig, InternVLForConditionalGeneration, InternVLProcessor, Qwen2Config
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil
    from transformers.processing_utils import ProcessorMixin

    path = Path(path)
    tokenizer = _char_tokenizer_named(["<img>", "</img>", "<video>", "<|im_start|>", "<|im_end|>"],
                                      start_image_token="<img>", end_image_token="</img>",
                                      context_image_token=IMAGE_TOKEN, video_token="<video>")
    ids = tokenizer.convert_tokens_to_ids
    special = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=ids("<|im_end|>"),
                   bos_token_id=tokenizer.bos_token_id)
    text = Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=1024, **special)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  image_size=[IMAGE_SIZE, IMAGE_SIZE], patch_size=[8, 8])
    config = InternVLConfig(vision_config=vision, text_config=text, image_token_id=ids(IMAGE_TOKEN),
                            image_seq_length=4, downsample_ratio=0.5, tie_word_embeddings=False, **special)
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    class ImageOnlyInternVLProcessor(InternVLProcessor):  # no video processor: see image_only_processor
        def __init__(self, image_processor=None, tokenizer=None, image_seq_length=256, chat_template=None, **kw):
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)
            self.image_seq_length = image_seq_length
            self.start_image_token, self.end_image_token = tokenizer.start_image_token, tokenizer.end_image_token
            self.start_image_token_id = tokenizer.start_image_token_id
            self.end_image_token_id = tokenizer.end_image_token_id
            self.image_token, self.image_token_id = tokenizer.context_image_token, tokenizer.context_image_token_id
            self.video_token = tokenizer.video_token
            self.multimodal_pattern = re.compile(
                f"(?P<image>{re.escape(self.image_token)})|(?P<video>{re.escape(self.video_token)})")

    from transformers import AutoProcessor

    AutoProcessor.register(InternVLConfig, ImageOnlyInternVLProcessor, exist_ok=True)
    image_processor = GotOcr2ImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                                               crop_to_patches=False, max_patches=1)
    processor = ImageOnlyInternVLProcessor(image_processor=image_processor, tokenizer=tokenizer, image_seq_length=4,
                                           chat_template=INTERNVL_TEMPLATE)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def build_tiny_llava_onevision(path: str | Path, seed: int = 1) -> Path:
    """Save a tiny random `LlavaOnevisionForConditionalGeneration` (SigLIP tower, anyres tiles with an image-newline
    embedding, Qwen2 decoder) and an (image-only) LLaVA-OneVision processor.

    Tiles are 32x32 (16 patches of 8 px, all kept: the "full" feature strategy) on a 32/64-px grid of pinpoints,
    so images of different shapes get different numbers of image tokens, as in the real model. Seed 1: with seed 0
    the random model ends every answer at once, which would leave the sampler-vs-generate check vacuous."""
    from transformers import (AutoProcessor, LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration,
                              LlavaOnevisionProcessor, Qwen2Config, SiglipVisionConfig)
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )
    from transformers.processing_utils import ProcessorMixin

    path = Path(path)
    tokenizer = _char_tokenizer_with(["<video>", "<|im_start|>", "<|im_end|>"])
    ids = tokenizer.convert_tokens_to_ids
    special = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=ids("<|im_end|>"),
                   bos_token_id=tokenizer.bos_token_id)
    pinpoints = [[IMAGE_SIZE, IMAGE_SIZE], [IMAGE_SIZE, 2 * IMAGE_SIZE], [2 * IMAGE_SIZE, IMAGE_SIZE]]
    text = Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=1024, **special)
    vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                image_size=IMAGE_SIZE, patch_size=8)
    config = LlavaOnevisionConfig(vision_config=vision, text_config=text, image_token_index=ids(IMAGE_TOKEN),
                                  video_token_index=ids("<video>"), vision_feature_select_strategy="full",
                                  vision_feature_layer=-1, image_grid_pinpoints=pinpoints, **special)
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    class ImageOnlyLlavaOnevisionProcessor(LlavaOnevisionProcessor):  # no video processor: see image_only_processor
        def __init__(self, image_processor=None, tokenizer=None, num_image_tokens=None,
                     vision_feature_select_strategy=None, chat_template=None, vision_aspect_ratio="anyres_max_9", **kw):
            self.num_image_tokens, self.vision_aspect_ratio = num_image_tokens, vision_aspect_ratio
            self.vision_feature_select_strategy = vision_feature_select_strategy
            self.image_token, self.image_token_id = IMAGE_TOKEN, tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
            self.video_token, self.video_token_id = "<video>", tokenizer.convert_tokens_to_ids("<video>")
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    AutoProcessor.register(LlavaOnevisionConfig, ImageOnlyLlavaOnevisionProcessor, exist_ok=True)
    image_processor = LlavaOnevisionImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                                                      image_grid_pinpoints=pinpoints)
    processor = ImageOnlyLlavaOnevisionProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                                 num_image_tokens=(IMAGE_SIZE // 8) ** 2,
                                                 vision_feature_select_strategy="full",
                                                 chat_template=INTERNVL_TEMPLATE)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


# Llama 3.2 Vision's template, shortened (no system turn, no date): header-delimited turns ending with <|eot_id|>.
MLLAMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def build_tiny_mllama(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random `MllamaForConditionalGeneration` (Llama 3.2 Vision: a tiled vision encoder with local and
    global layers; a Llama decoder whose second layer cross-attends to the image) and its `MllamaProcessor`.

    Images are cut into up to two 32x32 tiles (aspect ratios 1x1, 1x2, 2x1), so a wide image fills two tiles and a
    square one a single tile: rows of a batch differ in their cross-attention masks."""
    from transformers import MllamaConfig, MllamaForConditionalGeneration, MllamaProcessor
    from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

    path = Path(path)
    tokenizer = _char_tokenizer_with(["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|python_tag|>"])
    ids = tokenizer.convert_tokens_to_ids
    special = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                   bos_token_id=tokenizer.bos_token_id)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_global_layers=1, attention_heads=2,
                  intermediate_layers_indices=[0], vision_output_dim=64, image_size=IMAGE_SIZE, patch_size=8,
                  max_num_tiles=2, supported_aspect_ratios=[[1, 1], [1, 2], [2, 1]])
    text = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=1024,
                cross_attention_layers=[1], **special)
    config = MllamaConfig(vision_config=vision, text_config=text, image_token_index=ids(IMAGE_TOKEN))
    torch.manual_seed(seed)
    model = MllamaForConditionalGeneration(config).eval()
    with torch.no_grad():  # the gates start at 0 (a fresh model ignores its images): open them
        for name, param in model.named_parameters():
            if name.endswith(("cross_attn_attn_gate", "cross_attn_mlp_gate")):
                param.fill_(1.0)
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, ids("<|eot_id|>")]  # as Llama 3.2 Vision's
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    image_processor = MllamaImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, max_image_tiles=2)
    processor = MllamaProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=MLLAMA_TEMPLATE)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
