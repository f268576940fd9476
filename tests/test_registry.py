"""Tests for harness.registry.Registry."""

import pytest

from harness.registry import Registry, UnknownNameError


@pytest.fixture
def methods():
    reg = Registry("method")

    @reg.register("restem")
    def restem():
        return "restem"

    @reg.register("sft")
    class SFT:
        pass

    @reg.register("continuous")
    def continuous():
        return "continuous"

    return reg


def test_register_returns_target_unchanged_and_get_finds_it(methods):
    def extra():
        return 42

    assert methods.register("extra")(extra) is extra
    assert methods.get("extra") is extra
    assert methods.get("restem")() == "restem"
    assert methods.get("sft").__name__ == "SFT"


def test_names_sorted_and_contains(methods):
    assert methods.names() == ["continuous", "restem", "sft"]
    assert "sft" in methods
    assert "nope" not in methods
    assert [] not in methods  # unhashable is simply absent


def test_duplicate_name_raises_value_error(methods):
    with pytest.raises(ValueError, match="method 'sft' is already registered"):
        methods.register("sft")(lambda: None)
    assert methods.get("sft").__name__ == "SFT"  # original entry untouched


@pytest.mark.parametrize("bad", ["", None, 3])
def test_invalid_name_rejected(bad):
    with pytest.raises(ValueError, match="non-empty string"):
        Registry("method").register(bad)


def test_unknown_name_with_suggestion(methods):
    with pytest.raises(UnknownNameError) as info:
        methods.get("contnuous")
    assert str(info.value) == ("Unknown method 'contnuous'. Did you mean 'continuous'? "
                               "Available: continuous, restem, sft")


def test_unknown_name_without_close_match(methods):
    with pytest.raises(UnknownNameError) as info:
        methods.get("zzzzzz")
    assert str(info.value) == "Unknown method 'zzzzzz'. Available: continuous, restem, sft"
    assert "Did you mean" not in str(info.value)


def test_unknown_name_error_is_lookup_error_not_key_error(methods):
    with pytest.raises(LookupError):
        methods.get("x")
    assert not issubclass(UnknownNameError, KeyError)  # KeyError would quote the message


def test_empty_registry_message():
    with pytest.raises(UnknownNameError, match=r"Unknown benchmark 'mathvista'\. Available: \(none\)"):
        Registry("benchmark").get("mathvista")


def _package(root, name: str, modules: dict[str, str]) -> None:
    pkg = root / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from harness.registry import Registry\n"
                                     "THINGS = Registry('thing', __name__)\n")
    for module, text in modules.items():
        (pkg / f"{module}.py").write_text(text)


def test_a_registry_finds_its_entries_in_its_package_on_first_use(tmp_path, monkeypatch):
    entry = "from {pkg} import THINGS\nTHINGS.register('{name}')(lambda: '{name}')\n"
    _package(tmp_path, "toy_things", {"one": entry.format(pkg="toy_things", name="one"),
                                      "two": entry.format(pkg="toy_things", name="two"),
                                      "_helper": "raise RuntimeError('private modules are not entries')"})
    monkeypatch.syspath_prepend(str(tmp_path))
    import sys

    from toy_things import THINGS

    assert "toy_things.one" not in sys.modules  # nothing imported until a name is asked for
    assert THINGS.names() == ["one", "two"] and THINGS.get("two")() == "two"
    assert "toy_things.one" in sys.modules and "toy_things._helper" not in sys.modules


def test_a_registry_may_find_its_entries_in_one_module(tmp_path, monkeypatch):
    (tmp_path / "toy_entries.py").write_text("from toy_registry import THINGS\nTHINGS.register('x')(1)\n")
    (tmp_path / "toy_registry.py").write_text("from harness.registry import Registry\n"
                                              "THINGS = Registry('thing', 'toy_entries')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from toy_registry import THINGS

    assert "x" in THINGS and len(THINGS) == 1
    with pytest.raises(UnknownNameError, match="Unknown thing 'y'. Available: x"):
        THINGS.get("y")
