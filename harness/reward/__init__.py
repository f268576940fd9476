"""Judging responses: answers and steps, reward models (models/), the H operators (operators/) and selection,
the PRM and its data and controls, the verifier analysis, unlabeled prompts (unlabeled_modes/)."""
