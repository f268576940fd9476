"""Rollout engines side by side: sequences/s of the vllm engine against the hf engine on the same VLM and prompts,
and the seconds of one in-place weight update against one engine build (what the vllm backend paid on every
sampling call before its engine persisted).

    python benchmarks/rollout_engine.py [--model PATH] [--prompts 64] [--k 8] [--max-new-tokens 64]

Without --model a tiny random-init LLaVA of the real architecture (tests/real_arch.py) is saved to a temp dir.
The vllm half needs a CUDA GPU and the [vllm] extra; without them the hf engine is measured alone and the script
says so. Peak GPU memory is what the CUDA driver reports in use (vLLM's own pools included), after each phase.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # run from anywhere without installing; the tiny model builder

import torch  # noqa: E402

from harness.config import ModelConfig, load_config  # noqa: E402
from harness.model.adapters import Prompt  # noqa: E402
from harness.model.modeling import load_model  # noqa: E402
from harness.rollout.engine import open_engine  # noqa: E402
from harness.rollout.settings import SamplingSettings  # noqa: E402
from harness.rollout.sharded import sample  # noqa: E402
from real_arch import build_tiny_llava, make_image  # noqa: E402


def gpu_used_gib() -> float | None:
    if not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return (total - free) / 2**30


def timed(fn):
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def measure(backend: str, model, adapter, prompts, settings: SamplingSettings, batch: int) -> dict:
    rollout = load_config(None, [f"rollout.backend={backend}", f"rollout.batch_sequences={batch}"]).rollout
    engine, build_s = timed(lambda: open_engine(rollout, model, adapter))
    sample(engine, prompts[:2], settings)  # warm-up: kernels, CUDA graphs
    out, sample_s = timed(lambda: sample(engine, prompts, settings))
    sequences = sum(len(r) for r in out)
    engine.sleep()
    _, update_s = timed(lambda: (engine.update_weights(model, adapter), engine.wake()))
    row = {"engine": backend, "build_s": build_s, "seq_per_s": sequences / sample_s, "update_s": update_s,
           "gpu_used_gib": gpu_used_gib()}
    engine.close()
    return row


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="checkpoint folder (AutoModelForImageTextToText); default: a tiny random LLaVA")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args(argv)

    cuda = torch.cuda.is_available()
    path = args.model or build_tiny_llava(Path(tempfile.mkdtemp(prefix="rollout-engine-")) / "llava")
    model, adapter = load_model(path, ModelConfig(device="cuda" if cuda else "cpu",
                                                  dtype="bfloat16" if cuda else "float32"))
    prompts = [Prompt(f"What is {i} + {i}?", make_image(i)) for i in range(args.prompts)]
    batch = args.prompts * args.k
    settings = SamplingSettings("hf", k=args.k, temperature=1.0, max_new_tokens=args.max_new_tokens,
                                batch_sequences=batch, seed=0)
    rows = [measure("hf", model, adapter, prompts, settings, batch)]
    try:
        import vllm  # noqa: F401
        vllm_ok = cuda
    except ImportError:
        vllm_ok = False
    if vllm_ok:
        rows.append(measure("vllm", model, adapter, prompts, settings, batch))
    print(f"{args.prompts} prompts x {args.k} samples, up to {args.max_new_tokens} new tokens, model {path}")
    print(f"{'engine':8} {'build s':>9} {'seq/s':>9} {'update s':>9} {'GPU GiB':>8}")
    for r in rows:
        used = f"{r['gpu_used_gib']:.1f}" if r["gpu_used_gib"] is not None else "-"
        print(f"{r['engine']:8} {r['build_s']:9.2f} {r['seq_per_s']:9.1f} {r['update_s']:9.3f} {used:>8}")
    if vllm_ok:
        hf, v = rows
        print(f"vllm / hf sequences per second: {v['seq_per_s'] / hf['seq_per_s']:.2f}x")
        print(f"one vllm engine build / one in-place weight update: {v['build_s'] / v['update_s']:.1f}x "
              f"({v['build_s']:.1f} s vs {v['update_s']:.2f} s)")
    else:
        print("vllm: not measured (needs a CUDA GPU and `pip install 'mstar-harness[vllm]'`)")


if __name__ == "__main__":
    main()
