"""Dagster around the work: resources, runs started from the CLI (runs.py), the instance they are recorded in
(instance.py), and the progress lines a run prints (progress.py). The assets are in the design card's assets/,
the code location in pipelines/definitions.py."""
