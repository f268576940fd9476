"""M-STAR self-evolving training harness."""
