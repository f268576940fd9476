"""A tiny vision-language model packaged as a Hugging Face model.

Importing this package registers "tinyvlm" with AutoConfig, AutoModelForImageTextToText,
AutoModelForCausalLM, AutoImageProcessor and AutoProcessor, so a folder written by
`save_pretrained` loads back through the Auto classes like any checkpoint.
"""

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoProcessor,
)

from .configuration import TinyVLMConfig
from .modeling import TinyVLMForConditionalGeneration
from .processing import TinyVLMImageProcessor, TinyVLMProcessor
from .tokenization import IMAGE_TOKEN, build_char_tokenizer, build_subword_tokenizer

__all__ = [
    "TinyVLMConfig",
    "TinyVLMForConditionalGeneration",
    "TinyVLMImageProcessor",
    "TinyVLMProcessor",
    "build_char_tokenizer",
    "build_subword_tokenizer",
    "build_tiny_vlm",
]

AutoConfig.register(TinyVLMConfig.model_type, TinyVLMConfig, exist_ok=True)
AutoModelForImageTextToText.register(TinyVLMConfig, TinyVLMForConditionalGeneration, exist_ok=True)
AutoModelForCausalLM.register(TinyVLMConfig, TinyVLMForConditionalGeneration, exist_ok=True)
AutoImageProcessor.register(TinyVLMConfig, image_processor_classes={"pil": TinyVLMImageProcessor}, exist_ok=True)
AutoProcessor.register(TinyVLMConfig, TinyVLMProcessor, exist_ok=True)


def build_processor(config: TinyVLMConfig | None = None, tokenizer=None) -> TinyVLMProcessor:
    """The tokenizer (default: characters) + image processor sized for `config` (default config if None)."""
    config = config if config is not None else TinyVLMConfig()
    size = {"height": config.image_size, "width": config.image_size}
    return TinyVLMProcessor(
        image_processor=TinyVLMImageProcessor(size=size),
        tokenizer=tokenizer if tokenizer is not None else build_char_tokenizer(),
        num_image_tokens=config.num_image_tokens,
    )


def build_tiny_vlm(path_or_none: str | None = None, tokenizer=None, **config_overrides):
    """Return `(model, processor)`: a randomly initialised model and its processor.

    Vocabulary size and special token ids are taken from `tokenizer` (default: the character tokenizer);
    `config_overrides` set any other `TinyVLMConfig` field. With a path, both are also
    saved there (`save_pretrained`), ready for `AutoModelForImageTextToText` /
    `AutoProcessor.from_pretrained(path)`.
    """
    tokenizer = tokenizer if tokenizer is not None else build_char_tokenizer()
    config = TinyVLMConfig(**{
        "vocab_size": len(tokenizer),
        "image_token_id": tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        **config_overrides,
    })
    model = TinyVLMForConditionalGeneration(config)
    processor = build_processor(config, tokenizer)
    if path_or_none is not None:
        model.save_pretrained(path_or_none)
        processor.save_pretrained(path_or_none)
    return model, processor
