"""Small files in the layouts the Table 5 benchmarks' owners publish, made here (nothing is downloaded).

Each writer builds one layout in a folder and returns what a correct loader must give: per record id, the
image bytes it must show, responses that must earn reward 1 (the option letter, the option text as
published, trailing period included) and responses that must earn 0 (another option). The rows carry
what real files carry and what broke loaders before: base64 images far longer than a file name may be,
2 to 5 options, options ending in a period, one question asked of several images, VLMEvalKit's image
cells holding another row's index, MMBench's circular copies, lmms-lab AI2D rows without ids.
"""
from __future__ import annotations

import base64
import io
import json
import random
import stat

import pandas as pd
from PIL import Image

LETTERS = "ABCDE"


def tree(folder) -> dict:
    """Every file under folder with its size and modification time: a dataset folder must not change (root,
    which these tests may run as, writes into read-only folders: comparing the tree is the real check)."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def read_only(folder):
    """Take write permission away from folder and everything under it, as a shared dataset folder is."""
    for p in [folder, *folder.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return folder


def noise_png(seed: int, size=(40, 32)) -> bytes:
    """A distinct PNG per seed; random pixels keep it large (its base64 is ~5,000 characters)."""
    rng = random.Random(seed)
    im = Image.frombytes("RGB", size, bytes(rng.randrange(256) for _ in range(size[0] * size[1] * 3)))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def b64(seed: int) -> str:
    return base64.b64encode(noise_png(seed)).decode()


def expect(rid, image: bytes, options: list[str], answer: int) -> dict:
    """What the record of a multi-choice row must give (answer = 0-based index of the right option)."""
    wrong = (answer + 1) % len(options)
    return {"id": str(rid), "image": image,
            "right": [f"Answer: {LETTERS[answer]}", f"The answer is {options[answer]}", f"({LETTERS[answer]})"],
            "wrong": [f"Answer: {LETTERS[wrong]}", f"The answer is {options[wrong]}"]}


# Options per row: 2 to 5 of them, some ending in a period (MMStar and MMBench write sentences).
OPTION_SETS = [["a cat.", "a dog."], ["3", "5", "7"], ["The box is red.", "The box is blue.", "It is green.", "None"],
               ["egg", "larva", "pupa", "adult", "dead"]]
QUESTION = "What does the image show?"  # asked of several images: each record must keep its own


def _rows(n: int = 4):
    """(row number, options, answer index, image seed) for n rows cycling through OPTION_SETS."""
    return [(i, OPTION_SETS[i % len(OPTION_SETS)], (i * 3 + 1) % len(OPTION_SETS[i % len(OPTION_SETS)]), 100 + i)
            for i in range(n)]


def mmstar_parquet(folder):
    """Lin-Chen/MMStar's mmstar.parquet: options inside the question ('Options: A: x, B: y, ...')."""
    folder.mkdir(parents=True)
    rows, want = [], []
    for i, options, answer, seed in _rows():
        stem = QUESTION + "\nOptions: " + ", ".join(f"{LETTERS[j]}: {o}" for j, o in enumerate(options))
        category = "coarse perception" if i == 0 else "math"
        rows.append({"index": i, "question": stem, "image": {"bytes": noise_png(seed), "path": f"{i}.jpg"},
                     "answer": LETTERS[answer], "category": category, "l2_category": "numeric commonsense",
                     "meta_info": {"source": "MathVista", "split": "testmini", "image_path": f"{i}.jpg"}})
        want.append({**expect(i, noise_png(seed), options, answer), "perception": i == 0})
    pd.DataFrame(rows).to_parquet(folder / "mmstar.parquet")
    return folder, want


