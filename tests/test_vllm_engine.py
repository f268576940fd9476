"""The vllm rollout engine (harness/rollout/vllm.py). vLLM cannot run on these CPU-only machines, so the lifecycle
tests replace the `vllm` module by a recording stand-in: they check what the engine asks of vLLM and when (built
once with sleep mode, requests and per-prompt seeds, sleep, weights pushed in place under checkpoint names, caches
reset, LoRA adapters as LoRARequests, teardown), not vLLM itself. The real test needs vLLM and a GPU and is skipped
here with the reason."""
from __future__ import annotations

import os
import sys
import time
import types

import pytest
import torch

from harness.config import ModelConfig, load_config
from harness.model.adapters import Prompt
from harness.model.modeling import load_model
from harness.rollout.engine import RolloutEngine, open_engine
from harness.rollout.settings import SamplingSettings
from harness.rollout.sharded import greedy, sample
from real_arch import build_tiny_llava, make_image

PROMPTS = [Prompt("What is 2+2?", make_image(0)), Prompt("Name the shape.", make_image(1), prefix="step 1\n")]


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    return build_tiny_llava(tmp_path_factory.mktemp("llava") / "m")


class Recorder:
    """Stands in for the vllm module: records the engine's arguments and files, every call on it, the requests and
    sampling parameters, and the weights pushed through collective_rpc into a worker's model.load_weights."""

    def __init__(self):
        self.events, self.loaded, self.calls = [], {}, {}
        rec = self

        class SamplingParams:
            def __init__(self, **kw):
                self.kw = kw

        class Model:
            def load_weights(self, weights):
                rec.loaded.update({name: t.detach().clone() for name, t in weights})

        worker = types.SimpleNamespace(model_runner=types.SimpleNamespace(model=Model()))

        class LLM:
            def __init__(self, model, **kw):
                rec.events.append("create")
                rec.folder = model
                rec.calls["engine"] = {"files": sorted(os.listdir(model)), **kw}
                rec.started_from = load_model(model, ModelConfig(threads=1))[0].state_dict()
                self.llm_engine = types.SimpleNamespace(
                    reset_encoder_cache=lambda: rec.events.append("reset encoder cache"),
                    engine_core=types.SimpleNamespace(shutdown=lambda: rec.events.append("shutdown")))

            def generate(self, requests, params, use_tqdm=True, lora_request=None):
                rec.events.append("generate")
                rec.calls.update(requests=requests, params=[p.kw for p in params], lora=lora_request)
                out = types.SimpleNamespace
                return [out(outputs=[out(text=f" r{i}-{j} ") for j in range(p.kw["n"])]) for i, p in enumerate(params)]

            def sleep(self, level=1):
                rec.events.append(f"sleep {level}")

            def wake_up(self, tags=None):
                rec.events.append(f"wake {tags}")

            def collective_rpc(self, method, args=(), kwargs=None):
                rec.events.append("load weights")
                return [method(worker, *args, **(kwargs or {}))]

            def reset_prefix_cache(self):
                rec.events.append("reset prefix cache")

        class LoRARequest:
            def __init__(self, lora_name, lora_int_id, lora_path):
                self.lora_name, self.lora_int_id, self.lora_path = lora_name, lora_int_id, lora_path
                rec.adapter_files = sorted(os.listdir(lora_path))

        self.module = types.SimpleNamespace(SamplingParams=SamplingParams, LLM=LLM)
        self.lora_module = types.SimpleNamespace(LoRARequest=LoRARequest)


@pytest.fixture
def recorder(monkeypatch):
    rec = Recorder()
    monkeypatch.setitem(sys.modules, "vllm", rec.module)
    monkeypatch.setitem(sys.modules, "vllm.lora", types.SimpleNamespace(request=rec.lora_module))
    monkeypatch.setitem(sys.modules, "vllm.lora.request", rec.lora_module)
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    return rec


def rollout(*overrides):
    return load_config(None, ["rollout.backend=vllm", "rollout.batch_sequences=64", *overrides]).rollout


