"""world.train_queries: a run's budget on the embedded world, a sample of the labeled split fixed by the world, that
no shared stage's key holds (the released base and the warm-ups stay)."""
from __future__ import annotations

from harness.data.splits import load_splits
from harness.io import read_jsonl
from harness.loop.evolve import run, run_splits
from harness.loop.rundir import run_path
from harness.stages.graph import stages


def test_no_stage_key_holds_it_but_the_run_folder_does(tiny_config):
    configs = {n: tiny_config(f"world.train_queries={n}") for n in (0, 8, 400)}
    keys = {n: [s.path.name for s in stages(cfg)] for n, cfg in configs.items()}
    assert keys[0] == keys[8] == keys[400]
    folders = {n: run_path(cfg).name for n, cfg in configs.items()}
    assert len(set(folders.values())) == 3


def test_every_seed_trains_on_the_same_sample_and_real_data_is_never_cut(tiny_config):
    data = stages(tiny_config())[0].path
    splits = load_splits(data)
    seed0 = run_splits(tiny_config("world.train_queries=8", "seed=0"), splits)
    seed1 = run_splits(tiny_config("world.train_queries=8", "seed=1"), splits)
    ids = [r.id for r in seed0["labeled"]]
    assert len(ids) == 8 and ids == [r.id for r in seed1["labeled"]]
    assert set(ids) < {r.id for r in splits["labeled"]}
    assert all(seed0[name] is splits[name] for name in splits if name != "labeled")
    assert run_splits(tiny_config("world.train_queries=0"), splits)["labeled"] is splits["labeled"]
    as_real = tiny_config("world.train_queries=8", f"data.path={data}")
    assert run_splits(as_real, splits)["labeled"] is splits["labeled"]


def test_a_run_traverses_only_its_sample(tiny_config):
    path = run(tiny_config("name=budget", "world.train_queries=8", "method.kind=sft"))
    rows = read_jsonl(path / "metrics.jsonl")
    assert [r["queries_seen"] for r in rows] == [2, 4, 6, 8]  # method.passes=1 x 8 queries, interval 0.25
