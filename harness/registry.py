"""Name -> object registries (methods, benchmarks, schedulers, ...) with helpful lookup errors."""

from __future__ import annotations

import difflib
from typing import Any, Callable


class UnknownNameError(LookupError):
    """Raised by `Registry.get` for a name that was never registered."""


class Registry:
    """A named collection of functions or classes, filled with the `register` decorator.

    >>> methods = Registry("method")
    >>> @methods.register("sft")
    ... def sft():
    ...     return "sft"
    >>> methods.get("sft")()
    'sft'
    >>> "sft" in methods, methods.names()
    (True, ['sft'])
    """

    def __init__(self, kind: str) -> None:
        """Create an empty registry; `kind` (e.g. "method") is used in error messages."""
        self.kind = kind
        self._entries: dict[str, Any] = {}

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

    def get(self, name: str) -> Any:
        """Return the entry registered as `name`; raise UnknownNameError with suggestions."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.unknown_message(name)) from None

    def names(self) -> list[str]:
        """Sorted list of registered names."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._entries
        except TypeError:  # unhashable
            return False

    def __len__(self) -> int:
        return len(self._entries)

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
