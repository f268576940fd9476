"""The judge's plumbing against a real OpenAI-compatible server (`transformers serve` on loopback, tests/
chat_server.py): extraction end to end, the disk cache, a server that is down, retries on 5xx. The
served model is random, so its answers are garbage: these tests check requests, cache, storage and
counts, never accuracy."""
from __future__ import annotations

from pathlib import Path

import pytest

from chat_server import FailingProxy, chat_requests, free_port
from harness.config import JudgeConfig
from harness.data.datasets import Record
from harness.evaluation.judge import DOWN_AFTER, JudgeClient, parse_reply
from harness.evaluation.scoring import response_rows, score_rows, table

pytestmark = pytest.mark.timeout(600)


def records() -> list[Record]:
    img = Path("unused.png")  # scoring never opens images
    return [Record("mc", img, "Which is red?\nChoices:\n(A) sky\n(B) rose", "rose", "multi_choice", "text", "t1",
                   choices=["sky", "rose"]),
            Record("int", img, "How many cats?", "3", "free_form", "integer", "t2"),
            Record("flt", img, "What is the slope?", "0.5", "free_form", "float", "t2", precision=1)]


# the first and last have no rule answer (two lines, no marker); the middle one has one (a marker)
RESPONSES = ["I look at the colours.\nRoses are red.", "There are cats.\nanswer: 3",
             "The line rises.\nIt is not steep."]


def rows() -> list[dict]:
    return response_rows([(i, rec, None) for i, rec in enumerate(records())], RESPONSES, "cot", False)


def judge(url: str, model: str, cache: Path | None, **kw) -> JudgeClient:
    cfg = JudgeConfig(base_url=url, model=model, max_tokens=8, cache=cache is not None, **kw)
    return JudgeClient(cfg, cache)


def test_judge_extracts_through_a_real_server_stores_and_caches(chat_server, tmp_path):
    url, model, log = chat_server
    scored, before = rows(), chat_requests(log)
    client = judge(url, model, tmp_path / "cache")
    score_rows(scored, client, "fallback")
    asked = [r for r in scored if r["rule_answer"] is None]
    assert [r["id"] for r in asked] == ["mc", "flt"]  # fallback: only where the rules found nothing
    assert chat_requests(log) - before == 2 == client.stats.requests
    for r in asked:  # the judge's answer is stored next to the response, with its raw reply
        assert r["judge_status"] == "judged" and isinstance(r["judge_reply"], str)
        assert r["judge_answer"] == parse_reply(r["judge_reply"])
    kept = next(r for r in scored if r["id"] == "int")
    assert (kept["judge_status"], kept["judge_answer"], kept["judge_correct"]) == ("not_asked", "3", 1.0)
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 2
    t = table(scored)
    assert (t["judge"]["asked"], t["judge"]["unjudged"], t["accuracy"]) == (2, 0, round(1 / 3, 4))

    # a second pass (a re-score) asks the server nothing: every answer comes from the disk cache
    again, before = rows(), chat_requests(log)
    second = judge(url, model, tmp_path / "cache")
    score_rows(again, second, "fallback")
    assert chat_requests(log) == before and second.stats.requests == 0 and second.stats.cached == 2
    assert [r.get("judge_reply") for r in again] == [r.get("judge_reply") for r in scored]

    # mode always asks about every response; only the one not cached yet costs a request
    third = judge(url, model, tmp_path / "cache")
    score_rows(rows(), third, "always")
    assert (third.stats.requests, third.stats.cached) == (1, 2)

    # an unreadable cache entry (a disk problem) is asked again, not fatal
    next((tmp_path / "cache").rglob("*.json")).write_text("{torn")
    fourth = judge(url, model, tmp_path / "cache")
    score_rows(rows(), fourth, "always")
    assert (fourth.stats.requests, fourth.stats.cached) == (1, 2)


def test_a_judge_that_is_down_keeps_the_rule_answers_and_counts_them(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there: connections are refused
    client = judge(dead, "any", tmp_path / "cache", retries=1, backoff_s=0.01, concurrency=2)
    scored = [row for _ in range(10) for row in rows()]  # 30 responses, all asked about (mode always)
    score_rows(scored, client, "always")
    assert {r["judge_status"] for r in scored} == {"failed"}
    assert all(r["judge_answer"] == r["rule_answer"] for r in scored)
    t = table(scored)
    assert t["judge"]["unjudged"] == 30 and t["judge"]["accuracy"] == t["accuracy"] and t["judge"]["differ"] == 0
    # taken as down after a few failures: the rest are not sent, so a dead server costs no time
    assert client.stats.requests <= (DOWN_AFTER + 2) * 2
    assert not (tmp_path / "cache").exists()  # failures are not cached: a later re-score asks again


def test_retries_on_5xx_then_succeeds(chat_server, tmp_path):
    url, model, log = chat_server
    with FailingProxy(url, failures=2) as proxy:
        before = chat_requests(log)
        client = judge(proxy.url, model, None, retries=2, backoff_s=0.01, concurrency=1)
        [got] = client.extract(["Question: How many?"], ["Some cats.\nMore cats."])
        assert got.status == "judged" and isinstance(got.reply, str)
        assert (proxy.posts, client.stats.requests, chat_requests(log) - before) == (3, 3, 1)


def test_a_5xx_that_outlasts_the_retries_is_unjudged(chat_server, tmp_path):
    url, model, _ = chat_server
    with FailingProxy(url, failures=5) as proxy:
        client = judge(proxy.url, model, None, retries=1, backoff_s=0.01, concurrency=1)
        [got] = client.extract(["Question: How many?"], ["Some cats.\nMore cats."])
        assert (got.status, got.answer, proxy.posts) == ("failed", None, 2)
        assert "HTTP 503" in client.stats.errors[0]
