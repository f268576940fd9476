"""The pre-flight of a data folder: is every split usable, and can every gold answer be rewarded?

`harness data check DIR` reports, per split: records kept and skipped by reason, question and answer
types, choices parsed, images that decode, and the share of kept records whose own gold answer, written
as a perfect response, earns reward 1 — anything below 100% is a format bug, not a hard question, and the
failing records are listed. Every run checks the same share (counts only) when it loads its splits and
refuses to start on an empty or unrewardable split (`require_rewardable`).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from harness.data.datasets import DatasetError, Record, short_answer
from harness.data.splits import SPLIT_FILES, read_split
from harness.reward.answers import exact_match_reward

def perfect_responses(rec: Record) -> list[str]:
    """Responses that must earn reward 1: the gold answer (the withheld one of an unlabeled record) after the
    answer marker MathV360K asks for; a multi-choice one both as its letter and as its option text.

    >>> perfect_responses(Record("1", Path("a.png"), "q", "dog", "multi_choice", "text", "t", ["cat", "dog"]))
    ['Answer: B', 'Answer: dog']
    """
    gold = gold_of(rec)
    if gold is None:
        return []
    return [f"Answer: {short_answer(gold, rec.choices)}", f"Answer: {gold}"] if rec.choices else [f"Answer: {gold}"]


def gold_of(rec: Record) -> str | None:
    """The answer a record's responses are checked against: its label, else the withheld oracle answer."""
    return rec.answer if rec.answer is not None else rec.oracle_answer


def unrewardable(records: list[Record]) -> list[tuple[Record, str, float | None]]:
    """(record, response, reward) for each record a perfect response of which does not earn reward 1 (the
    first such response)."""
    failures = []
    for rec in records:
        if responses := perfect_responses(rec):
            rewards = exact_match_reward(responses, **rec.reward_fields(answer=gold_of(rec)))
            failures += [(rec, resp, reward) for resp, reward in zip(responses, rewards) if reward != 1.0][:1]
    return failures


@dataclass
class SplitReport:
    """What the pre-flight found in one split."""

    name: str
    kept: int = 0
    skipped: Counter = field(default_factory=Counter)    # reason -> records
    error: str | None = None                              # the file could not be read at all
    question_types: Counter = field(default_factory=Counter)
    answer_types: Counter = field(default_factory=Counter)
    multi_choice: int = 0
    choices_parsed: int = 0
    checked: int = 0                                      # records with an answer to check
    failures: list[tuple[Record, str, float | None]] = field(default_factory=list)
    images: int = 0                                       # distinct image files of the kept records
    bad_images: list[tuple[str, str]] = field(default_factory=list)  # (image, error) that fail to decode

    @property
    def ok(self) -> bool:
        return self.error is None and self.kept > 0 and not self.failures and not self.bad_images


def _decode_errors(paths: set[Path]) -> list[tuple[str, str]]:
    errors = []
    for path in sorted(paths):
        try:
            with Image.open(path) as im:
                im.load()
        except Exception as e:  # PIL raises many types for truncated or corrupt files
            errors.append((str(path), f"{type(e).__name__}: {e}"))
    return errors


def check_split(data: Path, name: str, decode_images: bool = True) -> SplitReport:
    report = SplitReport(name)
    try:
        records, report.skipped = read_split(data, name)
    except DatasetError as e:
        report.error = str(e)
        return report
    report.kept = len(records)
    report.question_types = Counter(r.question_type for r in records)
    report.answer_types = Counter(r.answer_type for r in records)
    report.multi_choice = report.question_types["multi_choice"]
    report.choices_parsed = sum(bool(r.choices) for r in records if r.question_type == "multi_choice")
    report.checked = sum(bool(perfect_responses(r)) for r in records)
    report.failures = unrewardable(records)
    paths = {r.image for r in records}
    report.images = len(paths)
    report.bad_images = _decode_errors(paths) if decode_images else []
    return report


def check_folder(data, decode_images: bool = True) -> list[SplitReport]:
    """The pre-flight of every split of a data folder (the layout data.path reads)."""
    return [check_split(Path(data), name, decode_images) for name in SPLIT_FILES]


def _counts(counter: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "none"


def format_report(reports: list[SplitReport], listed: int = 50) -> str:
    """A readable report; at most `listed` failing records per split (0 = all)."""
    lines = []
    for r in reports:
        lines.append(f"{r.name}: {'ok' if r.ok else 'NOT USABLE'}")
        if r.error:
            lines.append(f"  error: {r.error}")
            continue
        share = f"{100 * (r.checked - len(r.failures)) / r.checked:.2f}%" if r.checked else "no answers to check"
        lines += [f"  records: kept {r.kept}, skipped {sum(r.skipped.values())}"
                  + (f" ({'; '.join(f'{why}: {n}' for why, n in r.skipped.most_common())})" if r.skipped else "")
                  + ("; the split is empty: no usable records" if not r.kept else ""),
                  f"  question types: {_counts(r.question_types)}", f"  answer types: {_counts(r.answer_types)}",
                  f"  choices parsed: {r.choices_parsed} of {r.multi_choice} multi-choice records",
                  f"  images: {r.images} files under the dataset root, {len(r.bad_images)} fail to decode",
                  f"  rewardable: {r.checked - len(r.failures)} of {r.checked} ({share})"]
        shown = r.failures if listed <= 0 else r.failures[:listed]
        lines += [f"    not rewardable: id {rec.id}: gold {gold_of(rec)!r} "
                  f"({rec.question_type}, {rec.answer_type}, choices {rec.choices}): {resp!r} -> {reward}"
                  for rec, resp, reward in shown]
        if len(shown) < len(r.failures):
            lines.append(f"    ... and {len(r.failures) - len(shown)} more (--list 0 lists all)")
        lines += [f"    image fails to decode: {path}: {err}" for path, err in r.bad_images[:listed or None]]
    return "\n".join(lines)


def require_rewardable(splits: dict[str, list[Record]], data: Path) -> None:
    """Refuse loaded splits of which one is empty or holds a record whose own gold answer earns no reward 1:
    a run on them would train on nothing, or score right answers as wrong."""
    problems = []
    for name, records in splits.items():
        failures = unrewardable(records)
        if not records:
            problems.append(f"split {name} is empty")
        elif failures:
            rec, response, reward = failures[0]
            problems.append(f"split {name}: {len(failures)} of {len(records)} records' own gold answers earn no "
                            f"reward 1 (e.g. id {rec.id}: {response!r} -> {reward})")
    if problems:
        raise DatasetError(f"{data}: {'; '.join(problems)}. `harness data check {data}` lists them.")
