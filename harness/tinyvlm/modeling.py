"""Tiny LLaVA-style vision-language model: conv vision tower + pre-LN causal transformer decoder."""

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import CausalLMOutputWithPast

from .configuration import TinyVLMConfig


class TinyVisionTower(nn.Module):
    """Conv stem: stride-2 3x3 convs with GELU, then a kernel=stride conv giving one feature per image cell.

    Input (B, 3, image_size, image_size) -> output (B, num_cells, vision_channels[-1]), cells in
    row-major order.
    """

    def __init__(self, config: TinyVLMConfig):
        super().__init__()
        layers, in_channels = [], 3
        for channels in config.vision_channels:
            layers += [nn.Conv2d(in_channels, channels, kernel_size=3, stride=2, padding=1), nn.GELU()]
            in_channels = channels
        cell_kernel = config.cell_size // 2 ** len(config.vision_channels)
        layers += [nn.Conv2d(in_channels, in_channels, kernel_size=cell_kernel, stride=cell_kernel), nn.GELU()]
        self.stem = nn.Sequential(*layers)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Return one feature vector per cell, shape (B, num_cells, channels)."""
        return self.stem(pixel_values).flatten(2).transpose(1, 2)


class TinyVLMMultiModalProjector(nn.Module):
    """Linear map from cell features to the decoder width, plus a learned embedding per cell position."""

    def __init__(self, config: TinyVLMConfig):
        super().__init__()
        self.linear = nn.Linear(config.vision_channels[-1], config.hidden_size)
        self.cell_position = nn.Embedding(config.num_image_tokens, config.hidden_size)

    def forward(self, cell_features: torch.Tensor) -> torch.Tensor:
        """(B, num_cells, channels) -> (B, num_cells, hidden_size)."""
        return self.linear(cell_features) + self.cell_position.weight


class TinyVLMAttention(nn.Module):
    """Multi-head causal self-attention through SDPA; keys/values go through the (optional) KV cache."""

    def __init__(self, config: TinyVLMConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.dropout = config.dropout
        self.qkv_proj = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor, cache: Cache | None,
                rotary: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """attention_mask: boolean (B or 1, 1, query_len, key_len), True where attending is allowed."""
        batch, length, _ = hidden_states.shape
        qkv = self.qkv_proj(hidden_states).view(batch, length, 3, self.num_heads, self.head_dim)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        (query, key), value = apply_rotary(qkv[:2], *rotary), qkv[2]  # one call rotates queries and keys
        if cache is not None and getattr(cache, "is_shared", lambda _: False)(self.layer_idx):
            out = cache.attend(self.layer_idx, query, key, value, attention_mask)
        else:
            if cache is not None:
                key, value = cache.update(key, value, self.layer_idx)
            dropout = self.dropout if self.training else 0.0
            out = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=dropout)
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, -1))


class TinyVLMDecoderLayer(GradientCheckpointingLayer):
    """Pre-LN transformer block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, config: TinyVLMConfig, layer_idx: int):
        super().__init__()
        self.attn_norm = nn.LayerNorm(config.hidden_size)
        self.attn = TinyVLMAttention(config, layer_idx)
        self.mlp_norm = nn.LayerNorm(config.hidden_size)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden_size, config.intermediate_size),
            nn.GELU(),
            nn.Linear(config.intermediate_size, config.hidden_size),
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states, attention_mask=None, cache: Cache | None = None, rotary=None):
        """Apply the block; `cache` is updated in place."""
        hidden_states = hidden_states + self.dropout(self.attn(self.attn_norm(hidden_states), attention_mask, cache, rotary))
        return hidden_states + self.dropout(self.mlp(self.mlp_norm(hidden_states)))


def rotary_tables(position_ids: torch.Tensor, head_dim: int, base: float = 10000.0):
    """cos/sin of rotary position embeddings, shaped (B, 1, T, head_dim) for broadcasting over heads."""
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, device=position_ids.device, dtype=torch.float32) / head_dim)
    freqs = position_ids[..., None].float() * inv_freq
    angles = torch.cat([freqs, freqs], dim=-1)[:, None]
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


def default_position_ids(attention_mask: torch.Tensor | None, past_length: int, query_length: int, device):
    """Positions of the new tokens: count of real tokens before each one, so left padding shifts nothing."""
    if attention_mask is None:
        return torch.arange(past_length, past_length + query_length, device=device).unsqueeze(0)
    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    return positions[:, -query_length:]


def build_attention_mask(attention_mask: torch.Tensor | None, past_length: int, query_length: int, device):
    """Boolean SDPA mask (B or 1, 1, query_length, past_length + query_length): causal AND not padding."""
    key_length = past_length + query_length
    query_positions = torch.arange(past_length, key_length, device=device)
    causal = torch.arange(key_length, device=device)[None, :] <= query_positions[:, None]
    mask = causal[None, None]
    if attention_mask is None:
        return mask
    if attention_mask.shape[-1] != key_length:
        raise ValueError(
            f"attention_mask covers {attention_mask.shape[-1]} positions, expected cache + input = {key_length}"
        )
    mask = mask & attention_mask[:, None, None, :].bool()
    # A left-pad query sees no key at all, which gives NaN in some SDPA kernels (CPU returns 0,
    # CUDA ones may not); letting it see everything is harmless as pads are never attended to as keys.
    return mask | ~mask.any(dim=-1, keepdim=True)


