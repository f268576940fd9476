"""The trainer on a real transformers architecture (a tiny random LLaVA), so nothing in the core assumes the
embedded model: loading through the Auto classes, the chat adapter, the hf sampler and SFT, end to end."""

import json
import math
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from harness.config import load_config
from harness.loop.evolve import run
from harness.model.adapters import ChatAdapter, Prompt, adapter_for
from harness.rollout.hf import hf_sample
from harness.rollout.settings import SamplingSettings
from harness.train.sft import Example, make_optimizer, train_epoch

from real_arch import build_tiny_llava, greedy_generate_texts, make_image


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    return build_tiny_llava(tmp_path_factory.mktemp("tiny_llava"))


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    """Shared by the end-to-end runs, so the data and warm-up stages are built once."""
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="module")
def llava(llava_dir):
    model = AutoModelForImageTextToText.from_pretrained(llava_dir).eval()
    processor = AutoProcessor.from_pretrained(llava_dir)
    return model, processor


def test_tiny_llava_loads_through_auto_classes(llava):
    model, processor = llava
    assert model.config.model_type == "llava"
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert type(processor).__name__ == "LlavaProcessor"
    adapter = adapter_for(model, processor)
    assert type(adapter) is ChatAdapter
    text = adapter.render(Prompt("What is 2+2?", make_image(0), cot=False))
    batch = adapter.encode([text], [make_image(0)])
    n_image = (batch["input_ids"] == model.config.image_token_id).sum().item()
    assert n_image == (32 // 16) ** 2  # CLS dropped by the "default" feature strategy
    with torch.no_grad():
        assert model(**batch).logits.shape[-1] == model.config.text_config.vocab_size


TWO_PROMPTS = [Prompt("Hi?", make_image(1), cot=False),
               Prompt("A much longer question,\nover two lines: what is shown?", make_image(2), cot=False)]


def test_hf_sampler_greedy_matches_generate_on_left_padded_batch(llava):
    model, processor = llava
    adapter = adapter_for(model, processor)
    expected = greedy_generate_texts(model, adapter, TWO_PROMPTS, 12)
    assert all(len(e) > 0 for e in expected)  # a random model rarely ends at once: the check is not vacuous
    got = hf_sample(model, adapter, TWO_PROMPTS, SamplingSettings("hf", k=1, temperature=0.0,
                                                                  max_new_tokens=12, batch_sequences=512, seed=0))
    assert [g[0] for g in got] == expected
    # Longest first, one prompt per chunk: the sampler reorders prompts by length and must undo it.
    got = hf_sample(model, adapter, TWO_PROMPTS[::-1], SamplingSettings("hf", k=1, temperature=0.0,
                                                                        max_new_tokens=12, batch_sequences=1, seed=0))
    assert [g[0] for g in got] == expected[::-1]


class BareForward(torch.nn.Module):
    """A model whose forward takes neither position_ids nor logits_to_keep, calls the KV cache by its old
    name `past_key_values` and returns it under that name: what the generic code must cope with."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.config = inner, inner.config

    def forward(self, input_ids, attention_mask=None, pixel_values=None, past_key_values=None, use_cache=None,
                labels=None):
        out = self.inner(input_ids=input_ids, attention_mask=attention_mask, pixel_values=pixel_values,
                         cache=past_key_values, use_cache=use_cache, labels=labels)
        return SimpleNamespace(logits=out.logits, loss=out.loss, past_key_values=out.cache)


def test_sampler_and_sft_work_without_optional_forward_arguments(llava):
    model, processor = llava
    adapter = adapter_for(model, processor)
    bare = BareForward(model)
    expected = greedy_generate_texts(model, adapter, TWO_PROMPTS, 6)
    # no position_ids: Llama counts positions from the left pad, a constant shift that RoPE cancels
    got = hf_sample(bare, adapter, TWO_PROMPTS, SamplingSettings("hf", k=1, temperature=0.0,
                                                                 max_new_tokens=6, batch_sequences=512, seed=0))
    assert [g[0] for g in got] == expected
    assert all(len(r) == 3 for r in hf_sample(bare, adapter, TWO_PROMPTS, SamplingSettings("hf", k=3, temperature=1.0,
                                                                                           max_new_tokens=4, batch_sequences=512, seed=0)))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        cfg = load_config(None, ["method.optim.batch_size=2"]).method.optim
        opt, sched = make_optimizer(bare, cfg)
        fit = train_epoch(bare, adapter, opt, sched, [Example(p, "The answer is 4.") for p in TWO_PROMPTS], cfg, 0)
        assert fit["steps"] == 1 and math.isfinite(fit["loss"])
    finally:
        model.load_state_dict(state)
        model.eval()


def test_sft_on_llava_learns_the_response_only(llava_dir):
    model = AutoModelForImageTextToText.from_pretrained(llava_dir)
    adapter = adapter_for(model, AutoProcessor.from_pretrained(llava_dir))
    examples = [Example(p, r) for p, r in zip(TWO_PROMPTS, ["The answer is 4.", "A cat."])]
    batch = adapter.encode_train([e.prompt for e in examples], [e.response for e in examples])
    for row, ex in zip(batch["labels"], examples):
        assert adapter.tokenizer.decode(row[row != -100]) == ex.response + "<eos>"
    cfg = load_config(None, ["method.optim.batch_size=2", "method.optim.lr=1e-2",
                             "method.optim.warmup_steps=0"]).method.optim
    opt, sched = make_optimizer(model, cfg)
    losses = [train_epoch(model, adapter, opt, sched, examples, cfg, seed=e)["loss"] for e in range(6)]
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize("method", ["continuous", "sft"])
def test_evolve_runs_end_to_end_on_tiny_llava(llava_dir, results_dir, method):
    cfg = load_config(None, [
        f"model.path={llava_dir}", f"results_dir={results_dir}", "name=llava", f"method.kind={method}",
        "world.sizes.labeled=8", "world.sizes.unlabeled=2", "world.sizes.val=4",
        "world.sizes.test_id=4", "world.sizes.test_ood=4",
        "warmup.samples_per_query=2", "rollout.samples_per_query=2", "warmup.max_per_query=2", "select.max_per_query=2", "model.max_new_tokens=8",
        "method.interval=1.0", "method.passes=1.0", "model.threads=1",
    ])
    path = run(cfg)
    status = json.loads((path / "status.json").read_text())
    assert status["state"] == "done", status
    rows = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert [r["iteration"] for r in rows] == [1]
    if method == "sft":  # a random policy solves nothing, so only given answers make the Improve step train
        assert rows[0]["sft_steps"] >= 1 and math.isfinite(rows[0]["train_loss"])
    final = json.loads((path / "eval.json").read_text())["final"]
    for split in ("test_id", "test_ood"):
        table = final[split]
        assert table["n"] == 4
        assert 0.0 <= table["accuracy"] <= 1.0
        assert table["by_task"] and all(0.0 <= v <= 1.0 for v in table["by_task"].values())
