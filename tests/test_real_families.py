"""The trainer on more real transformers architectures than LLaVA: Idefics3 (SmolVLM's architecture), the
multimodal-RoPE families (Qwen2-VL, Qwen3-VL, Qwen3.5 with its linear-attention layers, GLM-4V, and the MoE
variants of the last three), Gemma 3,
InternVL, LLaVA-OneVision and Mllama, each a tiny random-init model built offline (tests/real_arch.py), loaded
through the Auto classes and run through the family's adapter: sampling, SFT labels, and warm-up + one
iteration + evaluation; family-specific checks are named after the family."""

import json
import math

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from harness.config import load_config
from harness.loop.evolve import run
from harness.model.adapters import (ChatMLAdapter, Gemma3Adapter, Glm4vAdapter, Idefics3Adapter, MllamaAdapter,
                                    MRopeAdapter, Prompt, adapter_for)
from harness.rollout.hf import hf_sample
from harness.rollout.settings import SamplingSettings
from harness.train.sft import Example, make_optimizer, train_epoch

from real_arch import (build_tiny_gemma3, build_tiny_glm4v, build_tiny_glm4v_moe, build_tiny_idefics3,
                       build_tiny_internvl, build_tiny_llava_onevision, build_tiny_mllama, build_tiny_qwen2_vl,
                       build_tiny_qwen3_5, build_tiny_qwen3_5_moe, build_tiny_qwen3_vl, build_tiny_qwen3_vl_moe,
                       greedy_generate_texts, make_image)

FAMILIES = {
    "gemma3": (build_tiny_gemma3, Gemma3Adapter, "Gemma3ForConditionalGeneration", "<end_of_turn>"),
    "glm4v": (build_tiny_glm4v, Glm4vAdapter, "Glm4vForConditionalGeneration", "<|user|>"),
    "glm4v_moe": (build_tiny_glm4v_moe, Glm4vAdapter, "Glm4vMoeForConditionalGeneration", "<|user|>"),
    "idefics3": (build_tiny_idefics3, Idefics3Adapter, "Idefics3ForConditionalGeneration", "<end_of_utterance>"),
    "internvl": (build_tiny_internvl, ChatMLAdapter, "InternVLForConditionalGeneration", "<|im_end|>"),
    "llava_onevision": (build_tiny_llava_onevision, ChatMLAdapter, "LlavaOnevisionForConditionalGeneration",
                        "<|im_end|>"),
    "mllama": (build_tiny_mllama, MllamaAdapter, "MllamaForConditionalGeneration", "<|eot_id|>"),
    "qwen2_vl": (build_tiny_qwen2_vl, MRopeAdapter, "Qwen2VLForConditionalGeneration", "<|im_end|>"),
    "qwen3_5": (build_tiny_qwen3_5, MRopeAdapter, "Qwen3_5ForConditionalGeneration", "<|im_end|>"),
    "qwen3_5_moe": (build_tiny_qwen3_5_moe, MRopeAdapter, "Qwen3_5MoeForConditionalGeneration", "<|im_end|>"),
    "qwen3_vl": (build_tiny_qwen3_vl, MRopeAdapter, "Qwen3VLForConditionalGeneration", "<|im_end|>"),
    "qwen3_vl_moe": (build_tiny_qwen3_vl_moe, MRopeAdapter, "Qwen3VLMoeForConditionalGeneration", "<|im_end|>"),
}
# Different image shapes: under the tiny Qwen2-VL processor a 64x16 image becomes a 2x8 patch grid (one row of 4
# merged tokens: RoPE shift 0) and a 40x30 one a 4x4 grid (2x2 merged tokens: shift -2), so the rows of a batch
# differ in their multimodal RoPE shift.
PROMPTS = [Prompt("Hi?", make_image(1, (64, 16)), cot=False),
           Prompt("A much longer question,\nover two lines: what is shown?", make_image(2), cot=False),
           Prompt("Third?", make_image(3, (48, 48)), cot=False)]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """name -> checkpoint folder of a tiny family model, each built once, on first use."""
    built = {}

    def get(name):
        if name not in built:
            built[name] = FAMILIES[name][0](tmp_path_factory.mktemp(name))
        return built[name]
    return get


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request, checkpoints):
    """(name, checkpoint folder) of each tiny family model."""
    return request.param, checkpoints(request.param)


@pytest.fixture(scope="module")
def loaded(family):
    name, path = family
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    return name, model, adapter_for(model, AutoProcessor.from_pretrained(path))


