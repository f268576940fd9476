"""Named recipes: dotted-key overrides a grid block can start from with `recipe: <name>`."""
from __future__ import annotations

# The best static recipe of sections 3.2-3.3: continuous self-evolving at a 25% interval, PRM top-2 re-rank.
STATIC = {"method.kind": "continuous", "method.interval": 0.25, "reward_model.kind": "prm",
          "select.operator": "top_k", "select.k": 2}

RECIPES = {
    "static": STATIC,
    # M-STAR (section 4.2): the static recipe with the temperature chosen by Reward-Pass@2 every 2 iterations.
    "mstar": {**STATIC, "temperature.policy": "adaptive", "temperature.metric": "reward_pass_at_2",
              "temperature.every": 2},
}
