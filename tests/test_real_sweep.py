"""The real path through a sweep: a tiny random-init LLaVA checkpoint and datasets in the real MathV360K
and MathVista (hub parquet) formats, made here, run `harness sweep ablations/training_method.yaml`."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import yaml
from PIL import Image

from harness.data.convert import split_mathv360k, write_mathvista
from real_arch import build_tiny_llava

N = 24  # records of the raw MathV360K file: 12 labeled, 4 test-ID, 4 val, 4 unlabeled


def write_mathv360k(folder, data) -> None:
    """A raw MathV360K-style file (id, image, human/gpt conversations; short answers) with its images, split
    into the data folder."""
    folder.mkdir(parents=True)
    items = []
    for i in range(N):
        Image.new("RGB", (32, 32), (10 * i, 0, 255 - 10 * i)).save(folder / f"{i}.png")
        mc = i % 2 == 0
        human = f"<image>\nHow many dots are there? ({i})" + ("\nChoices: (A) 1 (B) 2" if mc else "")
        items.append({"id": f"q{i}", "image": f"{i}.png",
                      "conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": "B" if mc else "3"}]})
    (folder / "train_samples_all_tuning.json").write_text(json.dumps(items))
    split_mathv360k(folder / "train_samples_all_tuning.json", data, test_id=4, val=4)


def write_mathvista_parquet(folder) -> None:
    """MathVista testmini as the hub ships it: parquet with decoded image bytes."""
    import io

    rows = []
    for i in range(4):
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), (0, 60 * i, 0)).save(buf, format="PNG")
        rows.append({"pid": str(i), "question": "How many dots?", "image": f"images/{i}.png",
                     "decoded_image": {"bytes": buf.getvalue(), "path": f"{i}.png"}, "choices": None, "unit": None,
                     "precision": None, "answer": "3", "question_type": "free_form", "answer_type": "integer",
                     "metadata": {"task": "visual question answering"}, "query": "Question: How many dots?"})
    (folder / "data").mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(folder / "data" / "testmini-00000-of-00001.parquet")


def test_training_method_sweep_runs_on_a_real_architecture_and_real_formats(tmp_path):
    data = tmp_path / "data"
    write_mathv360k(tmp_path / "MathV360K", data)
    write_mathvista_parquet(tmp_path / "hub")
    write_mathvista(tmp_path / "hub", data)
    model = build_tiny_llava(tmp_path / "llava")
    cmd = [sys.executable, "-m", "harness.cli", "sweep", "ablations/training_method.yaml",
           f"model.path={model}", f"data.path={data}", f"results_dir={tmp_path / 'results'}",
           "warmup.samples_per_query=2", "warmup.max_per_query=2", "rollout.samples_per_query=2",
           "select.max_per_query=2", "model.max_new_tokens=8", "model.threads=1",
           f"data.benchmarks.mathvista={tmp_path / 'hub'}"]  # the hub parquet again, as an extra test set
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    manifest = yaml.safe_load((tmp_path / "results" / "training_method" / "sweep.yaml").read_text())
    assert len(manifest["runs"]) == 8  # SFT, iterative RFT, ReST-EM, continuous at 5 intervals
    for r in manifest["runs"]:
        run = tmp_path / "results" / "training_method" / r["path"].split("/")[-1]
        assert json.loads((run / "status.json").read_text())["state"] == "done"
        ev = json.loads((run / "eval.json").read_text())
        assert ev["final"]["test_id"]["n"] == 4 and ev["final"]["test_ood"]["n"] == 4
        assert ev["final"]["mathvista"]["n"] == 4 and ev["warmup"]["mathvista"]["n"] == 4