def test_family_loads_through_auto_classes_with_its_adapter(loaded):
    name, model, adapter = loaded
    _, adapter_cls, model_cls, stop = FAMILIES[name]
    assert model.config.model_type == name and type(model).__name__ == model_cls
    assert type(adapter) is adapter_cls
    assert adapter.eos_token_id == adapter.tokenizer.convert_tokens_to_ids(stop) != adapter.tokenizer.eos_token_id
    batch = adapter.encode_prompts(PROMPTS)
    with torch.no_grad():
        assert model(**batch).logits.shape[:2] == batch["input_ids"].shape


def test_freeze_vision_finds_the_family_vision_tower(loaded):
    """model.freeze_vision and LoRA's targets find each family's vision tower by its adapter's names."""
    from harness.model.modeling import lora_targets, vision_towers

    _, model, adapter = loaded
    towers = vision_towers(model, adapter)
    assert len(towers) == 1, towers
    assert not any(t.startswith(towers[0] + ".") for t in lora_targets(model, adapter))


def test_sampler_greedy_matches_generate_on_left_padded_batch(loaded):
    """Our sampler (adapter positions, KV cache repeated and pruned) decodes what transformers' generate does."""
    _, model, adapter = loaded
    expected = greedy_generate_texts(model, adapter, PROMPTS, 12)
    assert sum(len(e) > 0 for e in expected) >= 2  # a random model rarely ends at once: the check is not vacuous
    got = hf_sample(model, adapter, PROMPTS, SamplingSettings("hf", k=1, temperature=0.0,
                                                              max_new_tokens=12, batch_sequences=512, seed=0))
    assert [g[0] for g in got] == expected
    many = hf_sample(model, adapter, PROMPTS, SamplingSettings("hf", k=3, temperature=1.0,
                                                               max_new_tokens=6, batch_sequences=512, seed=0))
    assert [len(r) for r in many] == [3, 3, 3]


