"""One sampling-settings record, one sampling call: every step samples through harness.rollout.sharded.sample with
a SamplingSettings built from the config (harness.rollout.settings)."""
from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import torch

from harness.config import load_config
from harness.rollout.hf import _pick
from harness.rollout.settings import evaluation, sampling, stage_sampling

ROOT = Path(__file__).resolve().parent.parent


def test_settings_come_from_the_config_and_steps_replace_what_they_change():
    cfg = load_config(None, ["rollout.samples_per_query=8", "rollout.temperature=0.7", "model.max_new_tokens=40",
                             "rollout.batch_sequences=64", "eval.batch_sequences=32", "seed=3", "world.seed=5"])
    s = sampling(cfg)
    assert (s.backend, s.k, s.temperature, s.max_new_tokens, s.batch_sequences, s.seed, s.seed_per_batch) == \
        ("hf", 8, 0.7, 40, 64, 3, True)
    assert stage_sampling(cfg) == replace(s, seed=5, seed_per_batch=False)
    assert evaluation(s, cfg) == replace(s, k=1, temperature=0.0, batch_sequences=32)
    assert hash(s) == hash(sampling(cfg))  # frozen: an engine may key its state on it


def test_top_p_samples_within_the_nucleus_and_1_leaves_sampling_as_it_was():
    logits = torch.log(torch.tensor([[0.6, 0.25, 0.1, 0.05]]))
    draw = lambda top_p, seed: _pick(logits, 1.0, top_p, torch.Generator().manual_seed(seed)).item()  # noqa: E731
    assert {draw(0.5, s) for s in range(200)} == {0}          # 0.6 alone holds half the probability
    assert {draw(0.8, s) for s in range(200)} == {0, 1}       # 0.6 + 0.25 hold 0.8
    reference = [torch.multinomial(torch.softmax(logits, -1), 1, generator=torch.Generator().manual_seed(s)).item()
                 for s in range(50)]
    assert [draw(1.0, s) for s in range(50)] == reference     # the same draws as before top_p existed
    assert _pick(logits, 0.0, 0.5, None).item() == 0          # greedy ignores it


def test_the_loose_backend_call_is_gone_and_one_function_calls_the_engines():
    """The 9-argument call (model, adapter, prompts, k, temperature, max_new_tokens, batch, seed=, desc=) that
    evolve, the stages, dynamics and tune used to rebuild is gone: every sampling call takes a settings record,
    only harness.rollout.sharded asks an engine to generate, and only the hf engine calls the hf sampler."""
    loose, callers, sampler = [], set(), set()
    for path in (ROOT / "harness").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            spread = {k.arg for k in node.keywords} & {"k", "temperature", "max_new_tokens", "batch_sequences", "seed"}
            if name.endswith("sample") and (spread or len(node.args) > 7):  # sampling values passed one by one
                loose.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if name == "generate" and isinstance(node.func, ast.Attribute) and "engine" in ast.unparse(node.func.value):
                callers.add(str(path.relative_to(ROOT)))  # engine.generate(...)
            if name == "hf_sample":
                sampler.add(str(path.relative_to(ROOT)))
    assert loose == []
    assert callers == {"harness/rollout/sharded.py"}
    assert sampler == {"harness/rollout/hf.py"}
