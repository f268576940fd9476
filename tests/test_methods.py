"""Each training method carries over exactly what the paper says (section 3.2)."""
from __future__ import annotations

import pytest
import torch

from harness.config import load_config
from harness.loop.evolve import Plan, carry_over
from harness.model.adapters import adapter_for
from harness.tinyvlm import build_tiny_vlm
from harness.train.methods import METHODS
from harness.train.sft import make_optimizer, train_epoch
from harness.world.corpus import base_corpus


def _weights(model):
    # on the CPU: carry_over reloads pi_0 on the configured device, which is a GPU where there is one
    return torch.cat([p.detach().flatten() for p in model.parameters()]).cpu()


@pytest.fixture
def trained(tmp_path):
    """pi_0 saved to disk, then a copy trained for two real steps: weights and optimizer moved on."""
    torch.manual_seed(0)
    model, proc = build_tiny_vlm(tmp_path / "pi0", hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=64)
    pi0 = _weights(model).clone()
    cfg = load_config(None, ["method.optim.batch_size=4", "method.optim.warmup_steps=10"])
    adapter = adapter_for(model, proc)
    opt, sched = make_optimizer(model, cfg.method.optim)
    examples = base_corpus(0, 8, ["chart", "counting"], 0.5, 0.0, 0.0)
    train_epoch(model, adapter, opt, sched, examples, cfg.method.optim, seed=0)
    return model, adapter, opt, sched, cfg, tmp_path / "pi0", pi0


def next_iteration(name, model, adapter, opt, sched, cfg, pi0_path):
    method = METHODS.get(name)
    m2, _, opt2, sched2 = carry_over(method, model, adapter, opt, sched, cfg, pi0_path)
    return m2, opt2, sched2


def test_restem_restarts_from_pi0_with_fresh_optimizer(trained):
    model, adapter, opt, sched, cfg, pi0_path, pi0 = trained
    assert not torch.equal(_weights(model), pi0)
    m2, opt2, sched2 = next_iteration("restem", model, adapter, opt, sched, cfg, pi0_path)
    assert torch.equal(_weights(m2), pi0)
    assert opt2 is not opt and not opt2.state
    assert sched2.last_epoch == 0


def test_iterative_rft_keeps_weights_but_not_the_optimizer(trained):
    model, adapter, opt, sched, cfg, pi0_path, pi0 = trained
    before = _weights(model).clone()
    m2, opt2, sched2 = next_iteration("iterative_rft", model, adapter, opt, sched, cfg, pi0_path)
    assert m2 is model and torch.equal(_weights(m2), before)
    assert opt2 is not opt and not opt2.state
    assert sched2.last_epoch == 0 and sched2.get_last_lr()[0] == pytest.approx(cfg.method.optim.lr / 10)


@pytest.mark.parametrize("name", ["continuous", "sft", "gold_sft"])
def test_continuous_keeps_model_optimizer_and_schedule_position(trained, name):
    model, adapter, opt, sched, cfg, pi0_path, pi0 = trained
    m2, opt2, sched2 = next_iteration(name, model, adapter, opt, sched, cfg, pi0_path)
    assert m2 is model and opt2 is opt and sched2 is sched
    assert all(s["step"] == 2 for s in opt2.state.values())
    assert sched2.last_epoch == 2 and sched2.get_last_lr()[0] == pytest.approx(cfg.method.optim.lr * 3 / 10)


def test_cosine_is_refused_for_the_improve_step_and_runs_for_the_warmup(tmp_path):
    """schedule=cosine passed validation and then failed at run time (issue 16): the Improve step has no known
    horizon, so validation refuses it with the reason; the warm-up knows its steps and runs a cosine."""
    from harness.configio import ConfigError

    for kind in METHODS.names():
        with pytest.raises(ConfigError, match="method.optim.schedule"):
            load_config(None, [f"method.kind={kind}", "method.optim.schedule=cosine"])
    assert load_config(None, ["warmup.optim.schedule=cosine"]).warmup.optim.schedule == "cosine"


def test_table1_methods_at_interval_one_are_iterative_and_distinct():
    """At the default budget every Table 1 method runs at least two iterations at interval 1.0, so iterative
    RFT, ReST-EM and continuous are three different runs (with one iteration they were one run three times)."""
    from harness.app.grid import expand

    _, runs = expand("ablations/training_method.yaml")
    full = [r for r in runs if r.config.method.interval == 1.0 and r.config.method.kind != "sft"]
    assert sorted(r.config.method.kind for r in full) == ["continuous", "iterative_rft", "restem"]
    assert len({r.path for r in full}) == 3
    for r in full:
        m = r.config.method
        assert Plan.make(r.config.world.sizes.labeled, m.interval, m.passes, r.seed).iterations >= 2
