"""What a study leaves in its folder for people: best.yaml, trials.csv and optuna's plots (PNG).

best.yaml holds every override of the best trial on top of the base run config (the spec's `set`
and the best parameters) as nested YAML, so `harness run results/<name>/best.yaml` runs it on the
defaults, `load_yaml` + `deep_merge` applies it to any config, and its first lines give the same
as a `harness run <base> key=value ...` command line to paste into a grid's `set`.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

from harness.app.grid import _nested
from harness.app.tune.spec import Tune, spec_keys
from harness.io import atomic_write_text

log = logging.getLogger("harness")
MIN_TRIALS_FOR_IMPORTANCE = 4


def write_report(study: optuna.Study, tune: Tune) -> dict[str, Path]:
    """Write what the study has so far; returns the files written (nothing before a complete trial)."""
    folder, out = tune.folder, {}
    out["trials"] = folder / "trials.csv"
    atomic_write_text(out["trials"], study.trials_dataframe().to_csv(index=False))
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return out
    out["best"] = folder / "best.yaml"
    atomic_write_text(out["best"], best_yaml(study.best_trial, tune, len(complete)))
    out.update(plots(study, tune, len(complete)))
    return out


def assignments(overrides: dict) -> str:
    """key=value arguments, values in YAML flow style.

    >>> assignments({"select.alpha": 0.2, "reward_model.kind": "prm", "monitor.temperatures": [0.5, 1.0]})
    'select.alpha=0.2 reward_model.kind=prm monitor.temperatures=[0.5, 1.0]'
    """
    def flow(v):
        return yaml.safe_dump(v, default_flow_style=True, width=10**6).strip().removesuffix("\n...").strip()
    return " ".join(f"{k}={flow(v)}" for k, v in overrides.items())


def best_yaml(best: optuna.trial.FrozenTrial, tune: Tune, complete: int) -> str:
    overrides = {**tune.spec.set, **best.params}
    run_cli = [a for a in tune.cli if a.partition("=")[0].split(".")[0] not in spec_keys()]
    base = str(tune.base_file) if tune.base_file else "<run config>"
    header = [f"# best of {complete} complete trials of study {tune.name}: {tune.spec.objective} = {best.value:.6g} "
              f"(trial {best.number}, {tune.spec.direction})",
              "# harness run " + " ".join([base, *run_cli, assignments(overrides)]),
              f"# as overrides: {assignments(best.params)}"]
    return "\n".join(header) + "\n" + yaml.safe_dump(_nested(overrides), sort_keys=False)


def plots(study: optuna.Study, tune: Tune, complete: int) -> dict[str, Path]:
    """Optimisation history, slice and (several parameters, enough trials) importances, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    target = tune.spec.objective
    wanted = {"history": lambda: ovm.plot_optimization_history(study, target_name=target),
              "slice": lambda: ovm.plot_slice(study, target_name=target)}
    if len(tune.spec.space) > 1 and complete >= MIN_TRIALS_FOR_IMPORTANCE:
        # PED-ANOVA needs no scikit-learn (the default fANOVA evaluator does)
        wanted["importances"] = lambda: ovm.plot_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(), target_name=target)
    out = {}
    for name, draw in wanted.items():
        path = tune.folder / "plots" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                axes = draw()
        except Exception as exc:  # a plot optuna cannot draw from these trials is skipped, not fatal
            log.warning("plot %s skipped: %s", name, exc)
            continue
        first = axes.flat[0] if hasattr(axes, "flat") else axes
        first.figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(first.figure)
        out[name] = path
    return out
