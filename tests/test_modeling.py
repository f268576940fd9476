"""Model options (config.model: dtype, gradient_checkpointing, freeze_vision, LoRA, trust_remote_code) applied
by harness.model.modeling.load_model, each checked on a tiny random LLaVA."""

import math
import sys

import pytest
import torch

from harness.config import load_config
from harness.model.adapters import Prompt, on_device
from harness.model.modeling import load_model, vision_towers
from harness.rollout.hf import hf_sample
from harness.rollout.settings import SamplingSettings
from harness.train.sft import Example, make_optimizer, train_epoch

from real_arch import build_tiny_llava, make_image

EXAMPLES = [Example(Prompt("Hi?", make_image(1), cot=False), "The answer is 4."),
            Example(Prompt("What is shown?", make_image(2), cot=False), "A cat.")]


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    return build_tiny_llava(tmp_path_factory.mktemp("tiny_llava"))


def model_cfg(*overrides):
    return load_config(None, ["model.threads=1", *overrides]).model


def train_step(model, adapter) -> float:
    cfg = load_config(None, ["method.optim.batch_size=2", "method.optim.lr=1e-2",
                             "method.optim.warmup_steps=0"]).method.optim
    opt, sched = make_optimizer(model, cfg)
    return train_epoch(model, adapter, opt, sched, EXAMPLES, cfg, seed=0)["loss"]


def checkpointing(model) -> bool:
    return any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


def snapshot(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def changed(before, model) -> set[str]:
    return {k for k, v in model.named_parameters() if not torch.equal(before[k], v.detach())}


def test_defaults_load_a_plain_float32_model(llava_dir):
    model, adapter = load_model(llava_dir, model_cfg())
    assert not model.training and next(model.parameters()).dtype == torch.float32
    assert all(p.requires_grad for p in model.parameters())
    assert not checkpointing(model) and not hasattr(model, "peft_config")


def test_bfloat16_computes_in_bfloat16_on_float32_weights_and_samples_and_trains(llava_dir):
    model, adapter = load_model(llava_dir, model_cfg("model.dtype=bfloat16"))
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # the master weights AdamW updates
    batch = on_device(adapter.encode_prompts([e.prompt for e in EXAMPLES]), model)
    with torch.no_grad():
        assert model(**batch).logits.dtype == torch.bfloat16  # model.dtype is the compute dtype
    settings = SamplingSettings("hf", k=2, temperature=1.0, max_new_tokens=4, batch_sequences=512, seed=0)
    out = hf_sample(model, adapter, [e.prompt for e in EXAMPLES], settings)
    assert [len(r) for r in out] == [2, 2]
    assert math.isfinite(train_step(model, adapter))


def test_freeze_vision_keeps_the_vision_tower_unchanged(llava_dir):
    model, adapter = load_model(llava_dir, model_cfg("model.freeze_vision=true"))
    assert vision_towers(model, adapter) == ["model.vision_tower"]
    vision = {k for k, _ in model.named_parameters() if ".vision_tower." in k}
    assert vision and all(not p.requires_grad for k, p in model.named_parameters() if k in vision)
    before = snapshot(model)
    train_step(model, adapter)
    moved = changed(before, model)
    assert moved and not moved & vision
    assert any(".language_model." in k for k in moved) and any("multi_modal_projector" in k for k in moved)


def test_gradient_checkpointing_gives_the_same_loss(llava_dir):
    plain, adapter = load_model(llava_dir, model_cfg())
    ckpt, _ = load_model(llava_dir, model_cfg("model.gradient_checkpointing=true"))
    assert checkpointing(ckpt)
    assert train_step(ckpt, adapter) == pytest.approx(train_step(plain, adapter), rel=1e-5)


def test_lora_trains_only_its_adapters_and_reloads(llava_dir, tmp_path):
    pytest.importorskip("peft")
    model, adapter = load_model(llava_dir, model_cfg("model.lora_rank=4", "model.freeze_vision=true"))
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in k for k in trainable)
    assert not any(".vision_tower." in k for k in trainable)  # no adapters in the vision tower
    before = snapshot(model)
    assert math.isfinite(train_step(model, adapter))
    moved = changed(before, model)
    assert moved and moved <= trainable and any("lora_B" in k for k in moved)
    # Saved like save_policy / checkpoint.save do: peft writes the adapters and the base's path.
    model.save_pretrained(tmp_path / "policy")
    adapter.processor.save_pretrained(tmp_path / "policy")
    assert (tmp_path / "policy" / "adapter_config.json").is_file()
    again, adapter2 = load_model(tmp_path / "policy", model_cfg("model.lora_rank=4"))
    assert {k for k, p in again.named_parameters() if p.requires_grad} == trainable  # still trainable, not re-wrapped
    batch = on_device(adapter2.encode_prompts([e.prompt for e in EXAMPLES]), again)
    with torch.no_grad():
        torch.testing.assert_close(again(**batch).logits, model.eval()(**batch).logits)
    settings = SamplingSettings("hf", k=1, temperature=0.0, max_new_tokens=4, batch_sequences=512, seed=0)
    greedy = hf_sample(again, adapter2, [e.prompt for e in EXAMPLES], settings)
    assert len(greedy) == 2


def test_lora_without_peft_says_how_to_install(llava_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # import peft now raises ImportError
    with pytest.raises(ImportError, match=r"mstar-harness\[lora\]"):
        load_model(llava_dir, model_cfg("model.lora_rank=4"))


def test_trust_remote_code_reaches_the_auto_classes(llava_dir, monkeypatch):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    seen = []
    for cls in (AutoModelForImageTextToText, AutoProcessor):
        original = cls.from_pretrained.__func__

        def spy(klass, path, *args, _original=original, **kwargs):
            seen.append(kwargs.get("trust_remote_code"))
            return _original(klass, path, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    load_model(llava_dir, model_cfg("model.trust_remote_code=true"))
    assert seen == [True, True]


def test_device_auto_picks_this_process_gpu_else_cpu(llava_dir, monkeypatch):
    from harness.model.modeling import resolve_device

    assert resolve_device("cpu") == torch.device("cpu") and resolve_device("cuda:1") == torch.device("cuda", 1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    model, _ = load_model(llava_dir, model_cfg("model.device=auto"))
    assert next(model.parameters()).device == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "3")  # set by torchrun for each process
    assert resolve_device("auto") == torch.device("cuda", 3)
