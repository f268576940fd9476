"""Name -> object registries (methods, operators, backends, ...) that find their own entries, with helpful lookup
errors.

A registry made with a `source` package finds its entries there: every module of the package registers what it
defines with the `register` decorator when it is imported, and the registry imports them all the first time it
is asked for a name (`get`, `names`, `in`, `len`). Adding an entry is adding one module to the package; nothing
imports it by hand, and no module imports another at its bottom just to register it. The source may also be a
single module. Config validation asks the registries for the allowed values, so a name is typed once, and
validating a config imports every entry module: an entry whose implementation needs heavy libraries (torch) names
it with `lazy("module:object")`, imported when first called.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from typing import Any, Callable


class UnknownNameError(LookupError):
    """Raised by `Registry.get` for a name that was never registered."""


class Registry:
    """A named collection of functions, classes or records, filled with the `register` decorator.

    >>> methods = Registry("method")
    >>> @methods.register("sft")
    ... def sft():
    ...     return "sft"
    >>> methods.get("sft")()
    'sft'
    >>> "sft" in methods, methods.names()
    (True, ['sft'])
    """

    def __init__(self, kind: str, source: str | None = None) -> None:
        """Create an empty registry; `kind` (e.g. "method") is used in error messages, `source` (a dotted package
        or module name) is where its entries register themselves, imported on first use."""
        self.kind = kind
        self.source = source
        self._entries: dict[str, Any] = {}
        self._found = source is None

    def register(self, name: str) -> Callable[[Any], Any]:
        """Return a decorator that registers its target under `name` and returns it unchanged."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def decorator(obj: Any) -> Any:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is already registered "
                                 f"(by {self._entries[name]!r})")
            self._entries[name] = obj
            return obj

        return decorator

    def _entries_found(self) -> dict[str, Any]:
        """The entries, after importing every module of the source once (an import error propagates, and the
        next lookup tries again)."""
        if not self._found:
            module = importlib.import_module(self.source)
            for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{self.source}.{info.name}")
            self._found = True
        return self._entries

    def get(self, name: str) -> Any:
        """Return the entry registered as `name`; raise UnknownNameError with suggestions."""
        try:
            return self._entries_found()[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.unknown_message(name)) from None

    def names(self) -> list[str]:
        """Sorted list of registered names."""
        return sorted(self._entries_found())

    def items(self) -> list[tuple[str, Any]]:
        """(name, entry) pairs, sorted by name."""
        return [(name, self._entries_found()[name]) for name in self.names()]

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._entries_found()
        except TypeError:  # unhashable
            return False

    def __len__(self) -> int:
        return len(self._entries_found())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"

    def unknown_message(self, name: object) -> str:
        names = self.names()
        shown = f"'{name}'" if isinstance(name, str) else repr(name)
        message = f"Unknown {self.kind} {shown}."
        if isinstance(name, str):
            close = difflib.get_close_matches(name, names, n=1)
            if close:
                message += f" Did you mean '{close[0]}'?"
        return f"{message} Available: {', '.join(names) or '(none)'}"


class lazy:  # noqa: N801  (used like a function)
    """A callable named "module:object", imported when first called.

    >>> join = lazy("os.path:join")
    >>> join("a", "b"), join
    ('a/b', lazy('os.path:join'))
    """

    def __init__(self, target: str) -> None:
        module, sep, name = target.partition(":")
        if not (module and sep and name):
            raise ValueError(f"expected 'module:object', got {target!r}")
        self.target = target
        self._resolved: Any = None

    def resolve(self) -> Any:
        if self._resolved is None:
            module, _, name = self.target.partition(":")
            self._resolved = getattr(importlib.import_module(module), name)
        return self._resolved

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"lazy({self.target!r})"
