"""Rollout throughput: our `hf_sample` sampler against Hugging Face `generate`, side by side.

Both sample K responses per prompt at temperature 1.0 from the same model, on the same CoT prompts
(images + questions of a small embedded world written to a temp dir), with the same number of
sequences per forward (`--batch-sequences`, split into chunks of batch_sequences // K prompts).
Each method runs in its own fresh subprocess, so its peak memory is its own: it loads the model and
prompts, resets the kernel's peak-RSS counter, warms up once, then times one full run.

    python benchmarks/rollout_speed.py [--model PATH] [--prompts 64] [--k 16] [--max-new-tokens 96] [--threads 2]

Without --model a random-init tiny VLM (default config, seeded) is saved to the temp dir and both
methods load it from there. See benchmarks/README.md for what is measured and how.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

METHODS = ("ours", "generate")
RESULT_TAG = "RESULT "
SPLIT = "labeled"  # self-evolution samples its rollouts from the labeled split


# ---- arguments ------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options (the --worker/--data ones are internal: the parent passes them to children)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="checkpoint folder (AutoModelForImageTextToText); default: random-init tiny VLM")
    ap.add_argument("--prompts", type=int, default=64, help="number of prompts (default 64)")
    ap.add_argument("--k", type=int, default=16, help="responses per prompt (default 16)")
    ap.add_argument("--max-new-tokens", type=int, default=96, help="longest response (default 96)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--batch-sequences", type=int, default=512,
                    help="sequences per forward for both methods (hf_sample's default, 512)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the world, the random init and the sampling")
    ap.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


# ---- inputs (parent) ------------------------------------------------------------------------------

def write_inputs(tmp: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """Write the world (args.prompts records in SPLIT) and, without --model, a seeded random-init model."""
    from harness.world.writer import MATHV360K_SPLITS, all_families, write_world

    sizes = {s: 1 for s in (*MATHV360K_SPLITS, "test_ood")} | {SPLIT: args.prompts}
    write_world(tmp / "data", args.seed, sizes, all_families())
    if args.model:
        return tmp / "data", Path(args.model).resolve()
    import torch
    from harness.tinyvlm import build_tiny_vlm

    torch.manual_seed(args.seed)
    build_tiny_vlm(str(tmp / "model"))
    return tmp / "data", tmp / "model"


# ---- memory ---------------------------------------------------------------------------------------

def _status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS: resident now, VmHWM: peak resident)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) to the current RSS; False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# ---- the two samplers (worker) --------------------------------------------------------------------

class CountingAdapter:
    """Wraps an adapter and records the length of every token list it decodes (EOS excluded)."""

    def __init__(self, inner):
        self.inner = inner
        self.lengths: list[int] = []

    def decode(self, ids: list[int]) -> str:
        self.lengths.append(len(ids))
        return self.inner.decode(ids)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def run_ours(model, adapter, prompts, args) -> list[list[str]]:
    """K responses per prompt from our sampler."""
    from harness.rollout.hf import hf_sample
    from harness.rollout.settings import SamplingSettings

    settings = SamplingSettings("hf", k=args.k, temperature=1.0, max_new_tokens=args.max_new_tokens,
                                batch_sequences=args.batch_sequences, seed=args.seed)
    return hf_sample(model, adapter, prompts, settings, desc="ours")


def run_generate(model, adapter, prompts, args) -> list[list[str]]:
    """K responses per prompt from `model.generate`, over the same chunks of prompts as hf_sample.

    top_k=0 turns off generate's default top-k of 50, so both sample the full softmax at T=1.
    Each row is cut at its first EOS and decoded, as hf_sample does.
    """
    import torch

    torch.manual_seed(args.seed)
    per_chunk = max(1, args.batch_sequences // args.k)
    eos, pad = adapter.eos_token_id, adapter.tokenizer.pad_token_id
    results: list[list[str]] = []
    for i in range(0, len(prompts), per_chunk):
        inputs = adapter.encode_prompts(prompts[i:i + per_chunk])
        with torch.inference_mode():
            out = model.generate(**inputs, do_sample=True, temperature=1.0, top_k=0, num_return_sequences=args.k,
                                 max_new_tokens=args.max_new_tokens, pad_token_id=pad, eos_token_id=eos)
        texts = [adapter.decode(_until_eos(row, eos)) for row in out[:, inputs["input_ids"].shape[1]:].tolist()]
        results += [texts[j:j + args.k] for j in range(0, len(texts), args.k)]
    return results


def _until_eos(ids: list[int], eos: int) -> list[int]:
    """The tokens before the first EOS (generate pads the rest of a finished row)."""
    return ids[:ids.index(eos)] if eos in ids else ids


RUNNERS = {"ours": run_ours, "generate": run_generate}


def load_prompts(data: Path, n: int):
    """The first n records of SPLIT as CoT prompts, their images decoded up front (outside the timing)."""
    from harness.model.adapters import image_of
    from harness.evaluation.evaluate import prompts_of
    from harness.data.splits import load_splits

    prompts = prompts_of(load_splits(data)[SPLIT][:n], cot=True)
    for p in prompts:
        image_of(p)
    return prompts


def worker(args: argparse.Namespace) -> dict:
    """In a fresh process: load, reset the peak-RSS counter, warm up once, time one full run."""
    from harness.config import ModelConfig
    from harness.model.modeling import load_model

    model, adapter = load_model(Path(args.model), ModelConfig(threads=args.threads))
    prompts = load_prompts(Path(args.data), args.prompts)
    run = RUNNERS[args.worker]
    rss_start = _status_kib("VmRSS")
    peak_was_reset = reset_peak_rss()
    run(model, adapter, prompts[:max(1, args.batch_sequences // args.k)], args)  # warm-up: one chunk
    counter = CountingAdapter(adapter)
    t0 = time.perf_counter()
    responses = run(model, counter, prompts, args)
    seconds = time.perf_counter() - t0
    n_seq = sum(len(r) for r in responses)
    return {"method": args.worker, "sequences": n_seq, "seconds": seconds, "seq_per_s": n_seq / seconds,
            "tokens_per_seq": sum(counter.lengths) / len(counter.lengths),
            "rss_start_mib": rss_start / 1024, "peak_rss_mib": _status_kib("VmHWM") / 1024,
            "peak_growth_mib": (_status_kib("VmHWM") - rss_start) / 1024, "peak_was_reset": peak_was_reset}


# ---- orchestration (parent) -----------------------------------------------------------------------

def spawn(method: str, args: argparse.Namespace, data: Path, model: Path) -> dict:
    """Run one method in a fresh subprocess and return its result dict."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", method, "--data", str(data),
            "--model", str(model), "--prompts", str(args.prompts), "--k", str(args.k),
            "--max-new-tokens", str(args.max_new_tokens), "--threads", str(args.threads),
            "--batch-sequences", str(args.batch_sequences), "--seed", str(args.seed)]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_TAG)]
    if proc.returncode or not lines:
        sys.exit(f"{method} worker failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1][len(RESULT_TAG):])


def print_table(results: list[dict], args: argparse.Namespace, model_label: str) -> None:
    """The results as a small fixed-width table, then the throughput ratio."""
    per_forward = max(1, args.batch_sequences // args.k) * args.k
    print(f"model: {model_label} | {args.prompts} prompts x k={args.k} | max_new_tokens={args.max_new_tokens} | "
          f"{min(per_forward, args.prompts * args.k)} sequences per forward | {args.threads} threads")
    print(f"{'method':<10}{'seq/s':>9}{'seconds':>9}{'tokens/seq':>12}{'peak RSS growth MiB':>21}"
          f"{'peak RSS MiB':>14}")
    for r in results:
        print(f"{r['method']:<10}{r['seq_per_s']:>9.1f}{r['seconds']:>9.2f}{r['tokens_per_seq']:>12.1f}"
              f"{r['peak_growth_mib']:>21.1f}{r['peak_rss_mib']:>14.1f}")
    ours, gen = (next(r for r in results if r["method"] == m) for m in METHODS)
    print(f"ratio ours / generate (seq/s): {ours['seq_per_s'] / gen['seq_per_s']:.2f}x")
    if not all(r["peak_was_reset"] for r in results):
        print("note: /proc/self/clear_refs not writable; peaks include model loading")


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        print(RESULT_TAG + json.dumps(worker(args)), flush=True)
        return
    with tempfile.TemporaryDirectory(prefix="rollout_speed_") as tmp:
        data, model = write_inputs(Path(tmp), args)
        results = [spawn(m, args, data, model) for m in METHODS]  # one after the other: they share the CPU
    print_table(results, args, args.model or f"random-init tiny VLM (seed {args.seed})")


if __name__ == "__main__":
    main()
