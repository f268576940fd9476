"""One run over two processes: a real torchrun with gloo on the CPU (NCCL on GPUs is the same code).

Both ranks sample their share of the rollouts and train their half of each global batch with FSDP2 (the default
strategy with more than one rank); rank 0 writes. They keep identical weights, the run folder is that of one
process, the rollouts and selection equal a single process's of the same seed, and the gradient equals the
full-batch gradient up to float rounding (so the weights after the first Improve step match). Training alone
(FSDP2, DDP, LoRA, accumulation, checkpoints) is checked against one process in tests/test_fsdp.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from distributed_worker import recording, weights_of
from harness.config import to_dict
from harness.io import read_json, read_jsonl
from harness.loop import evolve
from harness.loop.rundir import RunDir, run_path

WORKER = Path(__file__).with_name("distributed_worker.py")


def torchrun(*args, timeout=240) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(WORKER), *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]


def assert_close_to(a: torch.Tensor, b: torch.Tensor, start: torch.Tensor) -> None:
    """Weights a == b up to float rounding: few weights differ by more than 5% of how far training moved them
    from `start`. (Adam's first steps move every weight by about the learning rate whatever its gradient, so a
    rounding difference in a near-zero gradient can flip one weight's step; weighting the ranks' gradients
    wrongly would move many weights by ~lr. One selected example and one step left a single weight 12% off.)"""
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), (a - b).abs().max()
    moved = (b - start).abs().max()
    assert ((a - b).abs() > 0.05 * moved).float().mean() < 0.01, ((a - b).abs() > 0.05 * moved).float().mean()


def test_continuous_run_on_two_ranks(tiny_config, tmp_path, monkeypatch):
    overrides = ["method.kind=continuous", "method.interval=0.5", "model.threads=1"]  # 2 iterations
    cfg = tiny_config("name=two-ranks", *overrides)
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text(yaml.safe_dump(to_dict(cfg)))
    saved = tmp_path / "weights"
    saved.mkdir()
    torchrun(cfg_file, saved)

    path = run_path(cfg, "continuous seed 0")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # one run folder
    assert sorted(p.name for p in path.iterdir()) == ["checkpoint", "config.yaml", "eval.json", "inputs.json",
                                                      "metrics.jsonl", "responses", "run.log", "status.json",
                                                      "tensorboard"]
    assert RunDir(path).status()["state"] == "done"
    assert "rollout engines created per rank: [1, 1] (hf)" in (path / "run.log").read_text()  # one each, kept
    rows = [r for r in read_jsonl(path / "metrics.jsonl") if "metric" not in r]
    assert [r["iteration"] for r in rows] == [1, 2]  # written once, by rank 0
    # the tiny pi_0 is weak (it differs between machines): an iteration may find nothing correct to train on
    trained = next(i for i, r in enumerate(rows) if r["sft_steps"] > 0)

    # both ranks end every Improve step with the same weights: those of the checkpoint
    assert sorted(p.name for p in saved.iterdir()) == ["rank0-0.pt", "rank0-1.pt", "rank1-0.pt", "rank1-1.pt"]
    for step in (0, 1):
        assert torch.equal(torch.load(saved / f"rank0-{step}.pt"), torch.load(saved / f"rank1-{step}.pt"))
    assert torch.equal(torch.load(saved / "rank0-1.pt"), weights_of(path / "checkpoint" / "model", cfg))

    # a single process of the same seed: the same rollouts and selection (sampled in the same seeded batches)
    # up to the first Improve step that trained, and that step's result
    single = tiny_config("name=one-rank", *overrides)
    monkeypatch.setattr(evolve, "train_epoch", recording(evolve.train_epoch, saved, "single"))
    evolve.run(single)
    one = [r for r in read_jsonl(run_path(single, "continuous seed 0") / "metrics.jsonl") if "metric" not in r]
    for i in range(trained + 1):
        for key in ("selected", "pass_at_k", "reward_mean", "temperature", "sft_steps"):
            assert rows[i][key] == one[i][key], (i, key)
    assert rows[trained]["train_loss"] == pytest.approx(one[trained]["train_loss"], rel=1e-5)
    pi0 = weights_of(Path(read_json(path / "inputs.json")["warmup"]) / "model", cfg)
    assert_close_to(torch.load(saved / f"rank0-{trained}.pt"), torch.load(saved / f"single-{trained}.pt"), start=pi0)