def vlmevalkit_tsv(path, reference_last: bool = False, circular: bool = False, hint: bool = True):
    """A VLMEvalKit multi-choice TSV (MMBench, AI2D, MMStar): index, question, hint, A-D (an option exists
    where its cell is non-empty), answer letter, category, l2-category, base64 image, split. With
    `reference_last` the last row's image cell is the first row's index; with `circular` each question has
    a copy with rotated options at index + 1,000,000 whose image cell is the original's index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows, want = [], []
    for i, options, answer, seed in _rows():
        options = options[:4]  # VLMEvalKit's TSVs have columns A-D
        answer = min(answer, len(options) - 1)
        image_seed = 100 if reference_last and i == 3 else seed
        row = {"index": i, "question": QUESTION, "hint": "A picture from a textbook." if hint and i % 2 else "",
               **{LETTERS[j]: (options[j] if j < len(options) else "") for j in range(4)},
               "answer": LETTERS[answer], "category": "math", "l2-category": "logic_reasoning" if i else
               "coarse_perception", "image": "0" if reference_last and i == 3 else b64(seed), "split": "dev"}
        rows.append(row)
        want.append({**expect(i, noise_png(image_seed), options, answer), "perception": i == 0})
        if circular:
            rot = options[1:] + options[:1]
            rows.append({**row, "index": 1_000_000 + i, **{LETTERS[j]: (rot[j] if j < len(rot) else "") for j in range(4)},
                         "answer": LETTERS[(answer - 1) % len(options)], "image": str(i)})
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path.parent, want


def ai2d_parquet_shards(folder):
    """lmms-lab/ai2d: parquet shards of question, options list, answer as a 0-based index string, image;
    no id. The same question and options appear with different images."""
    (folder / "data").mkdir(parents=True)
    want = []
    for shard in range(2):
        rows = []
        for i, options, answer, seed in _rows(3):
            seed += 10 * shard
            rows.append({"question": QUESTION, "options": options, "answer": str(answer),
                         "image": {"bytes": noise_png(seed), "path": None}})
            want.append(expect(f"test-0000{shard}-of-00002-{i}", noise_png(seed), options, answer))
        pd.DataFrame(rows).to_parquet(folder / "data" / f"test-0000{shard}-of-00002.parquet")
    return folder, want


def m3cot_parquet(folder):
    """LightChen2333/M3CoT: data/{train,validation,test}-*.parquet; choices a list, answer a letter."""
    (folder / "data").mkdir(parents=True)
    rows, want = [], []
    for i, options, answer, seed in _rows():
        rows.append({"id": f"physics-{i}", "category": "physical-commonsense", "image_id": f"img-{i}",
                     "question": QUESTION, "choices": options, "context": "A lab photo." if i % 2 else "",
                     "answer": LETTERS[answer], "rationale": "Because ...", "split": "test",
                     "image": {"bytes": noise_png(seed), "path": None}, "domain": "science", "topic": "physics"})
        want.append(expect(f"physics-{i}", noise_png(seed), options, answer))
    pd.DataFrame(rows).to_parquet(folder / "data" / "test-00000-of-00001.parquet")
    pd.DataFrame([{**rows[0], "id": "train-0"}]).to_parquet(folder / "data" / "train-00000-of-00001.parquet")
    return folder, want


HINTS = {"multi_choice": "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, "
                         "at the end.",
         "integer": "Hint: Please answer the question requiring an integer answer and provide the final value, "
                    "e.g., 1, 2, 3, at the end.",
         "float": "Hint: Please answer the question requiring a floating-point number with two decimal places and "
                  "provide the final value, e.g., 1.23, 1.34, 1.45, at the end."}


def mathvista_rows() -> tuple[list[dict], list[dict]]:
    """MathVista testmini rows (the hub's fields, `query` with its Hint line) and what each must give:
    multi-choice with 2 and 5 options (answer = option text), integer with a unit, float of precision 2,
    and the same question asked of two images."""
    specs = [("1", QUESTION, ["3", "five."], "five.", "multi_choice", "text", None, None),
             ("2", "Which stage comes last?", OPTION_SETS[3], "adult", "multi_choice", "text", None, None),
             ("3", "How long is AB?", None, "12", "free_form", "integer", "cm", None),
             ("4", "What is the ratio?", None, "0.25", "free_form", "float", None, 2),
             ("5", "How long is AB?", None, "7", "free_form", "integer", "cm", None)]
    rows, want = [], []
    for pid, question, choices, answer, qtype, atype, unit, precision in specs:
        text = f"Question: {question}" + (f" (Unit: {unit})" if unit else "")
        if choices:
            text += "\nChoices:" + "".join(f"\n({LETTERS[j]}) {c}" for j, c in enumerate(choices))
        rows.append({"pid": pid, "question": question, "image": f"images/{pid}.jpg",
                     "decoded_image": {"bytes": noise_png(200 + int(pid)), "path": f"{pid}.jpg"},
                     "choices": choices, "unit": unit, "precision": precision, "answer": answer,
                     "question_type": qtype, "answer_type": atype,
                     "metadata": {"task": "geometry problem solving", "category": "math-targeted-vqa",
                                  "img_width": 40, "img_height": 32},
                     "query": HINTS[qtype if qtype == "multi_choice" else atype] + "\n" + text})
        if choices:
            want.append(expect(pid, noise_png(200 + int(pid)), choices, choices.index(answer)))
        else:
            wrong = str(float(answer) + 1) if atype == "float" else str(int(answer) + 1)
            want.append({"id": pid, "image": noise_png(200 + int(pid)),
                         "right": [f"Answer: {answer}", f"The answer is {answer} {unit or ''}".strip()],
                         "wrong": [f"Answer: {wrong}"]})
    return rows, want


def mathvista_parquet(folder):
    """AI4Math/MathVista as downloaded: data/testmini-*.parquet (and data/test-*.parquet, not read)."""
    rows, want = mathvista_rows()
    (folder / "data").mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(folder / "data" / "testmini-00000-of-00001.parquet")
    pd.DataFrame(rows[:1]).to_parquet(folder / "data" / "test-00000-of-00002.parquet")
    return folder, want


def mathvista_github_json(folder):
    """lupantech/MathVista's data/testmini.json (keyed by pid) with images.zip unpacked into data/images/."""
    rows, want = mathvista_rows()
    (folder / "data" / "images").mkdir(parents=True)
    for row in rows:
        (folder / "data" / row["image"]).write_bytes(row.pop("decoded_image")["bytes"])
    rows[-1].pop("query")  # built from the record's fields where absent
    (folder / "data" / "testmini.json").write_text(json.dumps({r["pid"]: r for r in rows}))
    return folder, want
