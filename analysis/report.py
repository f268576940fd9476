"""`harness report`: every table and figure the given sweeps support, and report.md showing them.

Output goes to <first sweep>/report/ unless --out says otherwise: the report sits next to the runs
it summarises and is rewritten in place when more runs finish. What a sweep feeds is decided by
its configs (analysis/route.py); what cannot be produced yet is listed at the end of report.md
with the reason, so a partial sweep still gives a useful report.
"""
from __future__ import annotations

from pathlib import Path

from analysis import figures, tables
from analysis.controls import controls
from analysis.extraction import extraction_table
from analysis.formats import markdown, write_figure, write_table
from analysis.load import Results, load
from analysis.route import FEEDS, route
from analysis.settings import REPORT_DIR

TABLES = {"controls": controls, **tables.TABLES}
WHY_MISSING = {   # item -> what would produce it
    "controls": "no sweep has control runs (ablations/controls.yaml)",
    "table1": "no sweep compares training methods or intervals (ablations/training_method.yaml)",
    "table2": "no sweep compares selection operators / reward models",
    "table3": "no sweep mixes in unlabeled prompts",
    "table4": "no sweep has an adaptive-temperature (M-STAR) run",
    "table5": "no sweep has an adaptive-temperature (M-STAR) run",
    "fig2a": "no run's PRM stage has verifier/voting.csv",
    "fig2b": "no run's PRM stage has verifier/steps.csv",
    "fig3": "no dynamics sweep (one recipe, dynamics rows in metrics.jsonl)",
    "fig4": "no dynamics sweep (one recipe, dynamics rows in metrics.jsonl)",
    "fig5": "no M-STAR run with dynamics rows",
    "fig6": "no M-STAR run with dynamics rows",
    "extraction": "no run was scored with a judge (eval.judge.base_url; `harness rescore` adds one to finished runs)",
}


def sources(res: Results) -> dict[str, Results]:
    """Item (table1, fig3, ...) -> the records that feed it."""
    kinds = route(res.runs, res.dynamics)
    out = {}
    for kind in FEEDS:
        sweeps = [s for s, k in kinds.items() if k == kind]
        if sweeps:
            out.update({item: res.subset(res.runs[res.runs.sweep.isin(sweeps)].path) for item in FEEDS[kind]})
    with_prm = res.runs[res.runs.prm.notna()].path
    out.update({"fig2a": res.subset(with_prm), "fig2b": res.subset(with_prm)})
    return out


def build(res: Results) -> tuple[list, list]:
    """(tables, figures) the records support, in the paper's order; the paper's own Tables 4-5 follow ours."""
    src = sources(res)
    made_tables = []
    for name, make in TABLES.items():
        if name in src:
            made_tables.append(make(src[name]))
            if name in ("table4", "table5"):
                made_tables.append(tables.published(name))
    made_figures = [f for name, make in figures.FIGURES.items() if name in src for f in [make(src[name])] if f]
    made_tables += [t for t in [extraction_table(res)] if t]  # every sweep: any run may have been judged
    return made_tables, made_figures


def write_report(folders, out: Path | None = None) -> Path:
    """Write every table and figure plus report.md; returns report.md's path."""
    res = load([Path(f) for f in folders])
    out = Path(out) if out else Path(folders[0]) / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    made_tables, made_figures = build(res)
    sections = [_table_section(t, write_table(t, out)) for t in made_tables]
    sections += [_figure_section(f, write_figure(f, out)) for f in made_figures]
    made = {t.name for t in made_tables} | {f.name for f in made_figures}
    text = "\n\n".join([_header(res)] + sections + [_missing(made)]).rstrip() + "\n"
    (out / "report.md").write_text(text)
    return out / "report.md"


def _header(res: Results) -> str:
    kinds = route(res.runs, res.dynamics)
    lines = ["# M-STAR report", "", "| sweep | feeds | runs by state |", "|:--|:--|:--|"]
    for sweep, runs in res.runs.groupby("sweep", sort=False):
        states = ", ".join(f"{n} {s}" for s, n in runs.state.value_counts().sort_index().items())
        lines.append(f"| {sweep} | {', '.join(FEEDS.get(kinds[sweep], [])) or 'nothing'} | {states} |")
    return "\n".join(lines)


def _table_section(t, paths: dict) -> str:
    files = " · ".join(f"[{fmt}]({p.name})" for fmt, p in paths.items())
    return f"## {t.title}\n\n{t.context}\n\n{markdown(t.shown)}\n\n{files}"


def _figure_section(f, paths: dict) -> str:
    return f"## {f.title}\n\n{f.context}\n\n![{f.title}]({paths['png'].name})\n\n[pdf]({paths['pdf'].name})"


def _missing(made: set) -> str:
    lines = [f"- {item}: {why}" for item, why in WHY_MISSING.items() if item not in made]
    return "## Not produced\n\n" + "\n".join(lines) if lines else ""
