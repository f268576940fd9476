"""Training at scale on PyTorch's engine, checked on the CPU with gloo and 2 real processes (torchrun): FSDP2 and
DDP match one process on the same global batch, a DCP checkpoint of 2 ranks resumes on 1 and on 2, rollouts
sharded over 2 ranks equal those of one process, and bfloat16 compute on float32 master weights trains at the
paper's lr of 1e-6 where pure bfloat16 weights do not. (Verified on CPU/gloo only, not on GPUs with NCCL.)"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fsdp_worker
from harness.tinyvlm import build_tiny_vlm
from real_arch import build_tiny_llava

WORKER = Path(__file__).with_name("fsdp_worker.py")
LORA = ("model.lora_rank=4", "model.freeze_vision=true")
BF16 = ("model.dtype=bfloat16", "method.optim.lr=1e-6")


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    return build_tiny_llava(tmp_path_factory.mktemp("tiny_llava"))


@pytest.fixture(scope="module")
def tinyvlm_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tinyvlm")
    torch.manual_seed(0)
    build_tiny_vlm(path, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    return path


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    from harness.world.writer import write_world

    path = tmp_path_factory.mktemp("world")
    write_world(path, 0, {"labeled": 10, "unlabeled": 0, "val": 1, "test_id": 1, "test_ood": 1}, ["counting"])
    return path


@pytest.fixture(scope="module")
def two_ranks(llava_dir, tinyvlm_dir, world_dir, tmp_path_factory) -> dict:
    """Every scenario on 2 ranks in one torchrun launch (start-up costs seconds); {job name: rank 0's result}."""
    out = tmp_path_factory.mktemp("two_ranks")
    ac = "model.gradient_checkpointing=true"
    jobs = {"fsdp": ["train", llava_dir, 5, 1, "train.strategy=fsdp", ac],
            "ddp": ["train", llava_dir, 5, 1, "train.strategy=ddp", ac],
            "bf16": ["train", tinyvlm_dir, 40, 2, "train.strategy=fsdp", *BF16],
            "write": ["write_checkpoint", tinyvlm_dir, out / "run", "train.strategy=fsdp"],
            "resume": ["resume_checkpoint", tinyvlm_dir, out / "run", "train.strategy=fsdp"],
            "rollouts": ["rollouts", tinyvlm_dir, world_dir, out / "store", "train.strategy=fsdp"],
            "engine_weights": ["engine_weights", llava_dir, "train.strategy=fsdp", ac]}
    if importlib.util.find_spec("peft"):
        jobs["lora"] = ["train", llava_dir, 5, 2, "train.strategy=fsdp", *LORA]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(WORKER.parent), os.environ.get("PYTHONPATH", "")])}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(WORKER), str(out), json.dumps(jobs, default=str)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return {name: torch.load(out / f"{name}.pt", weights_only=False) for name in jobs} | {"out": out}


def one_process(scenario: str, *args) -> dict:
    return fsdp_worker.SCENARIOS[scenario](*map(str, args))


def assert_same_training(a: dict, b: dict, start: dict) -> None:
    """Equal up to float rounding: gradients of the first global batch, the epoch's loss and the weights after it
    (their difference small next to how far training moved them: Adam moves every weight by about the learning
    rate, so a wrongly weighted gradient would show as differences of that size)."""
    assert a["grads"].keys() == b["grads"].keys() and a["grads"]
    for name, g in a["grads"].items():
        torch.testing.assert_close(b["grads"][name], g, rtol=1e-4, atol=1e-6, msg=name)
    assert a["steps"] == b["steps"] and a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    moved = max((b["weights"][k] - start[k]).abs().max() for k in start)
    for name, w in a["weights"].items():
        assert (w - b["weights"][name]).abs().max() < 0.05 * moved, name


@pytest.mark.parametrize("strategy", ["fsdp", "ddp"])
def test_two_ranks_train_like_one_process_on_the_same_global_batch(two_ranks, llava_dir, strategy):
    """LLaVA (CLIP + Llama blocks) with activation checkpointing: 5 examples at global batch 4, micro-batch 1, so
    rank 0 accumulates 2 micro-batches and in the last batch (1 example) rank 1 runs a stand-in of weight 0."""
    two = two_ranks[strategy]
    one = one_process("train", llava_dir, 5, "none")  # one process, no accumulation
    assert two["accumulation_steps"] == 2 and one["accumulation_steps"] == 1
    assert two["start"].keys() == one["start"].keys()
    assert all(torch.equal(two["start"][k], one["start"][k]) for k in one["start"])  # rank 0's weights, broadcast
    assert_same_training(two, one, one["start"])


