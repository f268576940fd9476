"""benchmarks/guess_floor.py: the no-skill floor is computed by the reward itself, from the labeled prior."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from harness.data.datasets import Record

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("guess_floor", ROOT / "benchmarks" / "guess_floor.py")
guess_floor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(guess_floor)


def record(i: int, answer: str, qtype: str = "free_form", choices=None) -> Record:
    return Record(str(i), Path("x.png"), "q", answer, qtype, "integer" if qtype == "free_form" else "text", "t",
                  choices=choices)


def test_uniform_guesser_over_options_and_over_the_labeled_prior():
    labeled = [record(0, "3"), record(1, "3"), record(2, "5"), record(3, "7"),
               record(4, "red", "multi_choice", ["red", "blue", "green", "black"]),
               record(5, "blue", "multi_choice", ["red", "blue", "green", "black"])]
    free, positions = guess_floor.priors(labeled)
    split = [record(10, "3"), record(11, "9"),                                   # prior mass 2/4 and 0
             record(12, "green", "multi_choice", ["red", "blue", "green", "black"])]  # 1 option of 4
    f = guess_floor.floor(split, free, positions)
    assert f["uniform_accuracy"] == round((0.5 + 0.0 + 0.25) / 3, 4)
    assert f["uniform_pass@16"] == round((1 - 0.5 ** 16 + 0 + 1 - 0.75 ** 16) / 3, 4)
    # commonest: "3" for free-form (right, wrong), option A / position 0 ("red", wrong) for multi-choice (a tie
    # between positions 0 and 1 goes to the first seen)
    assert f["commonest_accuracy"] == round(1 / 3, 4) and f["multi_choice"] == round(1 / 3, 4)
