"""The process reward model: the policy backbone plus a linear head scoring every response token.

Trained with MSE on all response tokens, each token labelled with its step's Monte-Carlo label; a
step's score is the head's output at the step's last token (paper Appendix D). Saved as the backbone's
`save_pretrained` folder plus `reward_head.safetensors`, so it loads like any checkpoint.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from harness.config import ModelConfig, OptimConfig
from harness.data.datasets import Record
from harness.model.adapters import Prompt, accepts, on_device, positions
from harness.model.modeling import load_model
from harness.reward.steps import scored_steps
from harness.train.sft import length_grouped_batches, make_optimizer

HEAD_FILE = "reward_head.safetensors"


@dataclass
class StepExample:
    """A response split into steps, with one label per step (the training target of the PRM)."""

    prompt: Prompt
    steps: list[str]
    labels: list[float]


def step_ends(adapter, prompt: Prompt, steps: list[str]) -> list[int]:
    """Token offset (from the response start) just past each step, as the tokenizer splits the text.

    Differences of text-only token counts: image tokens the processor expands cancel out.
    """
    tok = adapter.tokenizer
    rendered = adapter.render(prompt)
    count = lambda text: len(tok(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    start = count(rendered)
    return [count(rendered + "\n".join(steps[: k + 1])) - start for k in range(len(steps))]


class ProcessRewardModel:
    """Backbone + linear head; `step_scores` gives one score per step of each response."""

    def __init__(self, model, adapter, head: torch.nn.Linear):
        self.model, self.adapter = model, adapter
        self.head = head.to(next(model.parameters()).device)

    @classmethod
    def init_from_policy(cls, model, adapter) -> "ProcessRewardModel":
        """The paper's initialisation: the head's weight is the mean of the token embeddings."""
        emb = model.get_input_embeddings().weight
        head = torch.nn.Linear(emb.shape[1], 1)
        with torch.no_grad():
            head.weight.copy_(emb.mean(0, keepdim=True))
            head.bias.zero_()
        return cls(model, adapter, head)

    @classmethod
    def load(cls, path: Path, model_cfg: ModelConfig) -> "ProcessRewardModel":
        model, adapter = load_model(Path(path) / "model", model_cfg)
        state = load_file(Path(path) / HEAD_FILE)
        head = torch.nn.Linear(state["weight"].shape[1], 1)
        head.load_state_dict(state)
        return cls(model, adapter, head.eval())

    def save(self, path: Path) -> None:
        path = Path(path)
        self.model.save_pretrained(path / "model")
        self.adapter.processor.save_pretrained(path / "model")
        save_file({k: v.contiguous().cpu() for k, v in self.head.state_dict().items()}, path / HEAD_FILE)

    def token_values(self, batch: list[StepExample]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Head outputs (B, L) and, per example, the positions of its response tokens (and EOS)."""
        inputs = on_device(self.adapter.encode_train([e.prompt for e in batch], ["\n".join(e.steps) for e in batch]),
                           self.model)
        labels = inputs.pop("labels")
        if "position_ids" not in inputs and accepts(self.model, "position_ids"):
            inputs["position_ids"] = positions(inputs["attention_mask"])
        captured = {}
        hook = self.model.get_output_embeddings().register_forward_hook(
            lambda mod, args, out: captured.__setitem__("h", args[0]))
        try:
            self.model(**inputs, use_cache=False)
        finally:
            hook.remove()
        values = self.head(captured["h"]).squeeze(-1)
        return values, [(row != -100).nonzero().squeeze(1) for row in labels]

    def token_targets(self, batch: list[StepExample], where: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self.token_labels(e, len(pos)) for e, pos in zip(batch, where)]

    def token_labels(self, e: StepExample, n: int | None = None) -> torch.Tensor:
        """Each of the n response tokens' label = its step's label (EOS, the token after the last step, and
        anything beyond take the last step's); n defaults to the response's tokens plus EOS."""
        ends = step_ends(self.adapter, e.prompt, e.steps)
        n = ends[-1] + 1 if n is None else n
        step_of = torch.searchsorted(torch.tensor(ends), torch.arange(n), right=True)
        return torch.tensor(e.labels)[step_of.clamp(max=len(e.steps) - 1)]

    def loss(self, batch: list[StepExample], tokens: str = "all") -> torch.Tensor:
        """MSE against the step labels on every response token (the paper's), or on each step's last token
        only ("step_ends": where a step's score is read, the only token that has seen the whole step)."""
        values, where = self.token_values(batch)
        targets = self.token_targets(batch, where)
        if tokens == "step_ends":
            ends = [torch.tensor(step_ends(self.adapter, e.prompt, e.steps)) - 1 for e in batch]
            where = [pos[idx.clamp(0, len(pos) - 1)] for pos, idx in zip(where, ends)]
            targets = [torch.tensor(e.labels) for e in batch]
        pred = torch.cat([values[i, pos] for i, pos in enumerate(where)])
        return torch.nn.functional.mse_loss(pred, torch.cat(targets).to(pred.device, pred.dtype))

    def scorer(self):
        """(records, responses) -> step scores, the interface of harness.reward.models, for the CoT prompt."""
        return lambda records, responses: self.step_scores(
            [Prompt(r.question, r.image, cot=True) for r in records], responses)

    @torch.inference_mode()
    def step_scores(self, prompts: list[Prompt], responses: list[str], batch_size: int = 64) -> list[list[float]]:
        """One score per step (non-empty line) of each response: the head at the step's last token."""
        self.model.eval()
        out: list[list[float]] = []
        for i in range(0, len(prompts), batch_size):
            batch = [StepExample(p, scored_steps(r), []) for p, r in
                     zip(prompts[i:i + batch_size], responses[i:i + batch_size])]
            values, where = self.token_values(batch)
            for row, (e, pos) in enumerate(zip(batch, where)):
                ends = step_ends(self.adapter, e.prompt, e.steps)
                idx = pos[[min(max(end - 1, 0), len(pos) - 1) for end in ends]]
                out.append(values[row, idx].float().tolist())
        return out


