"""A KV cache that appends in place, for the sampler.

transformers' DynamicLayer concatenates on every decode step, copying the whole cache each time:
at 512 sequences that copying, not the model, dominated sampling time on CPU. This layer keeps
spare room and writes new keys/values into it, so a step copies only the new token's states.
A hybrid model's linear-attention layers (Qwen3.5's Gated DeltaNet) keep fixed-size conv and recurrent
states instead, which the sampler repeats and prunes by row like keys (`LinearStateLayer`).
"""
from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer, LinearAttentionLayer


class GrowingLayer(DynamicLayer):
    """DynamicLayer with a preallocated buffer; `keys`/`values` are views of its filled part."""

    reserve = 128  # spare positions allocated past the current length (set per cache)

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._k = self._v = None
        self._len = 0

    def _views(self) -> None:
        self.keys, self.values = self._k[..., : self._len, :], self._v[..., : self._len, :]

    def _grow(self, capacity: int, like: torch.Tensor, like_v: torch.Tensor) -> None:
        k = like.new_empty(*like.shape[:-2], capacity, like.shape[-1])
        v = like_v.new_empty(*like_v.shape[:-2], capacity, like_v.shape[-1])
        if self._len:
            k[..., : self._len, :] = self._k[..., : self._len, :]
            v[..., : self._len, :] = self._v[..., : self._len, :]
        self._k, self._v = k, v

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n = key_states.shape[-2]
        if self._k is None or self._len + n > self._k.shape[-2]:
            self._grow(self._len + n + self.reserve, key_states, value_states)
        self._k[..., self._len: self._len + n, :] = key_states
        self._v[..., self._len: self._len + n, :] = value_states
        self._len += n
        self._views()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self._len if self.is_initialized else 0

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.get_seq_length():
            self._k, self._v = self._k.repeat_interleave(repeats, 0), self._v.repeat_interleave(repeats, 0)
            self._views()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.get_seq_length():
            self._k, self._v = self._k[indices], self._v[indices]
            self._views()


