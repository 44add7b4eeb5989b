# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf report``: analyse a period from Prometheus, compare A/B variants, publish a summary.

::

    pip install '.[report]'      # in a checkout; otel-llmperf is not on PyPI yet
    otel-llmperf report --prometheus http://127.0.0.1:9090 --range 7d --step 5m \\
        [--job REGEX] [--compare-variants a,b] [--baseline [OFFSET]] [--format html|terminal|both] [--out DIR]

The command queries the Prometheus HTTP API (nothing else, and nothing leaves for anywhere
else) and writes a self-contained folder: ``index.html`` (tables, PNG plots, methods),
``data/<panel>.csv`` behind every plot, ``totals.csv``, ``slos.csv``, ``comparison.csv``,
``queries.json`` (the PromQL and time range of every CSV, so anyone can re-run it) and
``summary.json``, whose figures also go into a schema.org ``Dataset`` JSON-LD block in the page.

Modules, one job each: :mod:`.prom` (HTTP API client and its errors), :mod:`.queries` (the panel
catalog and its PromQL), :mod:`.collect` (running it, SLO attainment), :mod:`.frames` (the answers as
pandas DataFrames, shared with :mod:`otel_llmperf.analysis`), :mod:`.stats` and :mod:`.compare` (A/B
statistics), :mod:`.baseline` and :mod:`.periods` (``--baseline``: recent vs an earlier period),
:mod:`.plots`, :mod:`.csvfiles`, :mod:`.transparency`, :mod:`.html`, :mod:`.terminal`,
:mod:`.baseline_render` (output), :mod:`.command` (the command line). numpy, scipy,
matplotlib, rich and pandas are imported only when a report is made.
"""
