"""Every ablation axis is a registry that owns its names: config validation asks it for the allowed values and
cross-field rules ask its entries for their properties, and a new entry is one new module in the axis' package."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from harness.config import load_config
from harness.configio import ConfigError

# One new file each, as a researcher would add them (the test puts them in a folder on each package's path).
TOYS = {
    "harness.reward.operators": '''
        from harness.reward.operators import operator


        @operator("shortest", uses_k=True)
        def shortest(responses, scores, cfg, rng):
            """The k shortest correct responses."""
            return sorted(responses, key=len)[: cfg.k]
        ''',
    "harness.train.methods": '''
        from harness.train.methods import Method, register

        # ReST-EM's restart from pi_0 each iteration, but with the running optimizer
        register(Method("restart_keep_optimizer", keeps_model=False, keeps_optimizer=True))
        ''',
    "harness.loop.metrics": '''
        from harness.loop.metrics import metric


        @metric("distinct_share")
        def distinct_share(vs, temperature, rm, aggregate):
            """Share of distinct responses among each query's K samples."""
            samples = vs.at(temperature)
            return sum(len(set(s)) for s in samples) / sum(len(s) for s in samples)
        ''',
}

CHECK = '''
import importlib, random, sys
from pathlib import Path
for package in {packages!r}:
    importlib.import_module(package).__path__.append(str(Path(sys.argv[1]) / package))

from analysis.settings import INIT, OPTIMIZER
from harness.config import load_config
from harness.configio import ConfigError
from harness.loop.dynamics import monitor_rows
from harness.reward.selection import choose
from harness.train.methods import METHODS

cfg = load_config(None, ["select.operator=shortest", "select.k=2", "method.kind=restart_keep_optimizer",
                         "temperature.policy=adaptive", "temperature.metric=distinct_share"])
assert choose(["aaa", "b", "cc"], None, cfg.select, random.Random(0)) == ["b", "cc"]
method = METHODS.get("restart_keep_optimizer")
assert (method.keeps_model, method.keeps_optimizer) == (False, True)
assert INIT["restart_keep_optimizer"] == "π_0" and OPTIMIZER["restart_keep_optimizer"] == "✓"  # the report reads it
try:  # the operator declared that it keeps select.k responses: the config's k check applies to it
    load_config(None, ["select.operator=shortest", "select.k=20"])
    raise SystemExit("select.k above the samples was accepted")
except ConfigError as e:
    assert "select.k: keeps more responses than are sampled" in str(e), e


class Samples:  # the monitor's shared validation samples of one policy, two queries
    k, records = 2, [None, None]
    def at(self, t): return [["a", "a"], ["b", "c"]]
    def greedy_correct(self): return [1.0, 0.0]
    def pass_at(self, t, k): return 0.5


rows = monitor_rows(Samples(), [1.0], None, "min", {{"iteration": 0}})
assert {{"metric": "distinct_share", "temperature": 1.0, "value": 0.75}}.items() <= next(
    r for r in rows if r["metric"] == "distinct_share").items(), rows
print("ok")
'''


def test_a_new_operator_method_and_metric_are_one_file_each(tmp_path):
    for package, source in TOYS.items():
        folder = tmp_path / package
        folder.mkdir()
        (folder / "toy.py").write_text(textwrap.dedent(source))
    script = CHECK.format(packages=list(TOYS))
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


@pytest.mark.parametrize("override, message", [
    ("select.operator=top_kk", "select.operator: Unknown selection operator 'top_kk'. Did you mean 'top_k'? "
                               "Available: all, below_threshold, random, threshold, top_k"),
    ("method.kind=contnuous", "method.kind: Unknown training method 'contnuous'. Did you mean 'continuous'? "
                              "Available: continuous, gold_sft, iterative_rft, restem, sft"),
    ("reward_model.kind=orcle", "reward_model.kind: Unknown reward model 'orcle'. Did you mean 'oracle'?"),
    ("reward_model.aggregate=maen", "reward_model.aggregate: Unknown step-score aggregation 'maen'. Did you mean "
                                    "'mean'?"),
    ("temperature.policy=adaptve", "temperature.policy: Unknown temperature policy 'adaptve'. Did you mean "
                                   "'adaptive'? Available: adaptive, fixed"),
    ("temperature.metric=pass_at_kk", "temperature.metric: Unknown dynamics metric 'pass_at_kk'. Did you mean "
                                      "'pass_at_k'?"),
    ("temperature.metric=greedy_accuracy", "temperature.metric: greedy_accuracy does not depend on the temperature; "
                                           "choose one that does: pass_at_k, pass_minus_greedy, reward_pass_at_2"),
    ("unlabeled.mode=psuedo", "unlabeled.mode: Unknown unlabeled mode 'psuedo'. Did you mean 'pseudo'? "
                              "Available: none, oracle, pseudo"),
    ("rollout.backend=vlm", "rollout.backend: Unknown rollout backend 'vlm'. Did you mean 'vllm'? Available: hf, vllm"),
])
def test_config_takes_each_axis_from_its_registry(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert message in str(err.value)


@pytest.mark.parametrize("overrides, message", [
    (["select.operator=threshold"], "select.operator: threshold ranks by a reward model"),
    (["select.operator=random", "select.k=17"], "select.k: keeps more responses than are sampled"),
    (["unlabeled.mode=pseudo", "method.kind=gold_sft"], "unlabeled.mode: gold_sft does not learn from its own"),
    (["temperature.policy=adaptive"], "temperature.metric: reward_pass_at_2 needs a reward model"),
    (["rollout.backend=vllm", "rollout.vllm.sleep_level=2", "model.lora_rank=8"],
     "rollout.vllm.sleep_level: 2 discards the engine's weights"),
    (["model.tokenizer=char"], "model.max_new_tokens: world.answers=wide writes gold solutions of up to 240"),
])
def test_cross_field_rules_ask_the_entries(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)
    fixed = {"select.operator=threshold": ["reward_model.kind=oracle"], "select.k=17": ["select.k=2"],
             "method.kind=gold_sft": ["method.kind=continuous"], "temperature.policy=adaptive":
             ["temperature.metric=pass_at_k"], "model.lora_rank=8": ["rollout.vllm.sleep_level=1"],
             "model.tokenizer=char": ["model.max_new_tokens=240"]}
    load_config(None, overrides + fixed[overrides[-1]])  # the fix the message names is accepted


def test_validating_a_config_imports_no_heavy_library():
    """Every registry finds its entries when a config is validated; none of that may import torch, transformers or
    math-verify (entries that need them name their implementation lazily), so `harness report` and the grid
    expansion stay quick."""
    script = ("import sys\nfrom harness.config import load_config\n"
              "load_config(None, ['reward_model.kind=prm', 'select.operator=top_k', 'unlabeled.mode=pseudo', "
              "'temperature.policy=adaptive', 'rollout.backend=vllm', 'method.kind=iterative_rft'])\n"
              "print(sorted(m for m in ('torch', 'transformers', 'math_verify', 'sympy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr[-2000:]
