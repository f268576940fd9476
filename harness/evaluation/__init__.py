"""Greedy evaluation of a policy on the test splits and benchmarks."""
