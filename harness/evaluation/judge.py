"""An LLM judge that extracts the final answer of a response, through any OpenAI-compatible server.

MathVista's official scorer, VLMEvalKit and lmms-eval all let a language model read a free-form
response and write down its final answer (with in-context examples), then normalise it; rules alone
under-score verbose models. This module is only the extraction step: the prompt, the HTTP client
(plain `urllib` against POST <base_url>/chat/completions, so any server works: vLLM, `transformers
serve`, a hosted API), a disk cache and a thread pool. Normalising and checking the extracted answer
is harness.reward.answers' job, exactly as for a rule answer (harness.evaluation.scoring joins the two).

A judge never loses a run: a request that still fails after its retries (timeouts, refused
connections, 5xx / 429 answers) gives an `Extraction` with status "failed" and the caller keeps the
rule answer; once several requests in a row have failed, the judge is taken as down and the rest
are not sent at all (status "failed" too), so a dead server costs seconds, not hours.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import JudgeConfig
from harness.io import atomic_write_json, read_json

log = logging.getLogger(__name__)

NO_ANSWER = "[no answer]"
DOWN_AFTER = 3  # requests failing in a row (each after its retries) before the judge is taken as down
CACHE_FOLDER = "_judge_cache"

INSTRUCTIONS = (
    "You read a question and a model's response to it. Copy the final answer the response gives, in the "
    "form the hint asks for: the option letter for a multiple-choice question, a number for a numeric "
    "question (no unit), a Python list for a list question. Do not solve the question yourself and do "
    f"not correct the response. If the response gives no final answer, write {NO_ANSWER}.")

# (question with its hint, model response, extracted answer): written for this harness, one per answer form
EXAMPLES = [
    ("Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, "
     "at the end.\nQuestion: How many birds are sitting on the fence?",
     "I count two birds on the left post and three more near the gate, which makes five birds altogether.",
     "5"),
    ("Hint: Please answer the question requiring a floating-point number with one decimal place and provide the "
     "final value, e.g., 1.2, 1.3, 1.4, at the end.\nQuestion: What is the mean of the two highest bars?",
     "The two highest bars reach 6.2 and 7.0. Their mean is (6.2 + 7.0) / 2 = 6.6.",
     "6.6"),
    ("Hint: Please answer the question requiring a floating-point number with two decimal places and provide the "
     "final value, e.g., 1.23, 1.34, 1.45, at the end.\nQuestion: How much do a notebook and a ruler cost "
     "together? (Unit: $)",
     "A notebook is $2.35 and a ruler is $0.90, so Mia pays $3.25 for both.",
     "3.25"),
    ("Hint: Please answer the question requiring a Python list as an answer and provide the final list, e.g., "
     "[1, 2, 3], [1.2, 1.3, 1.4], at the end.\nQuestion: In which two years did the number of visitors drop?",
     "Visitors went down from 2015 to 2016 and again from 2019 to 2020; every other year they rose. So the "
     "drops happened in 2016 and 2020.",
     "[2016, 2020]"),
    ("Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\n"
     "Question: Which shape has the most corners?\nChoices:\n(A) triangle\n(B) square\n(C) hexagon\n(D) circle",
     "A triangle has three corners, a square four, a circle none, and a hexagon six, so the hexagon wins.",
     "C"),
    ("Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, "
     "at the end.\nQuestion: What is the length of side AB? (Unit: cm)",
     "The labels in the figure are too small for me to read, so I cannot tell.",
     NO_ANSWER),
]


def _block(question: str, response: str) -> str:
    return f"{question.strip()}\n\nModel response: {response.strip()}\n\nExtracted answer:"


def extraction_prompt(question: str, response: str) -> str:
    """The judge's prompt: instructions, the examples, then this question (with its hint) and response.

    >>> p = extraction_prompt("Question: How many?", "There are 4.")
    >>> p.startswith(INSTRUCTIONS), p.endswith("Question: How many?\\n\\nModel response: There are 4.\\n\\nExtracted answer:")
    (True, True)
    """
    shots = [f"{_block(q, r)} {a}" for q, r, a in EXAMPLES]
    return "\n\n".join([INSTRUCTIONS, *shots, _block(question, response)])


def parse_reply(text: str | None) -> str | None:
    """The answer in the judge's reply: its first line, without an echoed 'Extracted answer:'; None for
    NO_ANSWER or nothing.

    >>> parse_reply(" Extracted answer: 6.6\\nbecause ..."), parse_reply("[no answer]"), parse_reply("")
    ('6.6', None, None)
    """
    text = re.sub(r"^\s*extracted answer\s*:", "", text or "", flags=re.IGNORECASE).strip()
    line = text.splitlines()[0].strip() if text else ""
    return None if not line or line.lower() == NO_ANSWER else line


def judge_cache(results_dir: str | Path) -> Path:
    """Where judged answers are cached: one folder per results folder, shared by its runs and re-scores."""
    return Path(results_dir) / CACHE_FOLDER


class JudgeFailed(Exception):
    """A request that failed for good (after its retries, or a 4xx answer, or an unreadable reply)."""


_RETRYABLE = (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException)


@dataclass
class Extraction:
    """What the judge made of one response."""

    answer: str | None   # the extracted answer; None when the judge found none or failed
    status: str          # "judged" (answered, now or from the cache) | "failed" (the rule answer stays)
    reply: str | None = None  # the judge's raw reply, stored next to the response


@dataclass
class JudgeStats:
    requests: int = 0        # HTTP requests sent, retries included
    cached: int = 0          # extractions answered from the disk cache
    failed: int = 0          # extractions that failed for good (server down, timeouts, bad replies)
    errors: list[str] = field(default_factory=list)  # the first few failure reasons, for the log


class JudgeClient:
    """Extracts answers with the model at cfg.base_url; safe to call from one thread (it runs its own pool)."""

    def __init__(self, cfg: JudgeConfig, cache: Path | None = None):
        if not cfg.base_url:
            raise ValueError("eval.judge.base_url is not set: there is no judge to ask")
        self.cfg = cfg
        self.url = cfg.base_url.rstrip("/") + "/chat/completions"
        self.cache = cache if cfg.cache else None
        self.api_key = os.environ.get(cfg.api_key_env) or None
        self.stats = JudgeStats()
        self._lock = threading.Lock()
        self._failures_in_a_row = 0

    # ---- public -----------------------------------------------------------------------------------

    def extract(self, questions: list[str], responses: list[str]) -> list[Extraction]:
        """One Extraction per (question, response), in order; never raises for a server problem."""
        self._failures_in_a_row = 0
        prompts = [extraction_prompt(q, r) for q, r in zip(questions, responses)]
        with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as pool:
            out = list(pool.map(self._one, prompts, responses))
        failed = sum(e.status == "failed" for e in out)
        if failed:
            log.warning("judge %s: %d of %d extractions failed (%s); their rule answers are kept", self.url,
                        failed, len(out), "; ".join(self.stats.errors[:3]))
        return out

    # ---- one extraction ---------------------------------------------------------------------------

    def _one(self, prompt: str, response: str) -> Extraction:
        key = self._key(prompt, response)
        hit = self._cached(key)
        if hit is not None:
            with self._lock:
                self.stats.cached += 1
            return Extraction(parse_reply(hit["reply"]), "judged", reply=hit["reply"])
        if self._failures_in_a_row >= DOWN_AFTER:
            return self._failed("not sent: the judge is down")
        try:
            reply = self._ask(prompt)
        except JudgeFailed as e:
            with self._lock:
                self._failures_in_a_row += 1
            return self._failed(str(e))
        with self._lock:
            self._failures_in_a_row = 0
        if self.cache:
            try:
                atomic_write_json(self._cache_file(key), {"model": self.cfg.model, "reply": reply})
            except OSError as e:  # a cache that cannot be written costs a request next time, not the run
                log.warning("judge cache %s not written: %s", self.cache, e)
        return Extraction(parse_reply(reply), "judged", reply=reply)

    def _cached(self, key: str) -> dict | None:
        """The cached reply, or None (not cached, caching off, or an entry that cannot be read: asked again)."""
        if not self.cache:
            return None
        try:
            hit = read_json(self._cache_file(key))
            return hit if isinstance(hit, dict) and isinstance(hit.get("reply"), str) else None
        except (OSError, ValueError):
            return None

    def _failed(self, why: str) -> Extraction:
        with self._lock:
            self.stats.failed += 1
            if len(self.stats.errors) < 10:
                self.stats.errors.append(why)
        return Extraction(None, "failed")

    def _key(self, prompt: str, response: str) -> str:
        digest = lambda text: hashlib.sha256(text.encode()).hexdigest()  # noqa: E731
        return digest("\n".join([self.cfg.model, digest(prompt), digest(response)]))

    def _cache_file(self, key: str) -> Path:
        return self.cache / key[:2] / f"{key}.json"

    # ---- HTTP -------------------------------------------------------------------------------------

    def _ask(self, prompt: str) -> str:
        """The judge's reply text; retries timeouts, refused connections and 5xx / 429 with doubling waits."""
        body = json.dumps({"model": self.cfg.model, "messages": [{"role": "user", "content": prompt}],
                           "temperature": 0, "max_tokens": self.cfg.max_tokens}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        why = ""
        for attempt in range(self.cfg.retries + 1):
            if attempt:
                time.sleep(self.cfg.backoff_s * 2 ** (attempt - 1))
            with self._lock:
                self.stats.requests += 1
            try:
                request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as answer:
                    return _content(answer.read())
            except urllib.error.HTTPError as e:  # before URLError: it is one
                why = f"HTTP {e.code}"
                if e.code < 500 and e.code != 429:  # a bad request or model name: asking again will not help
                    raise JudgeFailed(f"{why}: {e.read()[:200]!r}") from None
            except _RETRYABLE as e:
                why = f"{type(e).__name__}: {e}"
        raise JudgeFailed(f"{why} (after {self.cfg.retries} retries)")


def _content(raw: bytes) -> str:
    """The message text of a chat-completions reply."""
    try:
        return json.loads(raw)["choices"][0]["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError):
        raise JudgeFailed(f"not a chat-completions reply: {raw[:200]!r}") from None


def provenance(cfg: JudgeConfig) -> dict | None:
    """What eval.json records of the judge that scored it (None: rules only); never the key itself."""
    return {"base_url": cfg.base_url, "model": cfg.model, "mode": cfg.mode} if cfg.base_url else None


def make_judge(cfg: JudgeConfig, results_dir: str | Path) -> JudgeClient | None:
    """The configured judge, or None when eval.judge.base_url is not set (rules only)."""
    return JudgeClient(cfg, judge_cache(results_dir)) if cfg.base_url else None
