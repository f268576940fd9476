"""The embedded model's subword tokenizer (model.tokenizer=subword, issue 20): BPE pieces learned with the
`tokenizers` library from the base corpus, an exact round trip, digits kept single, solutions within ~50 tokens,
saved as a plain tokenizer.json, and a base model that trains with it."""
from __future__ import annotations

import json
import statistics

import pytest
from transformers import AutoTokenizer

from harness.config import ModelConfig, load_config
from harness.model.modeling import new_base_model
from harness.tinyvlm.tokenization import build_char_tokenizer, build_subword_tokenizer
from harness.world.corpus import base_corpus
from harness.world.problems import FAMILIES
from harness.world.writer import human_turn, problems


@pytest.fixture(scope="module")
def corpus():
    return base_corpus(0, 2000, FAMILIES.names(), cot_fraction=0.7, hint_fraction=0.3, distractor_rate=0.3,
                       caption_fraction=0.2)


@pytest.fixture(scope="module")
def subword(corpus):
    return new_base_model(ModelConfig(tokenizer="subword", hidden_size=32, num_hidden_layers=1,
                                      num_attention_heads=2), corpus)


def held_out_texts() -> list[str]:
    """Questions and gold solutions the tokenizer never saw: val, and the held-out phrasings of the OOD split."""
    out = []
    for split, ood in (("val", False), ("test_ood", True)):
        for p in problems(0, split, 150, FAMILIES.names(), ood=ood):
            out += [human_turn(p), "\n".join(p.steps)]
    return out


def test_round_trip_digits_and_special_tokens(subword):
    tokenizer = subword[1].tokenizer
    char = build_char_tokenizer()
    for text in held_out_texts():
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    for name in ("pad_token_id", "bos_token_id", "eos_token_id", "unk_token_id"):
        assert getattr(tokenizer, name) == getattr(char, name)
    assert tokenizer.convert_tokens_to_ids("<image>") == char.convert_tokens_to_ids("<image>")
    pieces = tokenizer.convert_ids_to_tokens(tokenizer("2*(17+4)=42\nanswer: 42")["input_ids"])
    assert [p for p in pieces if any(c.isdigit() for c in p)] == ["2", "1", "7", "4", "4", "2", " 4", "2"]
    assert "answer:" in pieces and tokenizer.unk_token_id not in tokenizer("Zebra ~ quux")["input_ids"]


def test_gold_solutions_fit_in_about_50_tokens(subword):
    tokenizer = subword[1].tokenizer
    solutions = ["\n".join(p.steps) for p in problems(0, "val", 300, FAMILIES.names())]
    n = [len(tokenizer(s)["input_ids"]) for s in solutions]
    chars = [len(s) for s in solutions]
    assert max(n) <= 50 and statistics.mean(n) <= 0.5 * statistics.mean(chars), (max(n), statistics.mean(n))


def test_same_corpus_same_tokenizer_and_it_loads_without_custom_code(corpus, subword, tmp_path):
    model, adapter = subword
    again = new_base_model(ModelConfig(tokenizer="subword", hidden_size=32, num_hidden_layers=1,
                                       num_attention_heads=2), corpus)[1].tokenizer
    assert again.get_vocab() == adapter.tokenizer.get_vocab()
    assert model.config.vocab_size == len(adapter.tokenizer) < 2048
    adapter.processor.save_pretrained(tmp_path)
    assert "TinyVLM" not in json.loads((tmp_path / "tokenizer_config.json").read_text())["tokenizer_class"]
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = held_out_texts()[1]
    assert loaded(text)["input_ids"] == adapter.tokenizer(text)["input_ids"]


def test_a_subword_base_model_is_its_own_stage_and_trains(tiny_config):
    """The tiny world's base, warm-up and a response in the answer format, with subwords; a char model has stages
    and run folders of its own on the same data."""
    from harness.loop.rundir import run_key
    from harness.stages.graph import prepare, stages

    cfg = tiny_config("model.tokenizer=subword", "model.threads=1")
    char = tiny_config("model.tokenizer=char", "model.max_new_tokens=240")
    assert [s.path for s in stages(cfg)][1:] != [s.path for s in stages(char)][1:]  # base and warm-up differ
    assert stages(cfg)[0].path == stages(char)[0].path  # the data is shared
    assert run_key(cfg) != run_key(char)  # a run on subwords has a folder of its own
    inputs = prepare(cfg)
    rows = [json.loads(line) for line in (inputs.warmup / "responses" / "val.jsonl").read_text().splitlines()]
    assert rows and sum(r["rule_answer"] is not None for r in rows) >= len(rows) / 2, rows[:2]