def test_the_loss_reads_logits_only_from_the_first_response_position_with_the_same_loss_and_gradients(
        loaded, monkeypatch):
    """global_batch.logits_window: the prompt's logits are never computed, and nothing the optimizer sees changes."""
    from harness.train import global_batch

    _, model, adapter = loaded
    batch = [Example(p, r) for p, r in zip(PROMPTS, ["4", "a cat, two dogs", "yes"])]
    labels = global_batch.encode(adapter, model, batch)["labels"]
    assert global_batch.logits_window(labels) < labels.shape[1]  # the check is not vacuous
    assert global_batch.accepts(model, "logits_to_keep")
    runs = []
    for windowed in (True, False):
        monkeypatch.setattr(global_batch, "accepts", lambda m, name, w=windowed: w)
        model.zero_grad(set_to_none=True)
        loss = global_batch.backward(model, adapter, batch, None)
        runs.append((loss, [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (loss, grads), (full_loss, full_grads) = runs
    assert loss == pytest.approx(full_loss, rel=1e-5) and len(grads) == len(full_grads) > 0
    assert all(torch.allclose(g, f, rtol=1e-4, atol=1e-7) for g, f in zip(grads, full_grads))
    model.zero_grad(set_to_none=True)


def check_mrope_positions_follow_the_image_grid(path):
    """Multimodal RoPE: text after an image continues max(h, w) merged cells past its start, not h x w tokens."""
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    adapter = adapter_for(model, AutoProcessor.from_pretrained(path))
    assert isinstance(adapter, MRopeAdapter)
    batch = adapter.encode_prompts(PROMPTS[:2])
    pos = adapter.position_ids(model, batch)
    assert pos.shape == (3, 2, batch["input_ids"].shape[1])
    nxt = adapter.next_positions(pos, batch["attention_mask"])
    merge = model.config.vision_config.spatial_merge_size
    _, h, w = (batch["image_grid_thw"] // torch.tensor([1, merge, merge])).T
    assert nxt.tolist() == (batch["attention_mask"].sum(1) + torch.maximum(h, w) - h * w).tolist()
    assert (h * w - torch.maximum(h, w)).tolist() == [0, 2]  # the two rows really differ
    assert adapter.step_position_ids(nxt).shape == (3, 2, 1)


def check_mrope_decode_step_matches_a_full_forward(path):
    """A cached decode step at the adapter's positions gives the logits of a full forward over prompt + token
    (where the model numbers everything itself); 1-D positions from the padding mask would not."""
    from transformers import DynamicCache

    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    adapter = adapter_for(model, AutoProcessor.from_pretrained(path))
    batch = adapter.encode_prompts(PROMPTS)
    mask = torch.cat([batch["attention_mask"], torch.ones(len(PROMPTS), 1, dtype=torch.long)], 1)
    tok = torch.tensor([[7], [8], [9]])
    full = {**batch, "input_ids": torch.cat([batch["input_ids"], tok], 1), "attention_mask": mask,
            "mm_token_type_ids": torch.cat([batch["mm_token_type_ids"], torch.zeros_like(tok)], 1)}

    def decode_step(pos, step_pos) -> torch.Tensor:
        cache = DynamicCache(config=model.config)  # with a hybrid decoder's linear-attention layers
        with torch.no_grad():
            model(**batch, position_ids=pos, cache=cache, use_cache=True)
            return model(input_ids=tok, attention_mask=mask, position_ids=step_pos, cache=cache).logits[:, -1]

    with torch.no_grad():
        reference = model(**full).logits[:, -1]
    pos = adapter.position_ids(model, batch)
    ours = decode_step(pos, adapter.step_position_ids(adapter.next_positions(pos, batch["attention_mask"])))
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-5)
    wrong = decode_step(pos, adapter.step_position_ids(batch["attention_mask"].sum(1)))
    assert not torch.allclose(wrong[1:], reference[1:], rtol=1e-4, atol=1e-5)  # rows 1-2 have a RoPE shift


def test_qwen2_vl_positions_follow_the_image_grid(checkpoints):
    check_mrope_positions_follow_the_image_grid(checkpoints("qwen2_vl"))


def test_qwen2_vl_decode_step_matches_a_full_forward(checkpoints):
    check_mrope_decode_step_matches_a_full_forward(checkpoints("qwen2_vl"))


def test_qwen3_vl_positions_follow_the_image_grid(checkpoints):
    check_mrope_positions_follow_the_image_grid(checkpoints("qwen3_vl"))


def test_qwen3_vl_decode_step_matches_a_full_forward(checkpoints):
    check_mrope_decode_step_matches_a_full_forward(checkpoints("qwen3_vl"))


def test_qwen3_vl_moe_positions_follow_the_image_grid(checkpoints):
    check_mrope_positions_follow_the_image_grid(checkpoints("qwen3_vl_moe"))


def test_qwen3_vl_moe_decode_step_matches_a_full_forward(checkpoints):
    """Experts are routed per token: the cached step's token takes the experts the full forward gives it."""
    check_mrope_decode_step_matches_a_full_forward(checkpoints("qwen3_vl_moe"))


def test_qwen3_5_positions_follow_the_image_grid(checkpoints):
    check_mrope_positions_follow_the_image_grid(checkpoints("qwen3_5"))


def test_qwen3_5_decode_step_matches_a_full_forward(checkpoints):
    """Qwen3.5's Gated-DeltaNet layer carries a conv and recurrent state through the cache instead of keys."""
    check_mrope_decode_step_matches_a_full_forward(checkpoints("qwen3_5"))


def test_qwen3_5_moe_positions_follow_the_image_grid(checkpoints):
    check_mrope_positions_follow_the_image_grid(checkpoints("qwen3_5_moe"))


def test_qwen3_5_moe_decode_step_matches_a_full_forward(checkpoints):
    """Gated-DeltaNet states through the cache, and experts (with the shared one) routed per token."""
    check_mrope_decode_step_matches_a_full_forward(checkpoints("qwen3_5_moe"))


def test_glm4v_positions_follow_the_image_grid(checkpoints):
    check_mrope_positions_follow_the_image_grid(checkpoints("glm4v"))


def test_glm4v_decode_step_matches_a_full_forward(checkpoints):
    check_mrope_decode_step_matches_a_full_forward(checkpoints("glm4v"))


def test_glm4v_moe_positions_follow_the_image_grid(checkpoints):
    check_mrope_positions_follow_the_image_grid(checkpoints("glm4v_moe"))


def test_glm4v_moe_decode_step_matches_a_full_forward(checkpoints):
    """A dense first layer, then routed and shared experts."""
    check_mrope_decode_step_matches_a_full_forward(checkpoints("glm4v_moe"))


def test_gemma3_prompts_outrun_its_sliding_window(checkpoints):
    """The sampler keeps every key in every layer; generate keeps a sliding-window layer's last `sliding_window`
    keys. The prompts are longer than the window, so the greedy comparison covers the difference, and image
    tokens are typed for the prefill's bidirectional image attention."""
    path = checkpoints("gemma3")
    model = AutoModelForImageTextToText.from_pretrained(path)
    adapter = adapter_for(model, AutoProcessor.from_pretrained(path))
    batch = adapter.encode_prompts(PROMPTS)
    assert "sliding_attention" in model.config.text_config.layer_types
    assert batch["attention_mask"].sum(1).min() > model.config.text_config.sliding_window
    assert (batch["token_type_ids"] == 1).sum(1).tolist() == [4, 4, 4]  # 4 soft tokens per image


def test_llava_onevision_image_tokens_follow_the_image_shape(checkpoints):
    """Anyres: a wide image gets more tiles (and image tokens) than a square one, so the batch is really ragged."""
    path = checkpoints("llava_onevision")
    model = AutoModelForImageTextToText.from_pretrained(path)
    adapter = adapter_for(model, AutoProcessor.from_pretrained(path))
    batch = adapter.encode_prompts(PROMPTS)
    counts = (batch["input_ids"] == model.config.image_token_index).sum(1).tolist()
    assert counts[0] != counts[1], counts


def test_mllama_decode_step_needs_the_cross_attention_mask(checkpoints):
    """A cached decode step with the adapter's step inputs (the new token's cross-attention mask) gives the logits of
    a full forward over prompt + token; without them the token would read every tile, padding tiles included."""
    from transformers import DynamicCache

    path = checkpoints("mllama")
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    adapter = adapter_for(model, AutoProcessor.from_pretrained(path))
    batch = adapter.encode_prompts(PROMPTS)
    assert batch["aspect_ratio_mask"].sum(-1).tolist() == [[2], [2], [1]]  # the square image has one tile of two
    mask = torch.cat([batch["attention_mask"], torch.ones(len(PROMPTS), 1, dtype=torch.long)], 1)
    tok = torch.tensor([[7], [8], [9]])
    cross = batch["cross_attention_mask"]
    full = {**batch, "input_ids": torch.cat([batch["input_ids"], tok], 1), "attention_mask": mask,
            "cross_attention_mask": torch.cat([cross, cross[:, -1:]], 1)}

    def decode_step(extra) -> torch.Tensor:
        cache = DynamicCache(config=model.config)
        with torch.no_grad():
            model(**batch, cache=cache, use_cache=True)
            return model(input_ids=tok, attention_mask=mask, cache=cache, **extra).logits[:, -1]

    with torch.no_grad():
        reference = model(**full).logits[:, -1]
    torch.testing.assert_close(decode_step(adapter.step_inputs(batch)), reference, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(decode_step({})[2], reference[2], rtol=1e-4, atol=1e-5)  # it would read the empty tile


def test_training_labels_are_the_response_and_end_of_turn(loaded):
    """The prompt's tokens are a prefix of prompt + response, so exactly the response is labelled."""
    name, model, adapter = loaded
    stop = FAMILIES[name][3]
    responses = ["The answer is 4.", "A cat.", "7"]
    batch = adapter.encode_train(PROMPTS, responses)
    for row, resp in zip(batch["labels"], responses):
        assert adapter.tokenizer.decode(row[row != -100]) == resp + stop


# Six full-batch AdamW steps at lr 1e-2 overshoot on the tiny Qwen3-VL (losses 4.65 .. 2.60 then 3.70, measured);
# at 3e-3 they fall every step (4.65 -> 3.08).
SFT_LR = {"qwen3_vl": 3e-3}


def test_sft_on_family_learns(family):
    name, path = family
    model = AutoModelForImageTextToText.from_pretrained(path)
    adapter = adapter_for(model, AutoProcessor.from_pretrained(path))
    examples = [Example(p, r) for p, r in zip(PROMPTS, ["The answer is 4.", "A cat.", "7"])]
    cfg = load_config(None, ["method.optim.batch_size=3", f"method.optim.lr={SFT_LR.get(name, 1e-2)}",
                             "method.optim.warmup_steps=0"]).method.optim
    opt, sched = make_optimizer(model, cfg)
    losses = [train_epoch(model, adapter, opt, sched, examples, cfg, seed=e)["loss"] for e in range(6)]
    assert losses[-1] < 0.7 * losses[0], losses


def test_evolve_runs_end_to_end_on_family(family, tmp_path):
    """Warm-up + one self-evolving iteration + evaluation through the normal trainer."""
    name, path = family
    cfg = load_config(None, [
        f"model.path={path}", f"results_dir={tmp_path}", f"name={name}", "method.kind=continuous",
        "world.sizes.labeled=8", "world.sizes.unlabeled=2", "world.sizes.val=4",
        "world.sizes.test_id=4", "world.sizes.test_ood=4",
        "warmup.samples_per_query=2", "rollout.samples_per_query=2", "warmup.max_per_query=2",
        "select.max_per_query=2", "model.max_new_tokens=8", "method.interval=1.0", "method.passes=1.0",
        "model.threads=1",
    ])
    out = run(cfg)
    assert json.loads((out / "status.json").read_text())["state"] == "done"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert [r["iteration"] for r in rows] == [1]
    final = json.loads((out / "eval.json").read_text())["final"]
    for split in ("test_id", "test_ood"):
        assert final[split]["n"] == 4 and 0.0 <= final[split]["accuracy"] <= 1.0
        assert all(math.isfinite(v) for v in final[split]["by_task"].values())
