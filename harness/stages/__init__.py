"""The shared stages before self-evolution: the graph and its keys (graph.py), the cache (cache.py), and the
build of each (base.py, warmup.py, prm.py)."""
