"""Greedy evaluation of a policy on the test splits and benchmarks: prompt forms and CircularEval, scoring by rules
and an LLM judge, the responses kept and scored again without the model (`harness rescore`)."""
