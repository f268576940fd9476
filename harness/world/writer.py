"""Write the embedded world to disk in the real dataset formats.

Splits labeled / unlabeled / val / test_id go to MathV360K-style JSON (`id`, `image`,
`conversations`; the gpt turn holds only the short answer, as in the real dataset) and the OOD test
to a MathVista-style `testmini.json` keyed by pid. The gold solution and the other world facts sit
in a side field `meta`, read for checking and analysis, never trained on.
"""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from harness.data.datasets import format_choices, short_answer
from harness.io import atomic_write_text
from harness.world.problems import FAMILIES, Problem, generate

MATHV360K_SPLITS = ("labeled", "unlabeled", "val", "test_id")


def split_rng(seed: int, split: str) -> random.Random:
    """An RNG per (seed, split), stable across Python versions and processes."""
    digest = hashlib.sha256(f"{seed}/{split}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def problems(seed: int, split: str, n: int, families: list[str], ood: bool = False,
             answers: str = "narrow") -> list[Problem]:
    """n problems cycling through the families in a seeded order, so every family is balanced."""
    rng = split_rng(seed, split)
    return [generate(rng, families[i % len(families)], ood, answers) for i in range(n)]


def human_turn(p: Problem) -> str:
    """The question as a MathV360K human turn: image placeholder, question, then the choices."""
    text = f"<image>\n{p.question}"
    if p.choices:
        text += format_choices(p.choices)
    return text


def _meta(p: Problem) -> dict:
    return {"question_type": p.question_type, "answer_type": p.answer_type, "choices": p.choices,
            "precision": p.precision, "unit": p.unit, "task": p.task, "family": p.family,
            "solution": p.steps, "distractors": p.distractors}


def mathv360k_record(p: Problem, rid: str, image: str, labeled: bool) -> dict:
    """A MathV360K-style record; unlabeled ones keep the true answer only as meta.oracle_answer."""
    short = short_answer(p.answer, p.choices)
    conv = [{"from": "human", "value": human_turn(p)}]
    meta = _meta(p)
    if labeled:
        conv.append({"from": "gpt", "value": short})
    else:
        meta["oracle_answer"] = p.answer
    return {"id": rid, "image": image, "conversations": conv, "meta": meta}


def mathvista_record(p: Problem, pid: str, image: str) -> dict:
    """A MathVista-style record (the fields of testmini)."""
    query = human_turn(p).replace("<image>\n", "")
    return {"pid": pid, "question": p.question, "image": image, "choices": p.choices, "unit": p.unit,
            "precision": p.precision, "answer": p.answer, "question_type": p.question_type,
            "answer_type": p.answer_type, "query": query,
            "metadata": {"task": p.task, "category": "math-targeted-vqa", "source": f"embedded-{p.family}",
                         "context": "synthetic scene", "language": "english", "img_width": 48,
                         "img_height": 48},
            "meta": {"solution": p.steps, "distractors": p.distractors, "family": p.family}}


def write_world(out: Path, seed: int, sizes: dict[str, int], families: list[str],
                answers: str = "narrow") -> dict[str, int]:
    """Generate and write every split; returns the number of records per split."""
    out = Path(out)
    counts = {}
    for split in MATHV360K_SPLITS:
        recs = []
        for i, p in enumerate(problems(seed, split, sizes[split], families, answers=answers)):
            rel = f"images/{split}/{i:05d}.png"
            _save_image(p, out / "mathv360k" / rel)
            recs.append(mathv360k_record(p, f"{split}-{i:05d}", rel, labeled=split != "unlabeled"))
        atomic_write_text(out / "mathv360k" / f"{split}.json", json.dumps(recs, indent=1))
        counts[split] = len(recs)
    vista = {}
    for i, p in enumerate(problems(seed, "test_ood", sizes["test_ood"], families, ood=True, answers=answers)):
        pid = str(i + 1)
        rel = f"images/{pid}.png"
        _save_image(p, out / "mathvista" / rel)
        vista[pid] = mathvista_record(p, pid, rel)
    atomic_write_text(out / "mathvista" / "testmini.json", json.dumps(vista, indent=1))
    counts["test_ood"] = len(vista)
    return counts


# MathV360K's source datasets standing in for each family, and the instruction its human turns carry.
MATHV360K_SOURCES = {"chart": "FigureQA", "geometry": "GeoQA+", "word_problem": "TabMWP",
                     "arrow_diagram": "IconQA", "counting": "CLEVR-Math"}
ANSWER_FORMAT = {"multi_choice": "First perform reasoning, then finally select the question from the choices in "
                                 "the following format: Answer: xxx.",
                 "free_form": "First perform reasoning, then finally answer the question in the following "
                              "format: Answer: xxx."}


def write_mathv360k_download(out: Path, seed: int, n: int, families: list[str]) -> Path:
    """n records as MathV360K is downloaded: `train_samples_all_tuning.json` beside `data_images/`, record
    image paths relative to data_images/ by source (`TabMWP/images/7.png`), the answer-format instruction
    and `Choices:` lines in the human turn, `Answer: X` in the gpt turn, no side fields. Problems are
    generated and saved one at a time, so any n fits in memory (the data-memory benchmark writes 180K)."""
    out = Path(out)
    rng, items = split_rng(seed, "download"), []
    for i in range(n):
        p = generate(rng, families[i % len(families)])
        rel = f"{MATHV360K_SOURCES.get(p.family, p.family)}/images/{i}.png"
        _save_image(p, out / "data_images" / rel)
        human = f"<image>\n{ANSWER_FORMAT[p.question_type]}\nQuestion: {p.question}"
        items.append({"id": f"identity_{i}", "image": rel, "conversations": [
            {"from": "human", "value": human + (format_choices(p.choices) if p.choices else "")},
            {"from": "gpt", "value": f"Answer: {short_answer(p.answer, p.choices)}"}]})
    atomic_write_text(out / "train_samples_all_tuning.json", json.dumps(items))
    return out / "train_samples_all_tuning.json"


def _save_image(p: Problem, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    p.image.save(path)


def all_families() -> list[str]:
    return FAMILIES.names()
