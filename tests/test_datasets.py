"""Bad records are skipped and counted with a reason; a bad file is a clear error."""
from __future__ import annotations

import json
import logging

import pytest
from PIL import Image

from harness.datasets import DatasetError, load_mathv360k, load_mathvista, parse_choices


def _rec(rid, image, answer="3", question="How many?"):
    conv = [{"from": "human", "value": f"<image>\n{question}"}]
    if answer is not None:
        conv.append({"from": "gpt", "value": answer})
    return {"id": rid, "image": image, "conversations": conv}


@pytest.fixture
def root(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "corrupt.png").write_bytes(b"not a png")
    (tmp_path.parent / "outside.png").write_bytes((tmp_path / "ok.png").read_bytes())
    return tmp_path


def test_bad_records_are_skipped_with_reasons(root, caplog):
    recs = [_rec("good", "ok.png"), _rec("missing", "nope.png"), _rec("escape", "../outside.png"),
            _rec("corrupt", "corrupt.png"), _rec("noanswer", "ok.png", answer=None), "not a record",
            _rec("badletter", "ok.png", answer="D", question="Pick\nChoices: (A) 1 (B) 2")]
    (root / "d.json").write_text(json.dumps(recs))
    with caplog.at_level(logging.WARNING):
        out = load_mathv360k(root / "d.json")
    assert [r.id for r in out] == ["good"]
    for reason in ["image file not found", "escapes the dataset root", "unreadable", "missing answer",
                   "not an object", "answer letter outside the choices"]:
        assert reason in caplog.text


def test_unknown_question_type_is_skipped(root):
    good = {"pid": "1", "question": "q", "image": "ok.png", "answer": "2", "question_type": "free_form",
            "answer_type": "integer"}
    bad = {**good, "pid": "2", "question_type": "essay"}
    (root / "v.json").write_text(json.dumps({"1": good, "2": bad}))
    assert [r.id for r in load_mathvista(root / "v.json")] == ["1"]


def test_unusable_files_raise_clear_errors(root):
    with pytest.raises(DatasetError, match="file not found"):
        load_mathv360k(root / "absent.json")
    (root / "broken.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        load_mathv360k(root / "broken.json")
    (root / "empty.json").write_text(json.dumps([_rec("x", "nope.png")]))
    with pytest.raises(DatasetError, match="no usable records"):
        load_mathv360k(root / "empty.json")


def test_letter_answers_map_to_choice_text(root):
    (root / "c.json").write_text(json.dumps([_rec("c", "ok.png", answer="B", question="Pick\nChoices: (A) 1 (B) two")]))
    (rec,) = load_mathv360k(root / "c.json")
    assert rec.choices == ["1", "two"] and rec.answer == "two" and rec.question_type == "multi_choice"
    assert parse_choices("no choices here") is None
