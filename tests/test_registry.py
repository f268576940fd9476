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
