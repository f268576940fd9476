"""Self-evolution: the loop (evolve.py) and the run folder, the training dynamics it monitors (metrics/) and the
sampling-temperature policies (temperature/)."""
