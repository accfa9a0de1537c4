"""Experiment tooling around the framework: Ray sweeps, sacred records, plots, rliable aggregates,
tables and the paper's bandit experiment. Run each as `python -m tools.NAME` from the repo root.

These tools read the sacred JSON files that `src/main.py` writes; they never import the framework,
so they work on results copied from a cluster without torch or jax installed."""