def test_vllm_engine_is_built_once_from_the_policy_with_sleep_mode(llava, recorder):
    model, adapter = load_model(llava, ModelConfig(threads=1))
    created = RolloutEngine.created
    engine = open_engine(rollout("rollout.vllm.gpu_memory_utilization=0.4", "rollout.vllm.max_model_len=2048",
                                 "rollout.vllm.enforce_eager=true"), model, adapter)
    assert RolloutEngine.created == created + 1 and recorder.events == ["create"]
    kw = recorder.calls["engine"]
    assert (kw["enable_sleep_mode"], kw["gpu_memory_utilization"], kw["max_model_len"], kw["enforce_eager"],
            kw["tensor_parallel_size"], kw["trust_remote_code"], kw["max_num_seqs"]) == (True, 0.4, 2048, True, 1,
                                                                                        False, 64)
    assert "distributed_executor_backend" not in kw and "enable_lora" not in kw  # one process, a full policy
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"  # in this process: weights pass in memory
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json"} <= set(kw["files"])
    # the engine starts from the policy's own weights, in its compute dtype
    for name, tensor in model.state_dict().items():
        assert torch.equal(recorder.started_from[name], tensor.to(engine.dtype)), name
    engine.close()
    assert recorder.events[-1] == "shutdown" and not os.path.exists(recorder.folder)


def test_vllm_engine_lifecycle_pushes_weights_in_place(llava, recorder):
    model, adapter = load_model(llava, ModelConfig(threads=1))
    engine = open_engine(rollout(), model, adapter)
    settings = SamplingSettings("vllm", k=3, temperature=0.7, max_new_tokens=12, batch_sequences=64, seed=5, top_p=0.9)
    out = sample(engine, PROMPTS, settings)
    assert sorted(map(sorted, out)) == [["r0-0", "r0-1", "r0-2"], ["r1-0", "r1-1", "r1-2"]]
    first, second = recorder.calls["requests"]
    assert {first["prompt"], second["prompt"]} == {adapter.render(PROMPTS[0]), adapter.render(PROMPTS[1]) + "step 1\n"}
    params = recorder.calls["params"]
    assert {(p["n"], p["temperature"], p["top_p"], p["max_tokens"], tuple(p["stop_token_ids"])) for p in params} == \
        {(3, 0.7, 0.9, 12, (adapter.eos_token_id,))}
    assert params[1]["seed"] - params[0]["seed"] == 3  # one seed per prompt: its samples do not depend on its batch

    engine.sleep()
    with torch.no_grad():  # an Improve step
        for p in model.parameters():
            p.add_(0.01)
    engine.update_weights(model, adapter)
    engine.wake()
    assert recorder.events[1:] == ["generate", "sleep 1", "wake ['weights']", "load weights", "reset prefix cache",
                                   "reset encoder cache", "wake None"]
    # every weight under its checkpoint name (what vLLM's load_weights maps), with the trained values
    assert recorder.loaded.keys() == model.state_dict().keys()
    for name, tensor in model.state_dict().items():
        assert torch.equal(recorder.loaded[name], tensor.to(engine.dtype)), name

    assert greedy(engine, PROMPTS[:1], settings) == ["r0-0"]
    assert (recorder.calls["params"][0]["n"], recorder.calls["params"][0]["temperature"]) == (1, 0.0)
    engine.close()
    assert recorder.events.count("create") == 1 and recorder.events[-1] == "shutdown"


def test_vllm_engine_serves_a_lora_policy_through_lora_requests(llava, recorder):
    model, adapter = load_model(llava, ModelConfig(threads=1, lora_rank=4))
    plain = load_model(llava, ModelConfig(threads=1))[0].state_dict()
    engine = open_engine(rollout(), model, adapter)
    kw = recorder.calls["engine"]
    assert (kw["enable_lora"], kw["max_lora_rank"], kw["max_loras"]) == (True, 8, 1)  # 4 -> vLLM's next rank
    assert recorder.started_from.keys() == plain.keys()  # the frozen weights, under the plain model's names
    assert recorder.adapter_files and "adapter_config.json" in recorder.adapter_files
    sample(engine, PROMPTS, SamplingSettings("vllm", k=2, temperature=1.0, max_new_tokens=8, batch_sequences=64,
                                             seed=0))
    first = recorder.calls["lora"]
    engine.sleep()
    engine.update_weights(model, adapter)
    engine.wake()
    sample(engine, PROMPTS, SamplingSettings("vllm", k=2, temperature=1.0, max_new_tokens=8, batch_sequences=64,
                                             seed=0))
    second = recorder.calls["lora"]
    assert first.lora_int_id != second.lora_int_id and first.lora_path != second.lora_path  # vLLM caches by id
    assert "load weights" not in recorder.events  # the base weights never move: only adapters are pushed
    engine.close()


