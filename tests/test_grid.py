"""Grid expansion is pure and deterministic; malformed grids give exit 2 with file and key, nothing run."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from harness.app.grid import expand
from harness.configio import ConfigError

GRID = """
name: g
base: base.yaml
seeds: [0, 1]
runs:
  - label: SFT
    set: {method.kind: sft}
  - label: "Continuous {method.interval:.4g}"
    set: {method.kind: continuous}
    grid: {method.interval: [1.0, 0.5]}
"""


@pytest.fixture
def grid_dir(tmp_path):
    (tmp_path / "base.yaml").write_text("name: base\nmethod: {passes: 1.0}\n")
    return tmp_path


def _write(grid_dir, text):
    path = grid_dir / "grid.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_expansion_is_cartesian_times_seeds_and_deterministic(grid_dir):
    path = _write(grid_dir, GRID)
    name, runs = expand(path)
    assert name == "g"
    assert [(r.label, r.seed) for r in runs] == [
        ("SFT", 0), ("SFT", 1), ("Continuous 1", 0), ("Continuous 1", 1), ("Continuous 0.5", 0), ("Continuous 0.5", 1)]
    assert runs[2].config.method.interval == 1.0 and runs[4].config.method.interval == 0.5
    assert runs[0].config.method.passes == 1.0  # from the base file
    assert [r.path for r in expand(path)[1]] == [r.path for r in runs]
    assert len({r.path for r in runs}) == len(runs)


def test_command_line_overrides_apply_to_every_run_and_seeds_to_the_grid(grid_dir):
    _, runs = expand(_write(grid_dir, GRID), {"seeds": [3], "rollout": {"temperature": 0.7}})
    assert {r.seed for r in runs} == {3}
    assert all(r.config.rollout.temperature == 0.7 for r in runs)


@pytest.mark.parametrize("text, expected", [
    (GRID.replace("method.kind: sft", "method.knd: sft"), "runs[0] ('SFT'): method.knd: unknown key; did you mean 'method.kind'?"),
    (GRID.replace("[1.0, 0.5]", "[1.0, 1.5]"), "method.interval: 1.5 is out of range"),
    (GRID.replace("[1.0, 0.5]", "[]"), "runs[1].grid.method.interval: expected a non-empty list"),
    (GRID.replace("[1.0, 0.5]", "['a']"), "method.interval: expected float, got str 'a'"),
    (GRID.replace('"Continuous {method.interval:.4g}"', "SFT"), "duplicate label 'SFT'"),
    (GRID.replace("base.yaml", "missing.yaml"), "base: file not found: missing.yaml"),
    (GRID.replace("seeds: [0, 1]", "seeds: []"), "seeds: expected a non-empty list"),
    (GRID + "bogus: 1\n", "bogus: unknown key"),
    (GRID.replace("runs:", "runs: [1,"), "YAML syntax error at line"),
    (GRID.replace("  - label: SFT\n", "  - labl: SFT\n"), "runs[0].labl: unknown key; did you mean 'label'?"),
])
def test_malformed_grids_name_file_and_key(grid_dir, text, expected):
    path = _write(grid_dir, text)
    with pytest.raises(ConfigError) as err:
        expand(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_every_problem_is_reported_at_once(grid_dir):
    text = GRID.replace("method.kind: sft", "method.knd: sft").replace("[1.0, 0.5]", "[1.0, 1.5]")
    with pytest.raises(ConfigError) as err:
        expand(_write(grid_dir, text))
    assert len(err.value.problems) == 2


def test_cli_exits_2_without_traceback_and_submits_nothing(grid_dir, tmp_path):
    path = _write(grid_dir, GRID.replace("[1.0, 0.5]", "[1.0, 1.5]"))
    out = subprocess.run([sys.executable, "-m", "harness.cli", "sweep", str(path), f"results_dir={tmp_path}/r"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "out of range" in out.stderr
    assert not (tmp_path / "r").exists()


def test_shipped_grids_and_configs_load():
    import glob

    from harness.configio import load_yaml

    for path in glob.glob("ablations/*.yaml"):
        if path.endswith("base.yaml") or "space" in load_yaml(path):  # tuning specs: tests/test_tune.py
            continue
        _, runs = expand(path)
        assert runs


def test_cross_field_conflict_is_reported_with_the_fix(grid_dir):
    with pytest.raises(ConfigError) as err:
        expand(_write(grid_dir, GRID), {"rollout": {"samples_per_query": 2}, "select": {"max_per_query": 4}})
    assert "select.max_per_query: keeps more responses than are sampled" in str(err.value)


def test_recipe_blocks_start_from_named_overrides_and_unknown_recipes_are_reported(tmp_path):
    from harness.app.grid import expand

    good = tmp_path / "g.yaml"
    good.write_text("name: g\nruns:\n  - label: M-STAR\n    recipe: mstar\n    set: {select.k: 4}\n")
    (run,) = expand(good)[1]
    cfg = run.config
    assert (cfg.temperature.policy, cfg.reward_model.kind, cfg.select.operator, cfg.select.k) == \
        ("adaptive", "prm", "top_k", 4)  # `set` wins over the recipe
    bad = tmp_path / "b.yaml"
    bad.write_text("name: b\nruns:\n  - label: x\n    recipe: mstr\n")
    with pytest.raises(ConfigError, match=r"runs\[0\]\.recipe: unknown recipe 'mstr'; did you mean 'mstar'"):
        expand(bad)


def test_sweep_match_keeps_matching_runs_and_their_stages_only():
    from harness.app.sweep import load_sweep

    sw = load_sweep("ablations/mstar.yaml", [], match=r"\[medium\]")
    assert len(sw.runs) == 6 and all("[medium]" in r.label for r in sw.runs)
    assert sum(p.stage.name == "base" for p in sw.stages) == 1
    with pytest.raises(ConfigError, match="selects no run"):
        load_sweep("ablations/mstar.yaml", [], match="nothing-like-this")
