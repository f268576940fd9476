"""A remote-code checkpoint with no image-text-to-text class (the paper's MiniCPM-V-2.5, Phi-3.5-vision, InternVL2)
is refused before any work: at config validation (`harness run` exits 2 with the message, no traceback, no run
folder) and again at model loading, with the supported families and what a new family needs."""
import json

import pytest

from harness.app.cli import main
from harness.config import ConfigError, ModelConfig, load_config
from harness.model.adapters import ADAPTERS
from harness.model.families import SUPPORTED, checkpoint_problem

# The config.json of openbmb/MiniCPM-Llama3-V-2_5 (written out offline: its model_type and auto_map as published,
# some fields left out and the vision sub-config shortened): the auto_map offers AutoModel / AutoModelForCausalLM only.
MINICPM_V_2_5 = {
    "_name_or_path": "openbmb/MiniCPM-Llama3-V-2_5", "architectures": ["MiniCPMV"],
    "auto_map": {"AutoConfig": "configuration_minicpm.MiniCPMVConfig", "AutoModel": "modeling_minicpmv.MiniCPMV",
                 "AutoModelForCausalLM": "modeling_minicpmv.MiniCPMV"},
    "batch_vision_input": True, "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu",
    "hidden_size": 4096, "image_size": 448, "intermediate_size": 14336, "max_position_embeddings": 8192,
    "mm_use_im_start_end": True, "model_type": "minicpmv", "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "patch_size": 14, "query_num": 96, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
    "slice_config": {"max_slice_nums": 9, "model_type": "minicpmv"}, "slice_mode": True,
    "torch_dtype": "float16", "transformers_version": "4.40.0", "use_cache": True,
    "vision_config": {"model_type": "idefics2", "hidden_size": 1152, "image_size": 980, "patch_size": 14},
    "vocab_size": 128256,
}
# The auto_maps of the paper's two other remote-code models (microsoft/Phi-3.5-vision-instruct, OpenGVLab/InternVL2-8B).
OTHERS = {
    "phi3_v": {"AutoConfig": "configuration_phi3_v.Phi3VConfig",
               "AutoModelForCausalLM": "modeling_phi3_v.Phi3VForCausalLM"},
    "internvl_chat": {"AutoConfig": "configuration_internvl_chat.InternVLChatConfig",
                      "AutoModel": "modeling_internvl_chat.InternVLChatModel",
                      "AutoModelForCausalLM": "modeling_internvl_chat.InternVLChatModel"},
}


def checkpoint(folder, config):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def assert_explains(message: str):
    for family in ("Qwen2-VL", "Qwen3-VL", "Idefics3", "LLaVA"):
        assert family in message
    assert "AutoModelForImageTextToText" in message and "harness/model/adapters.py" in message


def test_remote_code_checkpoint_is_refused_at_config_validation(tmp_path):
    path = checkpoint(tmp_path / "MiniCPM-Llama3-V-2_5", MINICPM_V_2_5)
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"model.path={path}", "model.trust_remote_code=true"])
    assert "model.path" in str(err.value) and "'minicpmv'" in str(err.value)
    assert_explains(str(err.value))


@pytest.mark.parametrize("model_type", sorted(OTHERS))
def test_other_remote_code_families_are_refused(tmp_path, model_type):
    path = checkpoint(tmp_path / model_type, {"model_type": model_type, "auto_map": OTHERS[model_type]})
    assert_explains(checkpoint_problem(path))


def test_harness_run_refuses_before_any_work(tmp_path, capsys):
    """`harness run` prints the refusal and exits 2: no traceback, no results folder written."""
    path = checkpoint(tmp_path / "ckpt", MINICPM_V_2_5)
    config = tmp_path / "run.yaml"
    config.write_text(f"model:\n  path: {path}\nresults_dir: {tmp_path / 'results'}\n")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid configuration") and "Traceback" not in err
    assert_explains(err)
    assert not (tmp_path / "results").exists()


def test_model_loading_refuses_too(tmp_path):
    """A path the config check did not see (e.g. set after validation) is refused when loading, before transformers
    reads anything."""
    from harness.model.modeling import build_model

    path = checkpoint(tmp_path / "ckpt", MINICPM_V_2_5)
    with pytest.raises(ConfigError, match="remote-code checkpoint"):
        build_model(path, ModelConfig())


def test_checkpoints_that_load_as_image_text_to_text_pass(tmp_path):
    remote = {"model_type": "custom_vlm", "auto_map": {"AutoConfig": "c.C", "AutoModelForImageTextToText": "m.M"}}
    assert checkpoint_problem(checkpoint(tmp_path / "remote", remote)) is None
    assert checkpoint_problem(checkpoint(tmp_path / "native", {"model_type": "qwen3_vl"})) is None
    assert checkpoint_problem(tmp_path / "absent") is None  # not readable here: loading reports it


def test_supported_families_are_the_registered_adapters():
    """The refusal's list names every family with its own adapter (LLaVA runs on the generic chat one)."""
    assert set(SUPPORTED) - {"llava"} == set(ADAPTERS.names()) - {"chat", "tinyvlm"}
