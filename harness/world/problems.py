"""Procedural visual-math problems, one family per MathVista task type.

Every solution follows the shape that made this world learnable (DESIGN.md section 5): first read
every item of the image, then restate what is asked, then compute, then answer. A multi-choice
answer with text options names the value to find ("find blue") and walks the options in order until
the match, then gives its letter; without the find line, and with the options on one line of the
question, multi-choice stayed at chance however long the base trained. With numeric options the walk
was not learned (the model copied the value it had just computed into every option line: geometry
and word problems stayed at chance), so those answer with the value, as MathVista's scoring allows
(issue 2's notes have the measurements). Steps are separate lines so they can be counted and
checked one by one; `distractors` are true but answer-irrelevant steps a solution may contain
("note: ..."). `ood=True` shifts the distribution the way MathVista shifts from MathV360K: unseen
phrasings, more items, fuller layouts and five options instead of four.

Answer spaces (`world.answers`): `narrow`, the original world, poses half the questions as multi-choice with four
options, text answers from four colours, small integers; a guesser that never looks at the image gets Pass@16 0.87
on it (benchmarks/guess_floor.py). `wide` (issue 20) poses about a tenth as multi-choice with 2-5 options, names
objects by colour and shape from eight colours (24 answers), counts dice pips, and asks for products, three-bar
totals, bags of fruit and shares among 2-4 (answers up to 90): the guesser's Pass@16 falls to 0.50 on val. With
`narrow` every generator draws exactly the random numbers it always drew: the original world's data is unchanged.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from PIL import Image

from harness.config import ANSWER_SPACES
from harness.data.datasets import OPTION_LETTERS
from harness.registry import Registry
from harness.world import render

FAMILIES = Registry("problem family")
WIDE_MULTI_CHOICE = 0.1  # share of questions posed as multi-choice where the answer allows it (narrow: 0.5)


@dataclass
class Problem:
    """One generated question with its image, gold answer and gold step-by-step solution."""

    image: Image.Image
    question: str                  # question text without the image placeholder or the choices
    answer: str                    # gold answer; for multi-choice the choice text
    answer_type: str               # integer | float | text
    task: str                      # MathVista metadata.task
    family: str                    # generator family name
    steps: list[str]               # gold solution, one step per line, last line "answer: X"
    caption: str                   # what the image shows, as the solution's reading steps write it
    distractors: list[str] = field(default_factory=list)  # answer-irrelevant but true steps
    question_type: str = "free_form"  # multi_choice | free_form
    choices: list[str] | None = None
    precision: int | None = None   # decimals of a float answer
    unit: str | None = None


@dataclass
class _Core:
    """What a family computes before the answer is posed as free-form or multi-choice."""

    question: str
    value: str
    answer_type: str
    steps: list[str]               # reading + restating + computing; no answer line yet
    pool: list[str]                # plausible wrong answers for multi-choice options
    distractors: list[str] = field(default_factory=list)
    precision: int | None = None
    unit: str | None = None
    force_choice: bool = False     # text answers drawn from a closed set are always multi-choice
    reads: int = 1                 # how many leading steps only read the image (the caption)


def _pose(rng: random.Random, core: _Core, image, family: str, task: str, ood: bool, wide: bool = False) -> Problem:
    """Turn a computed core into a free-form or multi-choice problem with its answer steps."""
    share = WIDE_MULTI_CHOICE if wide else 0.5
    multi = (core.force_choice and not wide) or (len(set(core.pool) - {core.value}) >= 3 and rng.random() < share)
    common = dict(image=image, question=core.question, answer_type=core.answer_type, task=task,
                  caption="\n".join(core.steps[: core.reads]),
                  family=family, distractors=core.distractors, precision=core.precision, unit=core.unit)
    by_value = [f"answer: {core.value}"]
    if not multi:
        return Problem(answer=core.value, steps=core.steps + by_value, **common)
    n = 5 if ood else rng.randint(2, 5) if wide else 4
    wrong = sorted(set(core.pool) - {core.value})
    rng.shuffle(wrong)
    choices = wrong[: n - 1] + [core.value]
    rng.shuffle(choices)
    # numeric options: the answer line names the value, which MathVista's scoring maps onto its choice
    answer = option_walk(core.value, choices) if core.answer_type == "text" else by_value
    return Problem(answer=core.value, steps=core.steps + answer, question_type="multi_choice", choices=choices,
                   **common)


def option_walk(value: str, choices: list[str]) -> list[str]:
    """The answer steps that name the value to find, copy the options in order to the match, and give its letter."""
    idx = choices.index(value)
    walk = [f"({OPTION_LETTERS[i]}) {c}" for i, c in enumerate(choices[: idx + 1])]
    return [f"find {value}"] + walk + [f"answer: {OPTION_LETTERS[idx]}"]


def _phrase(rng: random.Random, ood: bool, id_phrasings: list[str], ood_phrasings: list[str], **kw) -> str:
    """Pick an in-distribution or held-out phrasing and fill it in."""
    return rng.choice(ood_phrasings if ood else id_phrasings).format(**kw)


def _fmt_float(x: float, precision: int = 1) -> str:
    return f"{x:.{precision}f}"


def _code(color: str, shape: str) -> str:
    return color[0] + shape[0]


def _grid_text(cells: dict[tuple[int, int], str]) -> str:
    """Read every cell: row by row, '.' for empty, rows separated by '/'."""
    return "/".join(" ".join(cells.get((r, c), ".") for c in range(3)) for r in range(3))


def _scatter(rng: random.Random, n: int, cells=None) -> list[tuple[int, int]]:
    cells = cells or [(r, c) for r in range(3) for c in range(3)]
    return rng.sample(cells, n)


@FAMILIES.register("chart")
def chart(rng: random.Random, ood: bool, wide: bool = False) -> Problem:
    """Bar chart: three coloured bars with their values labelled above them (figure QA). Wide: eight colours, and
    the total of all three bars and the product of two instead of a sum of two and a difference."""
    palette = list(render.WIDE_COLORS if wide else render.COLORS)
    colors = rng.sample(palette, 3)
    values = [rng.randint(1, 9) for _ in colors]
    while len(set(values)) < 3:
        values = [rng.randint(1, 9) for _ in colors]
    img = render.blank()
    for col, (color, v) in enumerate(zip(colors, values)):
        render.draw_digit(img, 0, col, v)
        render.draw_bar(img, col, v, color)
    read = " ".join(f"{c}={v}" for c, v in zip(colors, values))
    val = dict(zip(colors, values))
    top = max(colors, key=val.get)
    low = min(colors, key=val.get)
    kind = rng.choice(["total", "product", "product", "max", "mean"] if wide else ["sum", "diff", "max", "mean"])
    if kind == "total":
        q = _phrase(rng, ood, ["What is the total of all three bars?", "Sum of every bar?"],
                    ["Add up the values of the three bars."])
        s = sum(values)
        core = _Core(q, str(s), "integer", [read, "ask total", "+".join(map(str, values)) + f"={s}"],
                     [str(s + d) for d in (-3, -2, -1, 1, 2, 3)], [f"note: {top} is tallest"])
    elif kind == "product":
        a, b = rng.sample(colors, 2)
        q = _phrase(rng, ood, ["What is {a} times {b}?", "Multiply the {a} bar by the {b} bar."],
                    ["Give the product of the {a} value and the {b} value."], a=a, b=b)
        s = val[a] * val[b]
        core = _Core(q, str(s), "integer", [read, f"ask {a}*{b}", f"{val[a]}*{val[b]}={s}"],
                     [str(s + d) for d in (-val[a], -val[b], -1, 1, val[a], val[b]) if s + d > 0],
                     [f"note: {low} is shortest"])
    elif kind == "sum":
        a, b = rng.sample(colors, 2)
        q = _phrase(rng, ood, ["What is {a} plus {b}?", "Sum of the {a} and {b} bars?"],
                    ["Add the {a} value to the {b} value.", "Combined height of {a} and {b}?"], a=a, b=b)
        s = val[a] + val[b]
        core = _Core(q, str(s), "integer", [read, f"ask {a}+{b}", f"{val[a]}+{val[b]}={s}"],
                     [str(s + d) for d in (-3, -2, -1, 1, 2, 3) if s + d > 0],
                     [f"note: {top} is tallest"])
    elif kind == "diff":
        q = _phrase(rng, ood, ["How much taller is the tallest bar than the shortest?",
                               "Difference between the highest and lowest bar?"],
                    ["By how much does the largest bar exceed the smallest?"])
        d = val[top] - val[low]
        core = _Core(q, str(d), "integer", [read, "ask max-min", f"{val[top]}-{val[low]}={d}"],
                     [str(d + k) for k in (-2, -1, 1, 2, 3) if d + k >= 0], [f"note: total={sum(values)}"])
    elif kind == "max":
        q = _phrase(rng, ood, ["Which bar is tallest?", "Which color has the largest value?"],
                    ["Name the color of the highest bar."])
        core = _Core(q, top, "text", [read, "ask max", f"max={val[top]} {top}"], palette,
                     [f"note: {low} is shortest"], force_choice=True)
    else:
        q = _phrase(rng, ood, ["What is the mean of the bars?", "Average value of the three bars?"],
                    ["Compute the average bar height."])
        m = sum(values) / 3
        core = _Core(q, _fmt_float(m), "float", [read, "ask mean", f"{sum(values)}/3={_fmt_float(m)}"],
                     [_fmt_float(m + k) for k in (-1, -0.7, -0.3, 0.3, 0.7, 1)],
                     [f"note: {top} is tallest"], precision=1)
    return _pose(rng, core, img, "chart", "figure question answering", ood, wide)


@FAMILIES.register("geometry")
def geometry(rng: random.Random, ood: bool, wide: bool = False) -> Problem:
    """Rectangle or right triangle with its side lengths in fixed label cells (geometry)."""
    shape = rng.choice(["rectangle", "triangle"])
    w, h = rng.randint(2, 9), rng.randint(2, 9)
    img = render.blank()
    render.draw_outline(img, shape)
    render.draw_digit(img, 0, 1, w)
    render.draw_digit(img, 1, 0, h)
    read = [f"shape: {shape}", f"w={w} h={h}"]
    if shape == "rectangle" and rng.random() < 0.5:
        q = _phrase(rng, ood, ["What is the perimeter of the rectangle in cm?", "Perimeter of the rectangle (cm)?"],
                    ["Find the distance around the rectangle, in cm."])
        p = 2 * (w + h)
        core = _Core(q, str(p), "integer", read + ["ask perimeter", f"2*({w}+{h})={p}"],
                     [str(p + k) for k in (-4, -2, 2, 4)] + [str(w * h)], [f"note: area={w * h}"], unit="cm")
    elif shape == "rectangle":
        q = _phrase(rng, ood, ["What is the area of the rectangle?", "Area of the rectangle?"],
                    ["How much space does the rectangle cover?"])
        a = w * h
        core = _Core(q, str(a), "integer", read + ["ask area", f"{w}*{h}={a}"],
                     [str(a + k) for k in (-w, -h, h, w)] + [str(2 * (w + h))], [f"note: perimeter={2 * (w + h)}"])
    else:
        q = _phrase(rng, ood, ["What is the area of the right triangle?", "Area of the triangle?"],
                    ["Find the triangle's area."])
        a = _fmt_float(w * h / 2)
        core = _Core(q, a, "float", read + ["ask area", f"{w}*{h}/2={a}"],
                     [_fmt_float(w * h / 2 + k) for k in (-1.5, -1, -0.5, 0.5, 1, 1.5)] + [_fmt_float(w * h)],
                     [f"note: legs {w} and {h}"], precision=1)
    core.reads = len(read)
    return _pose(rng, core, img, "geometry", "geometry problem solving", ood, wide)


_FRUITS = {"apple": ("red", "circle"), "lemon": ("yellow", "circle"), "pear": ("green", "triangle")}


@FAMILIES.register("word_problem")
def word_problem(rng: random.Random, ood: bool, wide: bool = False) -> Problem:
    """Arithmetic story over the fruits pictured in the grid (math word problem). Wide: prices up to 9 dollars."""
    n = rng.randint(6, 9) if ood else rng.randint(3, 6)
    kinds = [rng.choice(list(_FRUITS)) for _ in range(n)]
    cells = dict(zip(_scatter(rng, n), kinds))
    img = render.blank()
    for (r, c), k in cells.items():
        render.draw_shape(img, r, c, _FRUITS[k][1], _FRUITS[k][0])
    read = _grid_text({rc: k[0] for rc, k in cells.items()})
    count = {k: kinds.count(k) for k in _FRUITS}
    fruit = rng.choice(kinds)
    c = count[fruit]
    other = rng.choice([k for k in _FRUITS if k != fruit])
    note = [f"note: {other}s={count[other]}"]
    kind = rng.choice(["buy", "cost", "cost", "share"] if wide else ["buy", "eat", "cost", "share"])
    if kind == "buy" and wide:
        k, m = rng.randint(2, 9), rng.randint(2, 9)
        q = _phrase(rng, ood, ["Ann buys {k} bags of {m} {f}s. How many {f}s does she have?"],
                    ["After {k} boxes of {m} {f}s arrive, count the {f}s."], k=k, m=m, f=fruit)
        s = c + k * m
        core = _Core(q, str(s), "integer", [read, f"{fruit}s={c}", f"ask {fruit}s+{k}*{m}", f"{c}+{k}*{m}={s}"],
                     [str(s + d) for d in (-m, -k, -1, 1, k, m) if s + d > 0], note)
    elif kind == "buy":
        k = rng.randint(1, 5)
        q = _phrase(rng, ood, ["Ann buys {k} more {f}s. How many {f}s does she have?"],
                    ["After {k} more {f}s arrive, count the {f}s."], k=k, f=fruit)
        s = c + k
        core = _Core(q, str(s), "integer", [read, f"{fruit}s={c}", f"ask {fruit}s+{k}", f"{c}+{k}={s}"],
                     [str(s + d) for d in (-2, -1, 1, 2)], note)
    elif kind == "eat":
        k = rng.randint(1, c)
        q = _phrase(rng, ood, ["Ann eats {k} {f}s. How many {f}s are left?"],
                    ["If {k} {f}s are eaten, how many {f}s remain?"], k=k, f=fruit)
        s = c - k
        core = _Core(q, str(s), "integer", [read, f"{fruit}s={c}", f"ask {fruit}s-{k}", f"{c}-{k}={s}"],
                     [str(s + d) for d in (-1, 1, 2, 3) if s + d >= 0], note)
    elif kind == "cost":
        p = rng.randint(2, 9 if wide else 5)
        q = _phrase(rng, ood, ["Each {f} costs {p} dollars. What do the {f}s cost?"],
                    ["At {p} dollars per {f}, what is the price of all {f}s?"], p=p, f=fruit)
        s = c * p
        core = _Core(q, str(s), "integer", [read, f"{fruit}s={c}", f"ask {fruit}s*{p}", f"{c}*{p}={s}"],
                     [str(s + d) for d in (-p, -1, 1, p)], note, unit="dollars")
    else:
        kids = rng.randint(2, 4) if wide else 2
        if wide:
            q = _phrase(rng, ood, ["{k} kids share all the fruit equally. How many does each get?"],
                        ["Split every fruit between {k} children. What is each share?"], k=kids)
        else:
            q = _phrase(rng, ood, ["Two kids share all the fruit equally. How many does each get?"],
                        ["Split every fruit between 2 children. What is each share?"])
        s = _fmt_float(n / kids)
        core = _Core(q, s, "float", [read, f"fruits={n}", f"ask fruits/{kids}", f"{n}/{kids}={s}"],
                     [_fmt_float(n / kids + d) for d in (-1, -0.5, 0.5, 1)], note, precision=1)
    return _pose(rng, core, img, "word_problem", "math word problem", ood, wide)


_DIRS = {"up": (0, 1), "left": (1, 0), "right": (1, 2), "down": (2, 1)}
_OPPOSITE = {"up": "down", "down": "up", "left": "right", "right": "left"}
_ARROW_CODE = {"up": "^", "down": "v", "left": "<", "right": ">"}


@FAMILIES.register("arrow_diagram")
def arrow_diagram(rng: random.Random, ood: bool, wide: bool = False) -> Problem:
    """Textbook-style diagram: an arrow in the centre pointing at one of four coloured objects. Wide: eight colours,
    and the answer names the object by colour and shape ("red circle": 24 answers)."""
    colors = rng.sample(list(render.WIDE_COLORS if wide else render.COLORS), 4)
    img = render.blank()
    cells = {rc: (color, rng.choice(render.SHAPES)) for rc, color in zip(_DIRS.values(), colors)}
    if ood:  # fuller layout: distracting objects in the corners too
        for rc in [(0, 0), (0, 2), (2, 0), (2, 2)]:
            cells[rc] = (rng.choice(colors), rng.choice(render.SHAPES))
    for rc, (color, shape) in cells.items():
        render.draw_shape(img, *rc, shape, color)
    direction = rng.choice(list(_DIRS))
    render.draw_arrow(img, 1, 1, direction)
    codes = {rc: _code(*o) for rc, o in cells.items()}
    codes[(1, 1)] = _ARROW_CODE[direction]
    read = _grid_text(codes)
    if rng.random() < 0.5:
        q = _phrase(rng, ood, ["Which object does the arrow point to?", "The arrow points at which object?"],
                    ["Name the object at the tip of the arrow."]) if wide else \
            _phrase(rng, ood, ["What color is the object the arrow points to?", "The arrow points at which color?"],
                    ["Name the color at the tip of the arrow."])
        target = direction
        steps = [read, f"arrow points {direction}"]
    else:
        q = _phrase(rng, ood, ["Which object is opposite the arrow's target?"],
                    ["Which object lies across from what the arrow points at?"]) if wide else \
            _phrase(rng, ood, ["What color is opposite the arrow's target?"],
                    ["Which color lies across from what the arrow points at?"])
        target = _OPPOSITE[direction]
        steps = [read, f"arrow points {direction}", f"opposite is {target}"]
    color, shape = cells[_DIRS[target]]
    steps.append(f"{target}: {codes[_DIRS[target]]}")
    if wide:  # the object, as answers write it
        value, pool = f"{color} {shape}", [f"{c} {s}" for c in render.WIDE_COLORS for s in render.SHAPES]
        steps.append(f"object: {value}")
    else:  # the code's colour, as answers write it
        value, pool = color, list(render.COLORS)
        steps.append(f"color: {color}")
    other = rng.choice([d for d in _DIRS if d not in (direction, target)])
    core = _Core(q, value, "text", steps, pool, [f"note: {other}: {codes[_DIRS[other]]}"],
                 force_choice=rng.random() < 0.5)
    return _pose(rng, core, img, "arrow_diagram", "textbook question answering", ood, wide)


@FAMILIES.register("counting")
def counting(rng: random.Random, ood: bool, wide: bool = False) -> Problem:
    """Count objects of a colour or a shape among those pictured (visual question answering). Wide: count the
    pips of dice faces (all of them, or those of one colour): answers up to 54 instead of up to 9."""
    if wide:
        return _count_pips(rng, ood)
    n = rng.randint(5, 9) if ood else rng.randint(2, 6)
    palette = list(render.COLORS)[:3]
    cells = {rc: (rng.choice(palette), rng.choice(render.SHAPES)) for rc in sorted(_scatter(rng, n))}
    objs = list(cells.values())  # reading order, so the listing step follows the grid
    img = render.blank()
    for (r, c), (color, shape) in cells.items():
        render.draw_shape(img, r, c, shape, color)
    read = _grid_text({rc: _code(*o) for rc, o in cells.items()})
    if rng.random() < 0.5:
        attr = rng.choice(palette)
        match = [o for o in objs if o[0] == attr]
        q = _phrase(rng, ood, ["How many {a} objects are there?", "Count the {a} objects."],
                    ["What is the number of {a} things in the picture?"], a=attr)
    else:
        shape = rng.choice(render.SHAPES)
        attr = shape + "s"
        match = [o for o in objs if o[1] == shape]
        q = _phrase(rng, ood, ["How many {a} are there?", "Count the {a}."],
                    ["What is the number of {a} in the picture?"], a=attr)
    listed = " ".join(_code(*o) for o in match) or "none"
    k = len(match)
    core = _Core(q, str(k), "integer", [read, f"ask {attr}", f"{attr}: {listed}", f"count {k}"],
                 [str(k + d) for d in (-2, -1, 1, 2, 3) if k + d >= 0], [f"note: total {n}"])
    return _pose(rng, core, img, "counting", "visual question answering", ood, wide)


def _count_pips(rng: random.Random, ood: bool) -> Problem:
    n = rng.randint(5, 9) if ood else rng.randint(2, 6)
    palette = list(render.WIDE_COLORS)[:4]
    cells = {rc: (rng.choice(palette), rng.randint(1, 6)) for rc in sorted(_scatter(rng, n))}
    img = render.blank()
    for (r, c), (color, pips) in cells.items():
        render.draw_pips(img, r, c, pips, color)
    read = _grid_text({rc: f"{color[0]}{pips}" for rc, (color, pips) in cells.items()})
    faces = list(cells.values())  # reading order
    if rng.random() < 0.25:
        attr = rng.choice(palette)
        match = [p for color, p in faces if color == attr]
        q = _phrase(rng, ood, ["How many {a} pips are there?", "Count the pips on the {a} dice."],
                    ["What is the total of the {a} dice?"], a=attr)
        steps = [read, f"ask {attr} pips", f"{attr}: " + (" ".join(map(str, match)) or "none")]
    else:
        match = [p for _, p in faces]
        q = _phrase(rng, ood, ["How many pips are there in total?", "Count all the pips."],
                    ["What do all the dice add up to?"])
        steps = [read, "ask all pips"]
    k = sum(match)
    steps.append("+".join(map(str, match)) + f"={k}" if len(match) > 1 else f"count {k}")
    core = _Core(q, str(k), "integer", steps, [str(k + d) for d in (-3, -2, -1, 1, 2, 3) if k + d >= 0],
                 [f"note: {n} dice"])
    return _pose(rng, core, img, "counting", "visual question answering", ood, True)


def generate(rng: random.Random, family: str, ood: bool = False, answers: str = "narrow") -> Problem:
    """One problem of the named family, in the named answer space (ANSWER_SPACES)."""
    if answers not in ANSWER_SPACES:
        raise ValueError(f"unknown answer space {answers!r}; choose from {ANSWER_SPACES}")
    return FAMILIES.get(family)(rng, ood, answers == "wide")
