"""A KV cache that appends in place, for the sampler.

transformers' DynamicLayer concatenates on every decode step, copying the whole cache each time:
at 512 sequences that copying, not the model, dominated sampling time on CPU. This layer keeps
spare room and writes new keys/values into it, so a step copies only the new token's states.
"""
from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer


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


class GrowingCache(DynamicCache):
    """A DynamicCache (so models treat it as one) whose layers append in place."""

    def __init__(self, reserve: int):
        layer = type("GrowingLayerR", (GrowingLayer,), {"reserve": reserve})
        Cache.__init__(self, layer_class_to_replicate=layer)
