"""`harness data split / mathvista / check` and one `harness run` on their output, end to end on CPU.

The sources are made here in the published layouts: MathV360K as downloaded (train_samples_all_tuning.json
beside data_images/<Source>/images/, every gold answer form the real file has, and some bad records) and
MathVista's hub parquet; both source folders are read-only and must not change."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

import published_layouts as layouts
from harness.data.convert import split_mathv360k
from harness.data.datasets import DatasetError, load_mathv360k
from real_arch import build_tiny_llava

ASK = ("<image>\nFirst perform reasoning, then finally select the question from the choices in the following format: "
       "Answer: xxx.\n")
PICK = "Question: What has been done to this letter?\nChoices:\n(A) slide\n(B) flip.\n(C) turn"
GOLD_FORMS = [  # (human turn after the instruction, gpt turn, gold answer it must give)
    (PICK, "Answer: B", "flip"), (PICK, "The answer is (B).", "flip"), (PICK, "B", "flip"), (PICK, "flip", "flip"),
    (PICK, "B: flip", "flip"), ("Question: Angle 2?\nChoices:\nA: 32°\nB: 58°", "Answer: B", "58°"),
    ("Question: Pick one.\nChoices: (A) red (B) blue", "(A)", "red"),
    ("Question: How many cubes are left?", "Answer: 8", "8"), ("Question: How many?", "The answer is 12", "12"),
    ("Question: What is the length? (Unit: cm)", "2.50", "2.50"), ("Question: Is the bar taller?", "yes", "yes"),
    ("Question: Which years?", "Answer: [2007, 2008]", "[2007, 2008]"),
    ("Question: How long is AB?", "Answer: 5 cm", "5"),
]
BAD_RECORDS = {  # reason -> records that must be skipped with it
    "image file not found": 1, "image path escapes the dataset root": 1,
    "answer form not recognised (a sentence, not a value)": 1, "answer letter outside the choices": 1,
}


def write_mathv360k_download(folder, copies: int = 3):
    """MathV360K as downloaded: record image paths are relative to data_images/, by source dataset."""
    items = []
    for n in range(copies):
        for i, (human, gpt, _) in enumerate(GOLD_FORMS):
            source = ("TabMWP", "IconQA", "GeoQA+")[i % 3]
            rel = f"{source}/images/{n}-{i}.png"
            (folder / "data_images" / source / "images").mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 32), (20 * i, 60 * n, 90)).save(folder / "data_images" / rel)
            items.append({"id": f"identity_{n}_{i}", "image": rel, "conversations": [
                {"from": "human", "value": ASK + human}, {"from": "gpt", "value": gpt}]})
    ok = items[0]["image"]
    bad = [("missing", "TabMWP/images/absent.png", "Answer: B"), ("escape", "../train_samples_all_tuning.json", "B"),
           ("sentence", ok, "The bars show that the tallest one belongs to the second group of students"),
           ("outside", ok, "Answer: E")]
    for rid, image, gpt in bad:
        human = ASK + (PICK if gpt != bad[2][2] else "Question: Which group?")
        items.append({"id": rid, "image": image, "conversations": [{"from": "human", "value": human},
                                                                   {"from": "gpt", "value": gpt}]})
    (folder / "train_samples_all_tuning.json").write_text(json.dumps(items))
    return folder / "train_samples_all_tuning.json"


def harness(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    (root / "MathV360K").mkdir()
    write_mathv360k_download(root / "MathV360K")
    layouts.mathvista_parquet(root / "MathVista")
    layouts.read_only(root)
    return root, layouts.tree(root)


@pytest.fixture(scope="module")
def data(sources, tmp_path_factory):
    """The README's step 3 on the made sources: split, mathvista; the sources must stay as they were."""
    root, before = sources
    out = tmp_path_factory.mktemp("data") / "mstar"
    source = root / "MathV360K" / "train_samples_all_tuning.json"
    split = harness("data", "split", source, out, "--test-id", 4, "--val", 4)
    assert split.returncode == 0, split.stderr[-3000:]
    summary = json.loads(split.stdout)
    assert summary["skipped"] == BAD_RECORDS and summary["sizes"] == {"labeled": 19, "test_id": 4, "val": 4,
                                                                     "unlabeled": 12}
    vista = harness("data", "mathvista", root / "MathVista", out)
    assert vista.returncode == 0, vista.stderr[-3000:]
    assert json.loads(vista.stdout)["records"] == 5
    assert layouts.tree(root) == before  # nothing written into the read-only sources
    return out


