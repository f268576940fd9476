"""Pillow drawing for the embedded world: a 3x3 grid of 16-px cells, one object or label per cell.

Perception layout decides learnability (DESIGN.md section 5): every glyph sits alone in a fixed
cell, digits are drawn as 13-px seven-segment glyphs so they never depend on an installed font.
"""
from __future__ import annotations

from PIL import Image, ImageDraw

CELL = 16
GRID = 3
SIZE = CELL * GRID

COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 190, 20),
}
# world.answers=wide names objects from eight colours (initials stay unique: a reading step writes "rc" for a red
# circle); the first four are the narrow world's, unchanged
WIDE_COLORS = {**COLORS, "purple": (140, 60, 200), "orange": (240, 130, 30), "cyan": (30, 190, 210),
               "magenta": (220, 40, 170)}
SHAPES = ("circle", "square", "triangle")

# Seven-segment layout: which segments light up for each digit (a b c d e f g).
_SEGMENTS = {
    "0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg",
    "5": "acdfg", "6": "acdefg", "7": "abc", "8": "abcdefg", "9": "abcdfg",
}


def blank() -> Image.Image:
    """A white 48x48 canvas."""
    return Image.new("RGB", (SIZE, SIZE), (255, 255, 255))


def cell_box(row: int, col: int, pad: int = 2) -> tuple[int, int, int, int]:
    """Pixel box of a grid cell, shrunk by `pad` on every side."""
    x0, y0 = col * CELL + pad, row * CELL + pad
    return x0, y0, x0 + CELL - 1 - 2 * pad, y0 + CELL - 1 - 2 * pad


def draw_shape(img: Image.Image, row: int, col: int, shape: str, color: str) -> None:
    """A filled circle, square or triangle in one cell."""
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = cell_box(row, col)
    fill = WIDE_COLORS[color]
    if shape == "circle":
        d.ellipse((x0, y0, x1, y1), fill=fill)
    elif shape == "square":
        d.rectangle((x0 + 1, y0 + 1, x1 - 1, y1 - 1), fill=fill)
    elif shape == "triangle":
        d.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")


def draw_digit(img: Image.Image, row: int, col: int, digit: int, color=(0, 0, 0)) -> None:
    """A 13-px seven-segment digit centred in one cell."""
    d = ImageDraw.Draw(img)
    x0, y0 = col * CELL + 4, row * CELL + 1
    w, h, t = 8, 13, 2
    mid = y0 + h // 2
    segs = {
        "a": (x0, y0, x0 + w, y0 + t - 1),
        "b": (x0 + w - t + 1, y0, x0 + w, mid),
        "c": (x0 + w - t + 1, mid, x0 + w, y0 + h),
        "d": (x0, y0 + h - t + 1, x0 + w, y0 + h),
        "e": (x0, mid, x0 + t - 1, y0 + h),
        "f": (x0, y0, x0 + t - 1, mid),
        "g": (x0, mid - t // 2, x0 + w, mid + t // 2 - 1 + t % 2),
    }
    for s in _SEGMENTS[str(digit)]:
        d.rectangle(segs[s], fill=color)


# Dice faces: which of a cell's 3x3 pip positions (row, col) are filled for 1..6 pips.
_PIPS = {1: [(1, 1)], 2: [(0, 0), (2, 2)], 3: [(0, 0), (1, 1), (2, 2)], 4: [(0, 0), (0, 2), (2, 0), (2, 2)],
         5: [(0, 0), (0, 2), (1, 1), (2, 0), (2, 2)], 6: [(0, 0), (0, 2), (1, 0), (1, 2), (2, 0), (2, 2)]}


def draw_pips(img: Image.Image, row: int, col: int, pips: int, color: str) -> None:
    """A dice face of 1..6 square pips, 3 px each, in one cell (world.answers=wide's counting)."""
    d = ImageDraw.Draw(img)
    for r, c in _PIPS[pips]:
        x, y = col * CELL + 2 + 4 * c + c, row * CELL + 2 + 4 * r + r
        d.rectangle((x, y, x + 2, y + 2), fill=WIDE_COLORS[color])


def draw_arrow(img: Image.Image, row: int, col: int, direction: str) -> None:
    """A black arrow pointing up, down, left or right, filling one cell."""
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = cell_box(row, col, pad=1)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    heads = {
        "up": [(cx, y0), (x1, cy), (x0, cy)],
        "down": [(cx, y1), (x1, cy), (x0, cy)],
        "left": [(x0, cy), (cx, y0), (cx, y1)],
        "right": [(x1, cy), (cx, y0), (cx, y1)],
    }
    shafts = {
        "up": (cx - 1, cy, cx + 1, y1), "down": (cx - 1, y0, cx + 1, cy),
        "left": (cx, cy - 1, x1, cy + 1), "right": (x0, cy - 1, cx, cy + 1),
    }
    d.polygon(heads[direction], fill=(0, 0, 0))
    d.rectangle(shafts[direction], fill=(0, 0, 0))


def draw_bar(img: Image.Image, col: int, value: int, color: str, rows: tuple[int, int] = (1, 2)) -> None:
    """A vertical bar of height proportional to `value` (1..9) standing in rows[0]..rows[1] of a column."""
    d = ImageDraw.Draw(img)
    bottom = (rows[1] + 1) * CELL - 1
    span = (rows[1] - rows[0] + 1) * CELL - 2
    top = bottom - round(span * value / 9)
    d.rectangle((col * CELL + 3, top, col * CELL + CELL - 4, bottom), fill=WIDE_COLORS[color])


def draw_outline(img: Image.Image, kind: str) -> None:
    """A rectangle or right triangle outline in the lower-right 2x2 block of cells."""
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = CELL + 2, CELL + 2, SIZE - 3, SIZE - 3
    if kind == "rectangle":
        d.rectangle((x0, y0, x1, y1), outline=(0, 0, 0), width=2)
    elif kind == "triangle":
        d.line([(x0, y0), (x0, y1), (x1, y1), (x0, y0)], fill=(0, 0, 0), width=2)
    else:
        raise ValueError(f"unknown outline {kind!r}")
