"""Tables and figures of the paper from results folders (`harness report`, issue 6).

    harness report results/training_method [results/<sweep> ...] [--out DIR]   # default DIR: <first sweep>/report

One concern per module, in the order data flows:
    load.py      sweep folders -> tidy DataFrames (the only module that knows the results format)
    route.py     which table / figure a sweep feeds, from what its configs vary
    stats.py     mean and 95% t interval over seeds; how a cell prints
    tables.py    Tables 1-5 (numbers for CSV, text for Markdown / LaTeX)
    figures.py   Figures 2-6 (seaborn, Agg backend)
    paper.py     the published numbers in paper_numbers.yaml
    formats.py   writing Markdown, LaTeX, CSV, PNG, PDF
    report.py    runs all of the above and writes report.md
    settings.py  every default (confidence, decimals, names, figure style)
"""
