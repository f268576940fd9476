"""Benchmark loaders on small files in each published layout (tests/published_layouts.py; nothing is
downloaded), from read-only folders: every record shows its own image, and a perfect response (letter or
option text) earns reward 1 while another option earns 0."""
from __future__ import annotations

import os

import pandas as pd
import pytest

import published_layouts as layouts
from harness.data.datasets import DatasetError
from harness.data.eval_sets import BENCHMARKS, load_benchmark, mathvista_hint
from harness.registry import UnknownNameError
from harness.reward.answers import exact_match_reward


def check(name, source, want, cache, skip_ids=()):
    """Load `name` from a read-only `source`; compare with what published_layouts says each record must give."""
    folder = source if source.is_dir() else source.parent
    before = layouts.tree(layouts.read_only(folder))
    records = load_benchmark(name, source, cache)
    assert layouts.tree(folder) == before and not any(p.name == "image_cache" for p in folder.rglob("*"))
    want = [w for w in want if w["id"] not in skip_ids]
    assert sorted(r.id for r in records) == sorted(w["id"] for w in want)
    by_id = {r.id: r for r in records}
    for w in want:
        rec = by_id[w["id"]]
        assert rec.image.read_bytes() == w["image"], rec.id  # its own image, not one shared by question
        assert exact_match_reward(w["right"], **rec.reward_fields()) == [1.0] * len(w["right"]), (rec, w["right"])
        assert exact_match_reward(w["wrong"], **rec.reward_fields()) == [0.0] * len(w["wrong"]), (rec, w["wrong"])
    return records


def test_registry_has_the_papers_benchmarks():
    assert {"mathvista", "m3cot", "mmstar", "mmstar_r", "mmbench", "mmbench_r", "ai2d"} <= set(BENCHMARKS.names())
    with pytest.raises(UnknownNameError, match="Did you mean 'mmstar'"):
        BENCHMARKS.get("mmstr")


def test_mathvista_hub_parquet(tmp_path):
    source, want = layouts.mathvista_parquet(tmp_path / "MathVista")
    records = check("mathvista", source, want, tmp_path / "cache")
    mc, mc5, integer, flt, _ = sorted(records, key=lambda r: r.id)
    assert mc.question.startswith(layouts.HINTS["multi_choice"] + "\nQuestion: ")  # the official query, Hint kept
    assert mc.choices == ["3", "five"] and mc.answer == "five" and len(mc5.choices) == 5
    assert (integer.unit, integer.answer_type, flt.precision, flt.answer_type) == ("cm", "integer", 2, "float")
    assert integer.task == "geometry problem solving"
    stamp = mc.image.stat().st_mtime_ns
    load_benchmark("mathvista", source, tmp_path / "cache")
    assert mc.image.stat().st_mtime_ns == stamp  # decoded once, reused


def test_mathvista_github_json_builds_the_official_query_where_absent(tmp_path):
    source, want = layouts.mathvista_github_json(tmp_path / "MathVista")
    records = check("mathvista", source, want, tmp_path / "cache")
    built = next(r for r in records if r.id == "5")
    assert built.question == layouts.HINTS["integer"] + "\nQuestion: How long is AB? (Unit: cm)"


def test_mathvista_hint_follows_the_official_rules():
    assert mathvista_hint("free_form", "float", 1).endswith("one decimal place and provide the final value, "
                                                            "e.g., 1.2, 1.3, 1.4, at the end.")
    assert mathvista_hint("free_form", "float", 2) == layouts.HINTS["float"]
    assert "Python list" in mathvista_hint("free_form", "list", None)


def test_mmstar_hub_parquet_and_reasoning_subset(tmp_path):
    source, want = layouts.mmstar_parquet(tmp_path / "MMStar")
    records = check("mmstar", source, want, tmp_path / "cache")
    first = next(r for r in records if r.id == "0")
    assert first.choices == ["a cat", "a dog"] and first.question == layouts.QUESTION + "\nChoices:\n(A) a cat\n(B) a dog"
    perception = {w["id"] for w in want if w["perception"]}
    check("mmstar_r", source, want, tmp_path / "cache", skip_ids=perception)


