"""One optimizer step's gradients over a global batch, split over the ranks and into micro-batches.

`optim.batch_size` is the global batch. Rank r takes every W-th example of it (batches are length-sorted, so the
shares are alike) and runs them `train.micro_batch_size` at a time, accumulating gradients. The loss is the sum
of the token losses divided by the label tokens of the whole global batch (counted by one all-reduce), and the
ranks' gradients are summed (harness/model/strategy.py sets FSDP's divide factor to 1): the gradient of the global
batch's mean token loss, the same whatever the number of ranks or micro-batches, up to float rounding.

Every rank runs the same number of forward/backward passes, because each FSDP pass is a collective: a rank
whose share is short (a last batch smaller than the number of ranks) runs a stand-in example with weight 0.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from harness import distributed
from harness.model.adapters import Adapter, accepts, on_device

IGNORE = -100  # label of prompt and padding tokens


def accumulation_steps(batch: int, ranks: int, micro_batch_size: int | None) -> int:
    """Forward/backward passes per rank per optimizer step.

    >>> accumulation_steps(128, 8, 4), accumulation_steps(128, 8, None), accumulation_steps(5, 2, 1)
    (4, 1, 3)
    """
    share = math.ceil(batch / ranks)
    return math.ceil(share / (micro_batch_size or share))


def token_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed next-token cross-entropy over the label tokens, in float32 (as transformers' causal-LM loss)."""
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=IGNORE,
                           reduction="sum")


def logits_window(labels: torch.Tensor) -> int:
    """How many last positions of the batch the loss reads logits at: from the one before the first label token
    of any row to the end. The prompt's positions need none: a vocabulary-wide row of logits per prompt token is
    little compute on the embedded model (1.02x, benchmarks/train_step.py) but, at an 8B model's 150k-token
    vocabulary, gigabytes of activations.

    >>> logits_window(torch.tensor([[IGNORE, IGNORE, IGNORE, 5, 6], [IGNORE, IGNORE, 7, 8, IGNORE]]))
    4
    >>> logits_window(torch.full((1, 3), IGNORE))
    3
    """
    columns = (labels != IGNORE).any(0).nonzero()
    first = max(int(columns[0]) - 1, 0) if len(columns) else 0
    return labels.shape[1] - first


def encode(adapter: Adapter, model, examples) -> dict:
    inputs = on_device(adapter.encode_train([e.prompt for e in examples], [e.response for e in examples]), model)
    if "position_ids" not in inputs and (pos := adapter.position_ids(model, inputs)) is not None:
        inputs["position_ids"] = pos
    return inputs


def backward(model, adapter: Adapter, batch: list, micro_batch_size: int | None) -> float:
    """Accumulate into .grad the gradient of the global `batch`'s mean token loss (this rank's part of it);
    returns that loss (the same on every rank)."""
    ranks, share = distributed.world_size(), batch[distributed.rank()::distributed.world_size()]
    steps = accumulation_steps(len(batch), ranks, micro_batch_size)
    size = micro_batch_size or math.ceil(len(batch) / ranks)
    micro = [share[i * size:(i + 1) * size] for i in range(steps)]
    inputs = [encode(adapter, model, m or batch[:1]) for m in micro]  # batch[:1]: a stand-in, weighted 0 below
    tokens = sum(int((x["labels"][:, 1:] != IGNORE).sum()) for x, m in zip(inputs, micro) if m)
    total = distributed.all_sum(tokens)
    loss_sum, windowed = 0.0, accepts(model, "logits_to_keep")
    for x, m in zip(inputs, micro):
        labels = x.pop("labels")
        if windowed:
            n = logits_window(labels)
            x["logits_to_keep"], labels = n, labels[:, labels.shape[1] - n:]
        summed = token_loss_sum(model(**x, use_cache=False).logits, labels) * (1.0 if m else 0.0)
        (summed / total).backward()
        loss_sum += summed.item()
    return distributed.all_sum(loss_sum) / total
