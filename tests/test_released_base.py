"""The pre-trained base shipped with the harness (harness/stages/released.py): the default recipe's base stage is
released, a fresh results folder gets it by copy instead of ~10 minutes of pre-training, and nothing else does."""
import json
import shutil

import pytest

from harness.config import load_config
from harness.stages import released
from harness.stages.cache import DONE
from harness.stages.graph import stages


@pytest.mark.parametrize("preset", [None, "small", "medium", "large"])
def test_the_base_stage_of_the_default_recipe_and_of_every_preset_is_released(preset):
    """Fails when a change to the default world, model or base recipe moves a base stage's key: release the new
    base (released.py says how) or the README's main job (and ablations/mstar.yaml) pre-train it on every fresh
    clone."""
    name = stages(load_config(None, [f"model.preset={preset}"] if preset else []))[1].path.name
    assert released.find(name) is not None, f"no released base {name} in {released.RELEASED}"


def test_a_fresh_results_folder_copies_the_released_base_and_records_where_it_came_from(tmp_path):
    data, base, _ = stages(load_config(None, [f"results_dir={tmp_path}"]))
    data.ensure()
    folder = base.ensure()
    shipped = released.RELEASED / folder.name
    assert (folder / "model" / "model.safetensors").read_bytes() == (shipped / "model" / "model.safetensors").read_bytes()
    done, shipped_done = (json.loads((f / DONE).read_text()) for f in (folder, shipped))
    assert done["released"] == {"from": f"harness/stages/released/{folder.name}", "build_seconds": shipped_done["seconds"]}
    assert done["epoch_losses"] == shipped_done["epoch_losses"]
    assert json.loads((folder / "stage.json").read_text()) == json.loads((shipped / "stage.json").read_text())


def test_released_false_and_other_recipes_get_base_stages_of_their_own():
    default = stages(load_config(None, []))[1].path.name
    for overrides in (["base.released=false"], ["base.steps=5000"], ["model.preset=large", "base.optim.lr=2e-3"]):
        name = stages(load_config(None, overrides))[1].path.name
        assert name != default and released.find(name) is None, overrides


def test_a_released_folder_whose_stage_json_does_not_hash_to_its_name_is_ignored(tmp_path, monkeypatch):
    name = stages(load_config(None, []))[1].path.name
    shutil.copytree(released.RELEASED / name, tmp_path / name)
    monkeypatch.setattr(released, "RELEASED", tmp_path)
    assert released.find(name) == tmp_path / name
    stage = json.loads((tmp_path / name / "stage.json").read_text())
    stage["base"]["steps"] = 5000  # a folder copied by hand under the wrong key
    (tmp_path / name / "stage.json").write_text(json.dumps(stage))
    assert released.find(name) is None


def test_the_dry_run_says_which_base_is_copied_and_which_is_pre_trained(tmp_path):
    from harness.app.sweep import describe_plan, load_sweep

    def base_line(*overrides):
        plan = describe_plan(load_sweep("ablations/training_method.yaml", [f"results_dir={tmp_path}", *overrides]))
        return next(line for line in plan.splitlines() if line.strip().startswith("base"))

    assert "to copy" in base_line() and "to build" in base_line("base.released=false")
