"""Fast CPU checks of the tiny VLM: packaging, masking/caching correctness, generation, learning."""

import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor, AutoTokenizer
from transformers.cache_utils import DynamicCache

from harness.rollout.kvcache import GrowingCache, SharedPrefixCache
from harness.tinyvlm import build_char_tokenizer, build_tiny_vlm
from harness.tinyvlm.modeling import build_attention_mask

TINY = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=64,
    image_size=32,
    cell_size=16,
    vision_channels=(8, 8),
)


def make_image(seed: int, size=(40, 30)) -> Image.Image:
    """Deterministic random RGB image."""
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (size[1], size[0], 3), generator=generator, dtype=torch.uint8)
    return Image.fromarray(pixels.numpy())


@pytest.fixture
def tiny():
    """(model, processor) with a tiny config, in eval mode."""
    torch.manual_seed(0)
    model, processor = build_tiny_vlm(**TINY)
    return model.eval(), processor


def test_parameter_count_at_defaults_is_about_one_million():
    model, processor = build_tiny_vlm()
    n_params = sum(p.numel() for p in model.parameters())
    assert 0.5e6 < n_params < 2e6
    assert model.config.num_image_tokens == 9
    assert processor.num_image_tokens == 9


def test_vision_tower_gives_one_feature_per_cell():
    model, _ = build_tiny_vlm(vision_channels=(4, 4))
    features = model.vision_tower(torch.zeros(2, 3, 48, 48))
    assert features.shape == (2, 9, 4)


def test_save_load_round_trip_gives_identical_logits(tiny, tmp_path):
    model, processor = tiny
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    loaded_processor = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is type(model)
    assert loaded_processor.num_image_tokens == processor.num_image_tokens
    batch = processor(text=["<image>What is it?", "<image>Hi"], images=[make_image(1), make_image(2)])
    batch_loaded = loaded_processor(text=["<image>What is it?", "<image>Hi"], images=[make_image(1), make_image(2)])
    for key in batch:
        assert torch.equal(batch[key], batch_loaded[key])
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)


def test_images_change_the_text_logits(tiny):
    model, processor = tiny
    with torch.no_grad():
        a = model(**processor(text=["<image>Hi"], images=[make_image(1)])).logits[:, -1]
        b = model(**processor(text=["<image>Hi"], images=[make_image(2)])).logits[:, -1]
    assert not torch.allclose(a, b, atol=1e-4)


def test_left_padded_batch_matches_unpadded_sequence(tiny):
    model, processor = tiny
    prompts, images = ["<image>Hi", "<image>A much longer prompt\nwith two lines"], [make_image(1), make_image(2)]
    batch = processor(text=prompts, images=images)
    assert batch["attention_mask"][0, 0] == 0  # the short prompt really is left-padded
    with torch.no_grad():
        batched = model(**batch).logits
        for row, (prompt, image) in enumerate(zip(prompts, images)):
            single = model(**processor(text=[prompt], images=[image])).logits[0]
            real = batch["attention_mask"][row].bool()
            torch.testing.assert_close(batched[row][real], single, atol=1e-5, rtol=0)


def test_attention_mask_is_causal_hides_padding_and_never_empties_a_row():
    padding = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    mask = build_attention_mask(padding, past_length=2, query_length=3, device="cpu")
    assert mask.shape == (2, 1, 3, 5)
    assert mask[1, 0].tolist() == [[True, True, True, False, False], [True] * 4 + [False], [True] * 5]
    assert not mask[0, 0, :, :2].any()  # real queries never see the left padding
    full = build_attention_mask(padding, past_length=0, query_length=5, device="cpu")
    assert full.any(dim=-1).all()  # pad queries see something, else some SDPA kernels return NaN


def test_cached_decoding_matches_full_forward(tiny):
    model, processor = tiny
    batch = processor(text=["<image>Hi", "<image>Longer prompt"], images=[make_image(1), make_image(2)])
    continuation = torch.tensor([[40, 41, 42], [50, 51, 52]])
    full_ids = torch.cat([batch["input_ids"], continuation], dim=1)
    full_mask = torch.cat([batch["attention_mask"], torch.ones_like(continuation)], dim=1)
    with torch.no_grad():
        full = model(input_ids=full_ids, attention_mask=full_mask, pixel_values=batch["pixel_values"]).logits
        out = model(**batch, use_cache=True)
        cache, mask = out.cache, batch["attention_mask"]
        for step in range(continuation.shape[1]):
            mask = torch.cat([mask, torch.ones(2, 1, dtype=mask.dtype)], dim=1)
            out = model(input_ids=continuation[:, step : step + 1], attention_mask=mask, cache=cache)
            torch.testing.assert_close(out.logits[:, -1], full[:, batch["input_ids"].shape[1] + step], atol=1e-5, rtol=0)
    assert cache.get_seq_length() == full_ids.shape[1]


def test_sampled_generate_with_images_returns_sequences(tiny):
    model, processor = tiny
    batch = processor(text=["<image>Hi", "<image>Longer prompt"], images=[make_image(1), make_image(2)])
    torch.manual_seed(0)
    sequences = model.generate(**batch, do_sample=True, num_return_sequences=4, max_new_tokens=6)
    prompt_length = batch["input_ids"].shape[1]
    assert sequences.shape[0] == 8
    assert prompt_length < sequences.shape[1] <= prompt_length + 6
    assert torch.equal(sequences[:, :prompt_length], batch["input_ids"].repeat_interleave(4, dim=0))