class TinyVLMForConditionalGeneration(PreTrainedModel, GenerationMixin):
    """Tiny vision-language model (~1M parameters at the default config).

    `input_ids` carry `config.num_image_tokens` copies of `config.image_token_id` per image
    (`TinyVLMProcessor` expands "<image>"); their embeddings are replaced by the projected
    cell features of `pixel_values` (B, 3, H, W), one image per sample. The decoder is a
    pre-LN causal transformer with learned absolute positions and an lm_head tied to the
    token embeddings. The KV cache is a transformers `Cache` (a `DynamicCache` by default);
    all per-batch state lives in it, so `batch_repeat_interleave` / `batch_select_indices`
    on the cache (together with the matching rows of `attention_mask`) are all a decode loop needs.
    """

    config_class = TinyVLMConfig
    config: TinyVLMConfig
    main_input_name = "input_ids"
    base_model_prefix = ""
    _no_split_modules = ["TinyVLMDecoderLayer", "TinyVisionTower"]
    _tied_weights_keys = {"lm_head.weight": "embed_tokens.weight"}
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_shared_prefix_cache = True  # its attention reads a harness.rollout.kvcache.SharedPrefixCache

    def __init__(self, config: TinyVLMConfig):
        super().__init__(config)
        if config.vocab_size is None or config.image_token_id is None:
            raise ValueError("TinyVLMConfig needs vocab_size and image_token_id (take them from the tokenizer)")
        self.vision_tower = TinyVisionTower(config)
        self.multi_modal_projector = TinyVLMMultiModalProjector(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.embed_dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(TinyVLMDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = nn.LayerNorm(config.hidden_size)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        """Token embedding table (tied to `lm_head`)."""
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding):
        """Replace the token embedding table."""
        self.embed_tokens = value

    def get_output_embeddings(self) -> nn.Linear:
        """The language-model head."""
        return self.lm_head

    @torch.no_grad()
    def _init_weights(self, module):
        """Small normal init for linear/embedding weights; He init for convs so image signal survives the stem."""
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, nonlinearity="relu")
            init.zeros_(module.bias)
        elif isinstance(module, (nn.Linear, nn.Embedding)):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if getattr(module, "bias", None) is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, num_image_tokens, hidden_size) visual token embeddings."""
        cell_features = self.vision_tower(pixel_values.to(self.multi_modal_projector.linear.weight.dtype))
        return self.multi_modal_projector(cell_features)

    def embed_inputs(self, input_ids: torch.LongTensor, pixel_values: torch.Tensor | None) -> torch.Tensor:
        """Token embeddings with the image-token slots overwritten by the visual features (LLaVA merge)."""
        embeds = self.embed_tokens(input_ids)
        image_mask = input_ids == self.config.image_token_id
        # Decode steps carry no image tokens: pixel_values (if passed again) is ignored.
        if pixel_values is None or not image_mask.any():
            return embeds
        features = self.get_image_features(pixel_values).to(embeds.dtype)
        if image_mask.sum() != features.shape[0] * features.shape[1]:
            raise ValueError(
                f"{int(image_mask.sum())} image tokens in input_ids but {features.shape[0]} images x "
                f"{features.shape[1]} tokens in pixel_values"
            )
        return embeds.masked_scatter(image_mask.unsqueeze(-1), features)

    def forward(
        self,
        input_ids: torch.LongTensor,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        labels: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        """Run the model on new tokens `input_ids` (B, T) given an optional KV cache.

        `attention_mask` is the 2D padding mask over cache + new tokens (1 = real token).
        transformers 5 calls the cache `cache` (generate passes it under that name);
        `past_key_values` is accepted as an alias. With `labels` the shifted next-token
        cross-entropy (ignoring -100) is returned as `loss`. `logits_to_keep=n > 0` computes
        logits for the last n positions only. The returned `.cache` holds the updated cache.
        """
        if cache is not None and past_key_values is not None:
            raise ValueError("pass the KV cache as either `cache` or `past_key_values`, not both")
        cache = cache if cache is not None else past_key_values
        use_cache = use_cache if use_cache is not None else self.config.use_cache
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
        past_length = cache.get_seq_length() if cache is not None else 0
        query_length = input_ids.shape[1]
        if position_ids is None:
            position_ids = default_position_ids(attention_mask, past_length, query_length, input_ids.device)

        # Rotary (relative) positions: learned absolute embeddings left late positions under-trained in
        # a few thousand CPU steps, which showed as misspelled copies late in responses.
        hidden = self.embed_inputs(input_ids, pixel_values)
        rotary = rotary_tables(position_ids, self.config.hidden_size // self.config.num_attention_heads)
        hidden = self.embed_dropout(hidden)
        mask = build_attention_mask(attention_mask, past_length, query_length, input_ids.device)
        for layer in self.layers:
            hidden = layer(hidden, attention_mask=mask, cache=cache, rotary=rotary)
        hidden = self.norm(hidden)

        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden[:, keep, :])
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=cache if use_cache else None)

    # No prepare_inputs_for_generation override: in transformers 5 GenerationMixin already drops
    # pixel_values after prefill and builds/extends position_ids from the 2D attention_mask.
