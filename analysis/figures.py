"""Figures 2-6 of the paper with seaborn (Agg backend: no display needed, safe in SLURM jobs).

Each function takes the records of the runs that feed it and returns a `Figure` (None when there
is nothing to draw). Curves over training are means over seeds with a 95% t band, the same
interval as the tables (stats.band, cut to 0-100 for percentages); a single seed draws a line without
a band.
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis.load import Results, model_order  # noqa: E402
from analysis.settings import (BAND_ALPHA, METRIC_LABELS, METRIC_NAMES, PANEL, PERCENT, SCORERS,  # noqa: E402
                               STEP_GROUPS, STYLE, TEMPERATURE_PALETTE, VERIFIER_AGGREGATE, VOTING_LABELS,
                               X_TRAINING)
from analysis.stats import band, percent_band  # noqa: E402


@dataclass
class Figure:
    """One output figure, written as PNG (for report.md) and PDF (for a paper)."""

    name: str          # file stem, e.g. 'fig2a'
    title: str
    context: str       # the one sentence report.md puts above it
    fig: plt.Figure


def _axes(nrows: int, ncols: int):
    sns.set_theme(style=STYLE, context="notebook", font_scale=0.9)
    fig, axes = plt.subplots(nrows, ncols, figsize=(PANEL[0] * ncols, PANEL[1] * nrows), squeeze=False)
    return fig, axes


def _legend_right(fig: plt.Figure, axes, title: str | None = None) -> None:
    """One legend for the whole figure, outside on the right, instead of one per panel over the data."""
    handles, labels = {}, []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
        if ax.get_legend():
            ax.get_legend().remove()
    if labels:
        fig.legend([handles[lab] for lab in labels], labels, title=title, loc="center left",
                   bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} logged", ha="center", va="center", transform=ax.transAxes, color="gray")


def _x(d: pd.DataFrame) -> tuple[str, str]:
    """Training progress axis: queries seen when every row has it, else the iteration."""
    col, label = X_TRAINING
    return (col, label) if col in d and d[col].notna().all() else ("iteration", "iteration")


# ---------------------------------------------------------------- Figure 2: the PRM as verifier / reranker

def fig2a(res: Results) -> Figure | None:
    """Best-of-N and weighted voting with the PRM (and the oracle step checker) vs majority voting."""
    v = res.voting[res.voting["aggregate"] == VERIFIER_AGGREGATE]
    if v.empty:
        return None
    majority = v[v.method == "majority_vote"].drop_duplicates(["prm", "n"])   # the same for every scorer
    d = pd.concat([v[v.method != "majority_vote"], majority])
    d = d.assign(accuracy=d.accuracy * PERCENT, series=[
        VOTING_LABELS.get(m, m) + ("" if m == "majority_vote" else f" ({SCORERS.get(r, r)})")
        for m, r in zip(d.method, d.reward_model)])
    dashes = {s: (4, 2) if "oracle" in s else "" for s in d.series.unique()}   # the oracle is a bound, dashed
    fig, axes = _axes(1, 1)
    ax = axes[0, 0]
    sns.lineplot(d, x="n", y="accuracy", hue="series", style="series", dashes=dashes, marker="o",
                 errorbar=percent_band, ax=ax)
    greedy = _greedy_pi0(res)
    if greedy is not None:
        ax.axhline(greedy, color="gray", ls=":", label=r"greedy decoding ($\pi_0$)")
    ns = [n for n in sorted(d.n.unique()) if n & (n - 1) == 0]  # powers of 2: every N crowds a log axis
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns, [str(int(n)) for n in ns])
    ax.minorticks_off()
    ax.set(xlabel="N (sampled responses per question)", ylabel="val accuracy (%)",
           title="(a) PRM as a verifier")
    _legend_right(fig, axes)
    return Figure("fig2a", "Figure 2a: the PRM as a verifier",
                  f"Validation accuracy of picking one of N responses of π_0 (T=1.0) by best-of-N or reward-weighted "
                  f"voting ({VERIFIER_AGGREGATE} over steps) versus plain majority voting, from "
                  f"{res.voting.prm.nunique()} PRM stage(s); the paper found its PRM no better than majority voting "
                  "below N=16.", fig)


def _greedy_pi0(res: Results) -> float | None:
    s = res.scores
    s = s[(s.stage == "warmup") & (s.split == "val") & (s.task == "ALL")].drop_duplicates("replicate")
    return float(s.accuracy.mean() * PERCENT) if len(s) else None


def fig2b(res: Results) -> Figure | None:
    """Steps per response and share of answer-irrelevant steps: the scorer's top 2 vs the other correct ones."""
    st = res.steps[(res.steps["aggregate"] == VERIFIER_AGGREGATE) & res.steps.mean_steps.notna()]
    if st.empty:
        return None
    d = st.assign(group=st.group.map(lambda g: STEP_GROUPS.get(g, g)), irrelevant=st.irrelevant_share * PERCENT,
                  scorer=st.reward_model.map(lambda r: f"ranked by {SCORERS.get(r, r)}"))
    fig, axes = _axes(1, 2)
    order = [g for g in STEP_GROUPS.values() if g in set(d.group)]
    for ax, col, ylabel, title in ((axes[0, 0], "mean_steps", "steps per response", "(b) reasoning steps"),
                                   (axes[0, 1], "irrelevant", "answer-irrelevant steps (%)",
                                    "(c) irrelevant steps")):
        sns.barplot(d, x="scorer", y=col, hue="group", hue_order=order, errorbar=band, ax=ax)
        ax.set(xlabel="answer-correct responses of π$_0$", ylabel=ylabel, title=title)
    _legend_right(fig, axes)
    return Figure("fig2b", "Figure 2b: what the PRM's top-2 responses look like",
                  "Among answer-correct responses of π_0 on the validation set, the scorer's top 2 per question "
                  "versus the rest: mean number of reasoning steps and share of steps that do not bear on the "
                  "answer (the paper found the PRM's top 2 shorter and more relevant).", fig)


