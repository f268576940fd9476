"""A finished embedded run keeps its greedy responses, and `harness rescore` scores them again: exactly the
same rule numbers without a judge; judge numbers beside them with one (a real `transformers serve` on
loopback, tests/chat_server.py), from the cache the second time. Grouped in one file: the tiny world's
stages cost minutes once per pytest process."""
from __future__ import annotations

import copy
import json

import pytest

from analysis.report import write_report
from chat_server import chat_requests
from harness.cli import main
from harness.evaluation.scoring import judge_question
from harness.io import read_json, read_jsonl
from harness.loop.evolve import run

pytestmark = pytest.mark.timeout(1800)
SPLITS = {"final": ["test_id", "test_ood", "val"], "warmup": ["test_id", "test_ood", "val"],
          "base": ["test_id", "test_ood"]}


@pytest.fixture
def finished(tiny_config):
    """One finished run (the first test builds it, later ones find it done) asking test_ood in the official form."""
    return run(tiny_config("name=rescore", "method.interval=1.0", "eval.prompt_by_split={test_ood: official}"),
               "continuous")


def rule_numbers(ev: dict) -> dict:
    """eval.json without the judge's numbers (as scored by rules only)."""
    ev = {**copy.deepcopy(ev), "judge": None}
    for section in SPLITS:
        for table in ev[section].values():
            table.pop("judge", None)
    return ev


def test_evaluation_keeps_every_response_with_how_it_was_asked(finished):
    ev = read_json(finished / "eval.json")
    for section, splits in SPLITS.items():
        for split in splits:
            rows = read_jsonl(finished / "responses" / section / f"{split}.jsonl")
            assert len(rows) == ev[section][split]["n"] > 0
            assert {r["prompt"] for r in rows} == {ev[section][split]["prompt"]}
    assert ev["final"]["test_ood"]["prompt"] == ev["warmup"]["test_ood"]["prompt"] == "official"
    assert ev["final"]["test_id"]["prompt"] == "cot" and ev["base"]["test_id"]["prompt"] == "plain"
    # pi_0 was asked test_ood here (the warm-up stage asked it in the cot form); test_id comes from the stage
    stage = read_json(read_json(finished / "inputs.json")["warmup"] + "/eval.json")
    assert ev["warmup"]["test_id"] == stage["test_id"] and stage["test_ood"]["prompt"] == "cot"


def test_rescore_without_a_judge_reproduces_the_rule_numbers_exactly(finished):
    before = (finished / "eval.json").read_text()
    files = {p: p.read_text() for p in (finished / "responses").rglob("*.jsonl")}
    assert main(["rescore", str(finished.parent)]) == 0  # the sweep folder: every finished run in it
    assert (finished / "eval.json").read_text() == before
    assert {p: p.read_text() for p in files} == files


def test_rescore_with_a_judge_adds_its_numbers_from_the_cache_the_second_time(finished, chat_server, capsys):
    url, model, log = chat_server
    before = read_json(finished / "eval.json")
    judge = [f"eval.judge.base_url={url}", f"eval.judge.model={model}", "eval.judge.mode=always",
             "eval.judge.max_tokens=4", "eval.judge.concurrency=4"]
    sent = chat_requests(log)
    assert main(["rescore", str(finished), *judge]) == 0
    ev = read_json(finished / "eval.json")
    assert rule_numbers(ev) == rule_numbers(before) and before["judge"] is None
    assert ev["judge"] == {"base_url": url, "model": model, "mode": "always"}  # which judge scored it
    rows = [r for s, xs in SPLITS.items() for x in xs for r in read_jsonl(finished / "responses" / s / f"{x}.jsonl")]
    distinct = {(judge_question(r), r["response"]) for r in rows}
    # mode always: every distinct (question, response) once; a pair asked twice at the same moment may be sent twice
    assert len(distinct) <= chat_requests(log) - sent <= len(rows)
    for section, splits in SPLITS.items():
        for split in splits:
            judged = ev[section][split]["judge"]
            assert judged["asked"] == ev[section][split]["n"] and judged["unjudged"] == 0
            assert 0 <= judged["differ"] <= 1
            rows = read_jsonl(finished / "responses" / section / f"{split}.jsonl")
            assert all(r["judge_status"] == "judged" and "judge_reply" in r for r in rows)
    assert "judge" in capsys.readouterr().out

    sent = chat_requests(log)
    assert main(["rescore", str(finished), *judge]) == 0
    assert chat_requests(log) == sent and read_json(finished / "eval.json") == ev  # all from the cache

    report = write_report([finished.parent]).read_text()
    assert "Answer extraction: rules and judge" in report

    # back to rules only: the judge's numbers go, the rule numbers stay
    assert main(["rescore", str(finished)]) == 0
    assert read_json(finished / "eval.json") == rule_numbers(ev)


def test_rescore_refuses_settings_that_need_new_responses(finished, capsys):
    assert main(["rescore", str(finished), "eval.prompt=official", "seed=3"]) == 2
    err = capsys.readouterr().err
    assert "eval.prompt: rescore only changes how saved responses are scored" in err and "seed:" in err
    assert json.loads((finished / "eval.json").read_text())["final"]["test_id"].get("judge") is None
