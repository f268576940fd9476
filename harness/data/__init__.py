"""Datasets: the MathV360K- and MathVista-style records and a data folder's splits, the evaluation sets of the
paper's Table 5, answer forms, decoded images, the pre-flight checks, and the writers of `harness data`."""