# ---------------------------------------------------------------- Figures 3-4: dynamics at fixed temperature

def training_temperature(res: Results) -> pd.DataFrame:
    """Dynamics rows with `train_T`: the temperature the next iteration samples at (the one chosen
    from this monitor under adaptive T), else the last one used, else the run's configured one."""
    it = res.iterations.dropna(subset=["iteration", "temperature"])
    chosen = {p: g.set_index("iteration").temperature.sort_index() for p, g in it.groupby("path")}
    configured = dict(zip(res.runs.path, res.runs.temperature))

    def lookup(path, iteration):
        used = chosen.get(path)
        if used is None:
            return configured.get(path)
        later = used[used.index > iteration]
        return later.iloc[0] if len(later) else used.iloc[-1]

    d = res.dynamics
    return d.assign(train_T=[lookup(p, i) for p, i in zip(d.path, d.iteration)])


def _at_training_temperature(d: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per run and iteration, the metric at the monitored temperature nearest the training one (the
    adaptive grid, 0.3-1.6 by 0.1, is finer than the paper's monitor grid)."""
    m = d[(d.metric == metric) & d.temperature.notna() & d.train_T.notna()]
    if m.empty:
        return m
    gap = (m.temperature.astype(float) - m.train_T.astype(float)).abs()
    return m.loc[gap.groupby([m.path, m.iteration]).idxmin()]


def fig3(res: Results) -> Figure | None:
    """Greedy accuracy and Pass@K on the validation set over training."""
    d = training_temperature(res)
    greedy = d[d.metric == "greedy_accuracy"].assign(series="greedy accuracy")
    passk = _at_training_temperature(d, "pass_at_k")
    passk = passk.assign(series=[f"Pass@{int(k)} (T={t:g})" for k, t in zip(passk.k, passk.temperature)])
    both = pd.concat([greedy, passk], ignore_index=True)
    if both.empty:
        return None
    x, xlabel = _x(both)
    fig, axes = _axes(1, 1)
    sns.lineplot(both.assign(value=both.value * PERCENT), x=x, y="value", hue="series", marker="o",
                 errorbar=percent_band, err_kws={"alpha": BAND_ALPHA}, ax=axes[0, 0])
    axes[0, 0].set(xlabel=xlabel, ylabel="val accuracy (%)", title="Greedy accuracy and Pass@K over training")
    _legend_right(fig, axes)
    return Figure("fig3", "Figure 3: greedy accuracy and Pass@K over training",
                  f"Validation greedy accuracy and Pass@K at the training temperature after each iteration, "
                  f"mean and 95% band over {res.runs.seed.nunique()} seed(s); the paper saw greedy accuracy "
                  "rise while Pass@K fell (loss of exploration).", fig)


def _per_temperature(ax, d: pd.DataFrame, metric: str, title: str) -> None:
    m = d[(d.metric == metric) & d.temperature.notna()]
    if m.empty:
        return _empty(ax, metric)
    x, xlabel = _x(m)
    temps = sorted(m.temperature.astype(float).unique())
    m = m.assign(value=m.value * PERCENT, T=m.temperature.astype(float).map(lambda t: f"T={t:g}"))
    sns.lineplot(m, x=x, y="value", hue="T", hue_order=[f"T={t:g}" for t in temps], errorbar=percent_band,
                 palette=sns.color_palette(TEMPERATURE_PALETTE, len(temps)), err_kws={"alpha": BAND_ALPHA}, ax=ax)
    ax.set(xlabel=xlabel, ylabel=METRIC_LABELS[metric], title=title)


def fig4(res: Results) -> Figure | None:
    """Pass@K per temperature, Pass@K - greedy, and Reward-Pass@2 over training."""
    d = res.dynamics
    if d[d.metric.isin(["pass_at_k", "pass_minus_greedy", "reward_pass_at_2"])].empty:
        return None
    fig, axes = _axes(1, 3)
    for ax, metric, title in zip(axes.flat, ("pass_at_k", "pass_minus_greedy", "reward_pass_at_2"),
                                 ("(a) Pass@K", "(b) Pass@K − greedy", "(c) Reward-Pass@2")):
        _per_temperature(ax, d, metric, title)
    _legend_right(fig, axes, "sampling\ntemperature")
    return Figure("fig4", "Figure 4: exploration and exploitation per temperature",
                  "Validation Pass@K, its gap over greedy decoding, and Reward-Pass@2 (a correct answer among "
                  "the PRM's top 2) at each sampling temperature over training; the paper saw Pass@K decay "
                  "least at high temperatures and Reward-Pass@2 plateau early.", fig)


# ---------------------------------------------------------------- Figures 5-6: M-STAR (adaptive temperature)

def _mstar_pairs(res: Results) -> pd.DataFrame:
    """Adaptive-temperature runs and the static runs with the same selection, per model."""
    runs = res.runs
    adaptive = runs[runs.policy == "adaptive"]
    same = runs.merge(adaptive[["model", "reward", "operator", "k"]].drop_duplicates(), how="inner")
    return pd.concat([adaptive, same[same.policy != "adaptive"]]).drop_duplicates("path")


def fig5(res: Results) -> Figure | None:
    """M-STAR vs the static recipe: Pass@K and Reward-Pass@2 at the temperature used for training."""
    runs = _mstar_pairs(res)
    d = training_temperature(res)
    d = d[d.path.isin(runs.path)].merge(runs[["path", "short_label", "model"]], on="path")
    d = pd.concat([_at_training_temperature(d, m) for m in ("pass_at_k", "reward_pass_at_2")])
    if d.empty:
        return None
    models = model_order(runs.model)
    labels = list(dict.fromkeys(runs.sort_values("policy", ascending=False).short_label))   # static first
    palette = dict(zip(labels, sns.color_palette(n_colors=len(labels))))   # same colour in every panel
    fig, axes = _axes(len(models), 2)
    x, xlabel = _x(d)
    for i, model in enumerate(models):
        for ax, metric in zip(axes[i], ("pass_at_k", "reward_pass_at_2")):
            m = d[(d.model == model) & (d.metric == metric)]
            if m.empty:
                _empty(ax, metric)
                continue
            sns.lineplot(m.assign(value=m.value * PERCENT), x=x, y="value", hue="short_label", hue_order=labels,
                         palette=palette, marker="o", errorbar=percent_band, err_kws={"alpha": BAND_ALPHA}, ax=ax)
            ax.set(xlabel=xlabel, ylabel=METRIC_LABELS[metric], title=f"{model}: {METRIC_NAMES[metric]}")
    _legend_right(fig, axes, "recipe")
    return Figure("fig5", "Figure 5: M-STAR versus the static recipe",
                  "Validation Pass@K and Reward-Pass@2 at the (nearest monitored) temperature each run trained "
                  "with next, adaptive temperature (M-STAR) versus the same selection at a fixed temperature; "
                  "the paper saw adaptive temperature slow the decay of Pass@K.", fig)


def fig6(res: Results) -> Figure | None:
    """Under M-STAR: Pass@K and Reward-Pass@2 at every temperature, and the temperature chosen."""
    runs = res.runs[res.runs.policy == "adaptive"]
    d = res.dynamics[res.dynamics.path.isin(runs.path)]
    if d.empty:
        return None
    models = model_order(runs.model)
    fig, axes = _axes(len(models), 3)
    for i, model in enumerate(models):
        paths = runs[runs.model == model].path
        for ax, metric in zip(axes[i][:2], ("pass_at_k", "reward_pass_at_2")):
            _per_temperature(ax, d[d.path.isin(paths)], metric, f"{model}: {METRIC_NAMES[metric]}")
        _chosen_temperature(axes[i][2], res.iterations[res.iterations.path.isin(paths)], model)
        axes[i][2].set_xlim(axes[i][0].get_xlim())
    _legend_right(fig, axes, "sampling\ntemperature")
    return Figure("fig6", "Figure 6: per-temperature dynamics under M-STAR",
                  "Under M-STAR, validation Pass@K and Reward-Pass@2 at each monitored temperature over "
                  "training, and the temperature chosen for sampling (highest Reward-Pass@2).", fig)


def _chosen_temperature(ax, it: pd.DataFrame, model: str) -> None:
    """The temperature each iteration sampled at, held over the queries that iteration consumed."""
    if it.empty or it.temperature.isna().all():
        return _empty(ax, "temperature")
    x, xlabel = _x(it)
    start = it.sort_values(x).groupby("path").head(1).assign(**{x: 0})   # iteration 1 starts at 0
    # one step line per seed: a mean of chosen temperatures is no temperature anyone sampled at
    sns.lineplot(pd.concat([start, it]), x=x, y="temperature", units="path", estimator=None,
                 drawstyle="steps-pre", color="black", alpha=0.6, ax=ax)
    ax.set(xlabel=xlabel, ylabel="sampling temperature", title=f"{model}: temperature chosen (per seed)")


FIGURES = {"fig2a": fig2a, "fig2b": fig2b, "fig3": fig3, "fig4": fig4, "fig5": fig5, "fig6": fig6}
