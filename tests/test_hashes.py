"""Run folders and stage folders are keyed by hashes of the config: a refactor must not move them (a moved
hash makes every finished run and cached stage look new). The expected names were computed on the commit
before the layering change (issue 21) and are pinned in ablation_hashes.json."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.app.grid import expand
from harness.stages.graph import stages

ABLATIONS = Path(__file__).resolve().parent.parent / "ablations"
EXPECTED = json.loads((Path(__file__).with_name("ablation_hashes.json")).read_text())


@pytest.mark.parametrize("grid", sorted(EXPECTED))
def test_run_and_stage_folders_keep_their_hashes(grid, monkeypatch):
    monkeypatch.chdir(ABLATIONS.parent)  # results_dir is relative ("results"), as the pinned paths are
    _, runs = expand(ABLATIONS / grid, {"seeds": [0, 1]})
    got = {str(r.path): [s.path.name for s in stages(r.config)] for r in runs}
    assert got == EXPECTED[grid]
