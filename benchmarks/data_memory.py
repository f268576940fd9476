"""Peak memory of loading the data and one rollout batch at MathV360K's size, side by side with decoding every
image of the labeled split at once (what the vLLM backend's request list did before images were decoded a
batch at a time; the count-bounded image cache kept up to 65,536 of them).

    python benchmarks/data_memory.py [--records 180000] [--folder /tmp/mathv360k-180k] [--k 16]

The records are written by the embedded world's writer in the MathV360K layout (train_samples_all_tuning.json
beside data_images/; kept in --folder and reused), split with `harness data split`, and loaded by the
run's own `load_splits`. Each way runs in a fresh subprocess and reports its peak RSS (VmHWM) over loading
and one rollout batch (`rollout.batch_sequences` // K prompts of the labeled split, K samples each, a
random-init tiny VLM); the "before" way also holds every labeled image decoded in one list. The images are
the world's 48x48 px: decoded memory grows with pixels, ~270x at MathV360K-like 800x800.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

WAYS = {"per-batch": "images decoded a batch at a time (now)",
        "all-at-once": "every labeled image decoded at once (before)"}


def status_mib(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def prepare(folder: Path, records: int, seed: int) -> Path:
    """The MathV360K-layout source (written once), split into the data folder a run reads."""
    from harness.config import FAMILIES
    from harness.data.convert import split_mathv360k
    from harness.world.writer import write_mathv360k_download, write_world

    source = folder / "MathV360K" / "train_samples_all_tuning.json"
    if not source.is_file():
        t0 = time.time()
        write_mathv360k_download(source.parent, seed, records, FAMILIES)
        print(f"wrote {records} records in the MathV360K layout in {time.time() - t0:.0f} s")
    data = folder / "data"
    if not (data / "mathv360k" / "split.json").is_file():
        t0 = time.time()
        print("split:", split_mathv360k(source, data, seed)["sizes"], f"({time.time() - t0:.0f} s)")
        with tempfile.TemporaryDirectory() as tmp:  # a small MathVista testmini, which load_splits also reads
            write_world(Path(tmp), seed, {"labeled": 1, "unlabeled": 1, "val": 1, "test_id": 1, "test_ood": 100},
                        FAMILIES)
            shutil.copytree(Path(tmp) / "mathvista", data / "mathvista", dirs_exist_ok=True)
    return data


def worker(way: str, data: Path, k: int, batch_sequences: int, max_new_tokens: int) -> dict:
    import torch

    from harness.model.adapters import image_of
    from harness.config import ModelConfig
    from harness.evaluation.evaluate import prompts_of
    from harness.data.splits import load_splits
    from harness.model.modeling import new_base_model
    from harness.rollout.hf import hf_sample
    from harness.rollout.settings import SamplingSettings

    torch.manual_seed(0)
    t0 = time.time()
    splits = load_splits(data)
    loaded = {"records": sum(len(v) for v in splits.values()), "load_s": round(time.time() - t0, 1),
              "rss_after_load_mib": round(status_mib("VmRSS"))}
    prompts = prompts_of(splits["labeled"])
    held = [image_of(p) for p in prompts] if way == "all-at-once" else []  # as one vLLM request list held them
    model, adapter = new_base_model(ModelConfig())
    t0 = time.time()
    hf_sample(model, adapter, prompts[: batch_sequences // k], SamplingSettings("hf", k, 1.0, max_new_tokens,
                                                                                 batch_sequences, seed=0))
    return {**loaded, "batch_s": round(time.time() - t0, 1), "images_held": len(held),
            "peak_rss_mib": round(status_mib("VmHWM"))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=180_000, help="records of the MathV360K-layout source")
    ap.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "mathv360k-memory",
                    help="where the source and the split data are written (reused when present)")
    ap.add_argument("--k", type=int, default=16, help="samples per prompt")
    ap.add_argument("--batch-sequences", type=int, default=512, help="sequences of the rollout batch")
    ap.add_argument("--max-new-tokens", type=int, default=32, help="tokens per sample (a random model never stops)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", choices=WAYS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    folder = args.folder / f"{args.records}"
    if args.worker:
        print(json.dumps(worker(args.worker, folder / "data", args.k, args.batch_sequences, args.max_new_tokens)))
        return 0
    prepare(folder, args.records, args.seed)
    rows = {}
    for way in WAYS:
        cmd = [sys.executable, __file__, "--worker", way, "--records", str(args.records), "--folder", str(args.folder),
               "--k", str(args.k), "--batch-sequences", str(args.batch_sequences),
               "--max-new-tokens", str(args.max_new_tokens)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows[way] = json.loads(out.stdout.strip().splitlines()[-1])
    from harness.config import WarmupConfig

    labeled = json.loads((folder / "data" / "mathv360k" / "split.json").read_text())["sizes"]["labeled"]
    print(f"\n{args.records} records (MathV360K layout), one rollout batch = {args.batch_sequences // args.k} prompts "
          f"x {args.k} samples\n")
    print(f"{'':46s} {'records':>8s} {'load s':>7s} {'RSS after load MiB':>19s} {'images held':>12s} "
          f"{'batch s':>8s} {'peak RSS MiB':>13s}")
    for way, r in rows.items():
        print(f"{WAYS[way]:46s} {r['records']:>8d} {r['load_s']:>7.1f} {r['rss_after_load_mib']:>19d} "
              f"{r['images_held']:>12d} {r['batch_s']:>8.1f} {r['peak_rss_mib']:>13d}")
    print(f"\npeak RSS ratio (before / now): {rows['all-at-once']['peak_rss_mib'] / rows['per-batch']['peak_rss_mib']:.2f}")
    print(f"warm-up queries sampled: {WarmupConfig().query_count(labeled)} of {labeled} labeled "
          f"(before warmup.queries: all {labeled})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
