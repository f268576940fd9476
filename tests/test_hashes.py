"""Run folders and stage folders are keyed by hashes of the config: a refactor must not move them (a moved
hash makes every finished run and cached stage look new). The expected names were computed on the commit
before the layering change (issue 21) and are pinned in ablation_hashes.json; the run names again on merge-fsdp
(4515b3c), whose eval.prompt, eval.prompt_by_split and eval.circular keys moved every run's hash (not the stages').
Issue 20 changed the defaults of the embedded world (wide answers, subword tokens, a base recipe of hinted CoT):
the pins are the folders of the world before it, which a run reaches by setting those four keys back, and the
large preset's base learning rate (its own since issue 20: config.PRESET_BASE) back to the shared one."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.app.grid import expand
from harness.stages.graph import stages

ABLATIONS = Path(__file__).resolve().parent.parent / "ablations"
EXPECTED = json.loads((Path(__file__).with_name("ablation_hashes.json")).read_text())
BEFORE_ISSUE_20 = {"world": {"answers": "narrow"}, "model": {"tokenizer": "char"},
                   "base": {"cot_fraction": 0.7, "hint_fraction": 0.3, "optim": {"lr": 2e-3}}}


@pytest.mark.parametrize("grid", sorted(EXPECTED))
def test_run_and_stage_folders_keep_their_hashes(grid, monkeypatch):
    monkeypatch.chdir(ABLATIONS.parent)  # results_dir is relative ("results"), as the pinned paths are
    _, runs = expand(ABLATIONS / grid, {"seeds": [0, 1], **BEFORE_ISSUE_20})
    got = {str(r.path): [s.path.name for s in stages(r.config)] for r in runs}
    assert got == EXPECTED[grid]


def test_each_expanded_run_is_the_config_its_settings_validate_to(tmp_path):
    """The grid validates a point once and copies it for its other seeds: each copy must equal the config its own
    settings give, and its folder must carry that config's hash."""
    from harness.config import RunConfig
    from harness.configio import from_dict, to_dict
    from harness.loop.rundir import run_path

    _, runs = expand(ABLATIONS / "reward_model.yaml", {"seeds": [0, 1, 2], "results_dir": str(tmp_path)})
    assert len({r.seed for r in runs}) == 3
    for r in runs:
        assert r.config == from_dict(RunConfig, r.settings) and r.plain == to_dict(r.config)
        assert r.path == run_path(r.config, r.label) and r.config.seed == r.seed
    assert runs[0].config.select is not runs[1].config.select  # copies, not shared sections
