"""Sampling: the settings record (settings.py), the one sampling call (sharded.py) and the backends (backends.py)."""
