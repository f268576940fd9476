"""Shared stages: a killed base pre-training goes on from its last finished pass, to the same weights."""
import pytest
import torch

from harness.config import OptimConfig
from harness.model.adapters import adapter_for
from harness.stages import base as base_stage
from harness.stages.cache import ensure_stage, is_done, resume_folder
from harness.tinyvlm import build_tiny_vlm
from harness.world.corpus import base_corpus
from harness.world.writer import all_families

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=48)
OPTIM = OptimConfig(lr=1e-3, batch_size=4, warmup_steps=2, schedule="cosine")
STEPS = 7  # three passes over 12 examples at batch 4 (3 steps each), the last one cut short


def fresh_model():
    torch.manual_seed(0)
    model, processor = build_tiny_vlm(**TINY)
    return model, adapter_for(model, processor)


@pytest.fixture(scope="module")
def corpus():
    return base_corpus(0, 12, all_families(), cot_fraction=0.5, hint_fraction=0.5, distractor_rate=0.0)


def test_interrupted_pretraining_resumes_to_the_uninterrupted_weights(corpus, tmp_path, monkeypatch):
    model, adapter = fresh_model()
    expected, expected_losses = base_stage.pretrain(model, adapter, corpus, OPTIM, STEPS)

    real_epoch, calls = base_stage.train_epoch, []

    def dies_in_third_pass(*args, **kwargs):
        calls.append(kwargs["seed"])
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a kill between checkpoints would, after two finished passes
        return real_epoch(*args, **kwargs)

    resume = tmp_path / "resume"
    model, adapter = fresh_model()
    monkeypatch.setattr(base_stage, "train_epoch", dies_in_third_pass)
    with pytest.raises(KeyboardInterrupt):
        base_stage.pretrain(model, adapter, corpus, OPTIM, STEPS, resume)
    monkeypatch.setattr(base_stage, "train_epoch", real_epoch)

    model, adapter = fresh_model()  # a new process starts from a new random model
    got, losses = base_stage.pretrain(model, adapter, corpus, OPTIM, STEPS, resume)  # weights from the checkpoint
    assert losses == pytest.approx(expected_losses, abs=1e-6)
    for (name, a), b in zip(expected.state_dict().items(), got.state_dict().values()):
        torch.testing.assert_close(b, a, atol=0, rtol=0, msg=name)


def test_a_finished_stage_removes_its_resume_folder(tmp_path):
    path = tmp_path / "base-abc"
    resume_folder(path).mkdir(parents=True)
    ensure_stage(path, {"x": 1}, lambda tmp: {})
    assert is_done(path) and not resume_folder(path).exists()
