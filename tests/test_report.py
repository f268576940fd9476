"""`harness report`: tables, figures and report.md from synthetic results in the harness' format.

The fixtures write run folders exactly as the results contract describes (sweep.yaml, config.yaml,
status.json, eval.json, metrics.jsonl, inputs.json, verifier CSVs), so these tests need no model.
"""
from __future__ import annotations

import doctest
import json
import math
import re

import pandas as pd
import pytest
import yaml

from analysis import formats, load, paper, route, stats, tables
from analysis.report import build, write_report
from analysis.settings import MISSING, TASKS
from harness.cli import main

# ---------------------------------------------------------------- fixtures in the harness' format

SPLIT_N = {"test_id": 750, "test_ood": 500, "val": 250}


def split(acc: float, tasks: dict | None = None) -> dict:
    return {"accuracy": acc, "n": 500, "by_task": tasks or {}, "by_question_type": {}}


def write_run(sweep_dir, label, seed, config, evals, state="done", metrics=(), inputs=None):
    """A run folder; `config` is nested like config.yaml, `evals` like eval.json."""
    path = sweep_dir / f"{re.sub('[^a-z0-9]+', '-', label.lower()).strip('-')}-s{seed}"
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump({"label": label, "name": sweep_dir.name, "seed": seed,
                                                      **config}))
    (path / "status.json").write_text(json.dumps({"state": state}))
    if evals is not None:
        (path / "eval.json").write_text(json.dumps(evals))
    (path / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    if inputs:
        (path / "inputs.json").write_text(json.dumps(inputs))
    return {"label": label, "seed": seed, "block": 0, "path": str(path), "overrides": {"seed": seed}}


def write_manifest(sweep_dir, runs):
    (sweep_dir / "sweep.yaml").write_text(yaml.safe_dump(
        {"name": sweep_dir.name, "grid": "ablations/x.yaml", "overrides": [], "executor": "local", "runs": runs}))


def paper_config(table: str, row: pd.Series) -> dict:
    """The run config a published row of Table 1, 2 or 3 corresponds to."""
    get = lambda k, d=None: d if k not in row or pd.isna(row[k]) else row[k]   # noqa: E731
    cfg = {"method": {"kind": get("method", "continuous"), "interval": float(get("interval", 0.25))},
           "rollout": {"temperature": 1.0, "temperature_policy": "fixed"}}
    if table != "table1":
        cfg["select"] = {"operator": get("operator", "all"), "k": None if get("k") is None else int(get("k")),
                         "alpha": 0.2 if get("operator") == "threshold" else None}
        cfg["reward_model"] = {"kind": get("reward", "none"), "aggregate": "min"}
        cfg["unlabeled"] = {"mode": get("unlabeled", "none"), "mixin": float(get("mixin", 0.0))}
    if table == "table1" and cfg["method"]["kind"] == "sft":
        cfg["method"]["interval"] = 1.0
    return cfg


def paper_sweep(tmp_path, table: str):
    """One run folder per published cell of Table 1/2/3, eval.json set to the paper's accuracies."""
    sweep_dir = tmp_path / table
    published = paper.rows(table)
    method = published["method"] if "method" in published else pd.Series(None, index=published.index)
    stage = {m: published[method == m] for m in ("base", "warmup")}
    evals = lambda r: {"test_id": split(r.test_id / 100), "test_ood": split(r.test_ood / 100)}   # noqa: E731
    runs = []
    for i, row in published.iterrows():
        if row.get("method") in ("base", "warmup"):
            continue
        ev = {"final": evals(row)}
        for name, df in stage.items():
            ev[name] = evals(df.iloc[0]) if len(df) else evals(row)
        runs.append(write_run(sweep_dir, f"row {i}", 0, paper_config(table, row), ev))
    write_manifest(sweep_dir, runs)
    return sweep_dir


# ---------------------------------------------------------------- the paper's numbers come back exactly

def test_paper_table1_through_the_cli_gives_the_paper_values(tmp_path, capsys):
    sweep_dir = paper_sweep(tmp_path, "table1")
    assert main(["report", str(sweep_dir), "--out", str(tmp_path / "out")]) == 0
    assert "report.md" in capsys.readouterr().out
    got = pd.read_csv(tmp_path / "out" / "table1.csv")
    published = paper.rows("table1")
    assert list(got["ID test mean"]) == list(published.test_id)
    assert list(got["OOD test mean"]) == list(published.test_ood)
    assert list(got["paper MathV360K"]) == list(published.test_id)   # every row found its paper row
    md = (tmp_path / "out" / "table1.md").read_text()
    assert "| 43.1 (n=1)" in md and "| 57.2 (n=1)" in md and MISSING not in md
    for name in ("table1.tex", "report.md"):
        assert (tmp_path / "out" / name).stat().st_size > 0


@pytest.mark.parametrize("table", ["table2", "table3"])
def test_paper_tables_2_and_3_route_and_join(tmp_path, table):
    out = tmp_path / "out"
    write_report([paper_sweep(tmp_path, table)], out)
    got = pd.read_csv(out / f"{table}.csv")
    published = paper.rows(table)
    assert list(got["ID test mean"]) == list(published.test_id)
    assert list(got["paper MathVista"]) == list(published.test_ood)
    assert list(got["OOD test mean"]) == list(published.test_ood)


def test_paper_numbers_are_consistent():
    t5 = paper.rows("table5")
    bench = ["MathVista", "M3CoT", "MMStar-R", "MMBench-R", "AI2D"]
    assert ((t5[bench].mean(axis=1) - t5.Average).abs() <= 0.05).all()
    t2, t3 = paper.rows("table2"), paper.rows("table3")
    assert t3.iloc[0].test_id == t2.iloc[0].test_id and t3.iloc[1].test_ood == t2.iloc[4].test_ood
    assert paper.published("table4").iloc[6]["ALL"] == "59.2 ↑6.4"   # the gain printed in the paper


# ---------------------------------------------------------------- statistics

def test_cells_are_mean_and_t_interval_over_seeds(tmp_path):
    sweep_dir = tmp_path / "training_method"
    ev = lambda a: {"final": {"test_id": split(a), "test_ood": split(a)}}   # noqa: E731
    runs = [write_run(sweep_dir, "SFT", s, {"method": {"kind": "sft", "interval": 1.0}}, ev(a))
            for s, a in enumerate([0.40, 0.42, 0.44])]
    runs += [write_run(sweep_dir, "Continuous 0.25", 0, {"method": {"kind": "continuous", "interval": 0.25}},
                       ev(0.5))]
    write_manifest(sweep_dir, runs)
    write_report([sweep_dir], tmp_path / "out")
    got = pd.read_csv(tmp_path / "out" / "table1.csv").set_index("Method")
    assert got.loc["SFT", "ID test mean"] == 42.0 and got.loc["SFT", "seeds"] == 3
    assert math.isclose(got.loc["SFT", "ID test ci95"], 4.303 * 2 / math.sqrt(3), rel_tol=1e-3)
    md = (tmp_path / "out" / "table1.md").read_text()
    assert "42.0 ± 5.0" in md and "50.0 (n=1)" in md


def test_analysis_doctests():
    for module in (stats, formats, load, paper, route, tables):
        assert doctest.testmod(module).failed == 0


# ---------------------------------------------------------------- partial sweeps and bad folders

def test_partial_sweep_marks_missing_cells(tmp_path):
    sweep_dir = tmp_path / "training_method"
    ev = {"final": {"test_id": split(0.3), "test_ood": split(0.2)}}
    sft = {"method": {"kind": "sft", "interval": 1.0}}
    cont = {"method": {"kind": "continuous", "interval": 0.5}}
    runs = [write_run(sweep_dir, "SFT", 0, sft, ev), write_run(sweep_dir, "SFT", 1, sft, None, state="running"),
            write_run(sweep_dir, "Continuous 0.5", 0, cont, None, state="failed"),
            {"label": "Continuous 0.25", "seed": 0, "block": 2, "path": str(sweep_dir / "not-started"),
             "overrides": {"method": {"kind": "continuous", "interval": 0.25}, "seed": 0}}]
    write_manifest(sweep_dir, runs)
    write_report([sweep_dir], tmp_path / "out")
    shown = pd.read_csv(tmp_path / "out" / "table1.csv").set_index("Method")
    md = (tmp_path / "out" / "table1.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in md.splitlines()[2:]}
    assert "30.0 (n=1)" in rows["SFT"] and "| 1/2 " in rows["SFT"]
    assert rows["Continuous 0.5"].count(MISSING) == 2 and "| 0/1 " in rows["Continuous 0.5"]
    assert rows["Continuous 0.25"].count(MISSING) == 2 and "| 57.2" in rows["Continuous 0.25"]  # paper cell kept
    assert shown.loc["Continuous 0.25", "seeds"] == 0
    report_md = (tmp_path / "out" / "report.md").read_text()
    assert "1 done, 1 failed, 1 missing, 1 running" in report_md and "Not produced" in report_md


@pytest.mark.parametrize("make", [lambda p: p.mkdir(), lambda p: None], ids=["empty", "absent"])
def test_a_folder_that_is_no_sweep_is_a_clear_error(tmp_path, capsys, make):
    folder = tmp_path / "not_a_sweep"
    make(folder)
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert str(folder) in err and "sweep" in err


def test_default_output_is_next_to_the_first_sweep(tmp_path):
    sweep_dir = paper_sweep(tmp_path, "table1")
    assert write_report([sweep_dir]) == sweep_dir / "report" / "report.md"
    write_report([sweep_dir])   # a report folder inside the sweep is not taken for a run
    assert len(load.load([sweep_dir]).runs) == len(paper.rows("table1")) - 2


# ---------------------------------------------------------------- figures and Tables 4-5

TEMPS = (0.5, 1.0, 1.5)


def dynamics_rows(seed: int, iterations: int, temperature_of) -> list[dict]:
    """Summary and dynamics rows shaped like the paper's: greedy up, Pass@K down, less so when hot."""
    rows = []
    for it in range(iterations + 1):
        q, wiggle = it * 100, 0.01 * ((seed * 7 + it * 3) % 5)
        greedy = 0.3 + 0.05 * it + wiggle
        if it:
            rows.append({"iteration": it, "queries_seen": q, "temperature": temperature_of(it),
                         "val_greedy_accuracy": greedy, "pass_at_k": 0.8, "train_loss": 0.2})
        rows.append({"iteration": it, "queries_seen": q, "metric": "greedy_accuracy", "temperature": None,
                     "k": 1, "value": greedy})
        for t in TEMPS:
            passk = 0.85 - 0.04 * it / t + wiggle
            rows += [{"iteration": it, "queries_seen": q, "metric": m, "temperature": t, "k": k, "value": v}
                     for m, k, v in (("pass_at_k", 16, passk), ("pass_minus_greedy", 16, passk - greedy),
                                     ("reward_pass_at_2", 2, 0.5 + 0.1 * min(it, 2) * t / 1.5 + wiggle))]
    return rows


def prm_stage(tmp_path) -> str:
    """A PRM stage's verifier/ as the harness writes it: rows per scorer and step aggregation."""
    folder = tmp_path / "_stages" / "prm-1234" / "verifier"
    folder.mkdir(parents=True)
    tags = [{"reward_model": rm, "aggregate": agg} for rm in ("prm", "oracle") for agg in ("min", "mean")]
    bonus = {"prm": 0.0, "oracle": 0.1}   # majority voting ignores the scorer
    acc = lambda tag, i, j: 0.3 + 0.02 * i * (j + 1) + (j < 2) * bonus[tag["reward_model"]]   # noqa: E731
    pd.DataFrame([{**tag, "method": m, "n": n, "accuracy": acc(tag, i, j)}
                  for tag in tags for j, m in enumerate(("best_of_n", "weighted_vote", "majority_vote"))
                  for i, n in enumerate((1, 2, 4, 8, 16))]).to_csv(folder / "voting.csv", index=False)
    pd.DataFrame([{**tag, "group": g, "mean_steps": steps, "irrelevant_share": share, "responses": 400}
                  for tag in tags for g, steps, share in (("top2", 3.1, 0.12), ("rest", 4.4, 0.31))]
                 ).to_csv(folder / "steps.csv", index=False)
    return str(folder.parent)


def mstar_evals(shift: float) -> dict:
    ood = lambda a: split(a, {t: a + 0.01 * i for i, t in enumerate(TASKS)})   # noqa: E731
    stage = lambda a: {"test_id": split(a), "test_ood": ood(a), "m3cot": split(a - 0.05)}   # noqa: E731
    return {"base": stage(0.2), "warmup": {**stage(0.25), "val": split(0.26)}, "final": stage(0.3 + shift)}


@pytest.fixture
def figure_sweeps(tmp_path):
    prm = prm_stage(tmp_path)
    inputs = {"data": "d", "base": "b", "warmup": "w", "prm": prm}
    dyn_dir, mstar_dir = tmp_path / "dynamics", tmp_path / "mstar"
    top2 = {"select": {"operator": "top_k", "k": 2}, "reward_model": {"kind": "prm"},
            "method": {"kind": "continuous", "interval": 0.25}}
    fixed = {**top2, "rollout": {"temperature": 1.0, "temperature_policy": "fixed"}}
    write_manifest(dyn_dir, [write_run(dyn_dir, "PRM Top-2", s, fixed, mstar_evals(0.0), inputs=inputs,
                                       metrics=dynamics_rows(s, 4, lambda it: 1.0)) for s in (0, 1)])
    adaptive = {**top2, "rollout": {"temperature": 1.0}, "temperature": {"policy": "adaptive"}}
    runs = []
    for preset in ("tiny-a", "tiny-b"):
        for label, cfg, shift in (("SFT", {"method": {"kind": "sft"}}, 0.01),
                                  ("+PRM Re-Rank", fixed, 0.04), ("M-STAR", adaptive, 0.06)):
            cfg = {**cfg, "model": {"preset": preset}}
            choose = (lambda it: (0.6, 1.1, 1.4)[(it // 2) % 3]) if label == "M-STAR" else (lambda it: 1.0)
            runs += [write_run(mstar_dir, f"{label} [{preset}]", s, cfg, mstar_evals(shift + 0.01 * s),
                               inputs=inputs, metrics=dynamics_rows(s, 4, choose)) for s in (0, 1)]
    write_manifest(mstar_dir, runs)
    return [dyn_dir, mstar_dir]


def test_figures_and_tables_4_5_render(tmp_path, figure_sweeps):
    out = tmp_path / "out"
    text = write_report(figure_sweeps, out).read_text()
    for name in ("fig2a", "fig2b", "fig3", "fig4", "fig5", "fig6"):
        for ext in ("png", "pdf"):
            assert (out / f"{name}.{ext}").stat().st_size > 1000, name
        assert f"]({name}.png)" in text
    for name in ("table4", "table5", "table4_paper", "table5_paper"):
        for ext in ("md", "tex", "csv"):
            assert (out / f"{name}.{ext}").stat().st_size > 0
    assert "Not produced" in text and "table1" in text   # no Table 1-3 sweep given
    t4 = pd.read_csv(out / "table4.csv")
    m = t4[(t4.Model == "tiny-a") & (t4.Method == "M-STAR")].iloc[0]
    assert math.isclose(m["ALL mean"], 36.5) and math.isclose(m["ALL gain"], 11.5)
    assert list(t4.columns[2:5]) == ["ALL mean", "ALL ci95", "ALL n"] and "VQA mean" in t4
    t5 = pd.read_csv(out / "table5.csv")
    assert {"OOD test mean", "m3cot mean", "Average mean"} <= set(t5.columns) and "ID test mean" not in t5


def test_model_blocks_are_listed_smallest_preset_first_whatever_ran_first(tmp_path):
    sweep_dir = tmp_path / "mstar"
    runs = [write_run(sweep_dir, f"SFT [{m}]", 0, {"method": {"kind": "sft"}, "model": model}, mstar_evals(0.0))
            for m, model in (("medium", {"preset": "medium"}), ("ckpt", {"path": "/ckpt/ckpt"}),
                             ("small", {"preset": "small"}))]
    write_manifest(sweep_dir, runs)
    t4 = tables.table4(load.load([sweep_dir])).numbers
    assert list(dict.fromkeys(t4.Model)) == ["small", "medium", "ckpt"]


def test_running_runs_feed_dynamics_figures_but_not_tables(tmp_path):
    sweep_dir = tmp_path / "dynamics"
    rows = [r for r in dynamics_rows(0, 3, lambda it: 1.0) if "metric" in r]   # no summary rows yet
    write_manifest(sweep_dir, [write_run(sweep_dir, "PRM Top-2", 0, {"rollout": {"temperature": 1.0}}, None,
                                         state="running", metrics=rows)])
    write_report([sweep_dir], tmp_path / "out")
    assert (tmp_path / "out" / "fig3.png").stat().st_size > 1000
    assert not list((tmp_path / "out").glob("table*"))


# ---------------------------------------------------------------- issue 16: routing from the declared runs

def test_half_finished_training_method_sweep_is_table1_with_each_rows_own_paper_numbers(tmp_path):
    """The real grid, expanded and written by `harness sweep`, with 3 of 8 runs done: the runs not started
    resolve from their manifest settings (their k and alpha defaults included), so the sweep is Table 1,
    and each row carries the paper numbers of its own (method, interval), never another row's."""
    from harness.loop.rundir import RunDir
    from harness.app.sweep import load_sweep, write_manifest as write_sweep_manifest

    sw = load_sweep("ablations/training_method.yaml", [f"results_dir={tmp_path}"])
    write_sweep_manifest(sw)
    for spec in sw.runs[:3]:   # SFT, Iterative RFT, ReST-EM finished; the continuous block has not started
        rd = RunDir(spec.path)
        rd.init(spec.config, spec.label)
        rd.set_status("done")
        rd.write_eval({"final": {"test_id": split(0.5), "test_ood": split(0.3)}})
    out = tmp_path / "out"
    text = write_report([sw.folder], out).read_text()
    assert "| training_method | table1 |" in text and "table2" not in text.split("## Not produced")[0]
    got = pd.read_csv(out / "table1.csv").set_index("Method")
    published = paper.rows("table1")
    for label, method, interval in (("SFT", "sft", None), ("Iterative RFT", "iterative_rft", 1.0),
                                    ("ReST-EM", "restem", 1.0), ("Continuous 0.25", "continuous", 0.25),
                                    ("Continuous 0.0625", "continuous", 0.0625)):
        row = published[(published.method == method) & ((published.interval == interval) if interval else True)]
        assert got.loc[label, "paper MathV360K"] == row.test_id.iloc[0], label
    assert got.loc["ReST-EM", "seeds"] == 1 and got.loc["Continuous 0.25", "seeds"] == 0


def test_controls_table_pairs_each_run_with_its_own_pi0(tmp_path):
    sweep_dir = tmp_path / "controls"
    warm = {"test_id": split(0.50), "test_ood": split(0.20), "val": split(0.40)}
    iters = lambda fp: [{"iteration": i, "queries_seen": 100 * i, "selected": 100, "sft_steps": 13,   # noqa: E731
                         "selected_false_positive_rate": fp} for i in (1, 2)]
    rows = (("RFT answer-only", {"method": {"kind": "continuous"}}, 0.02, 0.3),
            ("RFT oracle-filtered (positive control)", {"reward_model": {"kind": "oracle"},
                                                        "select": {"operator": "threshold"}}, 0.06, 0.0),
            ("RFT wrong-reasoning only (negative control)", {"reward_model": {"kind": "oracle"},
                                                             "select": {"operator": "below_threshold"}}, -0.1, 1.0),
            ("SFT on gold solutions", {"method": {"kind": "gold_sft"}}, 0.1, 0.0))
    runs = []
    for label, cfg, lift, fp in rows:
        for seed in (0, 1, 2):
            acc = lambda a: split(round(a + lift + 0.01 * seed, 4))   # noqa: E731
            runs.append(write_run(sweep_dir, label, seed, cfg, metrics=iters(fp), inputs={"warmup": "w0"},
                                  evals={"final": {"test_id": acc(0.5), "test_ood": acc(0.2), "val": acc(0.4)},
                                         "warmup": warm}))
    write_manifest(sweep_dir, runs)
    text = write_report([sweep_dir], tmp_path / "out").read_text()
    assert "Controls" in text
    got = pd.read_csv(tmp_path / "out" / "controls.csv").set_index("Row")
    assert list(got.index)[0].startswith("π_0")
    assert got.iloc[0]["ID test mean"] == 50.0 and got.iloc[0]["val greedy mean"] == 40.0
    pos, neg = got.loc["RFT oracle-filtered (positive control)"], got.loc["RFT wrong-reasoning only (negative control)"]
    assert math.isclose(pos["Δ ID test mean"], 7.0) and pos["Δ ID test ci95"] > 0 and pos["Δ ID test n"] == 3
    assert math.isclose(neg["Δ OOD test mean"], -9.0) and math.isclose(neg["selected FP rate mean"], 100.0)
    assert got.loc["SFT on gold solutions", "examples mean"] == 200 and got.loc["SFT on gold solutions", "steps mean"] == 26


def judged(rule: float, judge: float, differ: float, unjudged: int = 0) -> dict:
    return {**split(rule), "prompt": "official", "circular": False, "rotated": 0,
            "judge": {"accuracy": judge, "by_task": {}, "by_question_type": {}, "differ": differ, "asked": 9,
                      "unjudged": unjudged}}


def test_extraction_table_shows_rule_and_judge_accuracy_side_by_side(tmp_path):
    sweep = tmp_path / "judged"
    runs = [write_run(sweep, "Continuous", seed, {"method": {"kind": "continuous", "interval": 0.25}},
                      {"final": {"test_ood": judged(0.40 + seed / 100, 0.50 + seed / 100, 0.1, unjudged=seed)},
                       "warmup": {"test_ood": judged(0.30, 0.35, 0.05)}}, inputs={"warmup": "/stages/w"})
            for seed in (0, 1)]
    write_manifest(sweep, runs)
    [table] = [t for t in build(load.load([sweep]))[0] if t.name == "extraction"]
    rows = table.numbers.set_index("Row")
    assert rows.loc["Continuous", "rules mean"] == pytest.approx(40.5)
    assert rows.loc["Continuous", "judge mean"] == pytest.approx(50.5)
    assert rows.loc["Continuous", "verdict changed mean"] == pytest.approx(10.0)
    assert (rows.loc["Continuous", "unjudged"], rows.loc["Continuous", "judge n"]) == (1, 2)
    assert rows.loc["+warm-up", "judge n"] == 1  # one warm-up stage shared by both seeds: one measurement
    assert "Answer extraction: rules and judge" in write_report([sweep]).read_text()


def test_no_judged_run_no_extraction_table(tmp_path):
    sweep = tmp_path / "rules"
    write_manifest(sweep, [write_run(sweep, "Continuous", 0, {"method": {"kind": "continuous"}},
                                     {"final": {"test_ood": split(0.4)}})])
    assert "extraction" not in {t.name for t in build(load.load([sweep]))[0]}
    assert "- extraction: no run was scored with a judge" in write_report([sweep]).read_text()
