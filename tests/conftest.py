"""Shared fixtures: a tiny embedded world whose shared stages are built once per test session."""
from __future__ import annotations

import pytest

from harness.config import load_config

# A world and model small enough for CI, big enough that the base model writes answers in format.
TINY = [
    "world.sizes.labeled=32", "world.sizes.unlabeled=4", "world.sizes.val=8", "world.sizes.test_id=16",
    "world.sizes.test_ood=16", "world.base_corpus=2000", "model.hidden_size=64", "model.num_hidden_layers=2",
    "model.num_attention_heads=2", "model.max_new_tokens=64", "base.steps=800", "base.optim.batch_size=16",
    "world.families=[counting,arrow_diagram]", "warmup.samples_per_query=4",
    "warmup.max_examples=64", "rollout.samples_per_query=4", "method.passes=1.0",
]


@pytest.fixture(scope="session")
def tiny_results(tmp_path_factory):
    """A results folder whose stage cache holds the tiny world, base model and warm-up."""
    from harness.stages.graph import prepare

    root = tmp_path_factory.mktemp("results")
    prepare(load_config(None, TINY + [f"results_dir={root}"]))
    return root


@pytest.fixture
def tiny_config(tiny_results):
    """Build a tiny run config that reuses the session's cached stages."""
    def make(*overrides: str):
        return load_config(None, TINY + [f"results_dir={tiny_results}", *overrides])
    return make


@pytest.fixture(scope="session")
def chat_server(tmp_path_factory):
    """(base URL, served model name, access log) of a real `transformers serve` on loopback with a tiny random
    model (tests/chat_server.py), started on first use and stopped at the end of the session."""
    from transformers.utils.import_utils import is_serve_available

    from chat_server import serve, tiny_chat_model

    if not is_serve_available():
        pytest.skip("transformers serve needs fastapi, uvicorn and openai: pip install -e '.[dev]'")
    folder = tmp_path_factory.mktemp("chat")
    model, log = tiny_chat_model(folder / "model"), folder / "serve.log"
    with serve(model, log) as url:
        yield url, str(model), log
