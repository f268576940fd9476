"""Benchmark loaders on small fixtures written in each published format (nothing is downloaded)."""
from __future__ import annotations

import base64
import io
import json

import pandas as pd
import pytest
from PIL import Image

from harness.benchmarks import BENCHMARKS, load_benchmark, split_mathv360k, write_mathvista
from harness.datasets import DatasetError, load_mathv360k, load_mathvista
from harness.registry import UnknownNameError


def png(color=(255, 0, 0)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


def b64(color=(0, 255, 0)) -> str:
    return base64.b64encode(png(color)).decode()


def test_registry_has_the_papers_benchmarks():
    assert {"mathvista", "m3cot", "mmstar", "mmstar_r", "mmbench", "mmbench_r", "ai2d"} <= set(BENCHMARKS.names())
    with pytest.raises(UnknownNameError, match="Did you mean 'mmstar'"):
        BENCHMARKS.get("mmstr")


@pytest.fixture
def mathvista_dir(tmp_path):
    rows = [
        {"pid": "1", "question": "Which is larger?", "image": "images/1.jpg",
         "decoded_image": {"bytes": png(), "path": "1.jpg"}, "choices": ["3", "five"], "unit": None,
         "precision": None, "answer": "five", "question_type": "multi_choice", "answer_type": "text",
         "metadata": {"task": "figure question answering", "category": "math-targeted-vqa"},
         "query": "Hint: Please answer the question and provide the correct option letter.\n"
                  "Question: Which is larger?\nChoices:\n(A) 3\n(B) five"},
        {"pid": "2", "question": "Length of AB?", "image": "images/2.png",
         "decoded_image": {"bytes": png((0, 0, 255)), "path": "2.png"}, "choices": None, "unit": "cm",
         "precision": 1.0, "answer": "2.5", "question_type": "free_form", "answer_type": "float",
         "metadata": {"task": "geometry problem solving", "category": "math-targeted-vqa"},
         "query": "Hint: Please answer the question requiring a floating-point number with one decimal place.\n"
                  "Question: Length of AB?"},
    ]
    (tmp_path / "data").mkdir()
    pd.DataFrame(rows).to_parquet(tmp_path / "data" / "testmini-00000-of-00001.parquet")
    pd.DataFrame(rows[:1]).to_parquet(tmp_path / "data" / "test-00000-of-00002.parquet")  # not testmini
    return tmp_path


def test_mathvista_parquet_decodes_images_once(mathvista_dir):
    recs = load_benchmark("mathvista", mathvista_dir)
    assert [r.id for r in recs] == ["1", "2"]
    mc, ff = recs
    assert mc.answer == "five" and mc.choices == ["3", "five"] and mc.question_type == "multi_choice"
    assert mc.question.startswith("Question: Which is larger?") and "Hint" not in mc.question
    assert ff.precision == 1 and ff.unit == "cm" and ff.answer_type == "float" and ff.task == "geometry problem solving"
    assert mc.image.parent == mathvista_dir / "image_cache" / "mathvista" and mc.image.suffix == ".png"
    stamp = mc.image.stat().st_mtime_ns
    load_benchmark("mathvista", mathvista_dir)
    assert mc.image.stat().st_mtime_ns == stamp  # written once, reused


def test_mathvista_parquet_becomes_the_data_path_layout(mathvista_dir, tmp_path):
    assert write_mathvista(mathvista_dir, tmp_path / "out" / "mathvista") == 2
    again = load_mathvista(tmp_path / "out" / "mathvista" / "testmini.json")
    direct = load_benchmark("mathvista", mathvista_dir)
    assert [(r.id, r.question, r.answer, r.choices, r.precision, r.task) for r in again] == \
           [(r.id, r.question, r.answer, r.choices, r.precision, r.task) for r in direct]


def mmstar_rows(image):
    q = "What is shown?\nOptions: A: a cat, B: a dog, C: 3, 4, D: none"
    return [{"index": 0, "question": q, "image": image(0), "answer": "C", "category": "coarse perception",
             "l2_category": "image scene and topic"},
            {"index": 1, "question": q, "image": image(1), "answer": "A", "category": "math",
             "l2_category": "numeric commonsense and calculation"}]


def test_mmstar_parquet_and_reasoning_subset(tmp_path):
    pd.DataFrame(mmstar_rows(lambda i: {"bytes": png((i, 0, 0)), "path": None})).to_parquet(tmp_path / "mmstar.parquet")
    full = load_benchmark("mmstar", tmp_path)
    assert [r.answer for r in full] == ["3, 4", "a cat"]
    assert full[0].choices == ["a cat", "a dog", "3, 4", "none"]
    assert full[0].question == "What is shown?\nChoices:\n(A) a cat\n(B) a dog\n(C) 3, 4\n(D) none"
    assert [r.task for r in load_benchmark("mmstar_r", tmp_path)] == ["math"]


def test_mmstar_tsv_with_base64_images(tmp_path):
    pd.DataFrame(mmstar_rows(lambda i: b64((0, i, 0)))).to_csv(tmp_path / "MMStar.tsv", sep="\t", index=False)
    recs = load_benchmark("mmstar", tmp_path / "MMStar.tsv")
    assert len(recs) == 2 and all(r.image.is_file() for r in recs)


def mmbench_rows():
    base = {"hint": "", "C": "", "D": "", "source": "x", "split": "dev", "comment": ""}
    return [
        {**base, "index": 10, "question": "Which animal?", "A": "cat", "B": "dog", "C": "cow", "answer": "B",
         "category": "image_scene", "l2-category": "coarse_perception", "image": b64()},
        {**base, "index": 11, "question": "What follows?", "hint": "A row of shapes.", "A": "circle",
         "B": "square", "answer": "A", "category": "future_prediction", "l2-category": "logic_reasoning",
         "image": "10"},  # VLMEvalKit stores a repeated image as the index of the row holding it
    ]


def test_mmbench_tsv_hint_short_options_shared_images_and_subset(tmp_path):
    pd.DataFrame(mmbench_rows()).to_csv(tmp_path / "MMBench_DEV_EN_V11.tsv", sep="\t", index=False)
    first, second = load_benchmark("mmbench", tmp_path)
    assert first.choices == ["cat", "dog", "cow"] and first.answer == "dog"
    assert second.choices == ["circle", "square"] and second.answer == "circle"
    assert second.question.startswith("Context: A row of shapes.\nWhat follows?")
    assert second.image.read_bytes() == first.image.read_bytes()
    assert [r.id for r in load_benchmark("mmbench_r", tmp_path)] == ["11"]


def test_mmbench_test_split_without_answers_is_a_clear_error(tmp_path):
    rows = [{**r, "answer": ""} for r in mmbench_rows()]
    pd.DataFrame(rows).to_csv(tmp_path / "MMBench_TEST.tsv", sep="\t", index=False)
    with pytest.raises(DatasetError, match="no usable records.*missing answer"):
        load_benchmark("mmbench", tmp_path)


def test_ai2d_tsv_and_hub_parquet(tmp_path):
    (tmp_path / "tsv").mkdir()
    pd.DataFrame([{"index": 1, "question": "Which stage?", "A": "egg", "B": "larva", "C": "pupa", "D": "adult",
                   "answer": "D", "image": b64()}]).to_csv(tmp_path / "tsv" / "AI2D_TEST.tsv", sep="\t", index=False)
    (rec,) = load_benchmark("ai2d", tmp_path / "tsv")
    assert rec.answer == "adult" and rec.task == "unknown"
    (tmp_path / "hub").mkdir()
    pd.DataFrame([{"question": "Which stage?", "options": ["egg", "larva"], "answer": "1",
                   "image": {"bytes": png(), "path": None}}]).to_parquet(tmp_path / "hub" / "test-0.parquet")
    (rec,) = load_benchmark("ai2d", tmp_path / "hub")
    assert rec.answer == "larva" and rec.choices == ["egg", "larva"] and rec.task == "ai2d"


def test_m3cot_jsonl_with_paths_and_parquet_with_bytes(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(png())
    row = {"id": "m-1", "category": "physical-commonsense", "question": "What happens next?",
           "choices": ["it falls", "it floats"], "context": "", "answer": "A", "rationale": "...",
           "split": "test", "domain": "commonsense", "topic": "physics"}
    (tmp_path / "test.jsonl").write_text(json.dumps({**row, "image": "images/a.png"}) + "\n")
    (rec,) = load_benchmark("m3cot", tmp_path / "test.jsonl")
    assert rec.answer == "it falls" and rec.task == "commonsense" and rec.image == tmp_path / "images" / "a.png"
    (tmp_path / "hub" / "data").mkdir(parents=True)
    pd.DataFrame([{**row, "image": {"bytes": png(), "path": None}}]).to_parquet(tmp_path / "hub" / "data" / "test-0.parquet")
    pd.DataFrame([{**row, "id": "train-1", "image": None}]).to_parquet(tmp_path / "hub" / "data" / "train-0.parquet")
    assert [r.id for r in load_benchmark("m3cot", tmp_path / "hub")] == ["m-1"]


def test_wrong_paths_and_formats_name_the_file_and_what_was_expected(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_benchmark("mmstar", tmp_path / "absent")
    with pytest.raises(DatasetError, match=r"no mmbench file matching"):
        load_benchmark("mmbench", tmp_path)
    pd.DataFrame([{"index": 1, "text": "hi"}]).to_csv(tmp_path / "other.tsv", sep="\t", index=False)
    with pytest.raises(DatasetError, match=r"other\.tsv: not a mmbench file: missing columns \['question'"):
        load_benchmark("mmbench", tmp_path / "other.tsv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match=r"bad\.parquet: not a readable parquet file"):
        load_benchmark("mmstar", tmp_path / "bad.parquet")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="unsupported format '.txt'"):
        load_benchmark("ai2d", tmp_path / "notes.txt")


def mathv360k(tmp_path, n: int):
    Image.new("RGB", (8, 8)).save(tmp_path / "img.png")
    items = []
    for i in range(n):
        mc = i % 2 == 0
        human = f"<image>\nQuestion {i}?" + ("\nChoices: (A) red (B) blue" if mc else "")
        items.append({"id": f"q{i}", "image": "img.png",
                      "conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": "B" if mc else str(i)}]})
    (tmp_path / "train_samples_all_tuning.json").write_text(json.dumps(items))
    return tmp_path / "train_samples_all_tuning.json"


def test_mathv360k_split_is_the_papers_and_deterministic(tmp_path):
    source = mathv360k(tmp_path, 100)
    sizes = split_mathv360k(source, test_id=30, val=10)
    assert sizes == {"labeled": 50, "test_id": 30, "val": 10, "unlabeled": 10}
    splits = {s: load_mathv360k(tmp_path / f"{s}.json", labeled=s != "unlabeled") for s in sizes}
    ids = [r.id for recs in splits.values() for r in recs]
    assert len(ids) == len(set(ids)) == 100
    assert all(r.answer is None and r.oracle_answer is not None for r in splits["unlabeled"])
    assert {r.oracle_answer for r in splits["unlabeled"] if r.choices} <= {"blue"}  # letter -> choice text
    first = {s: (tmp_path / f"{s}.json").read_text() for s in sizes}
    split_mathv360k(source, test_id=30, val=10)
    assert first == {s: (tmp_path / f"{s}.json").read_text() for s in sizes}
    split_mathv360k(source, test_id=30, val=10, seed=1)
    assert (tmp_path / "labeled.json").read_text() != first["labeled"]


def test_mathv360k_split_defaults_and_errors(tmp_path):
    source = mathv360k(tmp_path, 2010)
    assert split_mathv360k(source) == {"labeled": 1005, "test_id": 750, "val": 250, "unlabeled": 5}
    with pytest.raises(DatasetError, match="too few"):
        split_mathv360k(mathv360k(tmp_path, 100))
    with pytest.raises(DatasetError, match="expected the MathV360K JSON list"):
        split_mathv360k(tmp_path / "absent.json")
