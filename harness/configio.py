"""Strict, generic config machinery for nested ``@dataclass`` schemas.

Schemas declare every field with `spec` (default + one-line doc + optional bounds/choices).
`from_dict` converts a plain nested dict (from `load_yaml`, `parse_overrides` and `deep_merge`)
into the dataclass tree, collecting *every* problem before raising one `ConfigError` whose
lines name the source and the dotted key, e.g.::

    ablations/base.yaml: method.intervall: unknown key; did you mean 'method.interval'?

Supported field types: int, float (ints accepted and converted), bool (real booleans only),
str, ``Optional[X]`` / ``X | None``, ``list[X]``, ``dict[str, X]``, ``Literal[...]``, ``Any``
and nested dataclasses. Bounds and choices given to `spec` apply to scalar values, including
the elements of lists and the values of dicts.

`choices` may also be a registry (anything with `__contains__`, `names()` and `unknown_message(value)`, e.g.
harness.registry.Registry): the allowed values are then its names at validation time, and a bad value is
reported with its message ("Unknown X 'foo'. Did you mean ...? Available: ...").

A dataclass may define ``check(self) -> list[tuple[str, str]]`` returning
``(dotted key relative to that dataclass, message with the fix)`` for cross-field rules; it runs
only once all of that dataclass's fields converted cleanly.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import operator
import re
import types
import typing
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any, Literal, Union

import yaml

__all__ = [
    "REQUIRED", "SECTION", "ConfigError", "spec", "from_dict", "to_dict", "clone", "describe",
    "parse_overrides", "deep_merge", "load_yaml", "set_dotted", "get_dotted",
]


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __copy__(self) -> "_Sentinel":
        return self

    def __deepcopy__(self, memo: dict) -> "_Sentinel":
        return self


REQUIRED = _Sentinel("<required>")
"""Pass as `spec`'s default for a field that has no default; `describe` reports it too."""
SECTION = _Sentinel("<section>")
"""Default reported by `describe` for a nested dataclass section (its fields follow it)."""

_BAD = _Sentinel("<bad>")  # conversion failed; the problem is already recorded
_NONE_TYPE = type(None)
_BOUNDS = (("ge", ">=", operator.ge), ("gt", ">", operator.gt),
           ("le", "<=", operator.le), ("lt", "<", operator.lt))
_SCALARS = {
    bool: lambda v: type(v) is bool,
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
}


class ConfigError(Exception):
    """One or more configuration problems; ``str()`` is a header plus one line per problem."""

    def __init__(self, problems: list[str] | str, header: str = "invalid configuration") -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.header = header
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.problems)
        lines = [f"{self.header} ({n} problem{'' if n == 1 else 's'}):"]
        return "\n".join(lines + [f"  - {p}" for p in self.problems])

    def __reduce__(self):  # keep problems intact when pickled (e.g. by submitit)
        return (type(self), (self.problems, self.header))


# --------------------------------------------------------------------------- schema helpers

