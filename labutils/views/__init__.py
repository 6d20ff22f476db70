"""Views: tables, plots and export of a sweep's `runs` and `summary`; they never send a request.

    from labutils.views import plots, tables, export     # also reachable as labutils.plots, ...
    plots.heatmap(summary, "temperature", "top_p", "distinct_ratio")

`tables` (side-by-side answers, diffs, the probe's table), `plots` (heatmaps, metric lines, latency; the
token-distribution figures of lessons 02-03 in `token_plots`), `export` (save/load `runs` as CSV, JSONL,
Parquet; its file side in `_exportio`). Importing `views` loads none of them, so matplotlib loads only with
`plots`. This wing imports the data path (`metrics`, `intervals`, `params`) and nothing that sends.
"""
