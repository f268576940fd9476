"""Configuration of the tiny vision-language model."""

from huggingface_hub.dataclasses import strict
from transformers import PretrainedConfig


@strict
class TinyVLMConfig(PretrainedConfig):
    """Hyper-parameters of `TinyVLMForConditionalGeneration`.

    transformers 5 turns every config subclass into a keyword-only dataclass, so the
    fields are declared as annotated class attributes instead of `__init__` arguments.
    `vocab_size` and the special token ids come from the tokenizer (see
    `harness.tinyvlm.build_tiny_vlm`). The image is cut into a grid of
    `cell_size` x `cell_size` pixel cells and each cell becomes one visual token.
    """

    model_type = "tinyvlm"

    vocab_size: int | None = None
    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 512
    max_position_embeddings: int = 384
    image_size: int = 48
    cell_size: int = 16
    vision_channels: list[int] | tuple[int, ...] = (32, 64)
    dropout: float = 0.0
    initializer_range: float = 0.02
    image_token_id: int | None = None
    pad_token_id: int | None = None
    eos_token_id: int | None = None
    bos_token_id: int | None = None
    tie_word_embeddings: bool = True
    use_cache: bool = True

    @property
    def num_image_tokens(self) -> int:
        """Number of visual tokens per image: one per cell of the grid."""
        return (self.image_size // self.cell_size) ** 2

    def validate_architecture(self):
        """Check that the shapes fit together (run by `@strict` on init and on load)."""
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} not divisible by {self.num_attention_heads} heads")
        if self.image_size % self.cell_size:
            raise ValueError(f"image_size {self.image_size} not divisible by cell_size {self.cell_size}")
        stem_stride = 2 ** len(self.vision_channels)
        if self.cell_size % stem_stride:
            raise ValueError(f"cell_size {self.cell_size} not divisible by the conv stem stride {stem_stride}")
