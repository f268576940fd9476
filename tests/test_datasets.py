"""Bad records are skipped and counted with a reason; a bad file is a clear error."""
from __future__ import annotations

import json
import logging

import pytest
from PIL import Image

from harness.data.answer_forms import find_choices
from harness.data.datasets import DatasetError, load_mathv360k, load_mathvista, read_mathv360k


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
    assert find_choices("no choices here") == (None, None)


def test_every_gold_answer_form_of_mathv360k_is_read_and_unknown_forms_are_counted(root):
    pick = "Pick\nChoices:\n(A) slide\n(B) flip."
    recs = [_rec("letter", "ok.png", "B", pick), _rec("marker", "ok.png", "Answer: B", pick),
            _rec("paren", "ok.png", "The answer is (B).", pick), _rec("text", "ok.png", "flip", pick),
            _rec("letter-text", "ok.png", "B: flip", pick), _rec("colon-lines", "ok.png", "Answer: A",
                                                                  "Angle?\nChoices:\nA: 32°\nB: 68°"),
            _rec("int", "ok.png", "Answer: 8"), _rec("float", "ok.png", "The answer is 2.50"),
            _rec("text-ff", "ok.png", "yes"),
            _rec("sentence", "ok.png", "The bars show that the tallest one belongs to the second group of students"),
            _rec("no-match", "ok.png", "Answer: turn", pick), _rec("disagree", "ok.png", "(A) flip", pick),
            _rec("bad-choices", "ok.png", "B", "Pick\nChoices:\n(B) 1\n(C) 2")]
    (root / "forms.json").write_text(json.dumps(recs))
    out, skipped = read_mathv360k(root / "forms.json")
    got = {r.id: (r.answer, r.question_type, r.answer_type, r.precision) for r in out}
    assert got == {**{k: ("flip", "multi_choice", "text", None) for k in ("letter", "marker", "paren", "text",
                                                                          "letter-text")},
                   "colon-lines": ("32°", "multi_choice", "text", None), "int": ("8", "free_form", "integer", None),
                   "float": ("2.50", "free_form", "float", 2), "text-ff": ("yes", "free_form", "text", None)}
    assert next(r for r in out if r.id == "letter").choices == ["slide", "flip"]  # the option's period dropped
    assert skipped == {"answer form not recognised (a sentence, not a value)": 1, "answer matches no choice": 1,
                       "answer letter and option text disagree": 1,
                       "choices not parsed (options must be lettered A, B, C, ...)": 1}


def test_mathv360k_images_are_relative_to_data_images_beside_the_json(tmp_path):
    (tmp_path / "data_images" / "TabMWP" / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "data_images" / "TabMWP" / "images" / "123.png")
    (tmp_path / "train_samples_all_tuning.json").write_text(json.dumps([_rec("t", "TabMWP/images/123.png")]))
    (rec,) = load_mathv360k(tmp_path / "train_samples_all_tuning.json")
    assert rec.image == tmp_path / "data_images" / "TabMWP" / "images" / "123.png"


def test_mathvista_types_are_inferred_when_absent_and_unknown_answers_skipped(root):
    base = {"question": "q", "image": "ok.png"}
    rows = {"1": {**base, "pid": "1", "answer": "2.25"}, "2": {**base, "pid": "2", "answer": "b.", "choices": ["a", "b"]},
            "3": {**base, "pid": "3", "answer": "c", "choices": ["a", "b"]}}
    (root / "v.json").write_text(json.dumps(rows))
    out = {r.id: (r.question_type, r.answer_type, r.precision, r.answer) for r in load_mathvista(root / "v.json")}
    assert out == {"1": ("free_form", "float", 2, "2.25"), "2": ("multi_choice", "text", None, "b")}
