"""Where the gold answer of an unlabeled prompt comes from (the paper's section 3.4), chosen by unlabeled.mode.

`none` mixes no unlabeled prompts in. Each module of this package registers its modes with `@unlabeled_mode(...)`
(`paper.py`: the weighted-vote pseudo label and the withheld oracle answer); a new mode is one more module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.registry import Registry

UNLABELED_MODES = Registry("unlabeled mode", __name__)


@dataclass(frozen=True)
class UnlabeledMode:
    """How an unlabeled prompt's responses are judged; None: unlabeled prompts are not used."""

    gold: Callable | None  # (record, its responses, {response: reward-model score} or None) -> answer or None

    @property
    def mixes_in(self) -> bool:
        return self.gold is not None


def unlabeled_mode(name: str) -> Callable:
    """Decorator: register the function as the gold answer of unlabeled prompts under mode `name`."""
    def decorator(gold: Callable) -> Callable:
        UNLABELED_MODES.register(name)(UnlabeledMode(gold))
        return gold
    return decorator


UNLABELED_MODES.register("none")(UnlabeledMode(None))