def test_split_keeps_every_gold_form_and_links_the_images(data):
    labeled = load_mathv360k(data / "mathv360k" / "labeled.json")
    assert all(r.answer == GOLD_FORMS[int(r.id.rsplit("_", 1)[1])][2] for r in labeled)
    assert (data / "mathv360k" / "data_images").is_symlink()
    assert all(r.image.is_file() and "data_images" in r.image.parts for r in labeled)
    unlabeled = json.loads((data / "mathv360k" / "unlabeled.json").read_text())
    assert all(len(u["conversations"]) == 1 and u["meta"]["oracle_answer"] for u in unlabeled)


def test_split_is_deterministic_and_sizes_are_checked(sources, tmp_path):
    root, _ = sources
    source = root / "MathV360K" / "train_samples_all_tuning.json"
    first = split_mathv360k(source, tmp_path / "a", seed=3, test_id=4, val=4)
    again = split_mathv360k(source, tmp_path / "b", seed=3, test_id=4, val=4)
    assert first["sizes"] == again["sizes"]
    for name in first["sizes"]:
        assert (tmp_path / "a" / "mathv360k" / f"{name}.json").read_text() == \
               (tmp_path / "b" / "mathv360k" / f"{name}.json").read_text()
    with pytest.raises(DatasetError, match="too few for 750 test-ID"):
        split_mathv360k(source, tmp_path / "c")


def test_mathvista_keeps_the_hint_and_images_beside_the_json(data):
    vista = json.loads((data / "mathvista" / "testmini.json").read_text())
    assert vista["3"]["query"].startswith(layouts.HINTS["integer"])
    assert all((data / "mathvista" / r["image"]).is_file() for r in vista.values())


def test_check_passes_on_the_prepared_folder(data):
    out = harness("data", "check", data)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("(100.00%)") == 5 and "NOT USABLE" not in out.stdout
    assert "image path escapes the dataset root" not in out.stdout  # bad records never reach the splits


def test_check_and_run_refuse_an_unrewardable_or_empty_split(data, tmp_path):
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(data), str(broken)], check=True)
    val = json.loads((broken / "mathv360k" / "val.json").read_text())
    val[0] = {**val[0], "meta": {"answer_type": "integer"}}  # a free-form answer declared an integer: no
    val[0]["conversations"] = [{"from": "human", "value": ASK + "Question: How many?"},  # response can match it
                               {"from": "gpt", "value": "seven"}]
    (broken / "mathv360k" / "val.json").write_text(json.dumps(val))
    out = harness("data", "check", broken)
    assert out.returncode == 2 and "val: NOT USABLE" in out.stdout and "rewardable: 3 of 4 (75.00%)" in out.stdout
    assert f"id {val[0]['id']}: gold 'seven'" in out.stdout
    run = harness("run", "ablations/base.yaml", f"data.path={broken}", "model.path=/nonexistent",
                  f"results_dir={tmp_path / 'results'}")
    assert run.returncode == 2 and "split val: 1 of 4 records' own gold answers earn no reward 1" in run.stderr
    (broken / "mathv360k" / "test_id.json").write_text("[]")
    out = harness("data", "check", broken)
    assert out.returncode == 2 and "test_id: NOT USABLE" in out.stdout and "no usable records" in out.stdout


def test_one_run_on_the_prepared_folder_with_a_real_architecture(sources, data, tmp_path):
    model = build_tiny_llava(tmp_path / "llava")
    out = harness("run", "ablations/base.yaml", f"model.path={model}", f"data.path={data}",
                  f"results_dir={tmp_path / 'results'}", "warmup.samples_per_query=2", "warmup.max_per_query=2",
                  "rollout.samples_per_query=2", "select.max_per_query=2", "model.max_new_tokens=8",
                  "model.threads=1", "method.interval=0.5", "data.image_cache_mb=1",
                  f"data.benchmarks.mathvista={sources[0] / 'MathVista'}")  # the read-only hub parquet
    assert out.returncode == 0, out.stderr[-3000:]
    run = next((tmp_path / "results" / "base").iterdir())
    ev = json.loads((run / "eval.json").read_text())
    assert ev["final"]["test_id"]["n"] == 4 and ev["final"]["test_ood"]["n"] == 5 and ev["final"]["mathvista"]["n"] == 5
    assert (tmp_path / "results" / "_stages" / "images").is_dir()  # benchmark images cached under results