def train_prm(prm: ProcessRewardModel, examples: list[StepExample], cfg: OptimConfig, epochs: int,
              seed: int, tokens: str = "all") -> list[float]:
    """MSE training of backbone + head; returns the mean loss of each epoch."""
    params = torch.nn.ModuleDict({"backbone": prm.model, "head": prm.head})
    steps = epochs * math.ceil(len(examples) / cfg.batch_size)
    opt, sched = make_optimizer(params, cfg, total_steps=steps)
    rng = random.Random(seed)
    losses = []
    params.train()
    for epoch in range(epochs):
        batches = length_grouped_batches([sum(map(len, e.steps)) for e in examples], cfg.batch_size, rng)
        total = 0.0
        for idx in tqdm(batches, desc=f"PRM epoch {epoch + 1}/{epochs}", unit="step", leave=False, mininterval=2):
            loss = prm.loss([examples[i] for i in idx], tokens)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            total += loss.item()
        losses.append(total / max(1, len(batches)))
    params.eval()
    return losses


@torch.inference_mode()
def mse(prm: ProcessRewardModel, examples: list[StepExample], batch_size: int = 32) -> float:
    """Token-level MSE on held-out examples, the quantity the PRM is trained on."""
    total, n = 0.0, 0
    for i in range(0, len(examples), batch_size):
        batch = examples[i:i + batch_size]
        values, where = prm.token_values(batch)
        for row, (pos, target) in enumerate(zip(where, prm.token_targets(batch, where))):
            total += float(((values[row, pos] - target.to(values.device)) ** 2).sum())
            n += len(pos)
    return total / max(1, n)


def constant_mse(train: list[StepExample], held_out: list[StepExample], prm: ProcessRewardModel) -> float:
    """MSE of predicting the training tokens' mean label everywhere: the baseline a PRM must beat."""
    mean = torch.cat([prm.token_labels(e) for e in train]).mean()
    return float(((torch.cat([prm.token_labels(e) for e in held_out]) - mean) ** 2).mean())


class LearnedPRM:
    """The process reward model trained in the `prm` stage, as a reward model (harness/reward/models/learned.py)."""

    def __init__(self, path: Path, model_cfg):
        self.prm = ProcessRewardModel.load(path, model_cfg)

    def step_scores(self, records: list[Record], responses: list[str]) -> list[list[float]]:
        prompts = [Prompt(r.question, r.image, cot=True) for r in records]
        return self.prm.step_scores(prompts, responses)