def test_vllm_engine_refuses_a_tensor_parallel_size_the_ranks_cannot_hold(llava, recorder):
    model, adapter = load_model(llava, ModelConfig(threads=1))
    with pytest.raises(ValueError, match="tensor_parallel_size=2 must divide the 1 rank"):
        open_engine(rollout("rollout.vllm.tensor_parallel_size=2"), model, adapter)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="vLLM rollouts need a CUDA GPU")
def test_vllm_engine_on_gpu_follows_its_weights(llava):
    """On a GPU: the real engine generates, takes new weights in place and generates from them (greedy equals the
    hf engine's on the same weights), without a second engine."""
    pytest.importorskip("vllm", reason="the [vllm] extra is not installed")
    model, adapter = load_model(llava, ModelConfig(device="cuda", dtype="bfloat16"))
    prompts = [Prompt(f"What is {i}+{i}?", make_image(i)) for i in range(32)]
    greedy_settings = SamplingSettings("vllm", k=1, temperature=0.0, max_new_tokens=16, batch_sequences=256, seed=0)
    hf = open_engine(load_config(None).rollout, model, adapter)
    created = RolloutEngine.created
    with open_engine(rollout(), model, adapter) as engine:
        start = time.perf_counter()
        out = sample(engine, prompts, SamplingSettings("vllm", k=8, temperature=1.0, max_new_tokens=16,
                                                       batch_sequences=256, seed=0))
        print(f"vllm: {256 / (time.perf_counter() - start):.0f} sequences/s")
        assert len(out) == 32 and all(len(r) == 8 for r in out)
        engine.sleep()
        with torch.no_grad():
            model.get_output_embeddings().weight.mul_(-1.0)
        engine.update_weights(model, adapter)
        engine.wake()
        assert greedy(engine, prompts, greedy_settings) == greedy(hf, prompts, greedy_settings)
    assert RolloutEngine.created == created + 1


def test_a_run_on_the_vllm_engine_builds_it_once_and_samples_everything_with_it(tiny_config, recorder):
    """Generate, the monitor and greedy validation and evaluation all go to the one engine (the stand-in's answers
    are never right, so nothing is selected: the lifecycle is what is checked)."""
    from harness.loop.evolve import run

    cfg = tiny_config("rollout.backend=vllm", "method.interval=0.5", "monitor.temperatures=[1.0]",
                      "monitor.queries=4", "monitor.samples=2", "name=vllm-run", "model.threads=1")
    folder = run(cfg, "vllm engine")
    events = recorder.events
    assert events.count("create") == 1 and events[-1] == "shutdown"
    improve = ["sleep 1", "wake ['weights']", "load weights", "reset prefix cache", "reset encoder cache", "wake None"]
    steps = [e for e in events if e not in ("generate", "create", "shutdown")]
    assert steps == improve * 2  # one sleep and one in-place push per Improve step, no rebuild
    assert "rollout engines created per rank: [1] (vllm)" in (folder / "run.log").read_text()
    assert events.count("generate") >= 6  # monitor and Generate per iteration, greedy val, test splits


def test_sleep_level_2_drops_the_weights_so_waking_needs_a_push_first(llava, recorder):
    model, adapter = load_model(llava, ModelConfig(threads=1))
    with open_engine(rollout("rollout.vllm.sleep_level=2"), model, adapter) as engine:
        engine.sleep()
        with pytest.raises(RuntimeError, match="update_weights\\(\\) before wake"):
            engine.wake()
        engine.update_weights(model, adapter)
        engine.wake()
        assert engine.generate(PROMPTS[:1], SamplingSettings("vllm", k=1, temperature=0.0, max_new_tokens=4,
                                                             batch_sequences=8, seed=0)) == [["r0-0"]]
    assert recorder.events[1:5] == ["sleep 2", "wake ['weights']", "load weights", "reset prefix cache"]
