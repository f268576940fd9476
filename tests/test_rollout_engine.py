"""The rollout engine's lifecycle (harness/rollout/engine.py) on the hf engine, on the CPU: created once, generate,
update weights (the next generate gives the new policy's tokens), sleep and wake, close; and a run creates one engine
per rank and feeds it every Improve step's weights."""
from __future__ import annotations

import pytest
import torch

from harness.config import ModelConfig, load_config
from harness.io import read_jsonl
from harness.model.adapters import Prompt
from harness.model.modeling import load_model
from harness.rollout.engine import RolloutEngine, open_engine
from harness.rollout.hf import HFEngine, hf_sample
from harness.rollout.settings import SamplingSettings
from harness.rollout.sharded import greedy, sample
from real_arch import build_tiny_llava, make_image

PROMPTS = [Prompt(f"What is {i} + {i}?", make_image(i)) for i in range(3)]
GREEDY = SamplingSettings("hf", k=1, temperature=0.0, max_new_tokens=8, batch_sequences=8, seed=0)


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    return build_tiny_llava(tmp_path_factory.mktemp("llava") / "m")


def perturbed(path):
    """The same architecture with other weights: another policy whose greedy tokens differ."""
    model, adapter = load_model(path, ModelConfig(threads=1))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.5)
    return model, adapter


def test_hf_engine_lifecycle(llava):
    first = load_model(llava, ModelConfig(threads=1))
    second = perturbed(llava)
    created = RolloutEngine.created
    engine = open_engine(load_config(None).rollout, *first)
    assert isinstance(engine, HFEngine) and RolloutEngine.created == created + 1

    before = greedy(engine, PROMPTS, GREEDY)
    assert before == [r[0] for r in hf_sample(*first, PROMPTS, GREEDY)]
    engine.sleep()
    with pytest.raises(RuntimeError, match="asleep: wake"):
        greedy(engine, PROMPTS, GREEDY)
    engine.update_weights(*second)  # pushed while asleep, as after an Improve step
    engine.wake()
    after = greedy(engine, PROMPTS, GREEDY)
    assert after == [r[0] for r in hf_sample(*second, PROMPTS, GREEDY)] and after != before
    assert engine.weight_updates == 1

    k4 = SamplingSettings("hf", k=4, temperature=1.0, max_new_tokens=8, batch_sequences=8, seed=3)
    assert sample(engine, PROMPTS, k4) == sample(engine, PROMPTS, k4)  # seeded per batch
    with pytest.raises(ValueError, match="use k=1"):
        engine.generate(PROMPTS, SamplingSettings("hf", k=2, temperature=0.0, max_new_tokens=8, batch_sequences=8,
                                                  seed=0))
    engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        greedy(engine, PROMPTS, GREEDY)
    with pytest.raises(RuntimeError, match="closed"):
        engine.update_weights(*first)
    assert RolloutEngine.created == created + 1  # nothing above built another


def test_training_in_place_reaches_the_hf_engine(llava):
    """The hf engine decodes with the trainer's own module: an Improve step's in-place update is what it samples
    next (update_weights then only confirms the policy)."""
    model, adapter = load_model(llava, ModelConfig(threads=1))
    with open_engine(load_config(None).rollout, model, adapter) as engine:
        before = greedy(engine, PROMPTS, GREEDY)
        engine.sleep()
        with torch.no_grad():
            model.get_output_embeddings().weight.mul_(-1.0)
        engine.update_weights(model, adapter)
        engine.wake()
        assert greedy(engine, PROMPTS, GREEDY) != before
    assert engine.closed


@pytest.mark.parametrize("method, between", [
    ("continuous", []),
    ("restem", ["update"]),  # ReST-EM restarts iteration 2 from pi_0: the engine gets pi_0 back before Generate
])
def test_a_run_builds_one_engine_and_feeds_it_every_improve_step(tiny_config, monkeypatch, method, between):
    from harness.loop.evolve import run

    events = []
    for name, label in [("sleep", "sleep"), ("wake", "wake"), ("update_weights", "update")]:
        original = getattr(RolloutEngine, name)
        monkeypatch.setattr(RolloutEngine, name,
                            lambda self, *a, _o=original, _l=label, **kw: (events.append(_l), _o(self, *a, **kw))[1])
    cfg = tiny_config(f"method.kind={method}", "method.interval=0.5", "name=engine-count", "model.threads=1")
    created = RolloutEngine.created
    folder = run(cfg, f"{method} engines")
    assert RolloutEngine.created == created + 1  # the shared stages were built already (tiny_results)
    improve = ["sleep", "update", "wake"]
    assert events == improve + between + improve
    assert "rollout engines created per rank: [1] (hf)" in (folder / "run.log").read_text()
    rows = [r for r in read_jsonl(folder / "metrics.jsonl") if "metric" not in r]
    assert [r["iteration"] for r in rows] == [1, 2]
