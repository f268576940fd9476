"""The policy: loading a checkpoint with the configured options, one adapter per model family, and its placement
over the ranks of a run (single, DDP, FSDP2)."""
