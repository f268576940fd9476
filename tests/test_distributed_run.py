"""One run over two processes: a real torchrun with gloo on the CPU (NCCL on GPUs is the same code).

Rank 0 samples and writes, both ranks train on halves of each batch: they keep identical weights, the run
folder is that of one process, and the sharded gradient equals the full-batch gradient up to float rounding
(so the weights after the first Improve step match a single-process run of the same seed)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from distributed_worker import recording, train_once, weights_of
from harness import evolve
from harness.config import to_dict
from harness.io import read_json, read_jsonl
from harness.rundir import RunDir, run_path
from real_arch import build_tiny_llava

WORKER = Path(__file__).with_name("distributed_worker.py")


def torchrun(*args, timeout=240) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(WORKER), *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]


def assert_close_to(a: torch.Tensor, b: torch.Tensor, start: torch.Tensor) -> None:
    """Weights a == b up to float rounding: small next to how far training moved them from `start`. (Adam's
    first steps move every weight by about the learning rate whatever its gradient, so rounding shows most
    where a gradient is near zero; weighting the ranks' gradients wrongly would move many weights by ~lr.)"""
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), (a - b).abs().max()
    assert (a - b).abs().max() < 0.05 * (b - start).abs().max()


def test_lora_epoch_on_two_ranks_equals_one_process(tmp_path):
    """train_epoch with a LoRA policy and a frozen vision tower; the last batch leaves rank 1 nothing."""
    pytest.importorskip("peft")
    model_dir = build_tiny_llava(tmp_path / "llava")
    torchrun("train", model_dir, tmp_path)
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert torch.equal(r0["weights"], r1["weights"])
    one = train_once(model_dir)
    assert torch.equal(r0["start"], one["start"])
    assert one["steps"] == r0["steps"] == 2
    assert r0["loss"] == pytest.approx(one["loss"], rel=1e-5)
    assert_close_to(r0["weights"], one["weights"], start=one["start"])


def test_continuous_run_on_two_ranks(tiny_config, tmp_path, monkeypatch):
    overrides = ["method.kind=continuous", "method.interval=0.5", "model.threads=1"]  # 2 iterations
    cfg = tiny_config("name=two-ranks", *overrides)
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text(yaml.safe_dump(to_dict(cfg)))
    saved = tmp_path / "weights"
    saved.mkdir()
    torchrun("run", cfg_file, saved)

    path = run_path(cfg, "continuous seed 0")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # one run folder
    assert sorted(p.name for p in path.iterdir()) == ["checkpoint", "config.yaml", "eval.json", "inputs.json",
                                                      "metrics.jsonl", "responses", "run.log", "status.json",
                                                      "tensorboard"]
    assert RunDir(path).status()["state"] == "done"
    rows = [r for r in read_jsonl(path / "metrics.jsonl") if "metric" not in r]
    assert [r["iteration"] for r in rows] == [1, 2]  # written once, by rank 0
    assert all(r["sft_steps"] > 0 for r in rows)

    # both ranks end every Improve step with the same weights: those of the checkpoint
    assert sorted(p.name for p in saved.iterdir()) == ["rank0-0.pt", "rank0-1.pt", "rank1-0.pt", "rank1-1.pt"]
    for step in (0, 1):
        assert torch.equal(torch.load(saved / f"rank0-{step}.pt"), torch.load(saved / f"rank1-{step}.pt"))
    assert torch.equal(torch.load(saved / "rank0-1.pt"), weights_of(path / "checkpoint" / "model", cfg))

    # a single process of the same seed: same rollouts and selection, and the same first Improve step
    single = tiny_config("name=one-rank", *overrides)
    monkeypatch.setattr(evolve, "train_epoch", recording(evolve.train_epoch, saved, "single"))
    evolve.run(single)
    one = [r for r in read_jsonl(run_path(single, "continuous seed 0") / "metrics.jsonl") if "metric" not in r]
    for key in ("selected", "pass_at_k", "reward_mean", "temperature", "sft_steps"):
        assert rows[0][key] == one[0][key], key
    assert rows[0]["train_loss"] == pytest.approx(one[0]["train_loss"], rel=1e-5)
    pi0 = weights_of(Path(read_json(path / "inputs.json")["warmup"]) / "model", cfg)
    assert_close_to(torch.load(saved / "rank0-0.pt"), torch.load(saved / "single-0.pt"), start=pi0)