def test_mmstar_vlmevalkit_tsv_with_base64_images(tmp_path):
    source, want = layouts.vlmevalkit_tsv(tmp_path / "MMStar" / "MMStar.tsv", hint=False)
    check("mmstar", source / "MMStar.tsv", want, tmp_path / "cache")


def test_mmbench_dev_tsv_hints_image_references_circular_copies_and_subset(tmp_path):
    source, want = layouts.vlmevalkit_tsv(tmp_path / "MMBench" / "MMBench_DEV_EN_V11.tsv", reference_last=True,
                                          circular=True)
    records = check("mmbench", source, want, tmp_path / "cache")  # the circular copies are left out
    hinted = next(r for r in records if r.id == "1")
    assert hinted.question.startswith("Hint: A picture from a textbook.\nQuestion: " + layouts.QUESTION)
    assert len(next(r for r in records if r.id == "0").choices) == 2  # empty C and D cells are no options
    check("mmbench_r", source, want, tmp_path / "cache", skip_ids={w["id"] for w in want if w["perception"]})


def test_mmbench_test_split_without_answers_is_a_clear_error(tmp_path):
    source, _ = layouts.vlmevalkit_tsv(tmp_path / "MMBench" / "MMBench_TEST_EN.tsv")
    rows = pd.read_csv(source / "MMBench_TEST_EN.tsv", sep="\t", dtype=str, keep_default_na=False)
    rows.assign(answer="").to_csv(source / "MMBench_TEST_EN.tsv", sep="\t", index=False)
    with pytest.raises(DatasetError, match="no usable records.*missing answer"):
        load_benchmark("mmbench", source, tmp_path / "cache")


def test_ai2d_vlmevalkit_tsv(tmp_path):
    source, want = layouts.vlmevalkit_tsv(tmp_path / "AI2D" / "AI2D_TEST.tsv", hint=False)
    check("ai2d", source, want, tmp_path / "cache")


def test_ai2d_lmms_lab_parquet_shards_give_each_row_its_own_id_and_image(tmp_path):
    source, want = layouts.ai2d_parquet_shards(tmp_path / "ai2d")
    records = check("ai2d", source, want, tmp_path / "cache")
    assert len({r.image for r in records}) == len(records) == 6  # same question and options, six images


def test_m3cot_hub_parquet_reads_the_test_split(tmp_path):
    source, want = layouts.m3cot_parquet(tmp_path / "M3CoT")
    records = check("m3cot", source, want, tmp_path / "cache")
    assert {r.task for r in records} == {"science"}
    assert next(r for r in records if r.id == "physics-1").question.startswith("Context: A lab photo.\n")


def test_m3cot_jsonl_with_image_paths(tmp_path):
    (tmp_path / "m3cot" / "images").mkdir(parents=True)
    (tmp_path / "m3cot" / "images" / "a.png").write_bytes(layouts.noise_png(1))
    row = {"id": "m-1", "question": "What happens next?", "choices": ["it falls.", "it floats."], "context": "",
           "answer": "A", "domain": "commonsense", "image": "images/a.png"}
    (tmp_path / "m3cot" / "test.jsonl").write_text(pd.Series(row).to_json() + "\n")
    want = [layouts.expect("m-1", layouts.noise_png(1), row["choices"], 0)]
    (rec,) = check("m3cot", tmp_path / "m3cot" / "test.jsonl", want, tmp_path / "cache")
    assert rec.image == tmp_path / "m3cot" / "images" / "a.png"  # a path cell is used where it lies


def test_wrong_paths_and_formats_name_the_file_and_what_was_expected(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="not found"):
        load_benchmark("mmstar", tmp_path / "absent", cache)
    with pytest.raises(DatasetError, match=r"no mmbench file matching"):
        load_benchmark("mmbench", tmp_path, cache)
    pd.DataFrame([{"index": 1, "text": "hi"}]).to_csv(tmp_path / "other.tsv", sep="\t", index=False)
    with pytest.raises(DatasetError, match=r"other\.tsv: not a mmbench file: missing columns \['question'"):
        load_benchmark("mmbench", tmp_path / "other.tsv", cache)
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match=r"bad\.parquet: not a readable parquet file"):
        load_benchmark("mmstar", tmp_path / "bad.parquet", cache)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="unsupported format '.txt'"):
        load_benchmark("ai2d", tmp_path / "notes.txt", cache)
    assert not os.path.exists(cache / "ai2d")
