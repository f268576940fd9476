"""Decoded images behind an LRU cache bounded in bytes (`data.image_cache_mb`).

Records hold image paths; pixels are decoded when a batch is encoded, and the cache keeps the most
recently used ones within a byte budget. A count bound (the earlier 65,536 entries) holds ~65K images
whatever their size: at MathV360K's sizes that is tens of GiB.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PIL import Image

MIB = 2 ** 20


def image_bytes(im: Image.Image) -> int:
    """Memory of a decoded image's pixels."""
    return im.width * im.height * len(im.getbands())


class ImageCache:
    """Path -> decoded RGB image, least recently used dropped first once `budget` bytes are held."""

    def __init__(self, budget: int):
        self.budget, self.bytes = budget, 0
        self._images: OrderedDict[Path, Image.Image] = OrderedDict()

    def get(self, path: Path) -> Image.Image:
        if path in self._images:
            self._images.move_to_end(path)
            return self._images[path]
        with Image.open(path) as im:
            image = im.convert("RGB")
        self._images[path] = image
        self.bytes += image_bytes(image)
        self._shrink()
        return image

    def resize(self, budget: int) -> None:
        self.budget = budget
        self._shrink()

    def _shrink(self) -> None:
        while self.bytes > self.budget and self._images:
            _, old = self._images.popitem(last=False)
            self.bytes -= image_bytes(old)

    def __len__(self) -> int:
        return len(self._images)


def _default_budget() -> int:
    from harness.config import DataConfig  # the default lives in the config schema

    return DataConfig().image_cache_mb * MIB


CACHE = ImageCache(_default_budget())


def load_image(path: Path) -> Image.Image:
    """An RGB image, decoded once while it stays in the process's cache."""
    return CACHE.get(Path(path))


def set_cache_budget(mb: int) -> None:
    """Bound this process's image cache to `mb` MiB (a run applies `data.image_cache_mb`)."""
    CACHE.resize(mb * MIB)