def spec(default: Any, doc: str, *, ge: float | None = None, le: float | None = None,
         gt: float | None = None, lt: float | None = None,
         choices: typing.Iterable[Any] | None = None) -> Any:
    """Declare a schema field: a `dataclasses.field` carrying a one-line doc and constraints.

    Mutable defaults (list, dict, set, dataclass instance) become a deep-copying
    default_factory; pass `REQUIRED` as the default for a field without one.
    """
    if not isinstance(doc, str) or not doc.strip() or "\n" in doc.strip():
        raise ValueError(f"spec() doc must be a non-empty single line, got {doc!r}")
    meta: dict[str, Any] = {"doc": doc.strip()}
    bounds = {"ge": ge, "le": le, "gt": gt, "lt": lt}
    meta.update({k: v for k, v in bounds.items() if v is not None})
    if choices is not None:
        meta["choices"] = choices if _is_registry(choices) else tuple(choices)
    if default is REQUIRED:
        return dataclasses.field(metadata=meta)
    if isinstance(default, (list, dict, set)) or _is_instance(default):
        frozen = copy.deepcopy(default)
        return dataclasses.field(default_factory=functools.partial(_copy, frozen),
                                 metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _is_registry(obj: Any) -> bool:
    return hasattr(obj, "unknown_message") and hasattr(obj, "names")


def _is_instance(obj: Any) -> bool:
    return hasattr(type(obj), "__dataclass_fields__")  # dataclasses.is_dataclass, minus its cost (a hot path)


_ATOMS = (str, int, float, bool, type(None))  # immutable: shared by copies, never copied


def _copy(obj: Any) -> Any:
    """A deep copy of config data (dataclass instances, dicts, lists, sets, scalars), several times quicker than
    copy.deepcopy, which grid expansion calls for every default section of every run. A dataclass instance is
    copied without calling __init__ (its __post_init__ already ran on the original)."""
    kind = type(obj)
    if kind in _ATOMS:
        return obj
    if kind is dict:
        return {k: v if type(v) in _ATOMS else _copy(v) for k, v in obj.items()}
    if kind is list:
        return [v if type(v) in _ATOMS else _copy(v) for v in obj]
    if hasattr(kind, "__dataclass_fields__") and not hasattr(kind, "__slots__"):
        clone = object.__new__(kind)
        clone.__dict__.update({k: v if type(v) in _ATOMS else _copy(v) for k, v in obj.__dict__.items()})
        return clone
    return copy.deepcopy(obj)


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.lru_cache(maxsize=None)
def _init_fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


def _repr(value: Any) -> str:
    text = "null" if value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _show(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {_repr(value)}"


def _is_member(value: Any, options: typing.Iterable[Any]) -> bool:
    return any(value == o and type(value) is type(o) for o in options)  # so True != 1


def _closest(word: str, candidates: typing.Iterable[Any]) -> str | None:
    words = [c for c in candidates if isinstance(c, str)]
    close = difflib.get_close_matches(word, words, n=1)
    return close[0] if close else None


# --------------------------------------------------------------------------- conversion

class _Converter:
    """Walks data against a type, recording problems as '<source>: <dotted key>: <message>'."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.source}: {key}: {message}" if key
                             else f"{self.source}: {message}")

    def mismatch(self, expected: str, value: Any, key: str, nullable: bool = False) -> Any:
        hint = ""
        if expected == "bool":
            hint = " (write true or false)"
        elif expected == "str" and isinstance(value, (int, float, bool)):
            hint = " (quote it to make it a string)"
        expected += " or null" if nullable else ""
        self.problem(key, f"expected {expected}, got {_show(value)}{hint}")
        return _BAD

    def convert(self, tp: Any, value: Any, key: str, meta: Mapping[str, Any],
                nullable: bool = False) -> Any:
        kind = _kind(tp)
        if kind == "any":
            return value
        if kind == "union":
            return self.union(tp, value, key, meta)
        if kind == "literal":
            return self.literal(typing.get_args(tp), value, key, meta, nullable)
        if kind == "section":
            return self.section(tp, value, key, nullable)
        if kind == "scalar":
            return self.scalar(tp, value, key, meta, nullable)
        if kind == "list":
            return self.sequence(tp, value, key, meta, nullable)
        if kind == "dict":
            return self.mapping(tp, value, key, meta, nullable)
        raise TypeError(f"unsupported config field type {tp!r} at '{key}'")

    def union(self, tp: Any, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
        nullable, rest = _union_parts(tp)
        if value is None and nullable:
            return None
        if len(rest) == 1:
            return self.convert(rest[0], value, key, meta, nullable)
        for arg in rest:  # first alternative that converts cleanly wins
            trial = _Converter(self.source)
            result = trial.convert(arg, value, key, meta)
            if not trial.problems:
                return result
        names = " or ".join(getattr(a, "__name__", str(a)) for a in rest)
        return self.mismatch(names, value, key, nullable)

    def scalar(self, tp: type, value: Any, key: str, meta: Mapping[str, Any],
               nullable: bool) -> Any:
        if not _SCALARS[tp](value):
            return self.mismatch(tp.__name__, value, key, nullable)
        return self.constrain(float(value) if tp is float else value, key, meta)

    def literal(self, options: tuple, value: Any, key: str, meta: Mapping[str, Any],
                nullable: bool) -> Any:
        if not _is_member(value, options):
            return self.not_one_of(value, options + ((None,) if nullable else ()), key)
        return self.constrain(value, key, meta)

    def constrain(self, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
        choices = meta.get("choices")
        if _is_registry(choices):
            if not (isinstance(value, str) and value in choices):
                self.problem(key, choices.unknown_message(value))
                return _BAD
        elif choices is not None and not _is_member(value, choices):
            return self.not_one_of(value, choices, key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            for name, symbol, ok in _BOUNDS:
                if name in meta and not ok(value, meta[name]):
                    self.problem(key, f"{value!r} is out of range (must be {symbol} {meta[name]!r})")
                    return _BAD
        return value

    def not_one_of(self, value: Any, options: typing.Iterable[Any], key: str) -> Any:
        listing = ", ".join(sorted("null" if o is None else str(o) for o in options))
        message = f"{_repr(value)} is not one of {listing}"
        match = _closest(value, options) if isinstance(value, str) else None
        self.problem(key, message + (f"; did you mean '{match}'?" if match else ""))
        return _BAD

    def sequence(self, tp: Any, value: Any, key: str, meta: Mapping[str, Any],
                 nullable: bool) -> Any:
        if not isinstance(value, (list, tuple)):
            return self.mismatch("a list", value, key, nullable)
        (item_tp,) = typing.get_args(tp) or (Any,)
        items = [self.convert(item_tp, v, f"{key}[{i}]", meta) for i, v in enumerate(value)]
        return _BAD if any(v is _BAD for v in items) else items

    def mapping(self, tp: Any, value: Any, key: str, meta: Mapping[str, Any],
                nullable: bool) -> Any:
        if not isinstance(value, Mapping):
            return self.mismatch("a mapping", value, key, nullable)
        key_tp, value_tp = typing.get_args(tp) or (str, Any)
        if key_tp is not str:
            raise TypeError(f"only dict[str, X] is supported, got {tp!r} at '{key}'")
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                self.problem(_join(key, str(k)), f"keys must be strings, got {_show(k)}")
                out[str(k)] = _BAD
            else:
                out[k] = self.convert(value_tp, v, _join(key, k), meta)
        return _BAD if any(v is _BAD for v in out.values()) else out

    def section(self, cls: type, value: Any, key: str, nullable: bool) -> Any:
        if not isinstance(value, Mapping):
            return self.mismatch(f"a mapping (section {cls.__name__})", value, key, nullable)
        return self.dataclass(cls, value, key)

    def dataclass(self, cls: type, data: Mapping[Any, Any], prefix: str) -> Any:
        before = len(self.problems)
        fields, hints = _init_fields(cls), _hints(cls)
        self.unknown_keys(data, fields, prefix)
        kwargs = {}
        for name, f in fields.items():
            key = _join(prefix, name)
            if name in data:
                value, default = data[name], _plain_default(f)
                if isinstance(default, dict) and isinstance(value, Mapping) and _section_type(hints[name]):
                    # A partial section overrides the field's default instance, not the class defaults:
                    # `base.optim.lr=2e-3` keeps base.optim's own batch size.
                    value = deep_merge(default, value)
                kwargs[name] = self.convert(hints[name], value, key, f.metadata)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                self.problem(key, "missing required key")
        if len(self.problems) > before:
            return _BAD
        return self.build(cls, kwargs, prefix)

    def unknown_keys(self, data: Mapping[Any, Any], fields: Mapping[str, Any],
                     prefix: str) -> None:
        for raw in data:
            if isinstance(raw, str) and raw in fields:
                continue
            name = str(raw)
            head, dot, tail = name.partition(".")
            if dot and head in fields:
                hint = f"; nest it as '{head}: {{{tail}: ...}}' (dotted keys only work in overrides)"
            elif (match := _closest(name, fields)) is not None:
                hint = f"; did you mean '{_join(prefix, match)}'?"
            else:
                hint = f"; valid keys: {', '.join(sorted(fields))}"
            self.problem(_join(prefix, name), "unknown key" + hint)

    def build(self, cls: type, kwargs: dict[str, Any], prefix: str) -> Any:
        try:
            obj = cls(**kwargs)
        except (TypeError, ValueError) as exc:  # raised by a schema's __post_init__
            self.problem(prefix, str(exc))
            return _BAD
        before = len(self.problems)
        check = getattr(obj, "check", None)
        for rel_key, message in (check() if callable(check) else None) or ():
            self.problem(_join(prefix, rel_key), message)
        return _BAD if len(self.problems) > before else obj


def from_dict(cls: type, data: Mapping[str, Any], *, source: str = "<config>") -> Any:
    """Strictly convert a nested dict into an instance of dataclass `cls`.

    Collects every problem (unknown keys, wrong types, out-of-range values, bad choices,
    missing required keys, failed ``check()`` rules) and raises them together as ConfigError.
    """
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"from_dict() needs a dataclass type, got {cls!r}")
    conv = _Converter(source)
    obj = _BAD
    if isinstance(data, Mapping):
        # defaults that depend on other keys of the data (RunConfig: a model preset's base recipe); set keys win
        if (layered := getattr(cls, "layered_defaults", None)) is not None:
            data = deep_merge(layered(data), data)
        obj = conv.dataclass(cls, data, "")
    else:
        conv.problem("", f"top level must be a mapping, got {_show(data)}")
    if conv.problems:
        raise ConfigError(conv.problems)
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain-data (dict/list/scalar) copy of a dataclass instance; round-trips via from_dict."""
    if not _is_instance(obj):
        raise TypeError(f"to_dict() needs a dataclass instance, got {obj!r}")
    return _plain(obj)


def clone(obj: Any) -> Any:
    """A deep copy of a dataclass instance made by `from_dict` (several times quicker than copy.deepcopy)."""
    if not _is_instance(obj):
        raise TypeError(f"clone() needs a dataclass instance, got {obj!r}")
    return _copy(obj)


def _plain(obj: Any) -> Any:
    kind = type(obj)
    if kind in _ATOMS:
        return obj
    if hasattr(kind, "__dataclass_fields__"):
        return {name: v if type(v := getattr(obj, name)) in _ATOMS else _plain(v) for name in _init_fields(kind)}
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return copy.deepcopy(obj)


@functools.lru_cache(maxsize=None)
def _plain_default(f: dataclasses.Field) -> Any:
    """A field's default as plain data, computed once per field (read-only: callers merge it into new dicts)."""
    return _plain(_field_default(f))


def describe(cls: type) -> list[tuple[str, str, Any]]:
    """List ``(dotted key, doc, default)`` for every field, depth first.

    A nested section gets its own row (default `SECTION`, or None/`REQUIRED` when its default
    is that) followed by its fields; fields without a default report `REQUIRED`.
    """
    rows: list[tuple[str, str, Any]] = []
    _describe(cls, "", None, rows)
    return rows


def _describe(cls: type, prefix: str, instance: Any, rows: list) -> None:
    hints = _hints(cls)
    for name, f in _init_fields(cls).items():
        key, doc = _join(prefix, name), f.metadata.get("doc", "")
        default = getattr(instance, name) if instance is not None else _field_default(f)
        section = _section_type(hints[name])
        if section is None:
            rows.append((key, doc, _plain(default)))
            continue
        rows.append((key, doc, SECTION if _is_instance(default) else default))
        _describe(section, key, default if _is_instance(default) else None, rows)


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return REQUIRED


@functools.lru_cache(maxsize=None)
def _kind(tp: Any) -> str:
    """How `_Converter.convert` handles a field type (cached: grid expansion converts every run's config)."""
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return "any"
    if origin in (Union, types.UnionType):
        return "union"
    if origin is Literal:
        return "literal"
    if dataclasses.is_dataclass(tp):
        return "section"
    if tp in _SCALARS:
        return "scalar"
    if tp is list or origin is list:
        return "list"
    if tp is dict or origin is dict:
        return "dict"
    return "unsupported"


@functools.lru_cache(maxsize=None)
def _union_parts(tp: Any) -> tuple[bool, list]:
    """(whether None is allowed, the other alternatives) of a union type."""
    args = typing.get_args(tp)
    return _NONE_TYPE in args, [a for a in args if a is not _NONE_TYPE]


@functools.lru_cache(maxsize=None)
def _section_type(tp: Any) -> type | None:
    if typing.get_origin(tp) in (Union, types.UnionType):
        rest = [a for a in typing.get_args(tp) if a is not _NONE_TYPE]
        tp = rest[0] if len(rest) == 1 else None
    return tp if dataclasses.is_dataclass(tp) and isinstance(tp, type) else None


# --------------------------------------------------------------------------- dict helpers

def set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    """Set ``d[a][b][c] = value`` for key "a.b.c", creating missing levels as dicts."""
    parts = key.split(".")
    node = d
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ValueError(f"cannot set '{key}': '{where}' already holds {_show(child)}, "
                             f"not a mapping")
        node = child
    node[parts[-1]] = value


_NO_DEFAULT = object()


def get_dotted(d: Mapping[str, Any], key: str, default: Any = _NO_DEFAULT) -> Any:
    """Return ``d[a][b][c]`` for key "a.b.c"; KeyError (or `default`) if a level is missing."""
    node: Any = d
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            if default is _NO_DEFAULT:
                raise KeyError(key)
            return default
        node = node[part]
    return node


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """New dict: `override` on top of `base`; nested dicts merge, anything else replaces."""
    merged = {k: _copy(v) for k, v in base.items()}
    for key, value in override.items():
        if isinstance(merged.get(key), Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = _copy(value)
    return merged


# --------------------------------------------------------------------------- YAML

class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and reads ``1e-4`` / ``5e3`` as floats."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable key: SafeLoader reports it below
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_implicit_resolver(  # YAML 1.1 needs a dot and a signed exponent; relax that
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"))


def _yaml_message(exc: yaml.YAMLError) -> str:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return str(exc)
    mark = exc.problem_mark or exc.context_mark
    where = f"at line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    message = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem:
        ctx_mark = exc.context_mark
        started = (f" started at line {ctx_mark.line + 1}, column {ctx_mark.column + 1}"
                   if ctx_mark and mark and ctx_mark.line != mark.line else "")
        message += f" ({exc.context}{started})"
    return where + message


def load_yaml(path: str | PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping from `path` (an empty file gives {}); problems raise ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read file: {exc}") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        kind = "YAML error" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error"
        raise ConfigError(f"{path}: {kind} {_yaml_message(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys to values, "
                          f"got {_show(data)}")
    return data


_KEY_PART = re.compile(r"[^\s.=]+")


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """Turn ``["method.kind=continuous", "seeds=[0,1]"]`` into a nested dict.

    Values are YAML (``[0,1]``, ``true``, ``null``, ``1e-4`` as a float; quote to force a
    string). Malformed arguments are all reported together in one ConfigError.

    >>> parse_overrides(["method.kind=sft", "optim.lr=1e-4", "seeds=[0,1]"])
    {'method': {'kind': 'sft'}, 'optim': {'lr': 0.0001}, 'seeds': [0, 1]}
    """
    result: dict[str, Any] = {}
    bad: list[str] = []
    for arg in args:
        key, sep, text = arg.partition("=")
        if not sep or not all(_KEY_PART.fullmatch(p) for p in key.split(".")):
            bad.append(f"{arg!r}: expected KEY=VALUE with a dotted KEY, "
                       f"e.g. method.kind=continuous")
            continue
        try:
            set_dotted(result, key, yaml.load(text, Loader=_StrictLoader))
        except yaml.YAMLError as exc:
            bad.append(f"{arg!r}: cannot parse value {text!r}: {_yaml_message(exc)}")
        except ValueError as exc:
            bad.append(f"{arg!r}: {exc}")
    if bad:
        raise ConfigError(bad, header="invalid command-line overrides")
    return result
