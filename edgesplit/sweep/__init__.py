"""Parameter sweeps: a grid of scenario overrides x seeds, run as Ray tasks, aggregated with confidence intervals.

`spec.py` reads grids and sweep files and plans the runs, `runner.py` runs them on Ray (resumable), `store.py`
keeps each run's files, `table.py` flattens summaries into the runs table, `stats.py` and `aggregate.py` give means
and Student-t intervals, `plots.py` draws them and writes the Markdown table. See docs/sweep.md.
"""
