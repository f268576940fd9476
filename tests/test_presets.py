"""Model presets bring their own base recipe (config.PRESET_BASE) under whatever a config sets."""
from pathlib import Path

import pytest

from harness.app.grid import expand
from harness.config import PRESET_BASE, BaseConfig, load_config
from harness.stages.graph import stages

SHARED_LR = BaseConfig().optim.lr
LARGE_LR = PRESET_BASE["large"]["optim"]["lr"]
ABLATIONS = Path(__file__).resolve().parents[1] / "ablations"


def test_the_large_preset_trains_its_base_at_its_own_rate_and_the_others_at_the_shared_one():
    assert LARGE_LR != SHARED_LR
    lrs = {p: load_config(None, [f"model.preset={p}"]).base.optim.lr for p in ("small", "medium", "large", "null")}
    assert lrs == {"small": SHARED_LR, "medium": SHARED_LR, "large": LARGE_LR, "null": SHARED_LR}


@pytest.mark.parametrize("where", ["file", "command line"])
def test_a_base_rate_that_is_set_wins_over_the_preset_recipe(where, tmp_path):
    file = tmp_path / "run.yaml"
    file.write_text("model: {preset: large}\n" + ("base: {optim: {lr: 0.002}}\n" if where == "file" else ""))
    cfg = load_config(file, ["base.optim.lr=2e-3"] if where == "command line" else [])
    assert cfg.base.optim.lr == 2e-3 and cfg.model.hidden_size == 192


def test_the_preset_recipe_reaches_sweep_runs_and_gives_large_a_base_stage_of_its_own(monkeypatch):
    monkeypatch.chdir(ABLATIONS.parent)
    _, runs = expand(ABLATIONS / "mstar.yaml", {})
    by_preset = {r.config.model.preset: r.config for r in runs}
    assert by_preset["large"].base.optim.lr == LARGE_LR and by_preset["medium"].base.optim.lr == SHARED_LR
    shared = load_config(None, ["model.preset=large", f"base.optim.lr={SHARED_LR}"])
    assert stages(by_preset["large"])[1].path != stages(shared)[1].path  # [data, base, ...]: the base differs