class LinearStateLayer(LinearAttentionLayer):
    """A linear-attention layer's states (conv window and recurrent state, batch first), repeated and pruned by
    row for the sampler; transformers' own layer has no batch operations."""

    def _map(self, fn) -> None:
        for states in (self.conv_states, self.recurrent_states):
            for i, state in states.items():
                if state is not None:
                    states[i] = fn(state)

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._map(lambda t: t.repeat_interleave(repeats, 0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._map(lambda t: t[indices])


ATTENTION_LAYERS = ("full_attention", "sliding_attention", "chunked_attention")  # keys kept whole: masks cut them


class GrowingCache(DynamicCache):
    """A DynamicCache (so models treat it as one) whose layers append in place.

    Given the model's config, a hybrid decoder's linear-attention layers get a LinearStateLayer; layer kinds
    the sampler cannot repeat or prune by row are refused (use the vllm backend for them)."""

    def __init__(self, reserve: int, config=None):
        layer = type("GrowingLayerR", (GrowingLayer,), {"reserve": reserve})
        kinds = getattr(config.get_text_config(decoder=True), "layer_types", None) if config is not None else None
        if not kinds or set(kinds) <= set(ATTENTION_LAYERS):
            Cache.__init__(self, layer_class_to_replicate=layer)
            return
        other = sorted(set(kinds) - {*ATTENTION_LAYERS, "linear_attention"})
        if other:
            raise NotImplementedError(f"the hf sampler's cache has no batch operations for {other} decoder layers "
                                      f"({getattr(config, 'model_type', '?')}); use rollout.backend=vllm")
        Cache.__init__(self, layers=[LinearStateLayer() if kind == "linear_attention" else layer() for kind in kinds])


class SharedPrefixLayer(GrowingLayer):
    """A GrowingLayer that, once repeated k times, keeps the prompt's keys/values once per prompt.

    After `batch_repeat_interleave(k)` the prompt part (the prefix) stays (B, H, Lp, D) and only the
    generated part (the suffix) is stored per sequence; `attend` runs attention over both without
    materialising the k copies (cascade attention). At decode time attention reads every cached key
    and value each step, so it is bound by memory traffic; with k = 16 the prefix's share of that
    traffic drops sixteen-fold. Only models that call `attend` can use it (`_supports_shared_prefix_cache`).
    """

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self.shared = False

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.shared:
            raise RuntimeError("the prefix is already shared: repeat once, right after the prompt is encoded")
        if not self.get_seq_length():
            return
        prompts, heads, length, dim = self.keys.shape
        self.prefix_keys_t = self.keys.transpose(-1, -2).contiguous()  # (B, H, D, Lp): matmul-ready
        self.prefix_values = self.values.contiguous()
        self.prompts, self.repeats, self.prefix_length = prompts, repeats, length
        self.slot = torch.arange(prompts * repeats, device=self.keys.device)  # row -> position in (B * k)
        self._k = self._k.new_empty(prompts * repeats, heads, self.reserve, dim)
        self._v = self._v.new_empty(prompts * repeats, heads, self.reserve, dim)
        self._len, self.shared = 0, True
        self._views()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if not self.shared:
            return super().batch_select_indices(indices)
        self.slot = self.slot[indices]
        self._k, self._v = self._k[indices], self._v[indices]
        self._views()

    def get_seq_length(self) -> int:
        return super().get_seq_length() + (self.prefix_length if self.is_initialized and self.shared else 0)

    def update(self, key_states, value_states, *args, **kwargs):
        if self.is_initialized and self.shared:
            raise RuntimeError("a shared-prefix cache layer is read through `attend`, not `update`")
        return super().update(key_states, value_states, *args, **kwargs)

    def attend(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Append one decode step's key/value (N, H, 1, D) and return attention (N, H, 1, D).

        mask: boolean (N, 1, 1, Lp + suffix length), True where attending is allowed.
        """
        if query.shape[-2] != 1:
            raise ValueError("shared-prefix attention decodes one token per step")
        heads, dim = query.shape[1], query.shape[3]
        super().update(key, value)
        dense = self.prompts * self.repeats
        scaled = query[:, :, 0] * dim ** -0.5  # (N, H, D)
        # Prefix: scatter the rows into the dense (B, k) layout so each prompt's k queries share one matmul.
        q = query.new_zeros(dense, heads, dim)
        q[self.slot] = scaled
        q = q.view(self.prompts, self.repeats, heads, dim).transpose(1, 2)
        prefix_scores = (q @ self.prefix_keys_t).transpose(1, 2).reshape(dense, heads, -1)[self.slot]
        suffix_scores = scaled.unsqueeze(2) @ self.keys.transpose(-1, -2)
        scores = torch.cat([prefix_scores, suffix_scores[:, :, 0]], -1).masked_fill(~mask[:, :, 0], float("-inf"))
        probs = torch.softmax(scores, -1)
        dense_probs = probs.new_zeros(dense, heads, self.prefix_length)
        dense_probs[self.slot] = probs[..., : self.prefix_length]
        dense_probs = dense_probs.view(self.prompts, self.repeats, heads, -1).transpose(1, 2)
        prefix_out = (dense_probs @ self.prefix_values).transpose(1, 2).reshape(dense, heads, dim)[self.slot]
        suffix_out = probs[..., self.prefix_length:].unsqueeze(2) @ self.values
        return (prefix_out + suffix_out[:, :, 0]).unsqueeze(2)


class SharedPrefixCache(DynamicCache):
    """A DynamicCache of SharedPrefixLayers (see there)."""

    def __init__(self, reserve: int):
        layer = type("SharedPrefixLayerR", (SharedPrefixLayer,), {"reserve": reserve})
        Cache.__init__(self, layer_class_to_replicate=layer)

    def attend(self, layer_idx: int, query, key, value, mask) -> torch.Tensor:
        return self.layers[layer_idx].attend(query, key, value, mask)

    def is_shared(self, layer_idx: int) -> bool:
        return len(self.layers) > layer_idx and getattr(self.layers[layer_idx], "shared", False)
