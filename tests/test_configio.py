"""Tests for harness.configio: strict dataclass configs, overrides, YAML loading."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass
from typing import Any, Literal, Optional

import pytest
import yaml

from harness.configio import (
    REQUIRED, SECTION, ConfigError, deep_merge, describe, from_dict, get_dotted, load_yaml,
    parse_overrides, set_dotted, spec, to_dict,
)

SRC = "ablations/base.yaml"


# ----------------------------------------------------------------- small test schema

@dataclass
class Method:
    kind: Literal["continuous", "iterative_rft", "restem", "sft"] = spec(
        "continuous", "Self-evolution method.")
    interval: float = spec(0.5, "Fraction of an epoch between policy refreshes.", gt=0.0, le=1.0)
    warmup: Optional[int] = spec(None, "Warm-up steps; null for none.", ge=0)


@dataclass
class Optim:
    lr: float = spec(1e-5, "Learning rate.", gt=0)
    scheduler: str = spec("cosine", "LR schedule.", choices=["cosine", "linear", "constant"])


@dataclass
class Sampling:
    temperature: float | None = spec(None, "Sampling temperature; null = model default.", ge=0)
    num_samples: int = spec(4, "Responses sampled per prompt.", ge=1)
    min_correct: int = spec(1, "Correct responses needed to keep a prompt.", ge=0)

    def check(self) -> list[tuple[str, str]]:
        if self.min_correct > self.num_samples:
            return [("min_correct", f"{self.min_correct} > num_samples ({self.num_samples}); "
                                    f"lower min_correct or raise sampling.num_samples")]
        return []


@dataclass
class Experiment:
    name: str = spec(REQUIRED, "Run name.")
    seeds: list[int] = spec([0], "Random seeds, one run each.", ge=0)
    deterministic: bool = spec(False, "Use deterministic kernels.")
    method: Method = spec(Method(), "Method settings.")
    optim: Optim = spec(Optim(), "Optimiser settings.")
    sampling: Sampling = spec(Sampling(), "Sampling settings.")
    weights: dict[str, float] = spec({"mathvista": 1.0}, "Benchmark weights.", ge=0)
    extra: Optional[Optim] = spec(None, "Optional second optimiser.")
    notes: Any = spec(None, "Free-form notes.")

    def check(self) -> list[tuple[str, str]]:
        if self.method.kind == "sft" and self.sampling.num_samples != 1:
            return [("sampling.num_samples", "sft does not sample; set sampling.num_samples=1")]
        return []


def problems_of(data: dict, cls=Experiment) -> list[str]:
    with pytest.raises(ConfigError) as info:
        from_dict(cls, data, source=SRC)
    return info.value.problems


def ok(data: dict) -> Experiment:
    return from_dict(Experiment, {"name": "run", **data}, source=SRC)


# ----------------------------------------------------------------- spec

def test_spec_records_doc_and_constraints():
    f = {f.name: f for f in dataclasses.fields(Method)}["interval"]
    assert f.metadata["doc"] == "Fraction of an epoch between policy refreshes."
    assert f.metadata["gt"] == 0.0 and f.metadata["le"] == 1.0
    assert "ge" not in f.metadata
    assert {f.name: f for f in dataclasses.fields(Optim)}["scheduler"].metadata["choices"] == (
        "cosine", "linear", "constant")


def test_spec_mutable_defaults_are_not_shared():
    a, b = Experiment(name="a"), Experiment(name="b")
    a.seeds.append(7)
    a.method.interval = 0.9
    a.weights["x"] = 2.0
    assert b.seeds == [0] and b.method.interval == 0.5 and b.weights == {"mathvista": 1.0}


@pytest.mark.parametrize("doc", ["", "   ", "two\nlines", None])
def test_spec_requires_one_line_doc(doc):
    with pytest.raises(ValueError, match="single line"):
        spec(1, doc)


# ----------------------------------------------------------------- from_dict: success

def test_valid_nested_config_and_int_to_float():
    cfg = ok({"method": {"kind": "restem", "interval": 1}, "seeds": [0, 1],
              "deterministic": True, "weights": {"a": 2}})
    assert cfg.method == Method(kind="restem", interval=1.0, warmup=None)
    assert type(cfg.method.interval) is float
    assert type(cfg.weights["a"]) is float
    assert cfg.seeds == [0, 1] and cfg.deterministic is True
    assert cfg.optim == Optim()  # untouched sections keep defaults


def test_optional_fields_accept_null_and_values():
    cfg = ok({"method": {"warmup": 10}, "sampling": {"temperature": 1}, "extra": {"lr": 1}})
    assert cfg.method.warmup == 10
    assert cfg.sampling.temperature == 1.0 and type(cfg.sampling.temperature) is float
    assert cfg.extra == Optim(lr=1.0)
    cfg = ok({"method": {"warmup": None}, "extra": None})
    assert cfg.method.warmup is None and cfg.extra is None


def test_optional_wrong_type_mentions_null():
    assert problems_of({"name": "r", "method": {"warmup": "x"}}) == [
        f"{SRC}: method.warmup: expected int or null, got str 'x'"]


def test_any_field_accepts_anything():
    assert ok({"notes": {"free": [1, "form"]}}).notes == {"free": [1, "form"]}


# ----------------------------------------------------------------- from_dict: problems

def test_unknown_key_did_you_mean():
    assert problems_of({"name": "r", "method": {"intervall": 0.3}}) == [
        f"{SRC}: method.intervall: unknown key; did you mean 'method.interval'?"]


def test_unknown_key_without_close_match_lists_valid_keys():
    assert problems_of({"name": "r", "method": {"zzz": 1}}) == [
        f"{SRC}: method.zzz: unknown key; valid keys: interval, kind, warmup"]


def test_unknown_top_level_section_did_you_mean():
    assert problems_of({"name": "r", "metod": {"kind": "sft"}}) == [
        f"{SRC}: metod: unknown key; did you mean 'method'?"]


def test_unknown_nested_section():
    assert problems_of({"name": "r", "method": {"schedule": {"warmup": 3}}}) == [
        f"{SRC}: method.schedule: unknown key; valid keys: interval, kind, warmup"]


def test_dotted_key_in_file_gets_nesting_hint():
    (problem,) = problems_of({"name": "r", "method.kind": "sft"})
    assert problem.startswith(f"{SRC}: method.kind: unknown key; nest it as 'method: {{kind: ...}}'")


def test_type_problem():
    assert problems_of({"name": "r", "method": {"interval": "abc"}}) == [
        f"{SRC}: method.interval: expected float, got str 'abc'"]


@pytest.mark.parametrize("value, bound", [(1.5, "<= 1.0"), (0, "> 0.0"), (-0.1, "> 0.0")])
def test_out_of_range(value, bound):
    assert problems_of({"name": "r", "method": {"interval": value}}) == [
        f"{SRC}: method.interval: {float(value)!r} is out of range (must be {bound})"]


def test_literal_choice_did_you_mean():
    assert problems_of({"name": "r", "method": {"kind": "contnuous"}}) == [
        f"{SRC}: method.kind: 'contnuous' is not one of continuous, iterative_rft, restem, sft; "
        f"did you mean 'continuous'?"]


def test_literal_without_close_match_has_no_suggestion():
    (problem,) = problems_of({"name": "r", "method": {"kind": "zzz"}})
    assert problem == f"{SRC}: method.kind: 'zzz' is not one of continuous, iterative_rft, restem, sft"


def test_spec_choices_did_you_mean():
    assert problems_of({"name": "r", "optim": {"scheduler": "cosin"}}) == [
        f"{SRC}: optim.scheduler: 'cosin' is not one of constant, cosine, linear; "
        f"did you mean 'cosine'?"]


@pytest.mark.parametrize("value", [1, 0, "true", "yes", None])
def test_bool_is_strict(value):
    (problem,) = problems_of({"name": "r", "deterministic": value})
    assert problem.startswith(f"{SRC}: deterministic: expected bool, got ")


@pytest.mark.parametrize("value", [2.5, 2.0, True, "3"])
def test_int_rejects_floats_bools_and_strings(value):
    (problem,) = problems_of({"name": "r", "sampling": {"num_samples": value}})
    assert problem == (f"{SRC}: sampling.num_samples: expected int, "
                       f"got {type(value).__name__} {value!r}")


def test_float_rejects_bool():
    (problem,) = problems_of({"name": "r", "optim": {"lr": True}})
    assert problem == f"{SRC}: optim.lr: expected float, got bool True"


def test_str_rejects_number_with_quote_hint():
    (problem,) = problems_of({"name": 123})
    assert problem == f"{SRC}: name: expected str, got int 123 (quote it to make it a string)"


@pytest.mark.parametrize("value, shown", [(None, "null"), ("sft", "str 'sft'"), ([1], "list [1]")])
def test_section_must_be_mapping(value, shown):
    assert problems_of({"name": "r", "method": value}) == [
        f"{SRC}: method: expected a mapping (section Method), got {shown}"]


def test_optional_section_wrong_type():
    assert problems_of({"name": "r", "extra": 3}) == [
        f"{SRC}: extra: expected a mapping (section Optim) or null, got int 3"]


def test_list_problems_name_the_index():
    assert problems_of({"name": "r", "seeds": [0, "a", -1]}) == [
        f"{SRC}: seeds[1]: expected int, got str 'a'",
        f"{SRC}: seeds[2]: -1 is out of range (must be >= 0)",
    ]
    assert problems_of({"name": "r", "seeds": 3}) == [f"{SRC}: seeds: expected a list, got int 3"]


def test_dict_values_and_keys_checked():
    assert problems_of({"name": "r", "weights": {"mathvista": "x", "chartqa": -1, 5: 1.0}}) == [
        f"{SRC}: weights.mathvista: expected float, got str 'x'",
        f"{SRC}: weights.chartqa: -1.0 is out of range (must be >= 0)",
        f"{SRC}: weights.5: keys must be strings, got int 5",
    ]


def test_missing_required_key():
    assert problems_of({}) == [f"{SRC}: name: missing required key"]


def test_top_level_must_be_mapping():
    assert problems_of([1, 2]) == [f"{SRC}: top level must be a mapping, got list [1, 2]"]


def test_many_problems_reported_at_once():
    data = {
        "name": "r",
        "seeds": [0, "x"],
        "deterministic": "yes",
        "method": {"intervall": 0.3, "kind": "contnuous"},
        "optim": {"lr": -1.0},
        "bogus": 1,
    }
    with pytest.raises(ConfigError) as info:
        from_dict(Experiment, data, source=SRC)
    err = info.value
    keys = [p.split(": ")[1] for p in err.problems]
    assert sorted(keys) == sorted(["bogus", "seeds[1]", "deterministic", "method.intervall",
                                   "method.kind", "optim.lr"])
    assert all(p.startswith(f"{SRC}: ") for p in err.problems)
    lines = str(err).splitlines()
    assert lines[0] == "invalid configuration (6 problems):"
    assert lines[1:] == [f"  - {p}" for p in err.problems]


def test_check_cross_field_problem_has_full_dotted_key():
    assert problems_of({"name": "r", "sampling": {"num_samples": 2, "min_correct": 3}}) == [
        f"{SRC}: sampling.min_correct: 3 > num_samples (2); "
        f"lower min_correct or raise sampling.num_samples"]


def test_top_level_check_runs_when_sections_are_clean():
    assert problems_of({"name": "r", "method": {"kind": "sft"}}) == [
        f"{SRC}: sampling.num_samples: sft does not sample; set sampling.num_samples=1"]
    assert ok({"method": {"kind": "sft"}, "sampling": {"num_samples": 1}}).method.kind == "sft"


def test_check_skipped_when_fields_did_not_convert():
    # Comparing 'x' > 4 inside check() would raise TypeError if check() ran.
    assert problems_of({"name": "r", "sampling": {"min_correct": "x"}}) == [
        f"{SRC}: sampling.min_correct: expected int, got str 'x'"]


def test_check_problems_alongside_other_problems():
    problems = problems_of({"name": 1, "sampling": {"num_samples": 2, "min_correct": 3}})
    assert len(problems) == 2
    assert problems[0].startswith(f"{SRC}: name: expected str")
    assert problems[1].startswith(f"{SRC}: sampling.min_correct: 3 > num_samples")


@dataclass
class WithPostInit:
    size: int = spec(1, "Size.")

    def __post_init__(self):
        if self.size == 13:
            raise ValueError("size 13 is unlucky; pick another")


def test_post_init_value_error_becomes_problem():
    assert problems_of({"size": 13}, cls=WithPostInit) == [
        f"{SRC}: size 13 is unlucky; pick another"]


def test_unsupported_field_type_is_a_schema_bug():
    @dataclass
    class Bad:
        pair: tuple = spec((1, 2), "Pair.")

    with pytest.raises(TypeError, match="unsupported config field type"):
        from_dict(Bad, {"pair": [1, 2]})


# ----------------------------------------------------------------- to_dict / describe

def test_round_trip_to_dict_from_dict():
    cfg = ok({"seeds": [1, 2], "method": {"kind": "restem", "warmup": 5},
              "extra": {"scheduler": "linear"}, "weights": {"a": 0.5}})
    plain = to_dict(cfg)
    assert plain["method"] == {"kind": "restem", "interval": 0.5, "warmup": 5}
    assert plain["extra"] == {"lr": 1e-5, "scheduler": "linear"}
    assert yaml.safe_load(yaml.safe_dump(plain)) == plain  # plain data only
    assert from_dict(Experiment, plain) == cfg
    plain["seeds"].append(9)
    assert cfg.seeds == [1, 2]  # a copy, not a view


def test_to_dict_rejects_non_dataclass():
    with pytest.raises(TypeError):
        to_dict({"a": 1})


def test_describe_lists_dotted_keys_docs_defaults():
    rows = {key: (doc, default) for key, doc, default in describe(Experiment)}
    assert rows["name"] == ("Run name.", REQUIRED)
    assert rows["method"] == ("Method settings.", SECTION)
    assert rows["method.interval"] == ("Fraction of an epoch between policy refreshes.", 0.5)
    assert rows["seeds"] == ("Random seeds, one run each.", [0])
    assert rows["extra"] == ("Optional second optimiser.", None)
    assert rows["extra.lr"] == ("Learning rate.", 1e-5)
    assert all(doc for doc, _ in rows.values())
    keys = [key for key, _, _ in describe(Experiment)]
    assert keys.index("method") < keys.index("method.kind") < keys.index("optim")


def test_describe_uses_section_default_instance():
    @dataclass
    class Outer:
        method: Method = spec(Method(interval=0.25), "Method.")

    assert ("method.interval", "Fraction of an epoch between policy refreshes.", 0.25) in \
        describe(Outer)


# ----------------------------------------------------------------- overrides

def test_parse_overrides_nested():
    assert parse_overrides(["method.kind=continuous", "seeds=[0,1,2]", "a.b.c=0.5"]) == {
        "method": {"kind": "continuous"}, "seeds": [0, 1, 2], "a": {"b": {"c": 0.5}}}


@pytest.mark.parametrize("text, expected", [
    ("true", True), ("false", False), ("null", None), ("", None), ("3", 3), ("0.5", 0.5),
    ("1e-4", 1e-4), ("1e5", 1e5), ("-2E3", -2000.0), ("1.0e-3", 1e-3), (".5e2", 50.0),
    ("'1e-4'", "1e-4"), ("[1e-4, 2]", [1e-4, 2]), ("{a: 1}", {"a": 1}),
    ("cosine", "cosine"), ("a=b", "a=b"),
])
def test_parse_override_values(text, expected):
    value = parse_overrides([f"x={text}"])["x"]
    assert value == expected and type(value) is type(expected)


def test_malformed_overrides_all_reported():
    with pytest.raises(ConfigError) as info:
        parse_overrides(["novalue", "=3", "a..b=1", "ok=1", "seeds=[0,1", "sp ace=1"])
    problems = info.value.problems
    assert len(problems) == 5
    for arg, problem in zip(["novalue", "=3", "a..b=1", "seeds=[0,1", "sp ace=1"], problems):
        assert problem.startswith(repr(arg) + ": ")
    assert "cannot parse value '[0,1'" in problems[3]
    assert str(info.value).startswith("invalid command-line overrides (5 problems):")


def test_override_conflict_reported():
    with pytest.raises(ConfigError, match="'a' already holds int 1"):
        parse_overrides(["a=1", "a.b=2"])


def test_later_override_wins():
    assert parse_overrides(["a.b=1", "a.b=2"]) == {"a": {"b": 2}}


# ----------------------------------------------------------------- dict helpers

def test_deep_merge_merges_nested_and_replaces_the_rest():
    base = {"method": {"kind": "sft", "interval": 0.5}, "seeds": [0, 1], "x": {"y": 1}}
    over = {"method": {"interval": 0.25}, "seeds": [7], "x": 3, "new": {"z": 1}}
    merged = deep_merge(base, over)
    assert merged == {"method": {"kind": "sft", "interval": 0.25}, "seeds": [7], "x": 3,
                      "new": {"z": 1}}
    merged["method"]["kind"] = "changed"
    merged["new"]["z"] = 2
    assert base["method"]["kind"] == "sft" and over["new"]["z"] == 1  # inputs untouched


def test_set_and_get_dotted():
    d: dict = {}
    set_dotted(d, "a.b.c", 1)
    set_dotted(d, "a.d", 2)
    assert d == {"a": {"b": {"c": 1}, "d": 2}}
    assert get_dotted(d, "a.b.c") == 1 and get_dotted(d, "a.b") == {"c": 1}
    assert get_dotted(d, "a.zz", "dflt") == "dflt"
    assert get_dotted(d, "a.b.c.d", None) is None
    with pytest.raises(KeyError):
        get_dotted(d, "a.x")
    with pytest.raises(ValueError, match="'a.d' already holds"):
        set_dotted(d, "a.d.e", 3)


# ----------------------------------------------------------------- YAML loading

def test_load_yaml_reads_mapping_and_exponent_floats(tmp_path):
    path = tmp_path / "base.yaml"
    path.write_text("name: r\noptim:\n  lr: 1e-4\nseeds: [0, 1]\n")
    assert load_yaml(path) == {"name": "r", "optim": {"lr": 1e-4}, "seeds": [0, 1]}
    assert type(load_yaml(path)["optim"]["lr"]) is float


def test_load_yaml_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert info.value.problems == [f"{path}: file not found"]


def test_load_yaml_syntax_error_has_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: r\nmethod:\n  kind: sft\n  interval: [0.5\nseeds: 1\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    (problem,) = info.value.problems
    assert problem.startswith(f"{path}: YAML syntax error at line 5, column ")
    assert "started at line 4" in problem  # where the unclosed '[' began
    assert "Traceback" not in str(info.value)
    assert info.value.__suppress_context__


def test_load_yaml_bad_indentation_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: r\nmethod:\n  kind: sft\n interval: 0.5\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: YAML syntax error at line 4, column 2: "):
        load_yaml(path)


def test_load_yaml_duplicate_key(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("name: r\nmethod:\n  kind: sft\n  kind: restem\n")
    with pytest.raises(ConfigError, match=r"line 4, column 3: found duplicate key 'kind'"):
        load_yaml(path)


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "just a string\n", "3\n"])
def test_load_yaml_top_level_must_be_mapping(tmp_path, text):
    path = tmp_path / "list.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_yaml(path)


def test_load_yaml_empty_file_is_empty_mapping(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# only a comment\n")
    assert load_yaml(path) == {}


def test_file_plus_overrides_end_to_end(tmp_path):
    path = tmp_path / "base.yaml"
    path.write_text("name: r\nmethod:\n  kind: restem\n  interval: 0.5\n")
    data = deep_merge(load_yaml(path), parse_overrides(["method.interval=1", "seeds=[3]"]))
    cfg = from_dict(Experiment, data, source=str(path))
    assert cfg.method == Method(kind="restem", interval=1.0) and cfg.seeds == [3]
    bad = deep_merge(load_yaml(path), parse_overrides(["method.intervall=1"]))
    with pytest.raises(ConfigError, match=rf"{path}: method\.intervall: unknown key"):
        from_dict(Experiment, bad, source=str(path))


def test_config_error_single_problem_and_pickle():
    err = ConfigError("x.yaml: file not found")
    assert str(err) == "invalid configuration (1 problem):\n  - x.yaml: file not found"
    again = pickle.loads(pickle.dumps(ConfigError(["a", "b"], header="h")))
    assert again.problems == ["a", "b"] and again.header == "h"


def test_partial_section_override_keeps_the_fields_own_defaults():
    """base.optim's default instance differs from OptimConfig's class defaults; overriding one key keeps the rest."""
    from harness.config import load_config

    default = load_config(None).base.optim
    cfg = load_config(None, ["base.optim.lr=0.002"]).base.optim
    assert cfg.lr == 0.002
    assert (cfg.batch_size, cfg.warmup_steps) == (default.batch_size, default.warmup_steps) != (32, 10)
