"""Experiment tooling around the framework: Ray sweeps, sacred records, plots, rliable aggregates,
tables and the paper's bandit experiment. Run each as `python -m tools.NAME` from the repo root.

The tools that read results (records, tables, plots, aggregates) need only the sacred JSON files
that `src/main.py` writes, so they work on results copied from a cluster. `evaluate_checkpoints`,
`role_clusterings`, `search_quality` and `matrix_model` load checkpoints and import the framework
from `src/` (torch included; `mazero_checkpoint` reads a MAZero checkpoint for the last two)."""
