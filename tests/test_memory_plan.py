"""`harness plan`: per-GPU memory arithmetic for a run config (nothing runs)."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.config import load_config
from harness.train.memory_plan import GIB, counted_shape, plan_config
from real_arch import build_tiny_llava

BASE = str(Path(__file__).parent.parent / "ablations" / "base.yaml")
PAPER = ["plan", BASE, "--params", "8.5e9", "model.dtype=bfloat16"]


def test_an_8b_model_fits_on_8_gpus_and_not_on_one(capsys):
    assert main(PAPER + ["slurm.gpus_per_node=8"]) == 0
    out = capsys.readouterr().out
    assert "fsdp over 8 GPU(s)" in out and "arithmetic" in out and "\nfits:" in out
    assert main(PAPER + ["slurm.gpus_per_node=1"]) == 2
    out = capsys.readouterr().out
    assert "does not fit" in out and "largest term: optimizer states" in out


def test_sharding_divides_the_16_bytes_per_parameter_by_the_gpus():
    cfg = lambda gpus: load_config(BASE, [f"slurm.gpus_per_node={gpus}", "model.dtype=bfloat16"])  # noqa: E731
    one, eight = plan_config(cfg(1), params=8.5e9), plan_config(cfg(8), params=8.5e9)
    states = ("weights (fp32 master)", "gradients (fp32)", "optimizer states (AdamW, fp32)")
    assert sum(one.improve[k] for k in states) == pytest.approx(16 * 8.5e9 / GIB)
    assert sum(eight.improve[k] for k in states) == pytest.approx(16 * 8.5e9 / GIB / 8)
    ddp = plan_config(load_config(None, ["slurm.gpus_per_node=8", "train.strategy=ddp"]), params=8.5e9)
    assert ddp.improve["optimizer states (AdamW, fp32)"] == pytest.approx(8 * 8.5e9 / GIB)  # replicated
    lora = plan_config(load_config(None, ["slurm.gpus_per_node=8", "model.lora_rank=8"]), params=8.5e9)
    assert lora.improve["optimizer states (AdamW, fp32)"] < 0.01 * eight.improve["optimizer states (AdamW, fp32)"]


def test_parameters_are_counted_from_the_checkpoint_config(tmp_path):
    path = build_tiny_llava(tmp_path / "llava")
    from transformers import AutoModelForImageTextToText

    real = AutoModelForImageTextToText.from_pretrained(path)
    shape = counted_shape(load_config(None, [f"model.path={path}"]))
    assert shape.params == sum(p.numel() for p in real.parameters())
    assert (shape.layers, shape.hidden, shape.kv_dim) == (2, 64, 32)  # 2 of 4 heads of 16 carry keys
    frozen = counted_shape(load_config(None, [f"model.path={path}", "model.freeze_vision=true"]))
    vision = sum(p.numel() for n, p in real.named_parameters() if ".vision_tower." in n)
    assert frozen.trainable == shape.params - vision


def test_the_embedded_subword_model_is_counted_at_its_largest_vocabulary(tiny_config):
    """Its pieces are learned when the base stage runs, so a plan made before it counts SUBWORD_VOCAB of them:
    never fewer parameters than the base model it builds, and only the embeddings more."""
    from transformers import AutoModelForImageTextToText

    from harness.stages.graph import stages

    cfg = tiny_config()
    shape = counted_shape(cfg)
    base = AutoModelForImageTextToText.from_pretrained(stages(cfg)[1].path / "model")
    built = sum(p.numel() for p in {id(p): p for p in base.parameters()}.values())
    assert cfg.model.tokenizer == "subword" and "upper bound" in shape.source
    assert 0 < shape.params - built <= 2 * (shape.vocab - base.config.vocab_size) * cfg.model.hidden_size
