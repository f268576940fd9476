"""A run folder: resolved config, status, metrics, evaluation, log and TensorBoard events."""
from __future__ import annotations

import json
import logging
import re
import time
import traceback
from pathlib import Path

import yaml

from harness.config import EXECUTION_KEYS, RunConfig, hashed, to_dict
from harness.io import append_jsonl, atomic_write_json, atomic_write_text, read_json, read_jsonl
from harness.stages.cache import config_hash


def slug(text: str) -> str:
    """A folder-safe label: 'Continuous 25.00%' -> 'continuous-25-00'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "run"


def run_key(cfg: RunConfig, plain: dict | None = None) -> str:
    """Hash of everything that changes a run's results (not its name or where it is stored); `plain` is the
    config as plain data when the caller has made it already (to_dict(cfg))."""
    plain = hashed(to_dict(cfg) if plain is None else plain)
    d = {k: v for k, v in plain.items() if k not in EXECUTION_KEYS}
    # how saved responses are scored, not what the run computes: `harness rescore` changes it
    d["eval"] = {k: v for k, v in d["eval"].items() if k != "judge"}
    d["rollout"] = {k: v for k, v in d["rollout"].items() if k != "vllm"}  # how the engine executes (config.VLLMConfig)
    return config_hash(d, 8)


def run_path(cfg: RunConfig, label: str | None = None, plain: dict | None = None) -> Path:
    """Deterministic folder: results/<name>/<label-slug>-<hash>; submitting again resumes."""
    label = label or f"{cfg.method.kind}-seed{cfg.seed}"
    return Path(cfg.results_dir) / cfg.name / f"{slug(label)}-{run_key(cfg, plain)}"


class RunDir:
    """Reads and writes one run folder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.log_path = self.path / "run.log"
        self.config_path = self.path / "config.yaml"  # the resolved config, with the run's label

    def init(self, cfg: RunConfig, label: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config_path, yaml.safe_dump({"label": label, **to_dict(cfg)}, sort_keys=False))

    def status(self) -> dict:
        return read_json(self.path / "status.json", {"state": "pending"})

    def set_status(self, state: str, **fields) -> None:
        atomic_write_json(self.path / "status.json", {**self.status(), "state": state, "updated": time.time(),
                                                      "log": str(self.log_path), **fields})

    def fail(self, exc: BaseException) -> None:
        self.set_status("failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-4000:])

    def metrics(self) -> list[dict]:
        return read_jsonl(self.path / "metrics.jsonl")

    def add_metrics(self, rows: dict | list[dict]) -> None:
        """Append rows to metrics.jsonl and their numbers to the TensorBoard events.

        An iteration's summary row has one key per quantity; a dynamics row names its `metric`
        (and temperature) and carries a `value`."""
        rows = [rows] if isinstance(rows, dict) else rows
        if not rows:
            return
        append_jsonl(self.path / "metrics.jsonl", rows)
        from torch.utils.tensorboard import SummaryWriter  # slow import, only needed here

        with SummaryWriter(self.path / "tensorboard") as tb:
            for row in rows:
                if "metric" in row:
                    at = f"/T={row['temperature']}" if row.get("temperature") is not None else ""
                    tb.add_scalar(f"dynamics/{row['metric']}{at}", row["value"], row["iteration"])
                    continue
                for key, value in row.items():
                    if isinstance(value, (int, float)) and key != "iteration":
                        tb.add_scalar(key, value, row["iteration"])

    def truncate_metrics(self, iterations: int) -> None:
        """Drop rows of iterations after the last checkpoint (a kill after logging, before saving)."""
        rows = [r for r in self.metrics() if r["iteration"] <= iterations]
        atomic_write_text(self.path / "metrics.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))

    def write_eval(self, ev: dict) -> None:
        atomic_write_json(self.path / "eval.json", ev)

    def logger(self) -> logging.Logger:
        """A logger writing to run.log (and propagating to the console)."""
        log = logging.getLogger(f"run.{self.path}")
        if not log.handlers:
            h = logging.FileHandler(self.log_path)
            h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            log.addHandler(h)
            log.setLevel(logging.INFO)
        return log