def hand_greedy_decode(model, batch, repeats: int, budgets: list[int]) -> list[list[int]]:
    """Greedy decode with a DynamicCache: prefill once, repeat rows, drop rows as they finish."""
    with torch.no_grad():
        out = model(**batch, use_cache=True)
    cache = out.cache
    assert isinstance(cache, DynamicCache)
    cache.batch_repeat_interleave(repeats)
    mask = batch["attention_mask"].repeat_interleave(repeats, dim=0)
    next_tokens = out.logits[:, -1].argmax(-1).repeat_interleave(repeats)
    active = torch.arange(len(budgets))
    generated = [[] for _ in budgets]
    while True:
        for row, token in zip(active.tolist(), next_tokens.tolist()):
            generated[row].append(token)
        keep = torch.tensor(
            [len(generated[r]) < budgets[r] and generated[r][-1] != model.config.eos_token_id for r in active.tolist()]
        )
        if not keep.any():
            return generated
        kept = keep.nonzero().squeeze(1)
        cache.batch_select_indices(kept)
        active, next_tokens, mask = active[kept], next_tokens[kept], mask[kept]
        mask = torch.cat([mask, torch.ones(len(kept), 1, dtype=mask.dtype)], dim=1)
        with torch.no_grad():
            out = model(input_ids=next_tokens[:, None], attention_mask=mask, past_key_values=cache)
        next_tokens = out.logits[:, -1].argmax(-1)


def test_hand_loop_with_cache_reindexing_matches_greedy_generate(tiny):
    model, processor = tiny
    batch = processor(text=["<image>Hi", "<image>Longer prompt"], images=[make_image(1), make_image(2)])
    max_new = 8
    with torch.no_grad():
        greedy = model.generate(**batch, do_sample=False, max_new_tokens=max_new)
    expected = greedy[:, batch["input_ids"].shape[1] :].tolist()
    budgets = [2, 8, 5, 3, 8, 1]  # rows finish at different steps, so batch_select_indices really drops rows
    generated = hand_greedy_decode(model, batch, repeats=3, budgets=budgets)
    for row, tokens in enumerate(generated):
        assert tokens == expected[row // 3][: len(tokens)]
        assert len(tokens) == budgets[row] or tokens[-1] == model.config.eos_token_id


def decode_logits(model, batch, cache, repeats: int, tokens: torch.Tensor, drops: dict[int, list[int]]):
    """Logits of teacher-forced decode steps after one prefill, rows repeated, some rows dropped before steps."""
    logits = []
    with torch.no_grad():
        model(**batch, cache=cache, use_cache=True)
        cache.batch_repeat_interleave(repeats)
        mask, rows = batch["attention_mask"].repeat_interleave(repeats, dim=0), torch.arange(tokens.shape[0])
        for step in range(tokens.shape[1]):
            if step in drops:
                keep = torch.tensor(drops[step])
                cache.batch_select_indices(keep)
                mask, rows = mask[keep], rows[keep]
            mask = torch.cat([mask, torch.ones(len(rows), 1, dtype=mask.dtype)], dim=1)
            out = model(input_ids=tokens[rows, step : step + 1], attention_mask=mask, cache=cache)
            logits.append(out.logits[:, -1])
    return logits


def test_shared_prefix_cache_gives_the_logits_of_a_repeated_cache(tiny):
    model, processor = tiny
    assert model._supports_shared_prefix_cache
    batch = processor(text=["<image>Hi", "<image>Longer prompt"], images=[make_image(1), make_image(2)])
    tokens = torch.randint(40, 60, (6, 5), generator=torch.Generator().manual_seed(0))
    drops = {2: [0, 2, 3, 5], 4: [1, 3]}  # row positions kept, as the sampler drops finished rows
    plain = decode_logits(model, batch, GrowingCache(reserve=8), 3, tokens, drops)
    shared_cache = SharedPrefixCache(reserve=2)  # smaller than the 5 steps: the suffix buffer must grow
    shared = decode_logits(model, batch, shared_cache, 3, tokens, drops)
    for a, b in zip(plain, shared):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=0)
    assert shared_cache.get_seq_length() == batch["input_ids"].shape[1] + tokens.shape[1]
    with pytest.raises(RuntimeError, match="attend"):
        shared_cache.update(torch.zeros(2, 2, 1, 16), torch.zeros(2, 2, 1, 16), 0)


def test_tokenizer_round_trip_with_newlines(tmp_path):
    tokenizer = build_char_tokenizer()
    text = "Question: 3 + 4 = ?\n  Answer:\n\n{x} [y] ~ 'z' \"w\" .end"
    ids = tokenizer(text)["input_ids"]
    assert len(ids) == len(text)
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded(text)["input_ids"] == ids
    assert reloaded.padding_side == "left"


def test_image_placeholder_is_one_token_and_expands(tiny):
    _, processor = tiny
    tokenizer = processor.tokenizer
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    assert tokenizer("<image>ab")["input_ids"] == [image_id] + tokenizer("ab")["input_ids"]
    batch = processor(text=["<image>ab"], images=[make_image(1)])
    assert processor.num_image_tokens == 4
    assert (batch["input_ids"] == image_id).sum() == processor.num_image_tokens
    assert batch["pixel_values"].shape == (1, 3, 32, 32)


def test_loss_decreases_when_training_on_one_batch(tiny):
    model, processor = tiny
    model.train()
    batch = processor(text=["<image>red square", "<image>blue"], images=[make_image(1), make_image(2)])
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    labels = labels.masked_fill(labels == model.config.image_token_id, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = model(**batch, labels=labels, use_cache=False).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]  # seeded run: about 4.65 -> 2.03
