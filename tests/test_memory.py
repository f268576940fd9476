"""What keeps memory bounded at 180K queries: an image cache bounded in bytes, and a warm-up that samples
only the queries it needs."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from harness.config import WARMUP_EXPECTED_YIELD, WarmupConfig, load_config
from harness.data.images import ImageCache, image_bytes
from harness.stages.warmup import warmup_queries


def test_image_cache_holds_at_most_its_byte_budget_least_recently_used_first(tmp_path):
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (10, 10), (i, 0, 0)).save(paths[-1])
    one = image_bytes(Image.new("RGB", (10, 10)))
    cache = ImageCache(budget=2 * one)
    first = cache.get(paths[0])
    cache.get(paths[1])
    assert cache.get(paths[0]) is first  # a hit, and now the most recently used
    cache.get(paths[2])                  # evicts paths[1], the least recently used
    assert len(cache) == 2 and cache.bytes == 2 * one and cache.get(paths[0]) is first
    cache.resize(one)
    assert len(cache) == 1 and cache.bytes <= one
    cache.resize(0)
    assert cache.get(paths[3]).getpixel((0, 0)) == (3, 0, 0) and len(cache) == 0  # decoded, not kept


def test_warmup_samples_only_the_queries_it_needs():
    w = WarmupConfig()
    assert w.query_count(180_000) == round(w.max_examples / WARMUP_EXPECTED_YIELD) == 4800
    assert w.query_count(800) == 800  # the embedded world's split is used whole, as before
    assert load_config(None, ["warmup.queries=100"]).warmup.query_count(180_000) == 100
    records = list(range(1000))
    chosen = warmup_queries(records, 100, seed=0)
    assert len(set(chosen)) == 100 and chosen == sorted(chosen) == warmup_queries(records, 100, seed=0)
    assert chosen != warmup_queries(records, 100, seed=1) and warmup_queries(records, 1000, seed=0) is records


def test_loading_reads_image_headers_not_pixels(tmp_path):
    """A loaded record holds a path; nothing is decoded until a batch needs it."""
    import json

    from harness.data import images
    from harness.data.datasets import load_mathv360k

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    conv = [{"from": "human", "value": "<image>\nHow many?"}, {"from": "gpt", "value": "3"}]
    (tmp_path / "d.json").write_text(json.dumps([{"id": "1", "image": "a.png", "conversations": conv}]))
    before = len(images.CACHE)
    (rec,) = load_mathv360k(tmp_path / "d.json")
    assert isinstance(rec.image, Path) and len(images.CACHE) == before