def test_fsdp_lora_with_frozen_vision_trains_like_one_process(two_ranks, llava_dir):
    pytest.importorskip("peft")
    two = two_ranks["lora"]
    one = one_process("train", llava_dir, 5, 2, *LORA)
    assert two["grads"] and all("lora_" in k for k in two["grads"])  # only the adapters train
    assert_same_training(two, one, one["start"])


def test_bfloat16_compute_on_float32_master_weights_moves_the_weights_at_lr_1e_6(two_ranks, tinyvlm_dir):
    """The paper's lr: with float32 master weights (one process: autocast; 2 ranks: FSDP2's mixed precision)
    nearly every weight moves in 10 steps; pure bfloat16 weights with AdamW leave most where they were."""
    from harness.model.modeling import load_model
    from harness.train.sft import make_optimizer, train_epoch

    two = two_ranks["bf16"]
    one = one_process("train", tinyvlm_dir, 40, 2, *BF16)

    def moved(r):
        changed = sum(int((r["weights"][k] != r["start"][k]).sum()) for k in r["start"])
        return changed / sum(v.numel() for v in r["start"].values())
    assert one["steps"] == two["steps"] == 10 and moved(one) > 0.9 and moved(two) > 0.9

    cfg = fsdp_worker.config(*BF16)  # the old path: the weights themselves in bfloat16
    model, adapter = load_model(tinyvlm_dir, cfg.model)
    model = model.to(torch.bfloat16)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    opt, sched = make_optimizer(model, cfg.method.optim)
    train_epoch(model, adapter, opt, sched, fsdp_worker.examples(40), cfg.method.optim, seed=0)
    pure = {"start": start, "weights": model.state_dict()}
    assert moved(pure) < 0.2, moved(pure)


def test_dcp_checkpoint_of_two_ranks_resumes_on_one_and_on_two(two_ranks, tinyvlm_dir):
    """Written mid-epoch by 2 FSDP ranks (each its shards); the third step's loss and the final weights are those
    of the uninterrupted epoch, resumed on 2 ranks (a fresh model and optimizer) and in one process."""
    straight, ckpt = two_ranks["write"], two_ranks["out"] / "run"
    assert straight["steps"] == 3
    assert sorted(p.name for p in (ckpt / "checkpoint" / "trainer").iterdir()) == [".metadata", "__0_0.distcp",
                                                                                  "__1_0.distcp"]
    one = one_process("resume_checkpoint", tinyvlm_dir, ckpt)
    for resumed in (two_ranks["resume"], one):
        assert resumed["steps"] == 3
        assert resumed["loss"] == pytest.approx(straight["loss"], rel=1e-5)  # the same two losses + the third
        for name, w in straight["weights"].items():
            torch.testing.assert_close(resumed["weights"][name], w, rtol=1e-4, atol=1e-5, msg=name)


def test_rollouts_sharded_over_two_ranks_equal_one_process_and_repeat(two_ranks, tinyvlm_dir, world_dir, tmp_path):
    """10 queries x 4 samples in batches of 2 prompts: 5 batches, 3 on rank 0 and 2 on rank 1, each with its own
    seed. The responses equal one process's; the finished batches are on disk and a second call reads them back;
    the selection and its statistics are the same on 1 and 2 ranks."""
    two = two_ranks["rollouts"]
    one = one_process("rollouts", tinyvlm_dir, world_dir, tmp_path / "store")
    assert sorted(p.name for p in (two_ranks["out"] / "store").iterdir()) == [f"batch-{b:06d}.json" for b in range(5)]
    responses = two["first"]
    assert len(responses) == 10 and all(len(r) == 4 for r in responses)
    assert len({r for rs in responses for r in rs}) > 20  # sampled, not one answer repeated
    assert two["again"] == two["fresh"] == one["first"] == one["fresh"] == responses
    assert two["stats"] == one["stats"] and {"reward_mean", "pass_at_k", "selected"} <= two["stats"].keys()
    assert two["selected"] == one["selected"]


def test_a_vllm_engine_is_pushed_whole_weights_under_checkpoint_names_from_fsdp_shards(two_ranks, llava_dir):
    """The weights a vllm engine receives after an Improve step (harness/rollout/vllm.py, full_weights), taken from
    FSDP2 shards with activation checkpointing on 2 ranks: the checkpoint's names and whole tensors, as the model
    loaded in one process has them (vLLM's load_weights maps HF checkpoint names)."""
    from harness.config import ModelConfig
    from harness.model.modeling import load_model

    pushed = two_ranks["engine_weights"]["weights"]
    plain = load_model(llava_dir, ModelConfig(threads=1))[0].state_dict()
    assert pushed.keys() == plain.keys()
    for name, tensor in plain.items():
        torch.testing.assert_close(pushed[name], tensor, msg=name)
