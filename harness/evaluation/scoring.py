"""Scoring greedy responses, by rules and by a judge, into accuracy tables; from self-contained rows.

A row is one response with everything needed to score it again without the dataset or the model: the
question's position and id in its split, its task and reward fields, the question as asked, the prompt
form, the CircularEval rotation and the response. Scoring adds the rule answer and verdict and, with a
judge, the judge's answer, verdict and status (and its raw reply). Greedy evaluation writes the rows
(`responses/<section>/<split>.jsonl` in a run folder) and `harness rescore` scores them again, through
the same functions, so a re-score without a judge reproduces the rule numbers exactly.

Two accuracies per split: `accuracy` from the rule answers (harness.reward.answer_extraction), and
`judge.accuracy` from the answers after the judge step (the rule answer where the judge was not asked or
failed). Both are normalised and checked by harness.reward.answers. `judge.differ` is the share of responses
whose verdict the judge step changed.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from harness.data.datasets import Record
from harness.data.eval_sets import mathvista_hint
from harness.evaluation.judge import JudgeClient
from harness.io import read_jsonl, write_jsonl
from harness.reward.answer_extraction import extract_answer
from harness.reward.answers import grade

FIELDS = ("answer", "question_type", "answer_type", "choices", "precision", "unit")  # what checking reads
JUDGE_KEYS = ("judge_status", "judge_answer", "judge_correct", "judge_reply")


def response_rows(asked: list[tuple[int, Record, int | None]], responses: list[str], prompt: str,
                  circular: bool) -> list[dict]:
    """Rows of (question index, record as asked, rotation) and the responses to them."""
    return [{"index": i, "id": rec.id, "task": rec.task, **{f: getattr(rec, f) for f in FIELDS},
             "question": rec.question, "prompt": prompt, "circular": circular, "rotation": k, "response": resp}
            for (i, rec, k), resp in zip(asked, responses)]


def _rule_answer(response: str) -> str | None:
    try:
        return extract_answer(response)
    except Exception:  # noqa: BLE001  a response that breaks the rules has no rule answer (scored 0), as before
        return None


def _verdict(answer: str | None, row: dict) -> float | None:
    """1.0 / 0.0, or None when there is no gold answer or checking failed (both count as wrong)."""
    if row["answer"] is None or not str(row["answer"]).strip():
        return None
    return grade(answer, row)


def judge_question(row: dict) -> str:
    """The question as the judge sees it: with MathVista's Hint line (the answer form wanted) in front
    when the question as asked does not start with it."""
    hint = mathvista_hint(row["question_type"], row["answer_type"], row["precision"])
    return row["question"] if row["question"].startswith(hint) else f"{hint}\n{row['question']}"


def score_rows(rows: list[dict], judge: JudgeClient | None = None, mode: str = "fallback") -> None:
    """Score rows in place: rule answer and verdict always; with a judge, ask it for the rows whose rule
    answer is None (mode fallback) or for all (mode always) and record what the judge step gives."""
    for row in rows:
        row["rule_answer"] = _rule_answer(row["response"])
        row["rule_correct"] = _verdict(row["rule_answer"], row)
        for key in JUDGE_KEYS:  # a re-score without a judge drops an earlier judge's answers
            row.pop(key, None)
    if judge is None:
        return
    ask = [row for row in rows if mode == "always" or row["rule_answer"] is None]
    extractions = judge.extract([judge_question(r) for r in ask], [r["response"] for r in ask])
    by_row = {id(r): e for r, e in zip(ask, extractions)}
    for row in rows:
        e = by_row.get(id(row))
        if e is None or e.status == "failed":
            row.update(judge_status="not_asked" if e is None else "failed", judge_answer=row["rule_answer"])
        else:
            row.update(judge_status="judged", judge_answer=e.answer, judge_reply=e.reply)
        row["judge_correct"] = _verdict(row["judge_answer"], row)


def _mean(xs: list[float]) -> float:
    return round(sum(xs) / len(xs), 4) if xs else float("nan")


def _breakdown(correct: list[float], keys: list[str]) -> dict:
    groups = defaultdict(list)
    for c, k in zip(correct, keys):
        groups[k].append(c)
    return {k: _mean(v) for k, v in sorted(groups.items())}


def _accuracy(questions: list[list[dict]], verdict: str) -> dict:
    """Overall and per task / question type; a question counts only if all its rows (rotations) are right."""
    correct = [float(all(r[verdict] == 1.0 for r in rows)) for rows in questions]
    return {"accuracy": _mean(correct), "n": len(questions),
            "by_task": _breakdown(correct, [rows[0]["task"] for rows in questions]),
            "by_question_type": _breakdown(correct, [rows[0]["question_type"] for rows in questions])}


def table(rows: list[dict]) -> dict:
    """A split's accuracy table from scored rows: the rule numbers (the fields every report reads), how it was
    asked, and with a judge its numbers beside them.

    >>> rows = [{"index": 0, "id": "a", "task": "t", "question_type": "multi_choice", "prompt": "cot",
    ...          "circular": True, "rotation": k, "rule_correct": c} for k, c in ((0, 1.0), (1, 0.0))]
    >>> t = table(rows)
    >>> t["accuracy"], t["n"], t["rotated"]
    (0.0, 1, 1)
    """
    questions = defaultdict(list)
    for row in rows:
        questions[row["index"]].append(row)
    questions = [questions[i] for i in sorted(questions)]
    out = {**_accuracy(questions, "rule_correct"), "prompt": rows[0]["prompt"] if rows else None,
           "circular": bool(rows and rows[0]["circular"]),
           "rotated": sum(rows[0]["rotation"] is not None for rows in questions)}
    if rows and "judge_status" in rows[0]:
        judged = _accuracy(questions, "judge_correct")
        out["judge"] = {"accuracy": judged["accuracy"], "by_task": judged["by_task"],
                        "by_question_type": judged["by_question_type"],
                        "differ": _mean([float((r["rule_correct"] == 1.0) != (r["judge_correct"] == 1.0))
                                         for r in rows]),
                        "asked": sum(r["judge_status"] != "not_asked" for r in rows),
                        "unjudged": sum(r["judge_status"] == "failed" for r in rows)}
    return out


def score_file(source: Path, target: Path, judge: JudgeClient | None = None, mode: str = "fallback") -> dict:
    """Score the rows saved in `source`, write them (with their answers) to `target` atomically, return the table."""
    rows = read_jsonl(source)
    score_rows(rows, judge, mode)
    write_jsonl(target, rows)
    return table(rows)
