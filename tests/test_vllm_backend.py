"""The vllm rollout backend. The real test needs vLLM and a GPU and is skipped here with the reason;
the mapping test replaces the `vllm` module by a recording stand-in, because vLLM cannot run on these
CPU-only machines: it checks what the backend asks of vLLM, not vLLM itself."""
from __future__ import annotations

import sys
import time
import types

import pytest
import torch

from harness.config import ModelConfig
from harness.model.adapters import Prompt
from harness.model.modeling import load_model
from harness.rollout.settings import SamplingSettings
from harness.rollout.sharded import greedy, sample
from real_arch import build_tiny_llava, make_image


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    path = build_tiny_llava(tmp_path_factory.mktemp("llava") / "m")
    return load_model(path, ModelConfig(threads=1))


class Recorder:
    """Stands in for the vllm module: records the engine arguments, requests and sampling parameters."""

    def __init__(self):
        self.calls = {}
        rec = self

        class SamplingParams:
            def __init__(self, **kw):
                rec.calls["sampling"] = kw

        class LLM:
            def __init__(self, model, **kw):
                import os
                rec.calls["engine"] = {"files": sorted(os.listdir(model)), **kw}

            def generate(self, requests, params, use_tqdm=True):
                rec.calls["requests"] = requests
                n = rec.calls["sampling"]["n"]
                out = types.SimpleNamespace
                return [out(outputs=[out(text=f" r{i}-{j} ") for j in range(n)]) for i in range(len(requests))]

        self.module = types.SimpleNamespace(SamplingParams=SamplingParams, LLM=LLM)


def test_vllm_backend_maps_prompts_and_sampling_parameters(llava, monkeypatch):
    model, adapter = llava
    rec = Recorder()
    monkeypatch.setitem(sys.modules, "vllm", rec.module)
    prompts = [Prompt("What is 2+2?", make_image(0)), Prompt("Name the shape.", make_image(1), prefix="step 1\n")]
    settings = SamplingSettings("vllm", k=3, temperature=0.7, max_new_tokens=12, batch_sequences=64, seed=5, top_p=0.9)
    out = sample(model, adapter, prompts, settings)
    assert out == [["r0-0", "r0-1", "r0-2"], ["r1-0", "r1-1", "r1-2"]]
    assert rec.calls["sampling"] == {"n": 3, "temperature": 0.7, "top_p": 0.9, "max_tokens": 12, "seed": 5,
                                     "stop_token_ids": [adapter.eos_token_id], "skip_special_tokens": True}
    assert "config.json" in rec.calls["engine"]["files"] and rec.calls["engine"]["max_num_seqs"] == 64
    first, second = rec.calls["requests"]
    assert first["prompt"] == adapter.render(prompts[0]) and second["prompt"].endswith("step 1\n")
    assert first["multi_modal_data"]["image"].size == make_image(0).size


@pytest.mark.skipif(not torch.cuda.is_available(), reason="vLLM rollouts need a CUDA GPU")
def test_vllm_backend_on_gpu_against_hf(llava):
    pytest.importorskip("vllm", reason="the [vllm] extra is not installed")
    model, adapter = llava
    prompts = [Prompt(f"What is {i}+{i}?", make_image(i)) for i in range(32)]
    timings = {}
    for name in ("hf", "vllm"):
        start = time.perf_counter()
        out = sample(model, adapter, prompts, SamplingSettings(name, k=8, temperature=1.0, max_new_tokens=16,
                                                               batch_sequences=256, seed=0))
        timings[name] = time.perf_counter() - start
        assert len(out) == 32 and all(len(r) == 8 for r in out)
    print(f"sequences/s: hf {256 / timings['hf']:.0f}, vllm {256 / timings['vllm']:.0f}")


def test_greedy_decoding_honours_the_rollout_backend(llava, monkeypatch):
    model, adapter = llava
    rec = Recorder()
    monkeypatch.setitem(sys.modules, "vllm", rec.module)
    settings = SamplingSettings("vllm", k=4, temperature=1.0, max_new_tokens=12, batch_sequences=64, seed=5)
    assert greedy(model, adapter, [Prompt("What is 2+2?", make_image(0))], settings) == ["r0-0"]
    assert (rec.calls["sampling"]["n"], rec.calls["sampling"]["temperature"]) == (1, 0.0)
